"""The numbers behind the figures, from plain arrays (numpy only; no plotting here).

Draw arrays are (chain, draw, ...) as stored; observation axes are flattened in C order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Intervals:
    """Posterior predictive 50 % and 90 % intervals and median per observation."""

    lo90: np.ndarray
    lo50: np.ndarray
    median: np.ndarray
    hi50: np.ndarray
    hi90: np.ndarray


def flat_draws(values: np.ndarray) -> np.ndarray:
    """(chain, draw, *shape) -> (chain * draw, prod(shape))."""
    values = np.asarray(values, dtype=float)
    return values.reshape(values.shape[0] * values.shape[1], -1)


def predictive_intervals(yrep: np.ndarray) -> Intervals:
    """Quantiles of replicates (draws, obs) per observation."""
    q = np.quantile(yrep, [0.05, 0.25, 0.5, 0.75, 0.95], axis=0)
    return Intervals(*q)


def loo_pit(y: np.ndarray, yrep: np.ndarray, log_weights: np.ndarray, *, discrete: bool,
            seed: int = 0) -> np.ndarray:
    """LOO probability integral transform per observation: P(yrep_i <= y_i) under the leave-one-out
    predictive, the draws weighted by PSIS-LOO weights (log_weights, (draws, obs), normalised).
    For a discrete outcome the ties are split uniformly at random (randomised PIT), so a
    calibrated model gives uniform values either way."""
    w = np.exp(log_weights)
    below = np.sum(w * (yrep < y[None, :]), axis=0)
    if not discrete:
        return np.clip(below + np.sum(w * (yrep == y[None, :]), axis=0), 0.0, 1.0)
    ties = np.sum(w * (yrep == y[None, :]), axis=0)
    u = np.random.default_rng(seed).uniform(size=y.shape)
    return np.clip(below + u * ties, 0.0, 1.0)


def ecdf_difference(values: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """ECDF(grid) - grid: how far a sample in [0, 1] is from uniform at each grid point."""
    values = np.sort(np.asarray(values, dtype=float))
    return np.searchsorted(values, grid, side="right") / max(values.size, 1) - grid


def uniform_band(n: int, grid: np.ndarray, z: float = 1.96) -> np.ndarray:
    """Pointwise 95 % half-width of the ECDF of n uniform values around the diagonal."""
    return z * np.sqrt(grid * (1.0 - grid) / max(n, 1))


def rank_counts(values: np.ndarray, bins: int) -> np.ndarray:
    """Rank plot counts (chain, bins): ranks over all chains together, histogrammed per chain.
    Chains that sample one distribution give flat, overlapping histograms."""
    values = np.asarray(values, dtype=float)
    chains, draws = values.shape
    ranks = np.argsort(np.argsort(values.reshape(-1), kind="stable"), kind="stable").reshape(chains, draws)
    edges = np.linspace(0, chains * draws, bins + 1)
    return np.stack([np.histogram(r, bins=edges)[0] for r in ranks])
