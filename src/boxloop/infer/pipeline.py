"""Program text + data -> a checked, fitted, diagnosed posterior, in this process or a worker.

`fit_program` is what every caller uses (the CLI, the search loop): it checks the program, compiles
it, runs NUTS, computes the seven diagnostics and PSIS-LOO, and optionally the log evidence. The
result holds only numpy arrays and frozen values, so it pickles back from a worker process.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import FitError, ProgramError
from ..lang import Program, check, structural_hash
from . import progress
from .nuts import NutsSettings
from .worker import FitFailure, Worker, WorkerLimits, run_in_worker


@dataclass(frozen=True, eq=False)
class FitResult:
    """A finished fit. Arrays are (chain, draw, ...); `log_lik` entries are (chain, draw, n)."""

    program: str
    hash: str
    draws: dict = field(repr=False)
    stats: dict = field(repr=False)
    log_lik: dict = field(repr=False)
    u: np.ndarray = field(repr=False)
    diagnostics: object = None
    evidence: object = None
    timing: dict = field(default_factory=dict)
    warnings: tuple = ()
    predictive: dict = field(default_factory=dict, repr=False)  # replicate of each observed variable
    observed: dict = field(default_factory=dict, repr=False)  # the observed values those replicate

    def summary(self) -> dict:
        from ..diagnose import summarize

        return summarize(self.draws)

    def inference_data(self):
        from ..diagnose import to_inference_data

        return to_inference_data(self.draws, self.stats, self.log_lik, posterior_predictive=self.predictive or None,
                                 observed_data=self.observed or None)


IMPROPER_PRIOR = "prior.missing"  # the checker's finding that a parameter's prior is flat and improper


def checked_program(source, data: Mapping | None, evidence: str | None = None) -> Program:
    """Parse and check; raise ProgramError listing every error when the program is invalid, and
    EvidenceError "evidence.improper_prior" when evidence is asked of a program whose marginal
    likelihood does not exist (a finite estimate of it would be a wrong answer)."""
    result = check(source, data=dict(data) if data is not None else None)
    result.raise_for_errors()
    improper = [d.message for d in result.diagnostics if d.code == IMPROPER_PRIOR]
    if evidence and improper:
        from ..diagnose import EvidenceError

        raise EvidenceError("the log evidence is not defined for this program: " + "; ".join(improper),
                            code="evidence.improper_prior")
    return result.program


def fit_program(source, data: Mapping, settings: NutsSettings | None = None, seed: int = 0,
                evidence: str | None = None) -> FitResult:
    """Check, compile, sample, diagnose. `evidence` is None or a method: "auto", "bridge", "is", "smc"."""
    from .compile import fit

    program = checked_program(source, data, evidence)
    settings = settings or NutsSettings()
    _double_precision()
    progress.report("compile")
    fitted = fit(program, data, settings, seed=seed)
    progress.report("diagnose")
    started, sampled = time.perf_counter(), fitted.timing["total_s"]
    ev, moved = None, ()
    if evidence:
        fitted, ev, moved = _evidence_in_main_mode(program, data, settings, seed, fitted, evidence)
    diagnostics, notes = fit_diagnostics(fitted)
    predictive, observed, note = posterior_predictive(fitted, data, seed)
    refit_s = fitted.timing["total_s"] - sampled  # a second run's sampling is not diagnosis
    timing = {**fitted.timing, "diagnose_s": time.perf_counter() - started - refit_s}
    text = source if isinstance(source, str) else None
    from ..lang import to_stan

    return FitResult(text or to_stan(program), structural_hash(program), fitted.draws, fitted.stats,
                     fitted.log_lik, fitted.u, diagnostics, ev, timing, fitted.warnings + moved + notes + note,
                     predictive, observed)


def _evidence_in_main_mode(program, data, settings, seed: int, fitted, method: str) -> tuple:
    """(fit, its evidence, notes). When the mode search finds a mode holding more mass than the
    chains' own, the chains are run again from inside it and, if their estimate is the larger,
    kept (`_moved`); otherwise the first fit stays, its estimate flagged by the mode."""
    from ..diagnose.modes import heavier, with_other_modes
    from .compile import fit

    first, modes = _evidence_and_modes(fitted, method, seed)
    main = heavier(first, modes)
    if main is None:
        return fitted, with_other_modes(first, modes), ()
    try:
        refitted = fit(program, data, settings, seed=seed, init_u=main.starts(np.random.default_rng(seed), settings.chains))
    except FitError as err:
        return fitted, with_other_modes(first, modes), (f"refitting from the heavier mode failed: {err}",)
    # Both runs are this fit's cost, whichever is kept.
    timing = {k: v + fitted.timing.get(k, 0.0) for k, v in refitted.timing.items()}
    fitted, refitted = (dataclasses.replace(f, timing=timing) for f in (fitted, refitted))
    second, more = _evidence_and_modes(refitted, method, seed)
    if not second.log_evidence > first.log_evidence:
        note = (f"chains run again from inside a mode estimated to hold {main.mass.log_evidence:.1f} nats came out "
                f"at {second.log_evidence:.1f}, below the first run's {first.log_evidence:.1f}; the first run is kept")
        return fitted, with_other_modes(first, modes), (note,)
    return (refitted, *_moved(fitted, refitted, first, main, second, more))


def _moved(fitted, refitted, first, main, second, more) -> tuple:
    """The second run's estimate, with the first run's region as its other mode when the second
    run's draws do not reach it (so two modes of similar mass leave it untrusted), and a note that
    belongs both to the draws (fit warnings) and to the number (`boxloop evidence` prints it)."""
    from ..diagnose.evidence import fit_location_scale, unconstrained_chains
    from ..diagnose.modes import OtherMode, apart_from, with_other_modes

    def flat(u):
        return unconstrained_chains(u).reshape(-1, fitted.model.dim)

    mean, chol = fit_location_scale(flat(fitted.u))
    if apart_from(mean, flat(refitted.u)):
        more = more + (OtherMode(first, mean, chol, found="the chains' first run sat in another mode"),)
    note = (f"the chains first settled in a mode holding {first.log_evidence:.1f} nats of evidence; an optimiser "
            f"started where the data outweigh the prior found one holding about {main.mass.log_evidence:.1f}, so "
            "the chains were run again from inside it (a prior in conflict with the data?)")
    second = dataclasses.replace(second, warnings=(note,) + second.warnings)
    return with_other_modes(second, more), (note,)


def screen_fit(program: Program, data: Mapping, settings, seed: int):
    """A screen's cheap fit, in float64 like every fit: Pathfinder for PathfinderSettings, else
    a (short) NUTS run."""
    from .compile import approximate, fit
    from .pathfinder import PathfinderSettings

    _double_precision()
    run = approximate if isinstance(settings, PathfinderSettings) else fit
    return run(program, data, settings, seed=seed)


def fit_diagnostics(fitted) -> tuple:
    """(Diagnostics, notes) of a `compile.fit` result; a large fit's PSIS-LOO comes from the
    subsample of observations its pointwise log-likelihood kept, and an approximation's from its
    weighted proposal draws."""
    from ..diagnose import diagnose

    pw = fitted.pointwise
    subsample = (pw.rows, pw.lpd, pw.var) if pw is not None and pw.subsampled else None
    diagnostics = diagnose(fitted.draws, fitted.stats, fitted.log_lik, loo_subsample=subsample,
                           loo_importance=fitted.importance)
    return diagnostics, (_subsample_note(diagnostics, pw) if subsample else ())


def _subsample_note(diagnostics, pw) -> tuple:
    loo = diagnostics.loo
    extra = f", subsampling se {loo.subsampling_se:.2g}" if loo is not None else ""
    return (f"PSIS-LOO was estimated from a random subsample of {pw.rows.size:,} of {pw.n_obs:,} observations "
            f"(the draws x observations would not fit in memory{extra}); the log-likelihood kept is that "
            "subsample's",)


PREDICTIVE_MAX_VALUES = 20_000_000  # draws x observed values kept as posterior predictive (160 MB)


def posterior_predictive(fitted, data: Mapping, seed: int) -> tuple[dict, dict, tuple]:
    """One replicate of every observed variable per posterior draw, (chain, draw, *shape), with
    the observed values; ({}, {}, (why,)) when the likelihood cannot be simulated forward (a
    `target +=` likelihood) or the replicates would be too large to keep."""
    from ..errors import BoxloopError

    model = fitted.model
    chains, draws = fitted.u.shape[:2]
    observed = {n: np.asarray(data[n]) for n in model.kernel.observed if n in data}
    size = chains * draws * sum(max(v.size, 1) for v in observed.values())
    if not observed or size > PREDICTIVE_MAX_VALUES:
        why = "no observed variable" if not observed else f"{size:,} values is more than {PREDICTIVE_MAX_VALUES:,}"
        return {}, {}, (f"posterior predictive draws were not kept: {why}",)
    import jax

    try:
        reps = model.simulate(jax.random.PRNGKey(seed + 1), "posterior", u=fitted.u.reshape(chains * draws, -1))
    except (BoxloopError, *_trace_errors()) as exc:
        return {}, {}, (f"posterior predictive draws were not computed: {exc}",)
    predictive = {n: np.asarray(v).reshape(chains, draws, *np.shape(v)[1:]) for n, v in reps.items() if n in observed}
    return predictive, {n: observed[n] for n in predictive}, ()


def _trace_errors() -> tuple:
    from .interp import TRACE_ERRORS, NeedsStatic

    return (NeedsStatic, *TRACE_ERRORS)


def _double_precision() -> None:
    """Fit in float64, as Stan does: in float32 a GP's 1e-10 jitter vanishes and the Cholesky factor
    of a nearly singular kernel goes wrong (gp_pois_regr diverged half the time and missed the
    reference posterior; in float64 it matches)."""
    import jax

    jax.config.update("jax_enable_x64", True)


def fit_evidence(fitted, method: str, seed: int, modes: bool = True):
    """The log evidence of a fit by `method` ("auto", "bridge", "is" or "smc"). With `modes`,
    optima the draws never reached are looked for, and an estimate they would move is marked
    untrusted (`infer.modes`)."""
    from ..diagnose.modes import with_other_modes

    if not modes:
        return _estimate(fitted, _log_density(fitted), method, seed)
    return with_other_modes(*_evidence_and_modes(fitted, method, seed))


def _evidence_and_modes(fitted, method: str, seed: int) -> tuple:
    from .modes import unvisited_modes

    log_density = _log_density(fitted)
    return (_estimate(fitted, log_density, method, seed),
            unvisited_modes(fitted.model, fitted.u, log_density, seed=seed))


def _estimate(fitted, log_density, method: str, seed: int):
    """`diagnose.log_evidence` with what SMC and the non-centred change of variables need: the
    prior split from the likelihood, prior draws, the program's centred groups and the fit's
    divergences."""
    from ..diagnose import log_evidence
    from .noncentre import noncentring

    diverging = fitted.stats.get("diverging")
    divergences = int(np.sum(diverging)) if diverging is not None else 0
    groups = noncentring(fitted.model)
    # The prior is only simulated (and compiled) when SMC runs, the non-centred form only sampled
    # when the fit diverged: `log_evidence` calls these thunks then.
    return log_evidence(log_density, fitted.u, method=method, seed=seed, divergences=divergences,
                        prior=lambda: prior_reference(fitted.model), noncentring=groups,
                        noncentred=lambda: _noncentred_draws(fitted, groups, seed))


def _noncentred_draws(fitted, groups, seed: int) -> tuple | None:
    """(draws of v, divergences) of NUTS on the fit's posterior in non-centred coordinates, with
    the fit's settings; None when that run fails (the estimate then uses the fit's own draws)."""
    from .noncentre import noncentred_potential
    from .nuts import run_nuts

    model = fitted.model
    try:
        res = run_nuts(noncentred_potential(model.kernel, groups), model.dim, fitted.nuts.settings, seed,
                       data=model.dyn)
    except FitError:
        return None
    return np.asarray(res.draws, dtype=np.float64), int(np.sum(res.stats["diverging"]))


def _log_density(fitted):
    """The fit's log density as numpy (batch, dim) -> (batch,), in float64."""
    density, data = batched_log_density(fitted.model)
    dtype = fitted.u.dtype

    def log_density(u_batch):
        return np.asarray(density(np.asarray(u_batch, dtype=dtype), data), dtype=np.float64)

    return log_density


