"""Pareto-smoothed importance sampling and PSIS-LOO as numpy kernels.

PSIS (Vehtari, Simpson, Gelman, Yao & Gabry 2024) replaces the largest M = ceil(min(S/5,
3 sqrt(S / r_eff))) raw importance weights by the expected order statistics of a generalised
Pareto distribution fitted to them (the empirical-Bayes fit of Zhang & Stephens 2009, with the
weakly informative prior on its shape that ArviZ and loo use), truncated at the largest raw
weight; the fitted shape is the Pareto k diagnostic. PSIS-LOO (Vehtari, Gelman & Gabry 2017)
applies it to the weights 1 / p(y_i | theta_s) of each observation. The numbers agree with ArviZ
0.23's `psislw` / `loo` to rounding (tests compare them).

Everything is vectorised over observations and done in blocks of them, so LOO on a million
observations needs memory for one block of draws x observations at a time, not several copies
of the whole pointwise log-likelihood.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["LooResult", "loo", "loo_subsampled", "psis", "tail_length"]

_PRIOR_SHAPE_N = 10  # pseudo-observations of the prior on k, centred at 0.5
_PRIOR_B = 3
_LOG_TINY = math.log(np.finfo(float).tiny)
_BLOCK_VALUES = 4_000_000  # draws x observations smoothed at once (32 MB a copy)


@dataclass(frozen=True)
class LooResult:
    """PSIS-LOO over all observations of a model (several observed variables concatenated)."""

    elpd_loo: float
    elpd_loo_se: float
    p_loo: float
    n_samples: int
    good_k: float
    elpd_loo_i: np.ndarray = field(repr=False, compare=False)
    pareto_k: np.ndarray = field(repr=False, compare=False)
    # Subsampled LOO: the observations PSIS ran on (pareto_k follows them; elpd_loo_i is exact
    # there and the approximation lpd_i - var_i elsewhere) and the estimator's own standard error.
    rows: np.ndarray | None = field(default=None, repr=False, compare=False)
    subsampling_se: float = 0.0

    @property
    def n_obs(self) -> int:
        return int(self.elpd_loo_i.size)

    def observation(self, j: int) -> int:
        """The observation (0-based, pooled order) that pareto_k[j] belongs to."""
        return int(j if self.rows is None else self.rows[j])


def tail_length(n_samples: int, r_eff: float = 1.0) -> int:
    """How many of the largest weights PSIS replaces."""
    return int(math.ceil(min(n_samples / 5.0, 3.0 * math.sqrt(n_samples / r_eff))))


def psis(log_weights, r_eff: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Smoothed, normalised log-weights and Pareto k of each row of `log_weights` (..., draws)."""
    lw = np.array(log_weights, dtype=float)
    lead, s = lw.shape[:-1], lw.shape[-1]
    rows = lw.reshape(-1, s)
    block = max(1, _BLOCK_VALUES // max(s, 1))
    k = np.empty(len(rows))
    for start in range(0, len(rows), block):
        stop = start + block
        rows[start:stop], k[start:stop] = _smooth(rows[start:stop], r_eff)
    return rows.reshape(*lead, s), k.reshape(lead)


def loo(log_lik, r_eff: float = 1.0, log_weights=None) -> LooResult:
    """PSIS-LOO of pointwise log-likelihood draws shaped (draws, observations).

    `log_weights` (draws,): the draws are not from the posterior but from a proposal q, with
    unnormalised log importance weights log p(theta, y) - log q(theta) (an approximation such as
    Pathfinder's). Each observation's ratios are then those weights times 1 / p(y_i | theta_s),
    smoothed together, so a Pareto k also says where q is too far from the leave-one-out
    posterior; lppd uses the smoothed weights alone.
    """
    ll = np.asarray(log_lik, dtype=float)
    s, n = ll.shape
    base, lppd_weights = _posterior_weights(log_weights, s, r_eff)
    block = max(1, _BLOCK_VALUES // max(s, 1))
    elpd_i, k, lppd = np.empty(n), np.empty(n), 0.0
    for start in range(0, n, block):
        part = np.ascontiguousarray(ll[:, start:start + block].T)  # (observations, draws)
        smoothed, k[start:start + block] = _smooth(base - part, r_eff)
        elpd_i[start:start + block] = _logsumexp(smoothed + part)
        lppd += float(np.sum(_logsumexp(part + lppd_weights)))
    elpd = float(elpd_i.sum())
    return LooResult(elpd_loo=elpd, elpd_loo_se=float(math.sqrt(n * np.var(elpd_i))), p_loo=lppd - elpd,
                     n_samples=s, good_k=min(1.0 - 1.0 / math.log10(s), 0.7), elpd_loo_i=elpd_i, pareto_k=k)


def _posterior_weights(log_weights, s: int, r_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """(log weights added to -log p(y_i | theta) before smoothing, normalised log weights of lppd)."""
    if log_weights is None:
        return np.zeros(s), np.full(s, -math.log(s))
    lw = np.asarray(log_weights, dtype=float)
    if lw.shape != (s,) or not np.all(np.isfinite(lw)):
        raise ValueError(f"log_weights must be {s} finite numbers, one per draw")
    shifted = lw - lw.max()
    return shifted, psis(shifted, r_eff)[0]


def loo_subsampled(log_lik_rows, rows, lpd, var, r_eff: float = 1.0) -> LooResult:
    """PSIS-LOO of N observations from exact PSIS on a simple random subsample of them.

    `log_lik_rows` (draws, m) are the pointwise values of the observations `rows`; `lpd` and `var`
    (N,) are log mean_s p(y_i | theta_s) and var_s log p(y_i | theta_s) for every observation.
    The difference estimator of Magnusson, Andersen, Jonasson & Vehtari (2020): each observation's
    elpd is approximated by lpd_i - var_i (the WAIC term, close to PSIS where PSIS works), and
    the subsample estimates the sum of the approximation errors, with the sampling-without-
    replacement variance N^2 (1 - m/N) s_e^2 / m as `subsampling_se`.
    """
    exact = loo(log_lik_rows, r_eff)
    rows, lpd, var = np.asarray(rows), np.asarray(lpd, dtype=float), np.asarray(var, dtype=float)
    n, m = lpd.size, rows.size
    approx = lpd - var
    error = exact.elpd_loo_i - approx[rows]
    elpd = float(approx.sum() + n * error.mean())
    subsampling_var = n**2 * (1.0 - m / n) * (np.var(error, ddof=1) if m > 1 else 0.0) / m
    # Population variance of elpd_i from the same estimator applied to the squares.
    square_total = float(np.sum(approx**2) + n * np.mean(exact.elpd_loo_i**2 - approx[rows] ** 2))
    spread = max(square_total / n - (elpd / n) ** 2, 0.0)
    pointwise = approx.copy()
    pointwise[rows] = exact.elpd_loo_i
    return LooResult(elpd_loo=elpd, elpd_loo_se=float(math.sqrt(n * spread)), p_loo=float(lpd.sum()) - elpd,
                     n_samples=exact.n_samples, good_k=exact.good_k, elpd_loo_i=pointwise, pareto_k=exact.pareto_k,
                     rows=rows, subsampling_se=float(math.sqrt(subsampling_var)))


# --------------------------------------------------------------------------- kernels


def _smooth(lw: np.ndarray, r_eff: float) -> tuple[np.ndarray, np.ndarray]:
    """PSIS of each row of (rows, draws); rows whose tail has the usual length (no ties at the
    cutoff) are fitted together, the rest one by one."""
    lw = lw - lw.max(axis=1, keepdims=True)
    rows, s = lw.shape
    m = tail_length(s, r_eff)
    k = np.full(rows, np.inf)
    if m <= 4 or m >= s:  # too few tail draws to fit a Pareto: no smoothing, k = inf
        return lw - _logsumexp(lw)[:, None], k
    # Only the top m + 1 draws of a row matter: partition, then sort just those.
    top = np.argpartition(lw, s - m - 1, axis=1)[:, s - m - 1:]
    top = np.take_along_axis(top, np.argsort(np.take_along_axis(lw, top, axis=1), axis=1), axis=1)
    ordered = np.take_along_axis(lw, top, axis=1)
    cutoff = np.maximum(ordered[:, 0], _LOG_TINY)
    tail_sizes = np.count_nonzero(ordered[:, 1:] > cutoff[:, None], axis=1)
    usual = np.flatnonzero(tail_sizes == m)
    if usual.size:
        tail = np.exp(ordered[usual, 1:]) - np.exp(cutoff[usual])[:, None]
        k[usual], smoothed = _fit_and_smooth(tail, np.exp(cutoff[usual]))
        fitted = np.isfinite(k[usual])
        lw[usual[fitted][:, None], top[usual[fitted], 1:]] = smoothed[fitted]
    for row in np.flatnonzero((tail_sizes != m) & (tail_sizes > 4)):
        k[row] = _smooth_row(lw[row], cutoff[row])
    lw = np.minimum(lw, 0.0)  # no smoothed weight above the largest raw one
    return lw - _logsumexp(lw)[:, None], k


def _logsumexp(x: np.ndarray) -> np.ndarray:
    """log sum exp of each row."""
    top = x.max(axis=1)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(x - safe[:, None]).sum(axis=1)) + safe


def _smooth_row(x: np.ndarray, cutoff: float) -> float:
    """One row with an unusual tail (ties at the cutoff); smooths `x` in place, returns k."""
    where = np.flatnonzero(x > cutoff)
    where = where[np.argsort(x[where])]
    tail = np.exp(x[where]) - math.exp(cutoff)
    k, smoothed = _fit_and_smooth(tail[None, :], np.array([math.exp(cutoff)]))
    if np.isfinite(k[0]):
        x[where] = smoothed[0]
    return float(k[0])


def _fit_and_smooth(tail: np.ndarray, offset: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Fit a generalised Pareto to each sorted row of exceedances; return its shape and the log of
    its expected order statistics (plus `offset`) to put in place of the raw tail."""
    k, sigma = _gpd_fit(tail)
    n = tail.shape[1]
    p = (np.arange(n) + 0.5) / n
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        exponential = np.abs(k) < np.finfo(float).eps
        kk = np.where(exponential, 1.0, k)[:, None]
        quantile = np.where(exponential[:, None], -np.log1p(-p)[None, :], np.expm1(-kk * np.log1p(-p)[None, :]) / kk)
        quantile = np.where((sigma > 0)[:, None], quantile * sigma[:, None], np.nan)
        return k, np.log(quantile + offset[:, None])


def _gpd_fit(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Zhang & Stephens' posterior-mean fit of each sorted row of exceedances: (shape k, scale)."""
    rows, n = x.shape
    grid = 30 + int(math.sqrt(n))
    base = 1.0 - np.sqrt(grid / (np.arange(1, grid + 1) - 0.5))
    quartile = x[:, int(n / 4 + 0.5) - 1]
    b = base[None, :] / (_PRIOR_B * quartile[:, None]) + 1.0 / x[:, -1:]  # (rows, grid)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        k_grid = np.log1p(-b[:, :, None] * x[:, None, :]).mean(axis=2)
        profile = n * (np.log(-(b / k_grid)) - k_grid - 1.0)
        weights = 1.0 / np.exp(profile[:, None, :] - profile[:, :, None]).sum(axis=2)
    weights = np.where(weights >= 10 * np.finfo(float).eps, weights, 0.0)
    weights /= weights.sum(axis=1, keepdims=True)
    b_post = np.sum(b * weights, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        k = np.log1p(-b_post[:, None] * x).mean(axis=1)
        sigma = -k / b_post
    return (n * k + _PRIOR_SHAPE_N * 0.5) / (n + _PRIOR_SHAPE_N), sigma
