"""The job a worker runs for one candidate: fit, diagnose, and pack the draws as NetCDF bytes.

Runs inside an executor's worker (a local pool process or a Ray task), so it returns plain
picklable values and never raises for a bad program: every way a fit can fail in Python comes
back as a failed `FitOutcome`. (Crashes and timeouts are turned into failures by the executor.)
Draws travel as NetCDF bytes, not arrays, so a worker on another machine needs no shared disk.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace

import numpy as np

from ..infer.nuts import NutsSettings


@dataclass(frozen=True)
class FitJob:
    program: str = field(repr=False)
    data: dict = field(repr=False)
    settings: NutsSettings
    seed: int
    evidence: str | None = None


@dataclass(frozen=True)
class FitOutcome:
    status: str  # "ok" or "failed"
    code: str | None = None
    reason: str | None = None
    detail: str | None = field(default=None, repr=False)
    diagnostics: object = field(default=None, repr=False)  # diagnose.Diagnostics
    evidence: dict | None = None
    timing: dict = field(default_factory=dict)
    warnings: tuple = ()
    netcdf: bytes | None = field(default=None, repr=False)
    elapsed_s: float = 0.0


def run_fit(job: FitJob) -> FitOutcome:
    """Fit `job.program` to `job.data`; never raises for problems of the program or the fit."""
    def fitted() -> FitOutcome:
        result, notes = _fit(job)
        return FitOutcome("ok", diagnostics=result.diagnostics, evidence=_evidence(result),
                          timing=dict(result.timing), warnings=tuple(result.warnings) + notes,
                          netcdf=_netcdf_bytes(result))
    return guarded(fitted, "the fit")


def guarded(body, what: str) -> FitOutcome:
    """`body()`'s outcome with its elapsed time, or a failed outcome for anything it raises: a
    bad program or fit, memory running out, or a bug in a layer below (which must not end the
    search)."""
    from ..errors import BoxloopError

    start = time.perf_counter()
    try:
        return replace(body(), elapsed_s=time.perf_counter() - start)
    except BoxloopError as err:
        return failed_outcome(err.code, str(err), err, start)
    except MemoryError as err:
        return failed_outcome("fit.out_of_memory", f"{what} ran out of memory", err, start)
    except Exception as err:  # noqa: BLE001
        return failed_outcome("fit.error", f"{type(err).__name__}: {err}", err, start)


def _fit(job: FitJob):
    from ..diagnose import EvidenceError
    from ..infer.pipeline import fit_program

    data = {name: np.asarray(value) for name, value in job.data.items()}
    try:
        return fit_program(job.program, data, job.settings, job.seed, job.evidence), ()
    except EvidenceError as err:
        # Keep the posterior: refit without evidence (the in-process compile cache makes it cheap).
        result = fit_program(job.program, data, job.settings, job.seed, None)
        return result, (f"log evidence could not be estimated: {err}",)


def _evidence(result) -> dict | None:
    return result.evidence.to_dict() if result.evidence is not None else None


def _netcdf_bytes(result) -> bytes:
    from ..diagnose import save_netcdf

    fd, path = tempfile.mkstemp(prefix="boxloop-fit-", suffix=".nc")
    os.close(fd)
    try:
        save_netcdf(result.inference_data(), path)
        with open(path, "rb") as f:
            return f.read()
    finally:
        os.unlink(path)


def failed_outcome(code: str, reason: str, err: BaseException, start: float) -> FitOutcome:
    detail = "".join(traceback.format_exception(err))[-4000:]
    return FitOutcome("failed", code=code, reason=reason, detail=detail, elapsed_s=time.perf_counter() - start)