def prior_reference(model):
    """A `diagnose.Prior` for the model, or None when its prior cannot be simulated or its
    simulated draws are not where its log prior is finite (a bound that `~` does not know about),
    in which case SMC starts from a broad approximation instead."""
    import jax

    from ..diagnose import Prior, SmcSettings
    from ..errors import BoxloopError

    def log_parts(u_batch):
        log_prior, log_lik = model.log_prior_likelihood_draws(np.asarray(u_batch, dtype=float))
        return np.asarray(log_prior, dtype=np.float64), np.asarray(log_lik, dtype=np.float64)

    def draw(rng, n):
        values = model.simulate(jax.random.PRNGKey(int(rng.integers(2**31))), "prior", num_draws=n)
        return np.asarray(model.unconstrain_draws(values), dtype=np.float64).reshape(n, model.dim)

    try:
        # As many as SMC's particles, so the check compiles the simulator SMC then reuses.
        trial = draw(np.random.default_rng(0), SmcSettings().particles)
    except (BoxloopError, *_trace_errors()):
        return None
    if not (np.all(np.isfinite(trial)) and np.all(np.isfinite(log_parts(trial)[0]))):
        return None
    return Prior(log_parts, draw)


def batched_log_density(model):
    """(jitted (batch, dim) x data -> (batch,), data): the data go in as an argument, never
    captured: a captured array becomes an XLA constant, and XLA's constant folding over ten
    million points grew a process past 7 GB. Shared by every fit of the same kernel shape."""
    return model.batched_log_density(), model.dyn


