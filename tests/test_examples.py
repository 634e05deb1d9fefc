"""The shipped example is a Stan program that Stan itself compiles, and that boxloop checks clean
against its data."""

import json
from pathlib import Path

import pytest

from boxloop.lang import check

EXAMPLES = Path(__file__).parents[1] / "examples"


def test_eight_schools_example_compiles_with_stanc():
    pytest.importorskip("httpstan", reason="stanc ships in httpstan (the test extra)")
    from boxloop.lang.stanc import stanc_verdict

    verdict = stanc_verdict((EXAMPLES / "eight_schools.stan").read_text())
    assert verdict.ok, verdict.message


def test_eight_schools_example_checks_clean_against_its_data():
    data = json.loads((EXAMPLES / "eight_schools.json").read_text())
    result = check((EXAMPLES / "eight_schools.stan").read_text(), data=data)
    assert result.valid and not result.warnings, result.diagnostics
