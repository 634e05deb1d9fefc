"""Pathfinder: Gaussian approximations of the posterior along L-BFGS paths, importance-weighted.

Why: a screen (`search.screen`) must cost much less than a full fit, and on small data most of a
short NUTS run is compiling the sampler. Pathfinder (Zhang, Carpenter, Gelman & Vehtari 2022)
needs only the log density and its gradient compiled, plus one batched log density.

The algorithm, as run here, on the unconstrained space:
1. From each of `paths` random starts, maximise log p(u, x) by L-BFGS (the last `history`
   curvature pairs, a backtracking line search), keeping every iterate and its curvature pairs.
2. At each iterate u_l, the Gaussian q_l = N(u_l + H_l g_l, H_l), with g_l the gradient of
   log p and H_l the inverse-Hessian estimate of BFGS updates from the iterate's pairs (dense:
   screened models are small); its ELBO from `elbo_draws` draws. A path's approximation is its
   iterate of highest ELBO, which is also what keeps a funnel, whose density grows without bound
   along the path, from running off to its non-existent mode.
3. `proposals` draws from a Student-t with each path's location and scale (heavier tails than
   the Gaussian keep the weights bounded for skewed posteriors). Importance weights p / q_mix
   against the equal mixture of these proposals give the log evidence (log-mean weight, its
   delta-method standard error, the weights' Pareto k) and, with the pooled draws, PSIS-LOO
   (`diagnose.psis.loo` with weights); each path's own Pareto-smoothed weights p / q_p
   resample its `keep` draws, so paths stuck in different places disagree the way chains do.

Pure numpy around two compiled functions; no state outside the returned values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, NamedTuple

import numpy as np
from scipy import special

from ..diagnose import Evidence, psis
from ..diagnose.evidence import importance_estimate, mvn_logpdf, mvn_sample, mvt_logpdf, mvt_sample
from ..errors import FitError

MAX_DIM = 1500  # dense inverse-Hessian estimates: beyond this the screen should be a short NUTS run


@dataclass(frozen=True)
class PathfinderSettings:
    paths: int = 4
    history: int = 6  # L-BFGS curvature pairs
    # A screen's budget: smooth posteriors converge in tens of iterations; one whose density grows
    # without bound (a funnel, sigma -> 0 under unit-level effects) never does, and its best ELBO
    # comes early (1,000 iterations cost such a candidate 8-11 s of a 3.6 s mean on dugongs).
    max_iters: int = 200
    rel_tol: float = 1e-9  # stop when the objective changes by less than this, relatively
    grad_tol: float = 1e-8
    elbo_draws: int = 32  # also the batch size of the compiled batched log density
    proposals: int = 512  # draws from each path's approximation (rounded up to elbo_draws)
    keep: int = 256  # importance-resampled draws kept per path
    proposal_df: float = 5.0  # degrees of freedom of the Student-t importance proposals
    init_radius: float = 2.0
    init_tries: int = 100

    def __post_init__(self):
        counts = ("paths", "history", "max_iters", "elbo_draws", "proposals", "keep", "init_tries")
        bad = [name for name in counts if getattr(self, name) < 1]
        if bad:
            raise FitError(f"Pathfinder settings {', '.join(bad)} must be at least 1", code="fit.bad_settings")


class Iterate(NamedTuple):
    u: np.ndarray
    grad: np.ndarray  # of log p
    pairs: tuple  # ((s, y), ...) of -log p, oldest first


class Gaussian(NamedTuple):
    mean: np.ndarray
    chol: np.ndarray

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        return mvn_logpdf(x, self.mean, self.chol)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return mvn_sample(rng, self.mean, self.chol, n)


class StudentT(NamedTuple):
    """The importance proposal around a path's Gaussian: the same location and scale, heavier tails,
    so that the weights p / q stay bounded where the posterior is skewed or heavier-tailed than
    the Gaussian (a scale parameter's log, say)."""

    mean: np.ndarray
    chol: np.ndarray
    df: float

    def log_pdf(self, x: np.ndarray) -> np.ndarray:
        return mvt_logpdf(x, self.mean, self.chol, self.df)

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        return mvt_sample(rng, self.mean, self.chol, self.df, n)


class PathResult(NamedTuple):
    approximation: Gaussian
    elbo: float
    iterations: int
    evaluations: int


class PathfinderResult(NamedTuple):
    u: np.ndarray  # (paths, keep, dim) importance-resampled draws: pooled[kept]
    evidence: Evidence
    paths: tuple  # PathResult per path
    warnings: tuple
    pooled: np.ndarray  # (draws, dim) every proposal draw, path by path
    log_weights: np.ndarray  # (draws,) log p(u, x) - log q_mix(u), unnormalised
    kept: np.ndarray  # (paths, keep) rows of `pooled` that make `u`


# ---- L-BFGS ---------------------------------------------------------------------------------------


def minimised(value_and_grad: Callable) -> Callable:
    """u -> (-log p, -grad log p) as float64 numpy; a non-finite value is +inf (outside the support)."""
    def f(u):
        value, grad = value_and_grad(u)
        value, grad = -float(value), -np.asarray(grad, dtype=np.float64)
        if not (math.isfinite(value) and np.all(np.isfinite(grad))):
            return math.inf, grad
        return value, grad
    return f


def _direction(grad: np.ndarray, pairs: list) -> np.ndarray:
    """-H grad by the two-loop recursion, H0 = (s'y / y'y) I from the newest pair."""
    q = grad.copy()
    alphas = []
    for s, y in reversed(pairs):
        a = float(s @ q) / float(y @ s)
        alphas.append(a)
        q -= a * y
    if pairs:
        s, y = pairs[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y), a in zip(pairs, reversed(alphas)):
        b = float(y @ q) / float(y @ s)
        q += (a - b) * s
    return -q


def _line_search(f: Callable, u, value, grad, direction, max_halvings: int = 40):
    """Backtracking to the Armijo condition; None when no step decreases the objective."""
    slope = float(grad @ direction)
    if not slope < 0:
        return None
    step, evaluations = 1.0, 0
    for _ in range(max_halvings):
        candidate = u + step * direction
        new_value, new_grad = f(candidate)
        evaluations += 1
        if new_value <= value + 1e-4 * step * slope:
            return candidate, new_value, new_grad, evaluations
        step *= 0.5
    return None


def lbfgs_path(f: Callable, u0: np.ndarray, settings: PathfinderSettings) -> tuple[list[Iterate], int]:
    """The iterates of minimising f from u0 (u0 first) and the number of evaluations of f."""
    value, grad = f(u0)
    u, pairs, evaluations = u0, [], 1
    iterates = [Iterate(u, -grad, ())]
    for _ in range(settings.max_iters):
        direction = _direction(grad, pairs)
        if not pairs:  # the first step: no longer than the start's scale
            direction *= min(1.0, 1.0 / max(float(np.linalg.norm(direction)), 1e-300))
        found = _line_search(f, u, value, grad, direction)
        if found is None:
            break
        new_u, new_value, new_grad, used = found
        evaluations += used
        s, y = new_u - u, new_grad - grad
        if float(s @ y) > 1e-10 * float(y @ y):  # curvature condition, else the pair is skipped
            pairs = (pairs + [(s, y)])[-settings.history:]
        converged = (abs(value - new_value) <= settings.rel_tol * max(abs(value), 1.0)
                     or float(np.linalg.norm(new_grad)) <= settings.grad_tol)
        u, value, grad = new_u, new_value, new_grad
        iterates.append(Iterate(u, -grad, tuple(pairs)))
        if converged:
            break
    return iterates, evaluations


# ---- the approximations -----------------------------------------------------------------------------


def inverse_hessian(pairs: tuple, dim: int) -> np.ndarray:
    """Dense BFGS inverse-Hessian estimate from (s, y) pairs, starting at (s'y / y'y) I."""
    if not pairs:
        return np.eye(dim)
    s, y = pairs[-1]
    h = np.eye(dim) * (float(s @ y) / float(y @ y))
    for s, y in pairs:
        rho = 1.0 / float(y @ s)
        hy = h @ y
        h = h - rho * (np.outer(s, hy) + np.outer(hy, s)) + (rho * rho * float(y @ hy) + rho) * np.outer(s, s)
    return 0.5 * (h + h.T)


def approximation(it: Iterate) -> Gaussian | None:
    """q_l at one iterate; None when its inverse-Hessian estimate is not positive definite."""
    h = inverse_hessian(it.pairs, it.u.size)
    try:
        chol = np.linalg.cholesky(h)
    except np.linalg.LinAlgError:
        return None
    return Gaussian(it.u + h @ it.grad, chol)


def _batched(log_density_batch: Callable, batch: int) -> Callable:
    """(n, dim) -> (n,) log densities in batches of one compiled size; non-finite becomes -inf."""
    def run(x: np.ndarray) -> np.ndarray:
        n = x.shape[0]
        pad = (-n) % batch
        padded = np.concatenate([x, np.repeat(x[-1:], pad, axis=0)]) if pad else x
        out = np.concatenate([np.asarray(log_density_batch(padded[i:i + batch]), dtype=np.float64)
                              for i in range(0, padded.shape[0], batch)])[:n]
        return np.where(np.isfinite(out), out, -np.inf)
    return run


def best_on_path(iterates: list[Iterate], log_density: Callable, rng, draws: int) -> tuple[Gaussian, float] | None:
    """The iterate's approximation of highest ELBO (None: no iterate gave a finite one)."""
    best = None
    for it in iterates:
        q = approximation(it)
        if q is None:
            continue
        x = q.sample(rng, draws)
        elbo = float(np.mean(log_density(x) - q.log_pdf(x)))
        if math.isfinite(elbo) and (best is None or elbo > best[1]):
            best = (q, elbo)
    return best


# ---- importance weighting ---------------------------------------------------------------------------


def resample(rng, log_w: np.ndarray, keep: int) -> np.ndarray:
    """`keep` indices drawn with the Pareto-smoothed normalised weights (with replacement)."""
    smoothed, _ = psis.psis(log_w)
    p = np.exp(smoothed - special.logsumexp(smoothed))
    return rng.choice(log_w.size, size=keep, replace=True, p=p / p.sum())


# ---- the whole run ----------------------------------------------------------------------------------


def random_starts(f: Callable, dim: int, settings: PathfinderSettings, rng) -> np.ndarray:
    points = []
    for _ in range(settings.paths):
        for _ in range(settings.init_tries):
            u = rng.uniform(-settings.init_radius, settings.init_radius, size=dim)
            if math.isfinite(f(u)[0]):
                points.append(u)
                break
        else:
            raise FitError(
                f"the log density or its gradient was NaN/inf at every one of {settings.init_tries} random "
                f"initial points (uniform in (-{settings.init_radius:g}, {settings.init_radius:g}) on the "
                "unconstrained scale); check that priors and likelihood accept every parameter's declared "
                "support, and that the data hold no NaN/inf", code="fit.bad_init")
    return np.asarray(points)


def pathfinder(value_and_grad: Callable, log_density_batch: Callable, dim: int,
               settings: PathfinderSettings = PathfinderSettings(), seed: int = 0) -> PathfinderResult:
    """Run `settings.paths` Pathfinder paths and importance-weight their draws.

    value_and_grad: u (dim,) -> (log p, grad); log_density_batch: (elbo_draws, dim) -> (elbo_draws,).
    Raises FitError "fit.bad_init" (no finite start), "fit.too_large" (dim > MAX_DIM) or
    "fit.approximation_failed" (no path gave an approximation with a finite ELBO).
    """
    if dim > MAX_DIM:
        raise FitError(f"{dim} parameters is more than Pathfinder's dense approximation handles here ({MAX_DIM}); "
                       "screen with short NUTS runs instead (--screen-method nuts)", code="fit.too_large")
    rng = np.random.default_rng(seed)
    f = minimised(value_and_grad)
    log_density = _batched(log_density_batch, settings.elbo_draws)
    n = -(-settings.proposals // settings.elbo_draws) * settings.elbo_draws
    found = []
    for u0 in random_starts(f, dim, settings, rng):
        iterates, evaluations = lbfgs_path(f, u0, settings)
        best = best_on_path(iterates, log_density, rng, settings.elbo_draws)
        if best is not None:
            found.append(PathResult(best[0], best[1], len(iterates) - 1, evaluations))
    if not found:
        raise FitError("no Pathfinder path gave a Gaussian approximation with a finite ELBO (the density is "
                       "not finite near any optimisation path); fit the program with NUTS, or screen with "
                       "--screen-method nuts", code="fit.approximation_failed")
    proposals = [StudentT(*p.approximation, settings.proposal_df) for p in found]
    draws = [q.sample(rng, n) for q in proposals]
    pooled = np.concatenate(draws)
    log_p = log_density(pooled)
    log_q = np.stack([q.log_pdf(pooled) for q in proposals])  # (paths, pooled)
    log_weights = log_p - special.logsumexp(log_q, axis=0) + math.log(len(found))
    evidence = importance_estimate(log_weights, "pathfinder", pooled.shape[0])
    kept = np.stack([i * n + resample(rng, log_p[i * n:(i + 1) * n] - log_q[i, i * n:(i + 1) * n], settings.keep)
                     for i in range(len(found))])
    lost = settings.paths - len(found)
    warnings = (f"{lost} of {settings.paths} Pathfinder paths gave no usable approximation",) if lost else ()
    return PathfinderResult(pooled[kept], evidence, tuple(found), warnings, pooled, log_weights, kept)
