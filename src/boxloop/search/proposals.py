"""Proposals for a search: replay from the store, or ask the proposer; check; hash; record.

A request's slot (lineage, depth, block, attempt, parent) names one proposal of the run. If the
store already holds that slot (a resumed run) its text is replayed and the proposer is not
called (no tokens spent twice, and an LM's sampling noise cannot fork the resumed run).

Only the proposer's answers are stored: a program, or its refusal to write one. A failure of its
transport (server refused, timed out, answered 5xx or not at all) is raised to the loop and never
stored, so the same command rerun once the server is back asks again and recovers.
"""

from __future__ import annotations

import time

import numpy as np

from ..errors import BoxloopError, ProposerError
from ..lang import check, structural_hash
from .moves import REPARAMETERISE
from .records import ProposalRecord, Request
from .store import RunStore

# A proposer that ranks its programs (`ranks_programs`, the SPFN: by log q(M | D)) writes the first
# programs of a run as one ranked list, so lineage k starts from its k-th best program and the fits
# follow its order. Fixed, not the budget: a rerun with a bigger budget asks for the same list.
RANKED_FIRST = 8
# A proposer that writes several programs side by side (`propose_many`, the SPFN) is asked for the
# next root programs in one batch, held until their slots are asked for (a slot's seed fixes its
# program, so the batch writes what one call per slot would).
AHEAD = 8
BLOCKS = ("program", "prior", "likelihood", *REPARAMETERISE)


def request_seed(run_seed: int, req: Request) -> int:
    """The proposer's seed for a slot: fixed by the run seed and the slot, independent of order."""
    entropy = [run_seed, req.lineage, req.depth, BLOCKS.index(req.block), req.attempt]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0]) & 0x7FFFFFFF


class ProposalSource:
    def __init__(self, proposer, task, store: RunStore, config_hash: str, run_seed: int):
        self.proposer, self.task, self.store = proposer, task, store
        self.config_hash, self.run_seed = config_hash, run_seed
        self.data = dict(task.dataset.values)
        self.proposed = 0  # proposer calls made this session (not replays)
        self._ranking: list | None = None
        self._ahead: dict = {}  # slot -> proposal written ahead of its request

    def get(self, req: Request) -> ProposalRecord:
        known = self.store.find_proposal(self.config_hash, req.slot)
        if known is not None:
            return known
        rec = self._propose(req)
        self.store.add_proposal(self.config_hash, rec)
        self.proposed += 1
        return rec

    def _propose(self, req: Request) -> ProposalRecord:
        started = time.perf_counter()
        name = getattr(self.proposer, "name", type(self.proposer).__name__)
        if req.block in REPARAMETERISE:
            return self._reparameterised(req, started)
        try:
            proposal = self._ranked(req) or self._written_ahead(req) or self.proposer.propose(
                self.task, context=req.context, block=req.block, n=1, seed=request_seed(self.run_seed, req))[0]
        except BoxloopError as err:  # the proposer declined (no rewrite it knows), or its server failed
            if isinstance(err, ProposerError) and err.transport:
                raise
            return _record(req, name, "", False, None, (), error=f"[{err.code}] {err}",
                           seconds=time.perf_counter() - started)
        acc = proposal.accounting
        cost = dict(tokens_generated=acc.tokens_generated, tokens_discarded=acc.tokens_discarded, tries=acc.tries,
                    seconds=acc.seconds)
        try:
            result = check(proposal.text, data=self.data)
        except Exception as err:  # noqa: BLE001 - a checker bug must not end the search; record it
            return _record(req, proposal.proposer or name, proposal.text, False, None, (),
                           error=f"the checker failed: {type(err).__name__}: {err}", **cost)
        digest = structural_hash(result.program) if result.valid else None
        return _record(req, proposal.proposer or name, proposal.text, result.valid, digest,
                       tuple(d.to_dict() for d in result.diagnostics), **cost)

    def _reparameterised(self, req: Request, started: float) -> ProposalRecord:
        """The base program in the other parameterisation: a deterministic move, no proposer call."""
        from ..propose.reparameterise import reparameterise

        text = reparameterise(req.context, req.block)
        seconds = time.perf_counter() - started
        if text is None:
            return _record(req, req.block, "", False, None, (), seconds=seconds,
                           error=f"[propose.cannot_rewrite] no hierarchical normal group to {req.block}")
        result = check(text, data=self.data)
        digest = structural_hash(result.program) if result.valid else None
        return _record(req, req.block, text, result.valid, digest, tuple(d.to_dict() for d in result.diagnostics),
                       seconds=seconds)

    def _ranked(self, req: Request):
        """The lineage's place in the proposer's ranked first programs, if it has one."""
        first = req.block == "program" and req.depth == 0 and req.attempt == 0 and req.lineage < RANKED_FIRST
        if not (first and getattr(self.proposer, "ranks_programs", False)):
            return None
        if self._ranking is None:
            self._ranking = []  # asked once: a refusal is recorded for this slot, the rest ask singly
            self._ranking = self.proposer.propose(self.task, n=RANKED_FIRST, seed=self.run_seed)
        return self._ranking[req.lineage] if req.lineage < len(self._ranking) else None

    def _written_ahead(self, req: Request):
        """The root program for this slot from a batch of the next AHEAD, if the proposer batches."""
        many = getattr(self.proposer, "propose_many", None)
        root = req.block == "program" and req.depth == 0 and req.attempt == 0 and req.parent_hash is None
        if many is None or not root:
            return None
        if req.slot not in self._ahead:
            ahead = [r for r in map(Request, range(req.lineage, req.lineage + AHEAD)) if r.slot == req.slot or (
                r.slot not in self._ahead and self.store.find_proposal(self.config_hash, r.slot) is None)]
            try:
                batch = many(self.task, [request_seed(self.run_seed, r) for r in ahead], n=1)
            except BoxloopError:
                return None  # asked again singly: the refusal is recorded for this slot alone
            self._ahead.update({r.slot: ps[0] for r, ps in zip(ahead, batch) if ps})
        return self._ahead.pop(req.slot, None)


def _record(req: Request, proposer: str, text: str, valid: bool, digest, diagnostics: tuple, **extra) -> ProposalRecord:
    return ProposalRecord(slot=req.slot, lineage=req.lineage, depth=req.depth, block=req.block, attempt=req.attempt,
                          parent_hash=req.parent_hash, proposer=proposer, text=text, valid=valid,
                          structural_hash=digest, check=diagnostics, **extra)
