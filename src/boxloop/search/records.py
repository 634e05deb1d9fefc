"""The values a search produces and stores: proposals, fits, and the requests behind them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..diagnose import Diagnostics, Evidence


@dataclass(frozen=True)
class Request:
    """What a lineage asks the proposer for next.

    lineage: the root number (a lineage is one program and its rewrites); depth: 0 for the root,
    +1 per rewrite; block: "program", "prior" or "likelihood"; attempt: redraws of this step after
    a duplicate or invalid proposal; context/parent_hash: the program being rewritten."""

    lineage: int
    depth: int = 0
    block: str = "program"
    attempt: int = 0
    context: str | None = field(default=None, repr=False)
    parent_hash: str | None = None

    @property
    def slot(self) -> str:
        """Where this proposal sits in the run: the same slot is replayed, never re-proposed."""
        return f"{self.lineage}:{self.depth}:{self.block}:{self.attempt}:{self.parent_hash or '-'}"


@dataclass(frozen=True)
class ProposalRecord:
    """One proposal as stored. `structural_hash` is None when the text does not check."""

    slot: str
    lineage: int
    depth: int
    block: str
    attempt: int
    parent_hash: str | None
    proposer: str
    text: str = field(repr=False)
    valid: bool
    structural_hash: str | None
    check: tuple = field(default=(), repr=False)  # the checker's diagnostics, as dicts
    tokens_generated: int = 0
    tokens_discarded: int = 0
    tries: int = 1
    seconds: float = 0.0
    error: str | None = None  # why the proposer returned nothing (ProposerError message)
    replayed: bool = False  # read back from the store instead of proposed again


@dataclass(frozen=True)
class FitRecord:
    """One fitted (or failed) structure. `source`: "executed" (fitted by this run), "cache"
    (copied from the shared fit cache). `netcdf` is relative to the run directory (or the cache).
    `fidelity`: "full" (the run's settings) or "screen" (the short first look of `screen`, which
    keeps no draws and never enters a choice or a weighting)."""

    key: str
    structural_hash: str
    data_hash: str
    settings_hash: str
    program: str = field(repr=False)
    status: str  # "ok" or "failed"
    code: str | None = None
    reason: str | None = None
    detail: str | None = field(default=None, repr=False)
    diagnostics: Diagnostics | None = field(default=None, repr=False)
    evidence: dict | None = None
    timing: dict = field(default_factory=dict)
    warnings: tuple = ()
    netcdf: str | None = None
    source: str = "executed"
    elapsed_s: float = 0.0
    netcdf_sha256: str | None = None  # checksum of the draws file, checked when the fit is reused
    fidelity: str = "full"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def score(self) -> int:
        return self.diagnostics.score if self.diagnostics is not None else 0

    @property
    def failed_checks(self) -> tuple[str, ...]:
        return self.diagnostics.failed if self.diagnostics is not None else ()

    @property
    def elpd_loo(self) -> float:
        return self.diagnostics.elpd_loo if self.diagnostics is not None else math.nan

    @property
    def elpd_loo_se(self) -> float:
        return self.diagnostics.elpd_loo_se if self.diagnostics is not None else math.nan

    @property
    def log_evidence(self) -> float:
        value = (self.evidence or {}).get("log_evidence")
        return math.nan if value is None else float(value)

    @property
    def evidence_estimate(self) -> Evidence | None:
        """The stored evidence with its verdict; a dict stored before verdicts existed gets no
        warnings and the verdict of its time (see `Evidence.from_dict`)."""
        return Evidence.from_dict(self.evidence) if self.evidence else None

    def reliable(self, zeta: int) -> bool:
        return self.ok and self.score >= zeta
