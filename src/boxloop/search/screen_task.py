"""The job a worker runs to screen one candidate: a cheap fit, PSIS-LOO on its draws, and a log
evidence with its standard error and Pareto k.

Two kinds of cheap fit, told apart by the job's settings: Pathfinder (Gaussian approximations
along L-BFGS paths, importance-resampled: only the log density and its gradient are compiled, and
the importance weights give the evidence for nothing) and a short NUTS run (then, when the run
averages by evidence, importance sampling from a Student-t fitted to its draws).

Less than `fit_task.run_fit` on purpose: no posterior predictive, no draws file, and a cheap
evidence estimate instead of `auto` (bridge sampling cross-checked, SMC when they disagree),
because a screen's only use is the promotion rule (`screen`). Like `run_fit` it never raises for
a bad program or fit: every failure comes back as a failed `FitOutcome`.
"""

from __future__ import annotations

import time

import numpy as np

from .fit_task import FitJob, FitOutcome, guarded

SCREEN_EVIDENCE = "is"  # the NUTS screen's estimator; Pathfinder's comes from its own weights


def run_screen(job: FitJob) -> FitOutcome:
    """Screen with the method of `job.settings` (PathfinderSettings or NutsSettings)."""
    return guarded(lambda: _screen(job), "the screen fit")


def _screen(job: FitJob) -> FitOutcome:
    from ..infer.pipeline import checked_program, fit_diagnostics, screen_fit

    data = {name: np.asarray(value) for name, value in job.data.items()}
    # The program's own check decides whether evidence exists (an improper prior has none); the
    # screen then goes on without it and the rule promotes the candidate (no bound can be made).
    program = checked_program(job.program, data, None)
    fitted = screen_fit(program, data, job.settings, job.seed)
    started = time.perf_counter()
    diagnostics, notes = fit_diagnostics(fitted)
    evidence, more = _evidence(fitted, job)
    timing = {**fitted.timing, "diagnose_s": time.perf_counter() - started}
    return FitOutcome("ok", diagnostics=diagnostics, evidence=evidence, timing=timing,
                      warnings=tuple(fitted.warnings) + notes + more)


def _evidence(fitted, job: FitJob) -> tuple[dict | None, tuple]:
    """Pathfinder's estimate, kept even when the run does not average (its Pareto k says whether
    the approximation can be trusted at all); for NUTS, importance sampling when asked for."""
    from ..diagnose import EvidenceError
    from ..infer.pipeline import fit_evidence

    if fitted.stats is None:
        return fitted.nuts.evidence.to_dict(), ()
    if not job.evidence:
        return None, ()
    try:
        # No mode search: its compile (about 1 s a program shape) would land on every screen; the full fit runs it.
        return fit_evidence(fitted, SCREEN_EVIDENCE, job.seed, modes=False).to_dict(), ()
    except EvidenceError as err:
        return None, (f"log evidence could not be estimated on the screen draws: {err}",)
