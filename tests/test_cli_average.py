"""`boxloop average RUN_DIR`: a finished run recombined without refitting.

Fast tests read run stores written here directly (fits of y ~ normal(theta, 1) made from known
draws, with the evidence each test needs); one slow test makes a real `discover --strategy
average` run and checks that `average` gives back the weights the run printed."""

import json
import math
import os
import tempfile

import numpy as np
import pytest

from boxloop.cli import main
from boxloop.diagnose import diagnose, save_netcdf, to_inference_data
from boxloop.search.records import FitRecord, ProposalRecord
from boxloop.search.store import RunStore

_NOISE = np.random.default_rng(7).normal(0.0, 1.0, size=12)
Y = _NOISE - _NOISE.mean() + 1.0  # mean exactly 1: the model with theta near 1 fits best
CONFIG = "config-hash"


def _bridge(log_z: float) -> dict:
    return {"log_evidence": log_z, "se": 0.01, "method": "bridge", "n_draws": 1000, "pareto_k": None}


REGRESSION = """data {
  int<lower=0> N;
  vector[N] x;
  vector[N] y;
}
parameters {
  real theta;
}
model {
  theta ~ normal(0, 5);
  y ~ normal(theta * x, 0.01);
}
"""
PER_ROW = REGRESSION.replace("real theta;", "real theta;\n  vector[N] u;").replace(
    "theta ~ normal(0, 5);", "theta ~ normal(0, 5);\n  u ~ normal(0, 1);").replace("theta * x", "theta * x + u")


