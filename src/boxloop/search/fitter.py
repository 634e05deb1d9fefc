"""Fits for a search: reuse what is known, run the rest on the executor, record everything.

`request(hash, program)` answers at once from the run store (a resumed run) or the shared fit
cache (another run fitted this structure on these data with these settings), or queues the fit on
the executor; `wait()` returns the records of fits that finished, each already written to the
store (and, when successful, to the cache) before it is returned.

A fit has a fidelity: "full" (the run's plan) or "screen" (the screening plan, `screen`), each
with its own settings, job and cache keys, so a resumed run finds its screens as it finds its fits.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .cache import FitCache
from .config import fit_key, fit_seed
from .executor import Done, Executor, FitFailure, Job
from .fit_task import FitJob, FitOutcome, run_fit
from .records import FitRecord
from .screen_task import run_screen
from .store import RunStore

FIDELITIES = ("full", "screen")


@dataclass(frozen=True)
class FitPlan:
    """What every fit of a run shares."""

    data: dict
    data_hash: str
    settings: object  # NutsSettings
    settings_hash: str
    evidence: str | None
    timeout_s: float


class Fitter:
    def __init__(self, plan: FitPlan, store: RunStore, executor: Executor, cache: FitCache | None = None,
                 fit_fn=run_fit, screen: FitPlan | None = None, screen_fn=run_screen):
        self.plan, self.store, self.executor, self.cache, self.fit_fn = plan, store, executor, cache, fit_fn
        self.plans = {"full": plan, "screen": screen}
        self.jobs = {"full": fit_fn, "screen": screen_fn}
        self._running: dict[str, tuple[str, str, str]] = {}  # key -> (structural hash, program, fidelity)
        self.executed = self.resumed = self.cached = 0  # where this session's full fits came from
        self.screens_executed = self.screens_reused = 0
        self.fit_seconds = self.screen_seconds = 0.0

    def key(self, structural_hash: str, fidelity: str = "full") -> str:
        plan = self.plans[fidelity]
        return fit_key(structural_hash, plan.data_hash, plan.settings_hash)

    def known(self, structural_hash: str, fidelity: str = "full") -> FitRecord | None:
        """The finished record from the run store or the fit cache, without queueing anything."""
        key = self.key(structural_hash, fidelity)
        known = self.store.find_fit(key)
        if known is not None:
            self._count_reuse(fidelity, "resumed")
            return known
        known = self._from_cache(key)
        if known is not None:
            self._count_reuse(fidelity, "cached")
        return known

    def request(self, structural_hash: str, program: str, fidelity: str = "full",
                priority: float = 0.0) -> FitRecord | None:
        """The finished record if one is known, else None (the fit is queued, to start before
        queued fits of lower priority)."""
        known = self.known(structural_hash, fidelity)
        if known is not None:
            return known
        key, plan = self.key(structural_hash, fidelity), self.plans[fidelity]
        if key not in self._running:
            self._running[key] = (structural_hash, program, fidelity)
            job = FitJob(program, plan.data, plan.settings, fit_seed(structural_hash), plan.evidence)
            self.executor.submit(Job(key, self.jobs[fidelity], (job,), plan.timeout_s, priority))
        return None

    def _count_reuse(self, fidelity: str, where: str) -> None:
        if fidelity == "screen":
            self.screens_reused += 1
        elif where == "resumed":
            self.resumed += 1
        else:
            self.cached += 1

    def counts(self) -> dict:
        out = {"fits_executed": self.executed, "fits_resumed": self.resumed, "fits_cached": self.cached,
               "fits_repaired": len(self.store.repaired), "fit_s": round(self.fit_seconds, 3)}
        if self.plans["screen"] is not None:
            out.update(screens_executed=self.screens_executed, screens_reused=self.screens_reused,
                       screen_s=round(self.screen_seconds, 3))
        return out

    def in_flight(self) -> int:
        return len(self._running)

    def wait(self, timeout: float | None = None) -> list[FitRecord]:
        return [self._record(done) for done in self.executor.wait(timeout) if done.key in self._running]

    def cancel_all(self) -> None:
        for key in list(self._running):
            self.executor.cancel(key)
        self._running.clear()

    def _from_cache(self, key: str) -> FitRecord | None:
        hit = self.cache.find(key) if self.cache is not None else None
        if hit is None:
            return None
        rec, netcdf = hit
        return self.store.add_fit(replace(rec, source="cache", netcdf=None), netcdf)

    def _record(self, done: Done) -> FitRecord:
        structural_hash, program, fidelity = self._running.pop(done.key)
        plan = self.plans[fidelity]
        outcome = _as_outcome(done.value)
        rec = FitRecord(
            key=done.key, structural_hash=structural_hash, data_hash=plan.data_hash,
            settings_hash=plan.settings_hash, program=program, status=outcome.status, code=outcome.code,
            reason=outcome.reason, detail=outcome.detail, diagnostics=outcome.diagnostics, evidence=outcome.evidence,
            timing=outcome.timing, warnings=outcome.warnings, source="executed",
            elapsed_s=done.elapsed_s or outcome.elapsed_s, fidelity=fidelity)
        rec = self.store.add_fit(rec, outcome.netcdf)
        if fidelity == "screen":
            self.screens_executed += 1
            self.screen_seconds += rec.elapsed_s
        else:
            self.executed += 1
            self.fit_seconds += rec.elapsed_s
        if self.cache is not None:
            self.cache.add(rec, outcome.netcdf)
        return rec


def _as_outcome(value) -> FitOutcome:
    if isinstance(value, FitOutcome):
        return value
    if isinstance(value, FitFailure):
        return FitOutcome("failed", code=value.code, reason=value.reason, detail=value.detail,
                          elapsed_s=value.elapsed_s)
    return FitOutcome("failed", code="fit.error", reason=f"the fit job returned a {type(value).__name__}")
