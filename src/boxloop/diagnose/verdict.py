"""Choose an evidence estimator, cross-check it, and say how far to trust the number.

`log_evidence(..., method="auto")` runs bridge sampling and importance sampling on the posterior
draws (on the non-centred form when the fit diverged and the program has centred normal groups),
and keeps the bridge estimate when the two agree and neither diagnostic fails. When they disagree
or a diagnostic fails it falls back to tempered SMC, which does not use the draws at all; when
only the fit's divergences make the draws suspect, SMC cross-checks the bridge, which is kept if
SMC agrees. Every estimate carries warnings in
plain sentences; `Evidence.reliable` is False when one of them concerns the number reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from boxloop.diagnose.evidence import (
    PARETO_K_LIMIT,
    SE_LIMIT,
    Evidence,
    EvidenceError,
    bridge_sampling,
    evaluate_log_density,
    fit_location_scale,
    importance_sampling,
    mvt_logpdf,
    mvt_sample,
    unconstrained_chains,
)
from boxloop.diagnose.reparam import NonCentring
from boxloop.diagnose.smc import SmcSettings, tempered_smc

__all__ = ["METHODS", "Prior", "log_evidence", "smc_evidence"]

METHODS = ("auto", "bridge", "is", "smc")
AGREE_LIMIT = 0.1  # nats between bridge and importance sampling
REFERENCE_DF, REFERENCE_WIDTH = 5.0, 2.0  # SMC's fallback reference: a t this much wider than the draws

LogDensity = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Prior:
    """The prior as SMC's starting point. `log_parts(u)`: (normalised log prior with Jacobians,
    log likelihood) per row of a (batch, d) array; `draw(rng, n)`: n prior draws of u, (n, d)."""

    log_parts: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    draw: Callable[[np.random.Generator, int], np.ndarray]


# --------------------------------------------------------------------------- SMC references


def _prior_reference(prior: Prior, noncentring: NonCentring | None):
    if noncentring is None:
        return prior.log_parts, prior.draw

    def log_parts(v):
        log_prior, log_lik = prior.log_parts(noncentring.to_centred(v))
        return np.asarray(log_prior, dtype=float) + noncentring.log_jacobian(v), log_lik

    return log_parts, lambda rng, n: noncentring.to_noncentred(np.asarray(prior.draw(rng, n), dtype=float))


def _broad_reference(log_density: LogDensity, draws: np.ndarray):
    """A Student-t twice as wide as the draws, for when the prior cannot be simulated; the path is
    then geometric from it to the posterior."""
    mean, chol = fit_location_scale(draws.reshape(-1, draws.shape[-1]))
    chol = REFERENCE_WIDTH * chol

    def log_parts(x):
        log_g = mvt_logpdf(x, mean, chol, REFERENCE_DF)
        return log_g, np.asarray(log_density(x), dtype=float) - log_g

    return log_parts, lambda rng, n: mvt_sample(rng, mean, chol, REFERENCE_DF, n)


def smc_evidence(log_density: LogDensity, draws_u=None, *, prior: Prior | Callable[[], Prior | None] | None = None,
                 noncentring: NonCentring | None = None, settings: SmcSettings | None = None,
                 seed=0) -> Evidence:
    """Tempered SMC from the prior (or, without one, from a broad t fitted to `draws_u`), on the
    non-centred form when `noncentring` is given. `prior` may be a function returning the Prior
    or None, called only here (simulating a prior has a cost the other methods need not pay)."""
    if prior is not None and not isinstance(prior, Prior):
        prior = prior()
    if prior is not None:
        log_parts, draw = _prior_reference(prior, noncentring)
    elif draws_u is not None:
        density = noncentring.density(log_density) if noncentring else log_density
        draws = unconstrained_chains(draws_u)
        draws = noncentring.draws(draws) if noncentring else draws
        log_parts, draw = _broad_reference(density, draws)
    else:
        raise EvidenceError("SMC needs a prior to simulate from or posterior draws to build a reference from.")
    ev = tempered_smc(log_parts, draw, settings=settings, seed=seed)
    return _judged(replace(ev, method=_named("smc", noncentring)))


# --------------------------------------------------------------------------- the verdict


def _named(method: str, noncentring: NonCentring | None) -> str:
    return method + "+noncentred" if noncentring is not None else method


def _problems(ev: Evidence) -> list[str]:
    out = []
    if not math.isfinite(ev.log_evidence):
        out.append(f"the {ev.method} estimate is not finite")
    if math.isfinite(ev.se) and ev.se > SE_LIMIT:
        out.append(f"standard error {ev.se:.2f} nats above {SE_LIMIT}")
    if ev.pareto_k is not None and ev.pareto_k > PARETO_K_LIMIT:
        out.append(f"importance-weight Pareto k {ev.pareto_k:.2f} above {PARETO_K_LIMIT}")
    return out


def _judged(ev: Evidence) -> Evidence:
    problems = _problems(ev)
    return replace(ev, warnings=tuple(problems), trusted=not problems)


def _divergence_note(divergences: int) -> str:
    return (f"the fit had {divergences} divergent transitions, so its draws may miss part of the "
            "posterior that the estimate leans on")


def _single(method: str, log_density, draws_u, divergences: int, seed, options) -> Evidence:
    estimator = bridge_sampling if method == "bridge" else importance_sampling
    ev = _judged(estimator(log_density, draws_u, seed=seed, **options))
    if divergences:
        ev = replace(ev, warnings=ev.warnings + (_divergence_note(divergences),), trusted=False)
    return ev


def _draw_based(log_density, draws_u, seed, options) -> tuple[Evidence | None, list[str]]:
    """Bridge and IS with their cross-check: (bridge estimate or None, problems found)."""
    found, results = [], {}
    for name, estimator in (("bridge", bridge_sampling), ("is", importance_sampling)):
        try:
            results[name] = estimator(log_density, draws_u, seed=seed, **options)
        except EvidenceError as err:
            found.append(f"{'bridge sampling' if name == 'bridge' else 'importance sampling'} failed: {err}")
            continue
        found += _problems(results[name])
    if len(results) == 2:
        gap = abs(results["bridge"].log_evidence - results["is"].log_evidence)
        if not gap <= AGREE_LIMIT:
            found.append(f"bridge and importance sampling disagree by {gap:.2f} nats")
    return results.get("bridge"), found


def _checked(log_density, draws_u) -> np.ndarray:
    """The draws as (chain, draw, d), after the checks that make a bad input an error rather than
    an estimator failure that auto would fall back from: the shape, and a density that is
    vectorised and finite at every draw."""
    draws = unconstrained_chains(draws_u)
    evaluate_log_density(log_density, draws.reshape(-1, draws.shape[-1]), "posterior")
    return draws


def _auto(log_density, draws_u, divergences: int, prior, noncentring, smc, seed, options,
          noncentred=None) -> Evidence:
    draws_u = _checked(log_density, draws_u)
    notes = []
    if divergences and noncentring is not None:
        names = ", ".join(noncentring.names)
        resampled = noncentred() if noncentred is not None else None
        if resampled is not None:  # the posterior sampled again in the non-centred coordinates
            draws_v, divergences = resampled
            notes.append(f"estimated on draws of the non-centred form of {names}, sampled again because the fit "
                         "diverged" + (f" (that run had {divergences} divergent transitions too)" if divergences else ""))
        else:
            notes.append(f"estimated on the non-centred form of {names} because the fit had {divergences} "
                         "divergent transitions")
            draws_v = noncentring.draws(draws_u)
        bridge, problems = _draw_based(noncentring.density(log_density), draws_v, seed, options)
    else:
        noncentring = None
        bridge, problems = _draw_based(log_density, draws_u, seed, options)
        if divergences:
            notes.append(_divergence_note(divergences))
    if bridge is not None and not problems and not divergences:
        return replace(bridge, method=_named("bridge", noncentring), warnings=tuple(notes), trusted=True)
    notes += problems
    try:
        ev = smc_evidence(log_density, draws_u, prior=prior, noncentring=noncentring, settings=smc, seed=seed)
    except EvidenceError as err:
        if bridge is None:
            raise
        notes.append(f"tempered SMC failed as well: {err}")
        return replace(bridge, method=_named("bridge", noncentring), warnings=tuple(notes), trusted=False)
    if bridge is not None and not problems:
        # Only the divergences were suspect. SMC, which does not use the draws, either confirms
        # the bridge (keep the bridge's smaller error), is too noisy to say (keep the bridge, which
        # importance sampling confirmed), or contradicts it (report SMC).
        gap = abs(ev.log_evidence - bridge.log_evidence)
        if not ev.reliable or gap <= max(AGREE_LIMIT, 3 * math.hypot(ev.se, bridge.se)):
            notes.append(f"tempered SMC, which does not use the draws, agrees within {gap:.2f} nats" if ev.reliable
                         else f"tempered SMC's cross-check was inconclusive (se {ev.se:.2f} nats)")
            return replace(bridge, method=_named("bridge", noncentring), warnings=tuple(notes), trusted=True)
        notes.append(f"tempered SMC and bridge sampling disagree by {gap:.2f} nats")
    notes.append("estimated by tempered SMC, which does not use the fit's draws")
    return replace(ev, warnings=tuple(notes) + ev.warnings)


def log_evidence(log_density: LogDensity, draws_u, *, method: str = "auto", divergences: int = 0,
                 prior: Prior | Callable[[], Prior | None] | None = None, noncentring: NonCentring | None = None,
                 noncentred: Callable[[], tuple | None] | None = None, smc: SmcSettings | None = None, seed=0,
                 **options) -> Evidence:
    """log p(x | M) by `method`: "auto" (default; see the module docstring), "bridge", "is" or "smc".

    `log_density(u_batch)` maps a (batch, d) array of unconstrained points to the normalised log
    prior + log likelihood + log Jacobian of each row; `draws_u` are posterior draws of u,
    (n, d) or (chain, draw, d). `divergences`: the fit's divergent transitions (they make the draws
    suspect). `prior`: lets SMC start from the prior (otherwise from a broad fit to the draws).
    `noncentring`: the program's centred normal groups, used when the fit diverged (auto) and by SMC.
    `noncentred`: called (auto, when the fit diverged and has such groups) for posterior draws
    sampled in the non-centred coordinates and that run's divergences, or None; the bridge then
    uses them instead of the diverged draws mapped across.
    Options go to bridge sampling and importance sampling (n_proposal).
    """
    if method not in METHODS:
        raise EvidenceError(f"unknown evidence method {method!r}; use one of {', '.join(METHODS)}.")
    if method in ("bridge", "is"):
        return _single(method, log_density, draws_u, divergences, seed, options)
    if method == "smc":
        if draws_u is not None:
            draws_u = _checked(log_density, draws_u)
        return smc_evidence(log_density, draws_u, prior=prior, noncentring=noncentring, settings=smc, seed=seed)
    return _auto(log_density, draws_u, divergences, prior, noncentring, smc, seed, options, noncentred)