def _fit(name: str, loc: float, evidence: dict | None, seed: int, program: str) -> tuple[FitRecord, bytes]:
    """A reliable fit whose draws of theta sit at `loc`, with a parameter only this model has."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(loc, 0.01, size=(2, 500))
    posterior = {"theta": theta, f"only_{name}": rng.normal(size=(2, 500))}
    stats = {"diverging": np.zeros((2, 500), bool), "energy": rng.normal(size=(2, 500))}
    log_lik = {"y": -0.5 * (Y - theta[..., None]) ** 2 - 0.5 * math.log(2 * math.pi)}
    replicates = {"y": theta[..., None] + rng.normal(size=(2, 500, Y.size))}
    idata = to_inference_data(posterior, stats, log_lik, posterior_predictive=replicates, observed_data={"y": Y})
    fd, path = tempfile.mkstemp(suffix=".nc")
    os.close(fd)
    try:
        save_netcdf(idata, path)
        payload = open(path, "rb").read()
    finally:
        os.unlink(path)
    diagnostics = diagnose(posterior, stats, log_lik)
    record = FitRecord(key=f"key-{name}", structural_hash=name, data_hash="data", settings_hash="s",
                       program=program, status="ok", diagnostics=diagnostics, evidence=evidence)
    return record, payload


def write_run(directory, models: dict, strategy: str = "average"):
    """models: name -> (theta location, evidence dict or None, multiplicity[, program text])."""
    with RunStore(directory) as store:
        store.begin_run(CONFIG, command="test", strategy=strategy, proposer="fixed", seed=0, data_hash="data",
                        target="y", config={"zeta": 5})
        for i, (name, (loc, evidence, multiplicity, *program)) in enumerate(models.items()):
            text = program[0] if program else REGRESSION
            for attempt in range(multiplicity):
                store.add_proposal(CONFIG, ProposalRecord(
                    slot=f"{i}:0:program:{attempt}:-", lineage=i, depth=0, block="program", attempt=attempt,
                    parent_hash=None, proposer="fixed", text=text, valid=True, structural_hash=name))
            store.add_fit(*_fit(name, loc, evidence, i + 1, text))
        store.finish_run("finished", {})
    return directory


def average(capsys, *args):
    code = main(["average", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def average_json(capsys, *args):
    code, out, err = average(capsys, *args, "--json")
    return code, json.loads(out)


@pytest.fixture(scope="module")
def two_models(tmp_path_factory):
    # evidence ratio 3 : 1 and one proposal each: evidence weights 0.75 / 0.25, flat 0.5 / 0.5
    return write_run(tmp_path_factory.mktemp("runs") / "two", {
        "low": (0.0, _bridge(-20.0), 1), "high": (1.0, _bridge(-20.0 + math.log(3)), 1)})


def _weights(payload) -> dict:
    return {m["hash"]: m["weight"] for m in payload["models"]}


def test_evidence_weights_sum_to_one_and_report_the_effective_number_of_models(two_models, capsys):
    code, p = average_json(capsys, two_models)
    w = _weights(p)
    assert code == 0 and p["weights"] == "evidence"
    assert w == pytest.approx({"low": 0.25, "high": 0.75}) and sum(w.values()) == pytest.approx(1.0)
    assert p["effective_models"] == pytest.approx(1 / (0.25**2 + 0.75**2))
    assert {m["hash"]: m["multiplicity"] for m in p["models"]} == {"low": 1, "high": 1}
    assert all(m["evidence_reliable"] and not m["excluded"] for m in p["models"])
    assert p["best"]["hash"] == "high" and p["mixture_elpd"] is not None


def test_the_mixture_posterior_mixes_the_models_in_the_weight_ratio(two_models, capsys):
    _, p = average_json(capsys, two_models, "--draws", "4000")
    theta = p["predictive"]["posterior"]["theta"]
    assert theta["mean"][0] == pytest.approx(0.75, abs=0.01)  # 3000 draws near 1, 1000 near 0
    assert set(p["predictive"]["posterior"]) == {"theta"}  # a parameter one model lacks is not mixed
    assert p["predictive"]["posterior_predictive"]["y"]["shape"] == [Y.size]


def test_another_weighting_gives_other_weights(two_models, capsys):
    _, flat = average_json(capsys, two_models, "--weights", "flat")
    _, stacking = average_json(capsys, two_models, "--weights", "stacking")
    assert _weights(flat) == pytest.approx({"low": 0.5, "high": 0.5})
    assert flat["effective_models"] == pytest.approx(2.0)
    assert sum(_weights(stacking).values()) == pytest.approx(1.0)
    assert _weights(stacking)["high"] > 0.9  # theta near 1 predicts y (mean 1) far better
    _, p = average_json(capsys, two_models, "--weights", "flat", "--draws", "2000")
    assert p["predictive"]["posterior"]["theta"]["mean"][0] == pytest.approx(0.5, abs=0.01)


def test_multiplicity_counts_in_evidence_and_flat_weights(tmp_path, capsys):
    run = write_run(tmp_path / "run", {"once": (0.0, _bridge(-10.0), 1), "thrice": (0.2, _bridge(-10.0), 3)})
    _, evidence = average_json(capsys, run)
    _, flat = average_json(capsys, run, "--weights", "flat")
    assert _weights(evidence) == pytest.approx({"once": 0.25, "thrice": 0.75})
    assert _weights(flat) == pytest.approx({"once": 0.25, "thrice": 0.75})
    assert {m["hash"]: m["multiplicity"] for m in flat["models"]} == {"once": 1, "thrice": 3}


def test_an_unreliable_evidence_is_listed_and_excluded_with_a_note(tmp_path, capsys):
    run = write_run(tmp_path / "run", {
        "sound": (0.4, _bridge(-20.0), 1), "other": (0.6, _bridge(-21.0), 1),
        "shaky": (0.5, {**_bridge(-5.0), "method": "is", "pareto_k": 0.91}, 1)})
    code, p = average_json(capsys, run)
    shaky = next(m for m in p["models"] if m["hash"] == "shaky")
    assert code == 0 and shaky["excluded"] and shaky["weight"] == 0 and not shaky["evidence_reliable"]
    assert "Pareto k is 0.91" in p["excluded"]["shaky"]
    assert _weights(p)["sound"] == pytest.approx(math.e / (1 + math.e))  # the other two renormalised
    code, text, _ = average(capsys, run)
    assert code == 0 and "UNRELIABLE: the importance weights' Pareto k is 0.91" in text and "excluded" in text
    _, flat = average_json(capsys, run, "--weights", "flat")
    assert _weights(flat)["shaky"] == pytest.approx(1 / 3)  # only the evidence weighting needs the evidence


def test_every_evidence_unreliable_fails_but_prints_the_models(tmp_path, capsys):
    run = write_run(tmp_path / "run", {"a": (0.4, {**_bridge(-3.0), "reliable": False, "warnings": ["k high"]}, 1)})
    code, p = average_json(capsys, run)
    assert code == 1 and p["error"]["code"] == "average.no_reliable_evidence"
    assert p["models"][0]["hash"] == "a" and "k high" in p["excluded"]["a"]


def test_a_run_without_evidence_is_refused_naming_the_strategy_that_stores_it(tmp_path, capsys):
    run = write_run(tmp_path / "run", {"a": (0.4, None, 1), "b": (0.6, None, 2)}, strategy="refine")
    code, p = average_json(capsys, run)
    assert code == 1 and p["error"]["code"] == "average.no_evidence"
    assert "discover DATA --strategy average" in p["error"]["message"]
    code, out, err = average(capsys, run)
    assert code == 1 and "average.no_evidence" not in out and "--strategy refine" in err
    code, p = average_json(capsys, run, "--weights", "pseudo-bma")  # LOO weights need no evidence
    assert code == 0 and sum(_weights(p).values()) == pytest.approx(1.0)


def test_a_run_with_no_reliable_model_has_nothing_to_average(tmp_path, capsys):
    run = write_run(tmp_path / "run", {})
    code, p = average_json(capsys, run, "--weights", "flat")
    assert code == 1 and p["error"]["code"] == "average.no_reliable_model" and "boxloop report" in p["error"]["message"]


def test_a_directory_that_is_not_a_run_is_refused_as_report_refuses_it(tmp_path, capsys):
    code, p = average_json(capsys, tmp_path / "nothing")
    assert code == 2 and p["error"]["code"] == "report.not_a_run"
    (tmp_path / "empty").mkdir()
    code, p = average_json(capsys, tmp_path / "empty")
    assert code == 2 and p["error"]["code"] == "report.not_a_run" and "--out" in p["error"]["message"]


def test_an_unknown_weighting_is_a_usage_error(two_models, capsys):
    code, p = average_json(capsys, two_models, "--weights", "bma")
    assert code == 2 and p["error"]["code"] == "usage"


def test_new_inputs_get_the_mixture_of_the_models_predictions(tmp_path, capsys):
    run = write_run(tmp_path / "run", {"low": (0.0, _bridge(-20.0), 1), "high": (1.0, _bridge(-20.0 + math.log(3)), 1),
                                       "per_row": (1.0, _bridge(-20.0 + math.log(4)), 1, PER_ROW)})
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"x": [1.0, 2.0]}))
    code, p = average_json(capsys, run, "--predict", new, "--draws", "4000")
    pred = p["prediction"]
    assert code == 0 and pred["target"] == "y" and pred["rows"] == 2 and pred["models"] == 2
    assert pred["coverage"] == pytest.approx(4 / 8)  # weights 1 : 3 : 4, the last not carried over
    assert "predict.parameter_shape" in pred["skipped"]["per_row"]
    # a quarter of the draws predict y = 0 (theta near 0), three quarters y = x (theta near 1)
    assert pred["summary"]["mean"] == pytest.approx([0.75, 1.5], abs=0.02)
    assert pred["summary"]["sd"][1] == pytest.approx(2 * math.sqrt(0.25 * 0.75), abs=0.02)
    code, text, _ = average(capsys, run, "--predict", new)
    assert code == 0 and "posterior predictive of y at the 2 new rows" in text and "not predicted: per_row" in text


def test_new_rows_no_model_can_take_fail_naming_each_reason(tmp_path, capsys):
    run = write_run(tmp_path / "run", {"per_row": (1.0, _bridge(-20.0), 1, PER_ROW)})
    new = tmp_path / "new.json"
    new.write_text(json.dumps({"x": [1.0, 2.0]}))
    code, p = average_json(capsys, run, "--predict", new)
    assert code == 1 and p["error"]["code"] == "predict.unsupported"
    assert p["prediction"]["skipped"]["per_row"].startswith("[predict.parameter_shape]")


@pytest.mark.slow
def test_average_gives_back_the_weights_the_run_printed(tmp_path, capsys):
    data = tmp_path / "y.json"
    data.write_text(json.dumps({"N": Y.size, "y": Y.round(3).tolist()}))
    code = main(["discover", str(data), "--target", "y", "--strategy", "average", "--budget", "3", "--chains", "2",
                 "--warmup", "300", "--draws", "500", "--workers", "1", "--out", str(tmp_path / "run"),
                 "--no-cache", "--json"])
    run = json.loads(capsys.readouterr().out)
    assert code == 0 and len(run["weights"]["evidence"]) >= 2
    for flag, key in (("evidence", "evidence"), ("stacking", "stacking"), ("pseudo-bma", "pseudo_bma_plus"),
                      ("flat", "flat")):
        code, p = average_json(capsys, tmp_path / "run", "--weights", flag)
        assert code == 0 and _weights(p) == pytest.approx(run["weights"][key], abs=1e-9), flag
        assert p["mixture_elpd"] == pytest.approx(run["weights"]["mixture_elpd_loo"][key])
        assert p["effective_models"] == pytest.approx(run["weights"]["effective_models"][key])
    _, flat = average_json(capsys, tmp_path / "run", "--weights", "flat")
    _, evidence = average_json(capsys, tmp_path / "run")
    assert _weights(flat) != pytest.approx(_weights(evidence))
