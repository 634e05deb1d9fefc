"""Lineages and the policies that move them: refine (RefineStat Algorithm 1), and one-shot.

A lineage is one generated program and the rewrites made from it. A policy says what a lineage
does after its proposal is fitted, turns out a duplicate, or does not check:

- `RefinePolicy`: keep the best program of the lineage so far (by fit status, B(M), elpd_loo) as
  the base; rewrite the block its failed diagnostics point at (`moves.choose_block`), up to α
  likelihood and `prior_rewrites` prior rewrites; a duplicate or invalid proposal is redrawn
  (`duplicate_retries` times), so one structure is never fitted twice.
- `OneShotPolicy` (best-of-n, average): every lineage is a single draw from the proposer;
  duplicates only add multiplicity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from .config import SearchConfig
from .moves import REPARAMETERISE, choose_block
from .records import FitRecord, Request


@dataclass(frozen=True)
class Lineage:
    index: int
    depth: int = 0
    block: str = "program"
    attempt: int = 0
    likelihood_rewrites: int = 0
    prior_rewrites: int = 0
    base: FitRecord | None = None  # the program being rewritten
    reparameterised: bool = False  # the lineage has switched its groups' parameterisation once

    def request(self) -> Request:
        base = self.base if self.block != "program" else None
        return Request(self.index, self.depth, self.block, self.attempt,
                       base.program if base else None, base.structural_hash if base else None)


def rank(rec: FitRecord | None) -> tuple:
    """Order of merit within a lineage: fitted, then B(M), then elpd_loo."""
    if rec is None:
        return (False, -1, -math.inf)
    elpd = rec.elpd_loo if rec.elpd_loo == rec.elpd_loo else -math.inf
    return (rec.ok, rec.score, elpd)


class RefinePolicy:
    def __init__(self, config: SearchConfig):
        self.config = config

    def after_fit(self, lineage: Lineage, rec: FitRecord) -> Lineage | None:
        base = rec if rank(rec) >= rank(lineage.base) else lineage.base
        return self._next(lineage, base)

    def _next(self, lineage: Lineage, base: FitRecord) -> Lineage | None:
        block = choose_block(base.status, base.code, base.failed_checks,
                             likelihood_used=lineage.likelihood_rewrites, prior_used=lineage.prior_rewrites,
                             alpha=self.config.alpha, prior_max=self.config.prior_rewrites,
                             reparameterised=lineage.reparameterised)
        if block is None:
            return None
        return Lineage(lineage.index, lineage.depth + 1, block, 0,
                       lineage.likelihood_rewrites + (block == "likelihood"),
                       lineage.prior_rewrites + (block == "prior"), base,
                       lineage.reparameterised or block in REPARAMETERISE)

    def after_duplicate(self, lineage: Lineage) -> Lineage | None:
        return self._redraw(lineage)

    def after_invalid(self, lineage: Lineage, rec=None) -> Lineage | None:
        if rec is not None and rec.error and "cannot_rewrite" in rec.error and lineage.block != "program":
            if lineage.block in REPARAMETERISE:  # no group to switch: go on as if it had been tried
                return self._next(replace(lineage, reparameterised=True, depth=lineage.depth - 1), lineage.base)
            return self._switch_block(lineage)  # redrawing cannot help: this block has no rewrite
        return self._redraw(lineage)

    def _switch_block(self, lineage: Lineage) -> Lineage | None:
        other = "prior" if lineage.block == "likelihood" else "likelihood"
        used = lineage.prior_rewrites if other == "prior" else lineage.likelihood_rewrites
        if used >= (self.config.prior_rewrites if other == "prior" else self.config.alpha):
            return None
        return replace(lineage, block=other, attempt=0, prior_rewrites=lineage.prior_rewrites + (other == "prior"),
                       likelihood_rewrites=lineage.likelihood_rewrites + (other == "likelihood"))

    def _redraw(self, lineage: Lineage) -> Lineage | None:
        if lineage.attempt < self.config.duplicate_retries:
            return replace(lineage, attempt=lineage.attempt + 1)
        return None


class OneShotPolicy:
    def after_fit(self, lineage: Lineage, rec: FitRecord) -> Lineage | None:
        return None

    def after_duplicate(self, lineage: Lineage) -> Lineage | None:
        return None

    def after_invalid(self, lineage: Lineage, rec=None) -> Lineage | None:
        return None


def policy_for(config: SearchConfig):
    return RefinePolicy(config) if config.strategy == "refine" else OneShotPolicy()
