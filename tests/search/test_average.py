"""Large Language Bayes recombination on arrays: weights, 1/Σw², unreliable evidence, pooled draws."""

import math

import numpy as np
import pytest
from scipy.special import logsumexp

from boxloop.diagnose import diagnose
from boxloop.search.average import (allocate, effective_models, evidence_problem, mix_draws, mixture_elpd,
                                    mixture_lpd)
from boxloop.search.recombine import comparable_pool, loo_comparison, run_weights, weigh
from boxloop.search.records import FitRecord

Y = np.random.default_rng(7).normal(0.3, 1.0, size=12)


def _record(name: str, loc: float, evidence: dict | None, seed: int) -> FitRecord:
    """A reliable fit of y ~ normal(theta, 1) whose posterior draws of theta sit at `loc`."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(loc, 0.2, size=(2, 500))
    stats = {"diverging": np.zeros((2, 500), bool), "energy": rng.normal(size=(2, 500))}
    log_lik = {"y": -0.5 * (Y[None, None, :] - theta[..., None]) ** 2 - 0.5 * math.log(2 * math.pi)}
    d = diagnose({"theta": theta}, stats, log_lik)
    assert d.score >= 5, d.reasons
    return FitRecord(key=name, structural_hash=name, data_hash="d", settings_hash="s", program=name,
                     status="ok", diagnostics=d, evidence=evidence)


def _bridge(log_z: float) -> dict:
    return {"log_evidence": log_z, "se": 0.01, "method": "bridge", "n_draws": 1000, "pareto_k": None}


@pytest.fixture(scope="module")
def records():
    return {"a": _record("a", 0.2, _bridge(-20.0), 1), "b": _record("b", 0.4, _bridge(-19.0), 2),
            "c": _record("c", 0.3, {**_bridge(-10.0), "method": "is", "pareto_k": 0.93}, 3),
            "d": _record("d", 0.1, {**_bridge(-12.0), "reliable": False, "warnings": ["SMC chains disagree"]}, 4)}


def test_mixture_draws_mix_two_models_in_the_weight_ratio():
    draws = {"zeros": np.zeros((2, 300, 3)), "ones": np.ones((4, 100, 3))}
    mixed = mix_draws(draws, {"zeros": 0.2, "ones": 0.8}, 1000, seed=1)
    assert mixed.shape == (1000, 3)
    assert np.all(mixed.sum(axis=0) == 800)  # 800 of 1000 draws from the model of weight 0.8
    assert 0 < mixed[:100, 0].sum() < 100  # shuffled, not stacked model after model
    assert mix_draws(draws, {"zeros": 0.0, "ones": 1.0}, 50).min() == 1.0  # weight 0 contributes nothing


def test_allocation_adds_up_and_follows_the_weights():
    w = {"a": 0.5, "b": 0.3, "c": 0.2, "d": 0.0}
    counts = allocate(w, 7)
    assert sum(counts.values()) == 7 and "d" not in counts
    assert all(abs(counts[m] - 7 * w[m]) < 1 for m in counts)


def test_effective_number_of_models_is_one_over_the_sum_of_squares():
    assert effective_models([1.0, 0.0]) == pytest.approx(1.0)
    assert effective_models([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert effective_models([0.25] * 4) == pytest.approx(4.0)
    assert effective_models([0.5, 0.3, 0.2]) == pytest.approx(1 / 0.38)
    assert effective_models([2.0, 2.0]) == pytest.approx(2.0)  # normalised first
    assert math.isnan(effective_models([]))


@pytest.mark.parametrize("evidence, says", [
    (None, "no log evidence"), ({"log_evidence": None}, "no log evidence"),
    ({"log_evidence": float("inf")}, "not finite"), ({"log_evidence": -3.0, "pareto_k": 0.8}, "Pareto k is 0.80"),
    ({"log_evidence": -3.0, "reliable": False, "warnings": ["two runs disagree"]}, "two runs disagree"),
])
def test_unreliable_evidence_is_named(evidence, says):
    assert says in evidence_problem(evidence)


def test_reliable_evidence_passes_before_and_after_it_carries_a_verdict():
    assert evidence_problem(_bridge(-3.0)) is None
    assert evidence_problem({**_bridge(-3.0), "reliable": True, "warnings": []}) is None
    assert evidence_problem({"log_evidence": -3.0, "pareto_k": 0.5}) is None


def test_evidence_weights_leave_out_unreliable_estimates_and_say_why(records):
    pool = comparable_pool(records, 5)
    multiplicity = {"a": 1, "b": 3, "c": 1, "d": 2}
    w = weigh("evidence", pool, records, multiplicity, loo_comparison(pool, records))
    assert set(w.excluded) == {"c", "d"} and "Pareto k" in w.excluded["c"] and "disagree" in w.excluded["d"]
    # SNIS over proposals: b was proposed 3 times, so w_b / w_a = 3 e^{-19} / e^{-20}
    assert w.weights["b"] / w.weights["a"] == pytest.approx(3 * math.e)
    assert sum(w.weights.values()) == pytest.approx(1.0) and set(w.weights) == {"a", "b"}
    assert w.effective_models == pytest.approx(1 / sum(v * v for v in w.weights.values()))


def test_each_weighting_sums_to_one_and_flat_counts_proposals(records):
    pool = comparable_pool(records, 5)
    multiplicity = {"a": 1, "b": 3, "c": 1, "d": 2}
    out = run_weights(pool, records, multiplicity, loo_comparison(pool, records), averaging=True)
    for scheme in ("evidence", "flat", "stacking", "pseudo_bma_plus"):
        assert sum(out[scheme].values()) == pytest.approx(1.0), scheme
        assert out["effective_models"][scheme] == pytest.approx(1 / sum(v * v for v in out[scheme].values()))
    assert out["flat"] == pytest.approx({"a": 1 / 7, "b": 3 / 7, "c": 1 / 7, "d": 2 / 7})
    assert out["stacking"] != pytest.approx(out["flat"])
    assert set(out["evidence_excluded"]) == {"c", "d"}


def test_mixture_elpd_of_one_model_is_its_elpd_and_mixing_cannot_beat_the_pointwise_best(records):
    pointwise = {h: r.diagnostics.loo.elpd_loo_i for h, r in records.items()}
    assert mixture_elpd({"a": 1.0}, pointwise) == pytest.approx(records["a"].elpd_loo)
    mixed = mixture_elpd({"a": 0.5, "b": 0.5}, pointwise)
    assert mixed <= np.sum(np.maximum(pointwise["a"], pointwise["b"])) + 1e-12


def test_held_out_density_of_a_mixture_is_the_weighted_average_of_the_predictive_densities():
    # constant draws: model a gives every held-out point density 0.1, model b density 0.4
    log_lik = {"a": np.full((2, 10, 3), math.log(0.1)), "b": np.full((4, 5, 3), math.log(0.4))}
    assert mixture_lpd({"a": 0.25, "b": 0.75}, log_lik) == pytest.approx(3 * math.log(0.25 * 0.1 + 0.75 * 0.4))
    draws = np.log(np.array([0.2, 0.6]))[:, None]  # two draws of one point: mean density 0.4
    assert mixture_lpd({"m": 1.0}, {"m": draws}) == pytest.approx(math.log(0.4))
    assert mixture_lpd({"m": 1.0}, {"m": draws}) == pytest.approx(logsumexp(draws) - math.log(2))
