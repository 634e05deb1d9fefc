"""Evidence estimators against closed-form log p(x | M) of conjugate models.

Draws come from the exact posterior (no MCMC), so any error is the estimator's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import json

import numpy as np
import pytest
from scipy import special, stats

from boxloop.diagnose import EvidenceError, log_evidence

N_DRAWS = 4000


@dataclass(frozen=True)
class Conjugate:
    log_density: Callable[[np.ndarray], np.ndarray]  # over the unconstrained space, batched
    draws_u: np.ndarray  # (N_DRAWS, d) exact posterior draws
    log_evidence: float  # closed form


def normal_mean(rng) -> Conjugate:
    """y_i ~ normal(mu, 2), mu ~ normal(1, 3); marginally y ~ MVN(1, 4 I + 9 J)."""
    sigma, m0, s0, n = 2.0, 1.0, 3.0, 30
    y = rng.normal(2.5, sigma, size=n)

    def log_density(u):
        mu = u[:, 0]
        log_lik = stats.norm.logpdf(y[None, :], mu[:, None], sigma).sum(axis=1)
        return stats.norm.logpdf(mu, m0, s0) + log_lik

    precision = 1 / s0**2 + n / sigma**2
    mean = (m0 / s0**2 + y.sum() / sigma**2) / precision
    draws = rng.normal(mean, precision**-0.5, size=(N_DRAWS, 1))
    cov = sigma**2 * np.eye(n) + s0**2 * np.ones((n, n))
    exact = stats.multivariate_normal.logpdf(y, np.full(n, m0), cov)
    return Conjugate(log_density, draws, float(exact))


def linear_regression(rng) -> Conjugate:
    """y = X beta + e, e ~ normal(0, 1.5), beta ~ normal(0, 2 I) in 3 dimensions."""
    n, sigma, tau = 40, 1.5, 2.0
    x = rng.normal(size=(n, 3))
    y = x @ np.array([1.0, -0.5, 2.0]) + rng.normal(0, sigma, size=n)

    def log_density(u):
        log_prior = stats.norm.logpdf(u, 0, tau).sum(axis=1)
        log_lik = stats.norm.logpdf(y[None, :], u @ x.T, sigma).sum(axis=1)
        return log_prior + log_lik

    precision = x.T @ x / sigma**2 + np.eye(3) / tau**2
    cov_post = np.linalg.inv(precision)
    mean = cov_post @ x.T @ y / sigma**2
    draws = rng.multivariate_normal(mean, cov_post, size=N_DRAWS)
    cov_y = sigma**2 * np.eye(n) + tau**2 * x @ x.T
    exact = stats.multivariate_normal.logpdf(y, np.zeros(n), cov_y)
    return Conjugate(log_density, draws, float(exact))


def gamma_poisson(rng) -> Conjugate:
    """y_i ~ poisson(lambda), lambda ~ gamma(2, 0.5), sampled as u = log lambda."""
    a, b, n = 2.0, 0.5, 25
    y = rng.poisson(3.0, size=n)

    def log_density(u):
        lam = np.exp(u[:, 0])
        log_prior = stats.gamma.logpdf(lam, a, scale=1 / b)
        log_lik = stats.poisson.logpmf(y[None, :], lam[:, None]).sum(axis=1)
        return log_prior + log_lik + u[:, 0]  # + log |d lambda / d u|

    draws = np.log(rng.gamma(a + y.sum(), 1 / (b + n), size=(N_DRAWS, 1)))
    exact = (
        a * np.log(b)
        - special.gammaln(a)
        + special.gammaln(a + y.sum())
        - (a + y.sum()) * np.log(b + n)
        - special.gammaln(y + 1).sum()
    )
    return Conjugate(log_density, draws, float(exact))


MODELS = {f.__name__: f for f in (normal_mean, linear_regression, gamma_poisson)}


@pytest.mark.parametrize("method", ["bridge", "is", "auto"])
@pytest.mark.parametrize("model", list(MODELS))
def test_estimate_matches_closed_form(model, method):
    case = MODELS[model](np.random.default_rng(11))
    est = log_evidence(case.log_density, case.draws_u, method=method, seed=1)
    assert abs(est.log_evidence - case.log_evidence) < 0.05
    assert 0 < est.se < 0.05
    assert abs(est.log_evidence - case.log_evidence) < 5 * est.se  # the se is not too small
    assert est.method == method.replace("auto", "bridge") and est.n_draws == N_DRAWS
    assert est.reliable and est.warnings == ()  # exact draws: the estimators agree, auto keeps the bridge
    if method == "is":
        assert est.pareto_k < 0.5 and est.reliable  # a well-fitted proposal has light weights
    else:
        assert est.pareto_k is None


def test_chains_layout_gives_the_same_answer():
    case = linear_regression(np.random.default_rng(12))
    by_chain = case.draws_u.reshape(4, N_DRAWS // 4, 3)
    for method in ("bridge", "is"):
        est = log_evidence(case.log_density, by_chain, method=method, seed=2)
        assert abs(est.log_evidence - case.log_evidence) < 0.05


def test_importance_sampling_flags_a_target_with_heavier_tails_than_its_proposal():
    # Target: Student-t with 0.2 degrees of freedom (log Z = 0). The draws look normal, as when
    # a sampler misses the tails; weights of the t(5) proposal then have Pareto k = 1 - 0.2 / 5.
    def log_density(u):
        return stats.t.logpdf(u[:, 0], df=0.2)

    draws = np.random.default_rng(13).normal(size=(N_DRAWS, 1))
    est = log_evidence(log_density, draws, method="is", seed=3)
    assert est.pareto_k > 0.7 and not est.reliable


def test_bad_inputs_raise_evidence_errors_that_name_the_fix():
    case = normal_mean(np.random.default_rng(14))
    with pytest.raises(EvidenceError, match="auto, bridge, is, smc"):
        log_evidence(case.log_density, case.draws_u, method="laplace")
    with pytest.raises(EvidenceError, match="vectorised"):
        log_evidence(lambda u: np.zeros(1), case.draws_u)
    with pytest.raises(EvidenceError, match="not finite at"):
        log_evidence(lambda u: np.full(u.shape[0], -np.inf), case.draws_u)
    with pytest.raises(EvidenceError, match="shape"):
        log_evidence(case.log_density, case.draws_u[:, 0])


def test_to_dict_is_json_ready():
    case = gamma_poisson(np.random.default_rng(15))
    out = log_evidence(case.log_density, case.draws_u).to_dict()
    assert set(out) == {"log_evidence", "se", "method", "n_draws", "pareto_k", "reliable", "warnings"}
    assert out["method"] == "bridge" and out["pareto_k"] is None
    assert out["reliable"] is True and out["warnings"] == []
    json.dumps(out)