# What a fit's worker imports before its job arrives (see `fit_worker`).
FIT_IMPORTS = ("numpyro.infer.hmc", "boxloop.infer.compile", "boxloop.diagnose")


def fit_worker(limits: WorkerLimits, on_progress=None) -> Worker:
    """A worker for one `fit_isolated`, started now: JAX and NumPyro import (seconds) while the
    caller reads and checks the program and data."""
    return Worker(dataclasses.replace(limits, warm_imports=FIT_IMPORTS), forward_progress=on_progress is not None)


def fit_isolated(source, data: Mapping, settings: NutsSettings | None = None, seed: int = 0,
                 evidence: str | None = None, limits: WorkerLimits | None = None,
                 on_progress=None, worker: Worker | None = None) -> FitResult | FitFailure:
    """`fit_program` in a spawned worker with a wall-clock timeout and memory cap. A crash, timeout
    or error comes back as a FitFailure; the caller's process is never taken down. `on_progress`
    receives the worker's `progress.FitProgress` events. `worker`, from `fit_worker`, is one
    started earlier (then `limits` are its own); it is closed when the fit ends."""
    text = source if isinstance(source, str) else _text(source)
    values = {k: np.asarray(v) for k, v in dict(data).items()}
    job = (text, values, settings, seed, evidence)
    if worker is None:
        return run_in_worker(fit_program, job, limits=limits or WorkerLimits(), on_progress=on_progress)
    with worker:
        return worker.run(fit_program, job, on_progress=on_progress)


def _text(program: Program) -> str:
    from ..lang import to_stan

    return to_stan(program)


__all__ = ["FitResult", "FitFailure", "fit_program", "fit_isolated", "fit_worker", "checked_program", "fit_evidence",
           "ProgramError", "FitError"]
