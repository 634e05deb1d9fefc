"""`boxloop propose`: the JSON contract of DESIGN §8 and its exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boxloop import cli

DATA = Path(__file__).parent / "data"  # copied into the repository (see decode_fixtures)


def run(argv: list[str]) -> int:
    return cli.main(argv)


def test_json_contract(capsys):
    code = run(["propose", str(DATA / "surgical_data.json"), "-n", "3", "--seed", "2", "--json"])
    out = capsys.readouterr().out
    payload = json.loads(out)  # exactly one JSON object on stdout
    assert code == 0
    assert len(payload["programs"]) == 3 and payload["valid"] == [True, True, True]
    assert set(payload["tokens"]) == {"generated", "discarded", "tries", "seconds"}
    assert payload["tokens"]["tries"] == 3 and payload["tokens"]["discarded"] == 0
    assert all(p.startswith("data {") and "r ~ " in p for p in payload["programs"])


def test_human_output_and_target(capsys):
    code = run(["propose", str(DATA / "gp_pois_regr.json"), "--target", "k", "--describe", "simulated counts"])
    out = capsys.readouterr().out
    assert code == 0 and "// proposal 1 (valid)" in out and "k ~ " in out


def test_usage_and_data_errors_exit_2(capsys):
    assert run(["propose", str(DATA / "surgical_data.json"), "--target", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
    assert run(["propose", str(DATA / "surgical_data.json"), "--proposer", "spfn:/no/such/spfn.npz"]) == 2
    err = capsys.readouterr().err
    assert "/no/such/spfn.npz" in err and "boxloop spfn train" in err
    assert run(["propose", str(DATA / "surgical_data.json"), "-n", "0"]) == 2
    assert "must be at least 1" in capsys.readouterr().err
