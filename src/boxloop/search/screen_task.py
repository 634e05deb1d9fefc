"""The job a worker runs to screen one candidate: a short NUTS fit, PSIS-LOO on its draws, and
(when the run averages by evidence) an importance-sampling log evidence with its Pareto k.

Less than `fit_task.run_fit` on purpose: no posterior predictive, no draws file, and the cheap
evidence estimator instead of `auto` (bridge sampling cross-checked, SMC when they disagree),
because a screen's only use is the promotion rule (`screen`). Like `run_fit` it never raises for
a bad program or fit: every failure comes back as a failed `FitOutcome`.
"""

from __future__ import annotations

import time

import numpy as np

from .fit_task import FitJob, FitOutcome, guarded

SCREEN_EVIDENCE = "is"


def run_screen(job: FitJob) -> FitOutcome:
    def screened() -> FitOutcome:
        diagnostics, evidence, timing, notes = _screen(job)
        return FitOutcome("ok", diagnostics=diagnostics, evidence=evidence, timing=timing, warnings=notes)
    return guarded(screened, "the screen fit")


def _screen(job: FitJob):
    from ..diagnose import EvidenceError
    from ..infer.compile import fit
    from ..infer.pipeline import checked_program, fit_diagnostics, fit_evidence

    data = {name: np.asarray(value) for name, value in job.data.items()}
    # The program's own check decides whether evidence exists (an improper prior has none); the
    # screen then goes on without it and the rule promotes the candidate (no bound can be made).
    program = checked_program(job.program, data, None)
    fitted = fit(program, data, job.settings, seed=job.seed)
    started = time.perf_counter()
    diagnostics, notes = fit_diagnostics(fitted)
    evidence = None
    if job.evidence:
        try:
            evidence = fit_evidence(fitted, SCREEN_EVIDENCE, job.seed).to_dict()
        except EvidenceError as err:
            notes += (f"log evidence could not be estimated on the screen draws: {err}",)
    timing = {**fitted.timing, "diagnose_s": time.perf_counter() - started}
    return diagnostics, evidence, timing, tuple(fitted.warnings) + notes
