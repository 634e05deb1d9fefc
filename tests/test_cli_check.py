"""`boxloop check` honours the command-line contract (DESIGN §8)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from boxloop.cli import main

ROOT = Path(__file__).parents[1]
EIGHT = ROOT / "examples" / "eight_schools.stan"
EIGHT_DATA = ROOT / "examples" / "eight_schools.json"


def run_json(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_valid_program_gives_canonical_form_hash_and_blocks(capsys):
    code, payload, _ = run_json(capsys, "check", str(EIGHT), "--json")
    assert code == 0
    assert payload["valid"] is True
    assert set(payload) >= {"valid", "diagnostics", "canonical", "hash", "blocks"}
    assert len(payload["hash"]) == 16
    assert "y ~ normal(" in payload["blocks"]["likelihood"]
    assert "tau ~ cauchy(" in payload["blocks"]["prior"]
    assert "int<lower=0> J;" in payload["blocks"]["data"]


def test_invalid_program_exits_one_with_located_diagnostics(tmp_path, capsys):
    bad = tmp_path / "bad.stan"
    bad.write_text("data { int N; vector[N] y; }\nparameters { real mu; real sigma; }\n"
                   "model {\n  y ~ normal(mu, sigma);\n}\n")
    code, payload, _ = run_json(capsys, "check", str(bad), "--json")
    assert code == 1
    assert payload["valid"] is False and payload["hash"] is None
    d = payload["diagnostics"][0]
    assert (d["code"], d["predicate"], d["line"]) == ("support.violation", "phi5", 4)
    assert set(d) >= {"code", "predicate", "message", "line", "column"}


def test_data_mismatch_is_reported_against_the_declaration(tmp_path, capsys):
    data = tmp_path / "d.json"
    data.write_text(json.dumps({"J": 8, "y": [1, 2, 3, 4, 5, 6, 7, 8], "sigma": [1, 1, 1, -1, 1, 1, 1, 1]}))
    code, payload, _ = run_json(capsys, "check", str(EIGHT), "--data", str(data), "--json")
    assert code == 1
    assert any(d["code"] == "data.bounds" and "sigma" in d["message"] for d in payload["diagnostics"])


def test_missing_data_variable_is_named(tmp_path, capsys):
    data = tmp_path / "d.json"
    data.write_text(json.dumps({"J": 8, "y": [1] * 8}))
    code, payload, _ = run_json(capsys, "check", str(EIGHT), "--data", str(data), "--json")
    assert code == 1
    assert any(d["code"] == "data.missing_variable" and "sigma" in d["message"] for d in payload["diagnostics"])


def test_matching_data_passes(capsys):
    code, payload, _ = run_json(capsys, "check", str(EIGHT), "--data", str(EIGHT_DATA), "--json")
    assert code == 0 and payload["valid"]


def test_missing_file_is_a_usage_error_with_one_line(capsys):
    code, payload, err = run_json(capsys, "check", "no_such_file.stan", "--json")
    assert code == 2 and payload == {"error": {"code": "usage", "message": "program file 'no_such_file.stan' not found"}}
    assert err.count("\n") == 1 and "not found" in err


def test_human_output_names_file_line_and_code(tmp_path, capsys):
    bad = tmp_path / "bad.stan"
    bad.write_text("parameters { real mu; }\nmodel {\n  mu ~ gaussian(0, 1);\n}\n")
    assert main(["check", str(bad)]) == 1
    out = capsys.readouterr().out
    assert f"{bad}:3:" in out and "[dist.unknown]" in out and "did you mean 'normal'" in out


@pytest.mark.slow
def test_console_script_runs_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-m", "boxloop.cli", "check", str(EIGHT), "--json"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and json.loads(proc.stdout)["valid"]
