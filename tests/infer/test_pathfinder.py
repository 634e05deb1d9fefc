"""Pathfinder (infer.pathfinder): exact on Gaussian targets, honest about the ones it cannot fit,
and the screen job built on it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from references import normal_mean_elpd_loo
from scipy import stats

from boxloop.errors import FitError
from boxloop.infer.pathfinder import (PathfinderSettings, inverse_hessian, lbfgs_path, pathfinder,
                                      minimised)

COV = np.array([[2.0, 0.9, 0.0], [0.9, 1.0, -0.3], [0.0, -0.3, 0.5]])
MEAN = np.array([1.0, -2.0, 0.5])
LOG_Z = 3.7  # the unnormalised target is exp(LOG_Z) x N(MEAN, COV)
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _gaussian_target(mean=MEAN, cov=COV, log_z=LOG_Z):
    prec = np.linalg.inv(cov)
    dist = stats.multivariate_normal(mean, cov)

    def value_and_grad(u):
        return log_z + dist.logpdf(u), -prec @ (np.asarray(u) - mean)

    def batch(x):
        return log_z + dist.logpdf(x)

    return value_and_grad, batch


def test_lbfgs_finds_the_mode_and_bfgs_the_inverse_hessian_of_a_quadratic():
    value_and_grad, _ = _gaussian_target()
    settings = PathfinderSettings(history=6)
    iterates, evaluations = lbfgs_path(minimised(value_and_grad), np.zeros(3), settings)
    np.testing.assert_allclose(iterates[-1].u, MEAN, atol=1e-4)
    np.testing.assert_allclose(inverse_hessian(iterates[-1].pairs, 3), COV, rtol=0.05, atol=0.02)
    assert evaluations >= len(iterates)


def test_a_gaussian_target_gives_its_mean_covariance_and_normaliser():
    value_and_grad, batch = _gaussian_target()
    res = pathfinder(value_and_grad, batch, 3, PathfinderSettings(), seed=3)
    draws = res.u.reshape(-1, 3)
    mcse = np.sqrt(np.diag(COV) / draws.shape[0]) * 2  # resampling with replacement repeats draws
    assert np.all(np.abs(draws.mean(axis=0) - MEAN) < 4 * mcse)
    np.testing.assert_allclose(np.cov(draws, rowvar=False), COV, atol=0.25)
    ev = res.evidence
    assert abs(ev.log_evidence - LOG_Z) < 0.05 and ev.se < 0.05 and ev.pareto_k < 0.5 and ev.reliable
    assert res.u.shape == (4, 256, 3) and res.warnings == ()


def test_unusable_settings_and_sizes_are_named():
    with pytest.raises(FitError, match="paths, keep must be at least 1"):
        PathfinderSettings(paths=0, keep=0)
    value_and_grad, batch = _gaussian_target()
    with pytest.raises(FitError, match="--screen-method nuts") as err:
        pathfinder(value_and_grad, batch, 1501)
    assert err.value.code == "fit.too_large"


def test_no_finite_start_is_a_clear_error():
    def nowhere(u):
        return -math.inf, np.zeros_like(u)

    with pytest.raises(FitError, match="random initial points") as err:
        pathfinder(nowhere, lambda x: np.full(x.shape[0], -np.inf), 2, PathfinderSettings(init_tries=5))
    assert err.value.code == "fit.bad_init"


NORMAL = """
data { int N; vector[N] y; }
parameters { real mu; }
model { mu ~ normal(0, 10); y ~ normal(mu, 1); }
"""


def _normal_data(n=25, seed=0):
    return {"N": n, "y": np.random.default_rng(seed).normal(1.5, 1.0, n)}


def _exact(data):
    y, n = np.asarray(data["y"]), data["N"]
    precision = 1 / 100 + n
    log_z = stats.multivariate_normal(np.zeros(n), np.eye(n) + 100 * np.ones((n, n))).logpdf(y)
    return y.sum() / precision, precision**-0.5, log_z


def test_a_program_through_pathfinder_matches_its_closed_form():
    from boxloop.infer.compile import approximate
    from boxloop.infer.pipeline import checked_program, fit_diagnostics

    data = _normal_data()
    mean, sd, log_z = _exact(data)
    fitted = approximate(checked_program(NORMAL, data), data, seed=1)
    mu = fitted.draws["mu"]
    assert mu.shape == (4, 256) and fitted.stats is None
    assert abs(mu.mean() - mean) < 4 * 2 * sd / math.sqrt(mu.size)
    assert abs(fitted.nuts.evidence.log_evidence - log_z) < 0.05
    diagnostics, _ = fit_diagnostics(fitted)
    assert math.isfinite(diagnostics.elpd_loo) and diagnostics.checks["pareto_k"]
    assert set(fitted.timing) >= {"compile_s", "sample_s", "total_s"}


def test_pathfinder_loo_comes_from_its_weighted_draws_and_matches_the_closed_form():
    # PSIS-LOO on the 4 x 512 proposal draws with their importance weights, not on the 4 x 256
    # draws resampled from them (repeated draws): the exact leave-one-out normal predictives.
    from boxloop.infer.compile import approximate
    from boxloop.infer.pipeline import checked_program, fit_diagnostics

    data = _normal_data(n=30, seed=4)
    exact = normal_mean_elpd_loo(data["y"], 10.0)
    for seed in range(3):
        fitted = approximate(checked_program(NORMAL, data), data, seed=seed)
        diagnostics, _ = fit_diagnostics(fitted)
        assert diagnostics.loo.n_samples == 2048 and fitted.draws["mu"].shape == (4, 256)
        assert abs(diagnostics.elpd_loo - exact) < 0.1, seed
        assert diagnostics.checks["pareto_k"] and diagnostics.loo.pareto_k.max() < 0.5


def test_the_pathfinder_screen_job_returns_loo_and_its_evidence():
    from boxloop.search.fit_task import FitJob
    from boxloop.search.screen_task import run_screen

    data = _normal_data(seed=2)
    outcome = run_screen(FitJob(NORMAL, data, PathfinderSettings(), seed=5, evidence=None))
    assert outcome.status == "ok", outcome.reason
    _, _, log_z = _exact(data)
    # Kept even though the job asked for no evidence: its Pareto k is the screen's trust check.
    assert outcome.evidence["method"] == "pathfinder" and abs(outcome.evidence["log_evidence"] - log_z) < 0.05
    d = outcome.diagnostics
    assert math.isfinite(d.elpd_loo) and "approximation" in d.reasons["divergences"]
    assert outcome.netcdf is None


def test_the_centred_eight_schools_screen_is_never_trusted():
    # The funnel no Gaussian fits: the importance weights say so, and the screen rule promotes it.
    from boxloop.search.fit_task import FitJob
    from boxloop.search.records import FitRecord
    from boxloop.search.screen import ScreenRule, trust_problem
    from boxloop.search.screen_task import run_screen

    program = (EXAMPLES / "eight_schools.stan").read_text()
    data = json.loads((EXAMPLES / "eight_schools.json").read_text())
    for seed in range(3):
        outcome = run_screen(FitJob(program, data, PathfinderSettings(), seed))
        assert outcome.status == "ok" and outcome.evidence["pareto_k"] > 0.7, seed
        rec = FitRecord(key="k", structural_hash="h", data_hash="d", settings_hash="s", program=program,
                        status="ok", diagnostics=outcome.diagnostics, evidence=outcome.evidence, fidelity="screen")
        assert trust_problem(rec, False, ScreenRule()) is not None, seed


def test_a_bad_program_screen_fails_cleanly():
    from boxloop.search.fit_task import FitJob
    from boxloop.search.screen_task import run_screen

    outcome = run_screen(FitJob(NORMAL.replace("real mu;", "real mu"), _normal_data(), PathfinderSettings(), 0))
    assert (outcome.status, outcome.code) == ("failed", "parse.unexpected_token") and "';'" in outcome.reason
