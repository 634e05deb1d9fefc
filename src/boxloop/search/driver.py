"""The search loop: lineages ask for proposals, new structures are fitted, policies react.

Up to `executor.slots` fits run at once; proposals are written (cheaply, in this process) while
fits run. Every structure is fitted at most once per run (duplicates add multiplicity); every
proposal and fit is in the store before the loop acts on it. The loop ends when the budget of
distinct structures is spent, when β reliable programs are found (refine), when the
proposal cap is reached, or when the proposer's server fails (`proposer_failed`: the fits
already running still finish), and it always returns what it found.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from ..errors import ProposerError
from .config import SearchConfig
from .fitter import Fitter
from .proposals import ProposalSource
from .records import FitRecord, ProposalRecord
from .refine import Lineage, policy_for


@dataclass(frozen=True)
class SearchProgress:
    proposals: int
    fits_started: int
    fits_done: int
    running: int
    reliable: int
    best_elpd: float | None
    best_se: float | None
    budget: int
    last: str = ""


@dataclass
class Session:
    """What one invocation saw, in order (mutable while the loop runs, then read by `result`)."""

    proposals: list[ProposalRecord] = field(default_factory=list)
    fits: dict[str, FitRecord | None] = field(default_factory=dict)  # structural hash -> record
    first_seen: dict[str, ProposalRecord] = field(default_factory=dict)
    multiplicity: dict[str, int] = field(default_factory=dict)
    stopped_by: str = "exhausted"
    proposer_error: ProposerError | None = None  # the transport failure that stopped the run
    started: float = field(default_factory=time.perf_counter)
    wall_s: float = 0.0


class _Loop:
    def __init__(self, config: SearchConfig, source: ProposalSource, fitter: Fitter, slots: int,
                 on_progress: Callable[[SearchProgress], None] | None):
        self.config, self.source, self.fitter, self.slots = config, source, fitter, slots
        self.policy = policy_for(config)
        self.on_progress = on_progress or (lambda p: None)
        self.session = Session()
        self.ready: deque[Lineage] = deque()
        self.waiting: dict[str, Lineage] = {}  # fit key -> lineage waiting on it
        self.next_index = 0
        self.stopping = False

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> Session:
        while True:
            self._fill()
            if not self.fitter.in_flight():
                break
            for rec in self.fitter.wait():
                self._fitted(rec)
        self.session.wall_s = time.perf_counter() - self.session.started
        return self.session

    def _fill(self) -> None:
        while not self.stopping and self.fitter.in_flight() < self.slots:
            lineage = self._next_lineage()
            if lineage is None:
                return
            self._step(lineage)

    def _next_lineage(self) -> Lineage | None:
        s = self.session
        if len(s.fits) >= self.config.budget:
            s.stopped_by = "budget"
            return None
        if len(s.proposals) >= self.config.proposal_cap:
            s.stopped_by = "proposal_cap"
            return None
        if self.ready:
            return self.ready.popleft()
        self.next_index += 1
        return Lineage(self.next_index - 1)

    def _step(self, lineage: Lineage) -> None:
        s = self.session
        try:
            rec = self.source.get(lineage.request())
        except ProposerError as err:  # only transport failures reach here; nothing was stored
            s.stopped_by, s.proposer_error, self.stopping = "proposer_failed", err, True
            self._report(f"proposer failed [{err.code}]")
            return
        s.proposals.append(rec)
        digest = rec.structural_hash
        if not rec.valid or digest is None:
            self._then(self.policy.after_invalid(lineage, rec))
        elif digest in s.fits:
            s.multiplicity[digest] += 1
            self._then(self.policy.after_duplicate(lineage))
        else:
            s.fits[digest], s.first_seen[digest], s.multiplicity[digest] = None, rec, 1
            known = self.fitter.request(digest, rec.text)
            self.waiting[self.fitter.key(digest)] = lineage
            if known is not None:
                self._fitted(known)
        self._report(f"proposal {len(s.proposals)}")

    def _fitted(self, rec: FitRecord) -> None:
        s = self.session
        s.fits[rec.structural_hash] = rec
        lineage = self.waiting.pop(rec.key, None)
        self._report(_describe(rec))
        if self.config.stop_at is not None and self._reliable() >= self.config.stop_at:
            s.stopped_by, self.stopping = "beta", True
            self.fitter.cancel_all()  # enough reliable programs: what is still running is not needed
            return
        if lineage is not None:
            self._then(self.policy.after_fit(lineage, rec))

    def _then(self, lineage: Lineage | None) -> None:
        if lineage is not None:
            self.ready.append(lineage)

    # -- progress ------------------------------------------------------------------------------

    def _reliable(self) -> int:
        return sum(rec is not None and rec.reliable(self.config.zeta) for rec in self.session.fits.values())

    def _report(self, last: str) -> None:
        s = self.session
        done = [r for r in s.fits.values() if r is not None]
        best = max((r for r in done if r.reliable(self.config.zeta)), key=lambda r: r.elpd_loo, default=None)
        self.on_progress(SearchProgress(
            proposals=len(s.proposals), fits_started=len(s.fits), fits_done=len(done),
            running=self.fitter.in_flight(), reliable=self._reliable(),
            best_elpd=best.elpd_loo if best else None, best_se=best.elpd_loo_se if best else None,
            budget=self.config.budget, last=last))


def _describe(rec: FitRecord) -> str:
    where = "" if rec.source == "executed" else f" ({rec.source})"
    if not rec.ok:
        return f"fit {rec.structural_hash[:8]} failed [{rec.code}]{where}"
    return f"fit {rec.structural_hash[:8]}: B(M) = {rec.score}/7, elpd_loo {rec.elpd_loo:.2f}{where}"


def run_search(config: SearchConfig, source: ProposalSource, fitter: Fitter, *, slots: int,
               on_progress: Callable[[SearchProgress], None] | None = None) -> Session:
    """Run the loop to its end; the store holds everything it did, the session what it saw."""
    return _Loop(config, source, fitter, slots, on_progress).run()
