"""The seven checks on draws with known properties, exact LOO, Stan naming, eight schools."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from shared_data import shared

from boxloop.diagnose import (
    CHECKS,
    DiagnoseError,
    Thresholds,
    diagnose,
    load_netcdf,
    save_netcdf,
    summarize,
    to_inference_data,
)
from boxloop.errors import DataError

CHAINS, DRAWS = 4, 1000
SIGMA, PRIOR_SD = 1.0, 10.0
SHARED = shared("benchmarks", "posteriordb")


def normal_model(rng, n=20):
    """y_i ~ normal(mu, 1), mu ~ normal(0, 10): data and exact posterior draws of mu."""
    y = rng.normal(1.0, SIGMA, size=n)
    precision = 1 / PRIOR_SD**2 + n / SIGMA**2
    mean = y.sum() / SIGMA**2 / precision
    mu = rng.normal(mean, precision**-0.5, size=(CHAINS, DRAWS))
    return y, mu


def good_fit(seed=0):
    """Independent draws from the exact posterior: what a perfect sampler would return."""
    rng = np.random.default_rng(seed)
    y, mu = normal_model(rng)
    posterior = {"mu": mu, "theta": rng.normal(size=(CHAINS, DRAWS, 3))}
    sample_stats = {
        "diverging": np.zeros((CHAINS, DRAWS), dtype=bool),
        "energy": rng.normal(10.0, 2.0, size=(CHAINS, DRAWS)),
    }
    log_lik = {"y": stats.norm.logpdf(y, mu[..., None], SIGMA)}
    return posterior, sample_stats, log_lik, y


def test_well_mixed_chains_pass_every_check():
    d = diagnose(*good_fit()[:3])
    assert d.checks == {name: True for name in CHECKS}
    assert (d.score, d.reliable, d.failed, d.reasons) == (7, True, (), {})
    assert d.rhat_max < 1.01 and d.rhat_excellent
    assert d.ess_bulk_min > 3000 and d.ess_tail_min > 3000  # 4000 independent draws
    assert d.bfmi_min > 1.5  # independent energies give E-BFMI near 2
    assert d.divergences == 0 and d.pareto_k_bad_frac == 0.0
    assert (d.n_chains, d.n_draws) == (CHAINS, DRAWS)


def test_draws_from_an_approximation_fail_the_sampler_checks_and_say_why():
    posterior, _, log_lik, _ = good_fit()
    d = diagnose(posterior, None, log_lik)
    assert not d.checks["divergences"] and not d.checks["bfmi"]
    assert all(d.checks[name] for name in CHECKS if name not in ("divergences", "bfmi"))
    assert d.score == 5 and "approximation, not a sampler" in d.reasons["bfmi"]
    with pytest.raises(DataError, match="diverging"):  # stats given without NUTS's fields
        diagnose(posterior, {"energy": np.zeros((CHAINS, DRAWS))}, log_lik)


def test_stuck_chains_fail_rhat_and_name_the_parameter():
    posterior, sample_stats, log_lik, _ = good_fit()
    posterior["theta"][:, :, 1] += 3.0 * np.arange(CHAINS)[:, None]  # each chain its own mode
    d = diagnose(posterior, sample_stats, log_lik)
    assert d.rhat_max > 1.5
    assert d.failed[0] == "rhat" and not d.checks["rhat"]
    assert "theta[2]" in d.reasons["rhat"]
    assert not d.rhat_excellent


def ar1(rng, phi, shape):
    x = np.empty(shape)
    x[:, 0] = rng.normal(size=shape[0])
    noise = rng.normal(scale=np.sqrt(1 - phi**2), size=shape)
    for t in range(1, shape[1]):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def test_autocorrelated_chains_fail_bulk_ess():
    posterior, sample_stats, log_lik, _ = good_fit()
    posterior["theta"][..., 0] = ar1(np.random.default_rng(1), 0.99, (CHAINS, DRAWS))
    d = diagnose(posterior, sample_stats, log_lik)
    # Theory: ESS = N (1 - phi) / (1 + phi) = 20 for N = 4000; estimates are noisy.
    assert 5 < d.ess_bulk_min < 100
    assert "ess_bulk" in d.failed and "theta[1]" in d.reasons["ess_bulk"]


def test_divergences_are_counted_and_fail_one_check():
    posterior, sample_stats, log_lik, _ = good_fit()
    sample_stats["diverging"][1, [5, 50, 500]] = True
    d = diagnose(posterior, sample_stats, log_lik)
    assert d.divergences == 3
    assert d.failed == ("divergences",) and d.score == 6 and d.reliable


def test_low_bfmi_in_one_chain_fails_bfmi():
    posterior, sample_stats, log_lik, _ = good_fit()
    # A random walk: energy changes little between draws but wanders far -> E-BFMI ~ 0.01.
    walk = np.cumsum(np.random.default_rng(2).normal(scale=0.1, size=DRAWS))
    sample_stats["energy"][1] = 10.0 + walk
    d = diagnose(posterior, sample_stats, log_lik)
    assert d.bfmi[1] < 0.1 and min(d.bfmi[0], d.bfmi[2], d.bfmi[3]) > 1.5
    assert d.bfmi_min == pytest.approx(d.bfmi[1])
    assert d.failed == ("bfmi",) and "[2]" in d.reasons["bfmi"]


def test_outliers_give_many_high_pareto_k():
    posterior, sample_stats, _, y = good_fit()
    y = y.copy()
    y[:6] = 15.0  # 30 % of the points sit 14 sd away from where the posterior puts mu
    log_lik = {"y": stats.norm.logpdf(y, posterior["mu"][..., None], SIGMA)}
    d = diagnose(posterior, sample_stats, log_lik)
    assert d.pareto_k_bad_frac >= 0.25
    assert d.checks["loo"] and not d.checks["pareto_k"]
    assert d.failed == ("pareto_k",)


def test_missing_log_likelihood_scores_zero_on_both_loo_checks_without_raising():
    posterior, sample_stats, _, _ = good_fit()
    d = diagnose(posterior, sample_stats, None)
    assert d.failed == ("loo", "pareto_k") and d.score == 5 and d.reliable
    assert "log_likelihood" in d.reasons["loo"]
    out = d.to_dict()
    assert out["elpd_loo"] is None and out["pareto_k_bad_frac"] is None
    json.dumps(out, allow_nan=False)  # valid JSON, as the CLI contract needs


def test_non_finite_log_likelihood_fails_loo_with_reason():
    posterior, sample_stats, log_lik, _ = good_fit()
    log_lik["y"][0, 0, 3] = -np.inf
    d = diagnose(posterior, sample_stats, log_lik)
    assert d.failed == ("loo", "pareto_k")
    assert "non-finite" in d.reasons["loo"]


def predictive_logpdf(y_new, y_seen):
    """log p(y_new | y_seen); mu | y_seen is normal(m, s^2), so y_new is normal(m, s^2 + 1)."""
    precision = 1 / PRIOR_SD**2 + y_seen.size / SIGMA**2
    mean = y_seen.sum() / SIGMA**2 / precision
    return stats.norm.logpdf(y_new, mean, np.sqrt(1 / precision + SIGMA**2))


def test_psis_loo_matches_exact_leave_one_out():
    posterior, sample_stats, log_lik, y = good_fit(seed=3)
    d = diagnose(posterior, sample_stats, log_lik)
    elpd_exact = sum(predictive_logpdf(y[i], np.delete(y, i)) for i in range(y.size))
    lppd_exact = predictive_logpdf(y, y).sum()
    assert abs(d.elpd_loo - elpd_exact) < 0.1
    assert abs(d.p_loo - (lppd_exact - elpd_exact)) < 0.1
    assert d.elpd_loo_se > 0


def test_several_observed_variables_are_pooled_into_one_loo():
    posterior, sample_stats, log_lik, _ = good_fit()
    split = {"y_a": log_lik["y"][..., :8], "y_b": log_lik["y"][..., 8:]}
    whole = diagnose(posterior, sample_stats, log_lik)
    pooled = diagnose(posterior, sample_stats, split)
    assert pooled.loo.n_obs == 20
    assert pooled.elpd_loo == pytest.approx(whole.elpd_loo, abs=1e-9)
    assert pooled.elpd_loo_se == pytest.approx(whole.elpd_loo_se, abs=1e-9)


def test_constant_entries_are_ignored_but_nan_draws_fail():
    posterior, sample_stats, log_lik, _ = good_fit()
    rng = np.random.default_rng(4)
    chol = np.zeros((CHAINS, DRAWS, 2, 2))
    chol[..., 0, 0] = 1.0  # as in a Cholesky factor of a correlation matrix
    chol[..., 1, 0] = rng.uniform(-0.5, 0.5, size=(CHAINS, DRAWS))
    chol[..., 1, 1] = np.sqrt(1 - chol[..., 1, 0] ** 2)
    posterior["L"] = chol
    assert diagnose(posterior, sample_stats, log_lik).score == 7
    posterior["theta"][0, 7, 2] = np.nan
    d = diagnose(posterior, sample_stats, log_lik)
    assert "rhat" in d.failed and "theta[3]" in d.reasons["rhat"]


def test_thresholds_are_configurable():
    posterior, sample_stats, log_lik, _ = good_fit()
    strict = Thresholds(ess_bulk_min=10_000, zeta=7)
    d = diagnose(posterior, sample_stats, log_lik, thresholds=strict)
    assert d.failed == ("ess_bulk",) and d.score == 6 and not d.reliable
    with pytest.raises(DiagnoseError, match="zeta"):
        Thresholds(zeta=8)


def test_missing_sampler_fields_are_a_data_error():
    posterior, sample_stats, log_lik, _ = good_fit()
    with pytest.raises(DataError, match="energy"):
        diagnose(posterior, {"diverging": sample_stats["diverging"]}, log_lik)
    with pytest.raises(DataError, match="chain, draw"):
        diagnose(posterior, sample_stats, {"y": log_lik["y"][:2]})


def test_summarize_uses_stan_names_and_consistent_mcse():
    rng = np.random.default_rng(5)
    posterior = {
        "mu": rng.normal(size=(CHAINS, DRAWS)),
        "theta": rng.normal(size=(CHAINS, DRAWS, 3)) + np.arange(3),
        "L": rng.normal(size=(CHAINS, DRAWS, 2, 3)),
        "one": np.ones((CHAINS, DRAWS)),
    }
    posterior["theta"][..., 2] = ar1(rng, 0.9, (CHAINS, DRAWS))
    out = summarize(posterior)
    assert list(out) == [
        "mu", "theta[1]", "theta[2]", "theta[3]",
        "L[1,1]", "L[2,1]", "L[1,2]", "L[2,2]", "L[1,3]", "L[2,3]", "one",
    ]  # fmt: skip
    assert out["theta[2]"]["mean"] == pytest.approx(posterior["theta"][..., 1].mean())
    assert out["L[2,3]"]["sd"] == pytest.approx(posterior["L"][..., 1, 2].std(ddof=1))
    assert out["theta[3]"]["ess_bulk"] < 1000 < out["theta[1]"]["ess_bulk"]
    for name in ("mu", "theta[1]", "theta[3]", "L[2,1]"):
        row = out[name]
        assert row["mcse_mean"] == pytest.approx(row["sd"] / np.sqrt(row["ess_bulk"]), rel=0.1)
        assert abs(row["rhat"] - 1) < 0.02
    for name in ("mu", "theta[1]"):  # independent normal draws: the sd's standard error is sd / sqrt(2n)
        row = out[name]
        assert row["mcse_sd"] == pytest.approx(row["sd"] / np.sqrt(2 * CHAINS * DRAWS), rel=0.15)
    assert out["theta[3]"]["mcse_sd"] > 2 * out["theta[1]"]["mcse_sd"]  # AR(0.9) draws know less
    assert out["one"]["rhat"] is None  # undefined for a constant, and JSON-ready
    json.dumps(out, allow_nan=False)


def test_netcdf_round_trip_keeps_the_diagnostics(tmp_path):
    posterior, sample_stats, log_lik, y = good_fit()
    sample_stats["potential_energy"] = np.ones((CHAINS, DRAWS))
    sample_stats["accept_prob"] = np.full((CHAINS, DRAWS), 0.8)
    y_rep = np.zeros((CHAINS, DRAWS, y.size))
    idata = to_inference_data(
        posterior,
        sample_stats,
        log_lik,
        posterior_predictive={"y": y_rep},
        prior={"mu": np.zeros((1, 500))},
        observed_data={"y": y},
    )
    path = save_netcdf(idata, tmp_path / "fit.nc")
    loaded = load_netcdf(path)
    assert set(loaded.children) >= {"posterior", "posterior_predictive", "prior", "observed_data"}
    np.testing.assert_array_equal(loaded["posterior"]["theta"].values, posterior["theta"])
    # NumPyro's field names become ArviZ's: lp is the log density, minus the potential energy.
    np.testing.assert_array_equal(loaded["sample_stats"]["lp"].values, -1.0)
    assert float(loaded["sample_stats"]["acceptance_rate"].mean()) == pytest.approx(0.8)
    assert diagnose(loaded).to_dict() == diagnose(idata).to_dict()
    with pytest.raises(DataError, match="no fit file"):
        load_netcdf(tmp_path / "missing.nc")


@pytest.fixture(scope="module")
def eight_schools():
    draws_file = SHARED / "reference_draws" / "eight_schools-eight_schools_noncentered.json"
    data_file = SHARED / "data" / "eight_schools.json"
    chains = json.loads(draws_file.read_text())
    data = json.loads(data_file.read_text())
    theta = np.stack([np.stack([c[f"theta[{j}]"] for j in range(1, 9)], -1) for c in chains])
    posterior = {
        "mu": np.array([c["mu"] for c in chains]),
        "tau": np.array([c["tau"] for c in chains]),
        "theta": theta,
    }
    log_lik = {"y": stats.norm.logpdf(np.array(data["y"]), theta, np.array(data["sigma"]))}
    return posterior, log_lik


def test_eight_schools_reference_draws(eight_schools):
    posterior, log_lik = eight_schools
    summary = summarize(posterior)
    assert set(summary) == {"mu", "tau", *(f"theta[{j}]" for j in range(1, 9))}
    assert max(row["rhat"] for row in summary.values()) <= 1.01
    assert min(row["ess_bulk"] for row in summary.values()) >= 400
    # posteriordb stores no sampler fields; these stand in so `diagnose` can run.
    shape = posterior["mu"].shape
    sample_stats = {
        "diverging": np.zeros(shape, dtype=bool),
        "energy": np.random.default_rng(6).normal(size=shape),
    }
    d = diagnose(posterior, sample_stats, log_lik)
    assert d.rhat_max <= 1.01 and d.ess_bulk_min >= 400
    assert abs(d.elpd_loo - (-30.70)) < 0.3  # the published expert value (RefineStat)
    assert d.pareto_k_bad_frac == 0.0 and d.score == 7
