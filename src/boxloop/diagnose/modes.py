"""Posterior modes the draws did not visit, and what they do to an evidence estimate.

Bridge sampling, importance sampling and tempered SMC all estimate the mass of the region their
particles reach. When a prior conflicts with the data (an intercept's prior far from the
outcome's scale, say) the posterior can have two modes: one the prior favours, which NUTS from
Stan's inits and SMC from the prior settle in, and one the data favour, which holds nearly all
the mass. Every estimator then agrees on the wrong number. `infer.modes` looks for such optima by
optimisation; this module judges one: is it apart from the draws, how much mass does it hold
(importance sampling from its Laplace approximation), and how far would it move
the estimate.

Pure numpy; the optimiser and the gradient are the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from boxloop.diagnose.evidence import (
    Evidence,
    evaluate_log_density,
    fit_location_scale,
    importance_estimate,
    mvn_logpdf,
    mvn_sample,
)

__all__ = ["OtherMode", "apart_from", "heavier", "hessian", "other_mode", "with_other_modes"]

SHIFT_LIMIT = 0.1  # nats an unvisited mode may add to log Z before the estimate is untrusted


@dataclass(frozen=True)
class OtherMode:
    """A region of the posterior the draws did not visit: its estimated mass (log), the Laplace
    approximation there (unconstrained location, Cholesky factor of the covariance) and how it
    was found, in words."""

    mass: Evidence
    u: np.ndarray = field(repr=False)
    chol: np.ndarray = field(repr=False)
    found: str = ""

    def starts(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """n points within the mode (half its Laplace scale), for chains to start from."""
        return mvn_sample(rng, self.u, 0.5 * self.chol, n)


def hessian(gradient: Callable[[np.ndarray], np.ndarray], u: np.ndarray, step: float = 1e-4) -> np.ndarray:
    """Central differences of the gradient at u, symmetrised: 2d gradient calls, no new compile."""
    d = u.size
    out = np.empty((d, d))
    for i in range(d):
        e = np.zeros(d)
        e[i] = step * max(1.0, abs(float(u[i])))
        out[i] = (np.asarray(gradient(u + e), float) - np.asarray(gradient(u - e), float)) / (2 * e[i])
    return 0.5 * (out + out.T)


def apart_from(u: np.ndarray, draws: np.ndarray) -> bool:
    """u lies farther from the draws' centre, in their own metric, than every draw does: the
    draws did not reach it. (A mode the chains sat in is near their centre.)"""
    mean, chol = fit_location_scale(draws)
    z = np.linalg.solve(chol, (np.vstack([draws, u[None]]) - mean).T)
    distance = np.sum(z * z, axis=0)
    return bool(distance[-1] > distance[:-1].max())


def other_mode(log_density: Callable, u: np.ndarray, neg_hessian: np.ndarray, draws_best: float,
               rng: np.random.Generator, n: int) -> OtherMode | None:
    """The optimum u, apart from draws whose best log density is `draws_best`, with the log of the
    posterior mass near it: importance sampling from the Laplace approximation. Its light tails
    are the point: a heavier proposal reaches the draws' own mode now and then, and weights from
    there turn the estimate into a noisy one of the whole evidence. So the mass of a skewed mode
    comes out low, which errs on the side of not flagging. None when -H is not positive definite
    (a saddle or a ridge, not a mode) or no proposal draw has a finite density."""
    try:
        cov = np.linalg.inv(neg_hessian)
        chol = np.linalg.cholesky(0.5 * (cov + cov.T))
    except np.linalg.LinAlgError:
        return None
    x = mvn_sample(rng, u, chol, n)
    log_p = evaluate_log_density(log_density, np.vstack([x, u[None]]), "mode proposal")
    log_w = log_p[:-1] - mvn_logpdf(x, u, chol)
    if not (np.any(np.isfinite(log_w)) and math.isfinite(log_p[-1])):
        return None
    mass = replace(importance_estimate(log_w, "is", n), method="laplace-is")
    found = (f"an optimiser started where the data outweigh the prior reached a mode the draws never visited "
             f"(log density {log_p[-1]:.1f}; the draws' best: {draws_best:.1f})")
    return OtherMode(mass, u, chol, found)


def shift(estimate: float, other: Evidence) -> float:
    """How much log Z grows when the other mode's mass is added to the estimate's."""
    return float(np.logaddexp(estimate, other.log_evidence) - estimate)


def _sentence(ev: Evidence, mode: OtherMode) -> str:
    text = (f"{mode.found}, holding about {mode.mass.log_evidence:.1f} nats of mass against the estimate's "
            f"{ev.log_evidence:.1f}: log p(x | M) is at least {shift(ev.log_evidence, mode.mass):.2f} nats higher "
            "than reported")
    if mode.mass.log_evidence > ev.log_evidence:
        text += "; the fit's draws describe the lesser mode (a prior in conflict with the data?)"
    return text


def heavier(ev: Evidence, modes: tuple[OtherMode, ...]) -> OtherMode | None:
    """The unvisited mode of most mass when it holds more than the estimate: the draws are then
    from the lesser part of the posterior."""
    best = max(modes, key=lambda m: m.mass.log_evidence, default=None)
    return best if best is not None and best.mass.log_evidence > ev.log_evidence else None


def with_other_modes(ev: Evidence, modes: tuple[OtherMode, ...]) -> Evidence:
    """The estimate, untrusted and saying why when an unvisited mode would move it by more than
    SHIFT_LIMIT nats (a mode of negligible mass changes nothing)."""
    found = [m for m in modes if math.isfinite(ev.log_evidence) and shift(ev.log_evidence, m.mass) > SHIFT_LIMIT]
    if not found:
        return ev
    heaviest = max(found, key=lambda m: m.mass.log_evidence)
    return replace(ev, warnings=ev.warnings + (_sentence(ev, heaviest),), trusted=False)
