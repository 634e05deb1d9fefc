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
    """log p(y) of eight schools with mu ~ N(0, 5), tau ~ half-Cauchy(0, 5): -31.311; the same for
    the centred and the non-centred parameterisation (see `hierarchical_log_evidence`)."""
    return hierarchical_log_evidence(tuple(EIGHT_DATA["y"]), tuple(EIGHT_DATA["sigma"]))


def hierarchical_data(groups: int = 64, seed: int = 5) -> dict:
    """Eight schools' shape with `groups` groups: theta_j ~ N(2, 3), y_j ~ N(theta_j, sigma_j), sigma_j
    in (8, 16), so the data say little about each theta_j and the centred posterior is a funnel."""
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(8.0, 16.0, groups)
    y = rng.normal(2.0, 3.0, groups) + rng.normal(0.0, sigma)
    return {"J": groups, "y": np.round(y, 3).tolist(), "sigma": np.round(sigma, 3).tolist()}


@functools.cache
def hierarchical_log_evidence(y: tuple, sigma: tuple) -> float:
    """log p(y) of y_j ~ N(theta_j, sigma_j), theta_j ~ N(mu, tau), mu ~ N(0, 5), tau ~ half-Cauchy(0, 5):
    theta and mu integrate out (y ~ MVN(0, diag(sigma^2 + tau^2) + 25)), leaving a 1-d integral over
    tau, done by quadrature."""
    y, s = np.asarray(y, float), np.asarray(sigma, float)
    log_peak = max(stats.multivariate_normal(np.zeros(y.size), np.diag(s**2 + t**2) + 25.0).logpdf(y)
                   for t in np.linspace(0.0, 30.0, 61))

    def integrand(tau):
        cov = np.diag(s**2 + tau**2) + 25.0
        log_lik = stats.multivariate_normal(np.zeros(y.size), cov).logpdf(y)
        return 2.0 * stats.cauchy.pdf(tau, 0, 5) * math.exp(log_lik - log_peak)  # scaled: 64 groups underflow

    value, err = integrate.quad(integrand, 0.0, np.inf, epsabs=0.0, epsrel=1e-10, limit=200)
    assert err < 1e-8 * value
    return math.log(value) + log_peak


def legacy_arviz_weights(results: dict) -> dict[str, dict[str, float]]:
    """Stacking and pseudo-BMA+ weights, elpd differences and their se's from the legacy ArviZ 0.23
    `compare` (the library boxloop used before arviz-stats), for {name: psis.LooResult}."""
    import warnings

    import arviz as az
    import xarray as xr

    index = ["elpd_loo", "se", "p_loo", "n_samples", "n_data_points", "warning", "loo_i", "pareto_k", "scale",
             "good_k"]
    elpd = {name: az.ELPDData(data=[r.elpd_loo, r.elpd_loo_se, r.p_loo, r.n_samples, r.n_obs, False,
                                    xr.DataArray(r.elpd_loo_i, dims=("obs",)), xr.DataArray(r.pareto_k, dims=("obs",)),
                                    "log", r.good_k], index=index)
            for name, r in results.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stacking = az.compare(elpd, ic="loo", method="stacking", scale="log")
        bb = az.compare(elpd, ic="loo", method="BB-pseudo-BMA", scale="log", seed=0)
    return {str(name): {"weight_stacking": float(row["weight"]),
                        "weight_pseudo_bma_plus": float(bb.loc[name, "weight"]),
                        "d_loo": float(row["elpd_diff"]), "dse": float(row["dse"]), "rank": int(row["rank"])}
            for name, row in stacking.iterrows()}


def normal_mean_elpd_loo(y, prior_sd: float) -> float:
    """Exact elpd_loo of y_i ~ normal(mu, 1), mu ~ normal(0, prior_sd): every leave-one-out
    predictive is normal, with the conjugate posterior of the other observations."""
    y, total = np.asarray(y, dtype=float), 0.0
    for i in range(y.size):
        rest = np.delete(y, i)
        precision = 1 / prior_sd**2 + rest.size
        total += stats.norm(rest.sum() / precision, math.sqrt(1 / precision + 1)).logpdf(y[i])
    return float(total)
