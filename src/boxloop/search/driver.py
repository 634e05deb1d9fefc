"""The search loop: lineages ask for proposals, new structures are fitted, policies react.

Up to `executor.slots` fits run at once; proposals are written (cheaply, in this process) while
fits run. Every structure is fitted at most once per run (duplicates add multiplicity); every
proposal and fit is in the store before the loop acts on it. The loop ends when the budget of
distinct structures is spent, when β reliable programs are found (refine), when the
proposal cap is reached, or when the proposer's server fails (`proposer_failed`: the fits
already running still finish), and it always returns what it found.

With screening (`screen`), a new distinct structure past the first `screen_after` gets a short
screen fit first; the rule promotes it to a full fit or screens it out, and a screen that cannot be
decided yet (no reliable full fit to compare with, or an evidence bound that needs the final
multiplicities) is held. When there is nothing else to do, `_settle` decides the held ones, and
the loop goes on while that promotes any. Only full fits enter `Session.fits` as records, so the
choice and the weights (`result`) see fully fitted candidates only.
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
from .screen import Decision, ScreenRule, decide, elpd_reference, evidence_reference, screening_pays, screens


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
    screened_out: int = 0


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
    screens: dict[str, FitRecord] = field(default_factory=dict)  # structural hash -> its screen fit
    decisions: dict[str, Decision] = field(default_factory=dict)  # structural hash -> the rule's last word
    screening_stopped: str | None = None  # why `auto` stopped screening part-way (None: it did not)

    @property
    def screened_out(self) -> dict[str, Decision]:
        return {h: d for h, d in self.decisions.items() if d.promote is False}


class _Loop:
    def __init__(self, config: SearchConfig, source: ProposalSource, fitter: Fitter, slots: int,
                 on_progress: Callable[[SearchProgress], None] | None, on_decision=None,
                 rule: ScreenRule = ScreenRule()):
        self.config, self.source, self.fitter, self.slots = config, source, fitter, slots
        self.rule = rule
        self.on_decision = on_decision or (lambda digest, decision: None)  # the store records each
        self.averaging = config.strategy == "average" and config.fit_evidence is not None
        self.policy = policy_for(config)
        self.on_progress = on_progress or (lambda p: None)
        self.session = Session()
        self.ready: deque[Lineage] = deque()
        self.waiting: dict[str, Lineage] = {}  # fit key -> lineage waiting on it
        self.next_index = 0
        self.stopping = False
        self._held_against: str | None = None  # the reference the held screens were last measured against

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> Session:
        while True:
            self._fill()
            if not self.fitter.in_flight() and not self._settle():
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
            index = len(s.first_seen)
            s.fits[digest], s.first_seen[digest], s.multiplicity[digest] = None, rec, 1
            fidelity, known = "full", None
            if getattr(self.fitter, "plans", {}).get("screen") is not None and screens(
                    self.config.screen, self.config.strategy, index, self.config.screen_after) and self._pays():
                # A full fit already stored (a resumed run, the fit cache) makes the screen moot.
                known = self.fitter.known(digest)
                fidelity = "full" if known is not None else "screen"
            known = known or self.fitter.request(digest, rec.text, fidelity)
            self.waiting[self.fitter.key(digest, fidelity)] = lineage
            if known is not None:
                self._fitted(known)
        self._report(f"proposal {len(s.proposals)}")

    # -- screening -----------------------------------------------------------------------------

    def _pays(self) -> bool:
        """`auto` screens while screening saves time (`screen.screening_pays`); once it does not, the
        remaining structures get full fits directly, and the result says why."""
        s = self.session
        if self.config.screen != "auto" or s.screening_stopped is not None:
            return s.screening_stopped is None
        full = [r.elapsed_s for r in s.fits.values() if r is not None and r.elapsed_s > 0]
        promoted = sum(d.promote is True for d in s.decisions.values())
        pays, why = screening_pays([r.elapsed_s for r in s.screens.values()], full, promoted)
        if not pays:
            s.screening_stopped = f"screening stopped after {len(s.screens)} screens: it did not pay ({why})"
            self._report(s.screening_stopped)
        return pays

    def _screened(self, rec: FitRecord) -> None:
        s = self.session
        s.screens[rec.structural_hash] = rec
        self._apply(rec.structural_hash, self._decide(rec, self._references(final=False), final=False))
        self._release_held()

    def _references(self, final: bool) -> tuple:
        """The elpd reference and (once proposing has ended) the evidence reference, computed once
        per event: with a thousand candidates, once per decision would be quadratic."""
        full = {h: r for h, r in self.session.fits.items() if r is not None}
        ref = elpd_reference(full, self.config.zeta)
        return ref, evidence_reference(full, self.session.multiplicity, self.config.zeta) if final else None

    def _decide(self, rec: FitRecord, refs: tuple, final: bool) -> Decision:
        return decide(rec, self.session.multiplicity.get(rec.structural_hash, 1), *refs,
                      averaging=self.averaging, final=final, rule=self.rule)

    def _apply(self, digest: str, decision: Decision) -> None:
        self.session.decisions[digest] = decision
        if decision.held:
            return
        self.on_decision(digest, decision)
        if decision.promote:
            known = self.fitter.request(digest, self.session.first_seen[digest].text, "full", decision.priority)
            if known is not None:
                self._fitted(known)

    def _held(self) -> list[str]:
        return [h for h, d in self.session.decisions.items() if d.held]

    def _release_held(self) -> None:
        """Held screens that a new reference now decides (promotes, or, without averaging, rules
        out). Only a new reference can change a held screen's fate, so nothing is redone otherwise."""
        held = self._held()
        if not held:
            return
        refs = self._references(final=False)
        key = refs[0].hash if refs[0] is not None else None
        if key == self._held_against:
            return
        self._held_against = key
        for digest in held:
            if not self.session.decisions[digest].held:
                continue  # decided meanwhile, by a full fit that one of these promotions found stored
            decision = self._decide(self.session.screens[digest], refs, final=False)
            if not decision.held:
                self._apply(digest, decision)

    def _settle(self) -> bool:
        """Nothing is running and nothing more will be proposed: decide every held screen with the
        final multiplicities. With no reference yet, promote the best held screen alone (its full fit
        may become one). True when a full fit was queued, so the loop goes on."""
        held = self._held()
        if not held:
            return False
        s = self.session
        refs = self._references(final=True)
        if refs[0] is None:
            best = max(held, key=lambda h: s.screens[h].elpd_loo)
            self._apply(best, Decision(True, "no reliable full fit yet: the held screen with the highest elpd_loo"))
            return self.fitter.in_flight() > 0 or bool(self._held())
        for digest in held:
            if s.decisions[digest].held:
                self._apply(digest, self._decide(s.screens[digest], refs, final=True))
        return self.fitter.in_flight() > 0

    def _fitted(self, rec: FitRecord) -> None:
        s = self.session
        if rec.fidelity == "screen":
            self.waiting.pop(rec.key, None)  # one-shot lineages end with their proposal
            self._report(_describe(rec))
            self._screened(rec)
            return
        s.fits[rec.structural_hash] = rec
        lineage = self.waiting.pop(rec.key, None)
        self._report(_describe(rec))
        if self.config.stop_at is not None and self._reliable() >= self.config.stop_at:
            s.stopped_by, self.stopping = "beta", True
            self.fitter.cancel_all()  # enough reliable programs: what is still running is not needed
            return
        if lineage is not None:
            self._then(self.policy.after_fit(lineage, rec))
        if s.decisions:
            self._release_held()  # a new full fit may be the reference held screens wait for

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
            budget=self.config.budget, last=last, screened_out=len(s.screened_out)))


def _describe(rec: FitRecord) -> str:
    where = "" if rec.source == "executed" else f" ({rec.source})"
    if rec.fidelity == "screen":
        where += " [screen]"
    if not rec.ok:
        return f"fit {rec.structural_hash[:8]} failed [{rec.code}]{where}"
    return f"fit {rec.structural_hash[:8]}: B(M) = {rec.score}/7, elpd_loo {rec.elpd_loo:.2f}{where}"


def run_search(config: SearchConfig, source: ProposalSource, fitter: Fitter, *, slots: int,
               on_progress: Callable[[SearchProgress], None] | None = None, on_decision=None) -> Session:
    """Run the loop to its end; the store holds everything it did, the session what it saw.
    on_decision(structural hash, Decision): each screen's promotion or exclusion, as it is made."""
    return _Loop(config, source, fitter, slots, on_progress, on_decision).run()
