"""Pointwise log-likelihood in blocks of draws: everything kept while it fits, a subsample of
observations (and exact running statistics for all) beyond; LOO from the subsample stays within
its own standard error of LOO on every observation."""

from __future__ import annotations

import numpy as np
import pytest

from boxloop.diagnose import psis
from boxloop.infer import compile as compile_mod
from boxloop.infer import pointwise
from boxloop.infer.nuts import NutsSettings
from boxloop.infer.pipeline import fit_program


def _gather(values: dict, max_values: int, block: int) -> pointwise.Pointwise:
    s = len(next(iter(values.values())))
    g = pointwise.Gatherer({k: v.shape[1] for k, v in values.items()}, s, max_values)
    for start in range(0, s, block):
        g.add({k: v[start:start + block] for k, v in values.items()}, min(block, s - start))
    return g.result()


def test_everything_is_kept_under_the_cap_and_a_fixed_subsample_above_it():
    rng = np.random.default_rng(0)
    values = {"y": rng.normal(-1, 1, size=(300, 50)), "z": rng.normal(-2, 1, size=(300, 30))}
    whole = _gather(values, 10**6, block=70)
    assert not whole.subsampled and all(np.array_equal(whole.log_lik[k], values[k]) for k in values)
    part = _gather(values, 300 * 20, block=70)
    again = _gather(values, 300 * 20, block=300)
    assert part.subsampled and part.rows.size == 20 and np.array_equal(part.rows, again.rows)
    pooled = np.concatenate([values["y"], values["z"]], axis=1)
    kept = np.concatenate([part.log_lik["y"], part.log_lik["z"]], axis=1)
    np.testing.assert_array_equal(kept, pooled[:, part.rows])
    lpd = np.log(np.mean(np.exp(pooled), axis=0))
    np.testing.assert_allclose(part.lpd, lpd, rtol=1e-12)
    np.testing.assert_allclose(part.var, np.var(pooled, axis=0, ddof=1), rtol=1e-10)


def test_subsampled_loo_is_within_its_error_of_loo_on_every_observation():
    rng = np.random.default_rng(1)
    n, s = 20_000, 400
    mu = rng.normal(0, 0.05, size=(s, 1))
    y = rng.standard_t(4, size=n)  # heavy tails: some observations matter much more than others
    ll = -0.5 * (y - mu) ** 2 - 0.5 * np.log(2 * np.pi)
    full = psis.loo(ll)
    g = _gather({"y": ll}, s * 1000, block=128)
    sub = psis.loo_subsampled(g.log_lik["y"], g.rows, g.lpd, g.var)
    assert sub.rows.size == 1000 and sub.pareto_k.size == 1000 and sub.n_obs == n
    assert 0 < sub.subsampling_se < 0.02 * abs(full.elpd_loo)
    assert abs(sub.elpd_loo - full.elpd_loo) < 4 * sub.subsampling_se
    assert sub.elpd_loo_se == pytest.approx(full.elpd_loo_se, rel=0.1)
    assert sub.p_loo == pytest.approx(full.p_loo, abs=4 * sub.subsampling_se)


REGRESSION = """
data { int<lower=0> N; vector[N] x; vector[N] y; }
parameters { real a; real b; real<lower=0> sigma; }
model { a ~ normal(0, 5); b ~ normal(0, 5); sigma ~ normal(0, 2); y ~ normal(a + b * x, sigma); }
"""


def test_a_fit_beyond_the_cap_keeps_a_subsample_and_says_so(monkeypatch):
    rng = np.random.default_rng(2)
    n = 4000
    x = rng.normal(size=n)
    data = {"N": n, "x": x, "y": 1.0 + 0.5 * x + rng.normal(0, 0.7, size=n)}
    settings = NutsSettings(chains=2, warmup=200, draws=200, chain_method="sequential")
    full = fit_program(REGRESSION, data, settings)
    monkeypatch.setattr(pointwise, "MAX_VALUES", 400 * 500)  # 500 of the 4,000 rows
    monkeypatch.setattr(compile_mod, "RECORD_BLOCK_VALUES", 100 * n)  # four blocks of draws
    part = fit_program(REGRESSION, data, settings)
    assert part.log_lik["y"].shape == (2, 200, 500)
    loo = part.diagnostics.loo
    assert loo.rows.size == 500 and loo.n_obs == n
    assert abs(part.diagnostics.elpd_loo - full.diagnostics.elpd_loo) < 4 * loo.subsampling_se + 1e-9
    assert any("subsample of 500 of 4,000 observations" in w for w in part.warnings)
    np.testing.assert_allclose(part.draws["b"], full.draws["b"])  # blocks change nothing else


def test_a_program_whose_likelihood_is_all_target_increments_fits_without_pointwise_values():
    # No `y ~` statement: nothing is pointwise, so there is no LOO, but the posterior is there.
    # The posterior of mu is normal(0.25, sqrt(1/2)).
    program = "parameters { real mu; } model { mu ~ normal(0, 1); target += normal_lpdf(0.5 | mu, 1); }"
    fit = fit_program(program, {}, NutsSettings(chains=2, warmup=300, draws=500, chain_method="sequential"))
    mu = np.asarray(fit.draws["mu"]).ravel()
    mcse = np.sqrt(0.5 / fit.diagnostics.ess_bulk_min)
    assert abs(mu.mean() - 0.25) < 4 * mcse
    assert np.isnan(fit.diagnostics.elpd_loo) and fit.log_lik == {}
