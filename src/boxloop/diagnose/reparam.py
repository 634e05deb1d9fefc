"""The non-centred form of centred normal group effects, as a change of variables u = f(v).

A centred effect `theta[j] ~ normal(mu, tau)` and its non-centred twin `theta = mu + tau * z`,
`z ~ std_normal()` are one model, so one evidence; but the centred posterior is a funnel in
(log tau, theta) that the bridge's normal proposal and a random walk both fit badly, while in
(log tau, z) it is nearly normal. The density over v = (..., z, ...) is the density over u at
f(v) plus log|det df/dv| = sum over groups of (group size) * log tau, and any estimator of its
normaliser estimates the same log p(x | M).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["CentredGroup", "NonCentring"]

LogDensity = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class CentredGroup:
    """Positions in the unconstrained vector u: the effects theta, the location mu (None: the
    constant `mu_value`) and log tau, tau's unconstrained value under a <lower=0> bound (None: the
    constant `tau_value`)."""

    name: str
    theta: tuple[int, ...]
    mu: int | None
    log_tau: int | None
    mu_value: float = 0.0
    tau_value: float = 1.0

    def location_scale(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """mu and log tau per row, (n, 1) each; the same in u and v (neither is moved)."""
        n = x.shape[0]
        mu = x[:, [self.mu]] if self.mu is not None else np.full((n, 1), self.mu_value)
        log_tau = x[:, [self.log_tau]] if self.log_tau is not None else np.full((n, 1), np.log(self.tau_value))
        return mu, log_tau


@dataclass(frozen=True)
class NonCentring:
    """The change of variables for a set of centred groups (disjoint theta positions)."""

    groups: tuple[CentredGroup, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(g.name for g in self.groups)

    def to_centred(self, v: np.ndarray) -> np.ndarray:
        """u = f(v): theta = mu + tau * z."""
        u = np.array(v, dtype=float, copy=True)
        for g in self.groups:
            mu, log_tau = g.location_scale(v)
            u[:, list(g.theta)] = mu + np.exp(log_tau) * v[:, list(g.theta)]
        return u

    def to_noncentred(self, u: np.ndarray) -> np.ndarray:
        """v = f^{-1}(u): z = (theta - mu) / tau."""
        v = np.array(u, dtype=float, copy=True)
        for g in self.groups:
            mu, log_tau = g.location_scale(u)
            v[:, list(g.theta)] = (u[:, list(g.theta)] - mu) * np.exp(-log_tau)
        return v

    def log_jacobian(self, v: np.ndarray) -> np.ndarray:
        total = np.zeros(v.shape[0])
        for g in self.groups:
            total += len(g.theta) * g.location_scale(v)[1][:, 0]
        return total

    def density(self, log_density: LogDensity) -> LogDensity:
        """The density over v whose normaliser is that of `log_density` over u."""
        def over_v(v):
            v = np.asarray(v, dtype=float)
            return np.asarray(log_density(self.to_centred(v)), dtype=float) + self.log_jacobian(v)

        return over_v

    def draws(self, draws_u: np.ndarray) -> np.ndarray:
        """Draws of u, (..., d), mapped to v with the same layout."""
        u = np.asarray(draws_u, dtype=float)
        return self.to_noncentred(u.reshape(-1, u.shape[-1])).reshape(u.shape)
