"""`boxloop fit` and `boxloop evidence` honour the command-line contract (DESIGN §8)."""

import json
from pathlib import Path

from boxloop.cli import main

ROOT = Path(__file__).parents[1]
EIGHT = ROOT / "examples" / "eight_schools.stan"
EIGHT_DATA = ROOT / "examples" / "eight_schools.json"
SHORT = ["--chains", "2", "--warmup", "300", "--draws", "300", "--json"]


def run_json(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, (json.loads(out.out) if out.out.strip() else None), out.err


def test_fit_reports_stan_named_summary_diagnostics_and_timing(capsys):
    code, payload, _ = run_json(capsys, "fit", EIGHT, EIGHT_DATA, *SHORT)
    assert code == 0
    summary = payload["summary"]
    assert {"mu", "tau", "theta[1]", "theta[8]"} <= set(summary)
    assert set(summary["mu"]) >= {"mean", "sd", "mcse_mean", "ess_bulk", "rhat"}
    # eight schools: the posterior mean of mu is about 4.4 (posteriordb reference), sd about 3.3
    assert abs(summary["mu"]["mean"] - 4.4) < 5 * summary["mu"]["mcse_mean"] + 0.3
    diag = payload["diagnostics"]
    assert set(diag) == {"rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "bfmi_min",
                         "pareto_k_bad_frac", "elpd_loo", "elpd_loo_se", "score"}
    assert 0 <= diag["score"] <= 7
    assert -33 < diag["elpd_loo"] < -29
    assert set(payload["timing"]) >= {"compile_s", "sample_s"}


def test_fit_of_invalid_program_exits_one_with_diagnostics(tmp_path, capsys):
    bad = tmp_path / "bad.stan"
    bad.write_text("data { int<lower=0> J; vector[J] y; vector<lower=0>[J] sigma; }\n"
                   "parameters { real mu; real tau; }\nmodel { y ~ normal(mu, tau); }\n")
    code, payload, _ = run_json(capsys, "fit", bad, EIGHT_DATA, *SHORT)
    assert code == 1
    assert payload["diagnostics"][0]["code"] == "support.violation"


def test_fit_with_bad_initial_values_is_a_structured_failure(tmp_path, capsys):
    prog = tmp_path / "nan.stan"
    # pow of a negative base to 0.5 is NaN everywhere; the sign analysis knows nothing of pow's result
    prog.write_text("data { int N; } parameters { real x; } "
                    "model { x ~ normal(0, 1); target += pow(-1 - square(x), 0.5); }")
    data = tmp_path / "n.json"
    data.write_text('{"N": 1}')
    code, payload, _ = run_json(capsys, "fit", prog, data, *SHORT)
    assert code == 1 and payload["error"]["code"] == "fit.bad_init"


def test_missing_data_variable_is_named_before_fitting(tmp_path, capsys):
    data = tmp_path / "d.json"
    data.write_text(json.dumps({"J": 8, "y": [1] * 8}))
    code, payload, _ = run_json(capsys, "fit", EIGHT, data, *SHORT)
    assert code == 1
    assert any("sigma" in d["message"] for d in payload["diagnostics"])


def test_unreadable_data_is_a_usage_error(tmp_path, capsys):
    data = tmp_path / "d.json"
    data.write_text("{not json")
    code, payload, err = run_json(capsys, "fit", EIGHT, data, *SHORT)
    assert code == 2 and payload["error"]["code"].startswith("data.") and err.strip()


def test_evidence_reports_log_evidence_with_se(capsys):
    code, payload, _ = run_json(capsys, "evidence", EIGHT, EIGHT_DATA, *SHORT, "--method", "is")
    assert code == 0
    assert payload["method"] == "is" and payload["se"] >= 0
    assert -40 < payload["log_evidence"] < -25


def test_fit_without_json_shows_progress_on_stderr_and_a_table_on_stdout(capsys):
    code = main(["fit", str(EIGHT), str(EIGHT_DATA), "--chains", "2", "--warmup", "200", "--draws", "200"])
    out = capsys.readouterr()
    assert code == 0
    assert "sampling [" in out.err and "400/400 iterations" in out.err and "compile" in out.err
    assert "mu" in out.out and "sampling [" not in out.out
