"""Convergence diagnostics of MCMC draws as numpy kernels: rank-normalised split R-hat, bulk and
tail ESS, Monte Carlo standard errors, E-BFMI.

The estimators are those of Vehtari, Gelman, Simpson, Carpenter & Bürkner (2021), "Rank-
normalization, folding, and localization", with Geyer's initial monotone sequence for the
autocorrelation sum; the conventions (Blom's 3/8 offset for ranks, R's type-7 quantiles, the
1/log10(S) floor on the autocorrelation time, NaN for fewer than 4 draws) match ArviZ 0.23, so the
numbers agree with `arviz.rhat` / `arviz.ess` to rounding (tests compare them). Every kernel takes
draws shaped (chain, draw, *shape) and returns one value per entry of `shape`, vectorised over
entries, so a fit's diagnostics never import ArviZ (1-4 s per process) or build xarray objects.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtri

__all__ = ["bfmi", "ess_bulk", "ess_mean", "ess_tail", "mcse_mean", "mcse_sd", "rhat"]

_MIN_DRAWS = 4
_TAIL_PROBS = (0.05, 0.95)


def rhat(draws) -> np.ndarray:
    """Rank-normalised split R-hat: the larger of the bulk and the folded (tail) R-hat."""
    x, shape = _entries(draws)
    if x.shape[1] < 2:
        return _undefined(shape)
    split = _split(x)
    folded = np.abs(split - np.median(split.reshape(len(split), -1), axis=1)[:, None, None])
    value = np.maximum(_rhat(_z_scale(split)), _rhat(_z_scale(folded)))
    return _shaped(_mask_invalid(value, x), shape)


def ess_bulk(draws) -> np.ndarray:
    """Bulk effective sample size: ESS of the rank-normalised split chains."""
    x, shape = _entries(draws)
    return _shaped(_mask_invalid(_ess(_z_scale(_split(x))), x), shape)


def ess_tail(draws) -> np.ndarray:
    """Tail effective sample size: the smaller ESS of the 5 % and 95 % quantile indicators."""
    x, shape = _entries(draws)
    flat = x.reshape(len(x), -1)
    low, high = (np.quantile(flat, q, axis=1) for q in _TAIL_PROBS)
    below_low = _ess(_split((x <= low[:, None, None]).astype(float)))
    below_high = _ess(_split((x <= high[:, None, None]).astype(float)))
    return _shaped(_mask_invalid(np.minimum(below_low, below_high), x), shape)


def ess_mean(draws) -> np.ndarray:
    """Effective sample size of the mean (split chains, no rank normalisation)."""
    x, shape = _entries(draws)
    return _shaped(_mask_invalid(_ess(_split(x)), x), shape)


def mcse_mean(draws) -> np.ndarray:
    """Monte Carlo standard error of the posterior mean."""
    x, shape = _entries(draws)
    sd = np.std(x.reshape(len(x), -1), axis=1, ddof=1)
    return _shaped(_mask_invalid(sd / np.sqrt(_ess(_split(x))), x), shape)


def mcse_sd(draws) -> np.ndarray:
    """Monte Carlo standard error of the posterior sd, by the delta method on E[(x - mean)^2]."""
    x, shape = _entries(draws)
    squared = (x - x.mean(axis=(1, 2), keepdims=True)) ** 2
    ess = _ess(_split(squared))
    flat = squared.reshape(len(x), -1)
    var = flat.mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var_of_var = ((flat**2).mean(axis=1) - var**2) / ess
        return _shaped(_mask_invalid(np.sqrt(var_of_var / var / 4), x), shape)


def bfmi(energy) -> np.ndarray:
    """E-BFMI per chain: mean squared energy change over the energy's variance (Betancourt 2016)."""
    e = np.atleast_2d(np.asarray(energy, dtype=float))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.square(np.diff(e, axis=1)).mean(axis=1) / np.var(e, axis=1, ddof=1)


# --------------------------------------------------------------------------- kernels


def _entries(draws) -> tuple[np.ndarray, tuple]:
    """(chain, draw, *shape) -> (entries, chain, draw) and `shape`."""
    x = np.asarray(draws, dtype=float)
    if x.ndim < 2:
        raise ValueError(f"draws must be shaped (chain, draw, ...), got shape {x.shape}")
    shape = x.shape[2:]
    return np.moveaxis(x.reshape(x.shape[0], x.shape[1], -1), 2, 0), shape


def _shaped(values: np.ndarray, shape: tuple) -> np.ndarray:
    return np.asarray(values, dtype=float).reshape(shape)


def _undefined(shape: tuple) -> np.ndarray:
    return np.full(shape, np.nan)


