"""Reference values the tests hold boxloop's numbers to, computed here from independent sources
(posteriordb's Stan draws, quadrature), never from boxloop's own estimators."""

from __future__ import annotations

import functools
import json
import math

import numpy as np
from scipy import integrate, stats
from shared_data import shared

POSTERIORDB = shared("benchmarks", "posteriordb")
EIGHT_DATA = {"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}

# Monte Carlo sd of PSIS-LOO's elpd for eight schools (non-centred) from 2 chains x 300 draws:
# 0.065 over 20 seeds (mean -30.694); from the 10 000 reference draws it is about 0.015.
ELPD_MC_SD_600_DRAWS = 0.065
ELPD_MC_SD_REFERENCE = 0.015


def reference_draws(posterior: str) -> dict:
    """posteriordb reference draws, Stan name -> (10 chains, 1000 draws)."""
    chains = json.loads((POSTERIORDB / "reference_draws" / f"{posterior}.json").read_text())
    return {key: np.array([chain[key] for chain in chains], dtype=float) for key in chains[0]}


@functools.cache
def eight_schools_elpd_loo() -> float:
    """PSIS-LOO elpd of eight schools from posteriordb's 10 000 Stan draws of theta (ArviZ
    directly, not through boxloop): about -30.69."""
    import arviz as az

    draws = reference_draws("eight_schools-eight_schools_noncentered")
    theta = np.stack([draws[f"theta[{j}]"] for j in range(1, 9)], axis=-1)
    log_lik = stats.norm.logpdf(np.array(EIGHT_DATA["y"], float), theta, np.array(EIGHT_DATA["sigma"], float))
    idata = az.from_dict(posterior={"theta": theta}, log_likelihood={"y": log_lik})
    return float(az.loo(idata).elpd_loo)


@functools.cache
def eight_schools_log_evidence() -> float:
    """log p(y) of eight schools with mu ~ N(0, 5), tau ~ half-Cauchy(0, 5): theta and mu
    integrate out (y ~ MVN(0, diag(sigma^2 + tau^2) + 25)), leaving a 1-d integral over tau.
    -31.311; the same for the centred and the non-centred parameterisation."""
    y, s = np.asarray(EIGHT_DATA["y"], float), np.asarray(EIGHT_DATA["sigma"], float)

    def integrand(tau):
        cov = np.diag(s**2 + tau**2) + 25.0
        return 2.0 * stats.cauchy.pdf(tau, 0, 5) * stats.multivariate_normal(np.zeros(8), cov).pdf(y)

    value, err = integrate.quad(integrand, 0.0, np.inf, epsabs=0.0, epsrel=1e-10, limit=200)
    assert err < 1e-8 * value
    return math.log(value)
