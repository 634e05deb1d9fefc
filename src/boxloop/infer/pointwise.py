"""Pointwise log-likelihood of every draw, gathered in blocks of draws so memory follows the draws.

A fit's pointwise log-likelihood is draws x observations: 4,000 draws of 100,000 rows is 3.2 GB.
`Gatherer` takes it one block of draws at a time (the caller computes each block in one compiled
pass). While draws x observations stays under `max_values` it keeps every value, as before. Above
that it keeps the values of a random subsample of observations (the same rows for every fit of
the same data, so the pointwise values of two models pair up) and, for every observation, two
running statistics over draws: lpd_i = log mean_s p(y_i | theta_s) and the variance of
log p(y_i | theta_s). PSIS-LOO is then estimated from the subsample by the difference estimator
(`diagnose.psis.loo_subsampled`), which needs exactly those.

Observations are numbered in the pooled order: entries in their dict order, each flattened.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["Gatherer", "Pointwise", "MAX_VALUES", "SUBSAMPLE_SEED"]

MAX_VALUES = 50_000_000  # draws x observations kept in full (400 MB); beyond it, a subsample
SUBSAMPLE_SEED = 20_240_601  # fixed, not the fit's seed: every model of a dataset gets the same rows


@dataclass(frozen=True)
class Pointwise:
    """log_lik: entry -> (draws, kept observations of that entry). rows: None when every
    observation is kept, else the pooled indices of the kept ones (sorted); then lpd and var hold,
    for every observation, log mean_s p(y_i | theta_s) and var_s log p(y_i | theta_s)."""

    log_lik: dict
    n_obs: int
    rows: np.ndarray | None = None
    lpd: np.ndarray | None = field(default=None, repr=False)
    var: np.ndarray | None = field(default=None, repr=False)

    @property
    def subsampled(self) -> bool:
        return self.rows is not None


class Gatherer:
    """Collects blocks of (draws, observations) per entry into a `Pointwise`."""

    def __init__(self, sizes: dict, n_draws: int, max_values: int = MAX_VALUES):
        self.sizes, self.n_draws = dict(sizes), n_draws
        self.n_obs = int(sum(sizes.values()))
        self.offsets = dict(zip(sizes, np.cumsum([0, *sizes.values()])[:-1]))
        self.rows = None if n_draws * self.n_obs <= max_values else _subsample(self.n_obs, max_values // n_draws)
        self.kept = {name: self._kept(name) for name in sizes}
        self.log_lik = {name: np.empty((n_draws, len(cols) if cols is not None else size))
                        for (name, size), cols in zip(sizes.items(), self.kept.values())}
        self.filled = 0
        if self.rows is not None:
            self.top = np.full(self.n_obs, -np.inf)
            self.sum_exp = np.zeros(self.n_obs)
            self.mean = np.zeros(self.n_obs)
            self.m2 = np.zeros(self.n_obs)

    def _kept(self, name: str) -> np.ndarray | None:
        if self.rows is None:
            return None
        start = self.offsets[name]
        inside = self.rows[(self.rows >= start) & (self.rows < start + self.sizes[name])]
        return inside - start

    def add(self, block: dict, b: int) -> None:
        """`block`: entry -> (b, size of entry) numpy log-likelihoods of the next b draws (b is
        given, not read off the block: a program with only `target +=` terms has no entries)."""
        for name, values in block.items():
            cols = self.kept[name]
            self.log_lik[name][self.filled:self.filled + b] = values if cols is None else values[:, cols]
        if self.rows is not None:
            self._update_statistics(np.concatenate([block[name] for name in self.sizes], axis=1))
        self.filled += b

    def _update_statistics(self, values: np.ndarray) -> None:
        """Running log-sum-exp, mean and sum of squares over draws (Chan et al.'s merge)."""
        b = len(values)
        top = np.maximum(self.top, values.max(axis=0))
        self.sum_exp = self.sum_exp * np.exp(self.top - top) + np.exp(values - top).sum(axis=0)
        self.top = top
        n = self.filled
        block_mean = values.mean(axis=0)
        delta = block_mean - self.mean
        self.mean = self.mean + delta * b / (n + b)
        self.m2 = self.m2 + ((values - block_mean) ** 2).sum(axis=0) + delta**2 * n * b / (n + b)

    def result(self) -> Pointwise:
        if self.filled != self.n_draws:
            raise ValueError(f"gathered {self.filled} draws of {self.n_draws}")
        if self.rows is None:
            return Pointwise(self.log_lik, self.n_obs)
        lpd = self.top + np.log(self.sum_exp) - np.log(self.n_draws)
        var = self.m2 / max(self.n_draws - 1, 1)
        return Pointwise(self.log_lik, self.n_obs, self.rows, lpd, var)


def _subsample(n: int, m: int) -> np.ndarray:
    m = int(min(n, max(m, 1)))
    return np.sort(np.random.default_rng(SUBSAMPLE_SEED).choice(n, size=m, replace=False))