def _mask_invalid(values: np.ndarray, x: np.ndarray) -> np.ndarray:
    """NaN where the input had NaN or too few draws to say anything."""
    bad = np.isnan(x).any(axis=(1, 2)) | (x.shape[2] < _MIN_DRAWS)
    return np.where(bad, np.nan, values)


def _split(x: np.ndarray) -> np.ndarray:
    """Each chain cut into its first and last halves (the middle draw of an odd chain dropped)."""
    half = x.shape[2] // 2
    return np.concatenate([x[:, :, :half], x[:, :, x.shape[2] - half:]], axis=1)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Normal scores of the pooled ranks of each entry (ties share their average rank)."""
    k, chains, n = x.shape
    size = chains * n
    ranks = _average_ranks(np.nan_to_num(x.reshape(k, size)))
    return ndtri((ranks - 0.375) / (size + 0.25)).reshape(k, chains, n)


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks along axis 1, ties given the mean of the ranks they span."""
    k, s = x.shape
    order = np.argsort(x, axis=1)
    ordered = np.take_along_axis(x, order, axis=1)
    starts = np.ones((k, s), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    first = np.flatnonzero(starts.ravel())
    sizes = np.diff(np.append(first, k * s))
    position = first % s + 1
    ranks_sorted = np.repeat(position + (sizes - 1) / 2.0, sizes).reshape(k, s)
    ranks = np.empty_like(ranks_sorted)
    np.put_along_axis(ranks, order, ranks_sorted, axis=1)
    return ranks


def _rhat(x: np.ndarray) -> np.ndarray:
    n = x.shape[2]
    chain_mean = x.mean(axis=2)
    within = np.var(x, axis=2, ddof=1).mean(axis=1)
    between = n * np.var(chain_mean, axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + n - 1) / n)


def _autocovariance(x: np.ndarray) -> np.ndarray:
    """Autocovariance at every lag along the last axis (biased, divided by n), via the FFT."""
    n = x.shape[-1]
    centred = x - x.mean(axis=-1, keepdims=True)
    size = 1 << (2 * n - 1).bit_length()  # zero padding to >= 2n makes the circular product linear
    spectrum = np.fft.rfft(centred, n=size, axis=-1)
    return np.fft.irfft(spectrum * np.conjugate(spectrum), n=size, axis=-1)[..., :n] / n


def _ess(x: np.ndarray) -> np.ndarray:
    """ESS of each entry of (entries, chain, draw) with Geyer's initial monotone sequence."""
    k, chains, n = x.shape
    total = chains * n
    flat = x.reshape(k, -1)
    constant = (flat.max(axis=1) - flat.min(axis=1)) < np.finfo(float).resolution
    acov = _autocovariance(x).mean(axis=1)  # (entries, lag), averaged over chains
    mean_var = acov[:, 0] * n / (n - 1.0)
    var_plus = mean_var * (n - 1.0) / n
    if chains > 1:
        var_plus = var_plus + np.var(x.mean(axis=2), axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var[:, None] - acov) / var_plus[:, None]
    rho[:, 0] = 1.0
    tau = _autocorrelation_time(rho, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        ess = total / np.maximum(tau, 1.0 / np.log10(total))
    return np.where(constant, float(total), ess)


def _autocorrelation_time(rho: np.ndarray, n: int) -> np.ndarray:
    """-1 + 2 * sum of autocorrelations, truncated at the first non-positive pair sum and made
    monotone (Geyer 1992), for each row of rho (entries, lag)."""
    k = len(rho)
    pairs_max = max(n // 2, 1)
    even, odd = rho[:, 0:2 * pairs_max:2], rho[:, 1:2 * pairs_max:2]
    pair = even + odd  # pair m holds lags 2m and 2m+1
    limit = max(-(-(n - 2) // 2), 1)  # pairs the positive-sequence scan may reach
    stops = np.where(~(pair[:, :limit] > 0.0), np.arange(limit), limit)
    end = np.minimum(limit, stops.min(axis=1) + 1)  # first pair not scanned further
    monotone = np.minimum.accumulate(pair, axis=1)
    kept = np.arange(pair.shape[1])[None, :] <= (end - 2)[:, None]
    body = np.sum(np.where(kept, monotone, 0.0), axis=1)
    last = np.take_along_axis(even, (end - 1)[:, None], axis=1)[:, 0]
    last_pair = np.take_along_axis(pair, (end - 1)[:, None], axis=1)[:, 0]
    tail = np.where((last > 0) | (last_pair >= 0) | (end == 1), last, 0.0)
    tau = -1.0 + 2.0 * body + tail
    used = np.arange(pair.shape[1])[None, :] < end[:, None]
    return np.where(np.isnan(np.where(used, pair, 0.0)).any(axis=1) | np.isnan(tau), np.nan, tau)
