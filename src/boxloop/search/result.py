"""What a discovery run returns: the best reliable program, every candidate, the comparison."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..diagnose import CompareRow
from ..redact import redact_all
from .config import SearchConfig
from .driver import Session
from .recombine import comparable_pool, loo_comparison, run_weights
from .records import FitRecord, ProposalRecord


@dataclass(frozen=True)
class Candidate:
    """One distinct structure the run evaluated (first proposal of it, and its fit)."""

    hash: str
    program: str = field(repr=False)
    status: str
    code: str | None
    reason: str | None
    score: int
    reliable: bool
    failed: tuple[str, ...]
    elpd_loo: float
    elpd_loo_se: float
    log_evidence: float
    multiplicity: int
    lineage: int
    depth: int
    block: str
    parent_hash: str | None
    source: str
    netcdf: str | None
    seconds: float
    screen: dict | None = None  # the screening rule's decision ("promoted" / "screened_out", reason)

    def to_dict(self) -> dict:
        return {
            "hash": self.hash, "program": self.program, "status": self.status, "code": self.code,
            "reason": self.reason, "score": self.score, "reliable": self.reliable, "failed": list(self.failed),
            "elpd_loo": _num(self.elpd_loo), "elpd_loo_se": _num(self.elpd_loo_se),
            "log_evidence": _num(self.log_evidence), "multiplicity": self.multiplicity, "lineage": self.lineage,
            "depth": self.depth, "block": self.block, "parent": self.parent_hash, "source": self.source,
            "seconds": round(self.seconds, 3),
            **({"screen": self.screen} if self.screen is not None else {}),
        }


@dataclass(frozen=True)
class DiscoveryResult:
    best: Candidate | None
    candidates: tuple[Candidate, ...]
    comparison: tuple[CompareRow, ...]
    weights: dict
    run_rate: float | None
    counts: dict
    tokens: dict
    timing: dict
    store: str
    strategy: str
    stopped_by: str
    error: dict | None = None  # the proposer's failure that stopped the run: code, message, server, status
    data: dict = field(default_factory=dict)  # how the data were read (task.report()): columns, levels, notes
    screening: dict | None = None  # what screening did (None: the run did not screen)

    @property
    def program(self) -> str | None:
        return self.best.program if self.best else None

    @property
    def reliable(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.reliable)

    def inference_data(self, candidate: Candidate | None = None):
        """The posterior of `candidate` (default: the best) as ArviZ's `xarray.DataTree`, from the store."""
        from ..diagnose import load_netcdf

        chosen = candidate or self.best
        if chosen is None or chosen.netcdf is None:
            return None
        return load_netcdf(Path(self.store) / chosen.netcdf)

    def to_dict(self) -> dict:
        best = None
        if self.best is not None:
            best = {"program": self.best.program, "hash": self.best.hash, "elpd_loo": _num(self.best.elpd_loo),
                    "elpd_loo_se": _num(self.best.elpd_loo_se), "score": self.best.score}
        return {
            "best": best, "candidates": [c.to_dict() for c in self.candidates], "run_rate": self.run_rate,
            "weights": self.weights, "timing": self.timing, "store": self.store,
            "comparison": [_row(r) for r in self.comparison], "counts": self.counts, "tokens": self.tokens,
            "strategy": self.strategy, "stopped_by": self.stopped_by, "data": self.data,
            **({"error": self.error} if self.error is not None else {}),
            **({"screening": self.screening} if self.screening is not None else {}),
        }


def build_result(config: SearchConfig, session: Session, store_dir: Path, fit_counts: dict) -> DiscoveryResult:
    # Screened-out candidates are listed (with their screen's numbers) but never chosen or weighted.
    out = session.screened_out
    candidates = tuple(_candidate(h, rec, session, config.zeta) for h, rec in session.fits.items() if rec is not None)
    candidates += tuple(_screened_candidate(h, session) for h in session.fits if h in out)
    reliable = [c for c in candidates if c.reliable and math.isfinite(c.elpd_loo)]
    best = max(reliable, key=lambda c: c.elpd_loo, default=None)
    records = {h: r for h, r in session.fits.items() if r is not None}
    pool = comparable_pool(records, config.zeta)
    comparison = loo_comparison(pool, records)
    weights = run_weights(pool, records, session.multiplicity, comparison, config.strategy == "average")
    return DiscoveryResult(
        best=best, candidates=candidates, comparison=comparison, weights=weights,
        run_rate=run_rate(session.proposals, {**session.fits, **{h: session.screens[h] for h in out}}),
        counts=_counts(session, candidates, fit_counts),
        tokens=_tokens(session.proposals), timing=_timing(session, fit_counts), store=str(store_dir),
        strategy=config.strategy, stopped_by=session.stopped_by,
        error=redact_all(session.proposer_error.to_dict()) if session.proposer_error is not None else None,
        screening=_screening(session) if session.screens else None)


def _screening(session: Session) -> dict:
    """How many structures were screened, promoted and screened out, and the total of the weight
    bounds of those left out of the average (the most evidence weight they could have had)."""
    decided = session.decisions.values()
    bounds = [d.weight_bound for d in decided if d.promote is False and d.weight_bound is not None]
    return {"screened": len(session.screens), "promoted": sum(d.promote is True for d in decided),
            "screened_out": sum(d.promote is False for d in decided),
            "full_fits": sum(r is not None for r in session.fits.values()),
            "excluded_weight_bound_max": max(bounds, default=None),
            "excluded_weight_bound_sum": sum(bounds) if bounds else None, "stopped": session.screening_stopped}


def run_rate(proposals: list[ProposalRecord], fits: dict[str, FitRecord | None]) -> float | None:
    """Share of proposed programs that check, compile and complete sampling. Left out of the
    denominator: programs whose fit never finished (cancelled when the run stopped), and requests
    the proposer declined without writing a program (e.g. no likelihood rewrite it knows)."""
    decided = [p for p in proposals if (p.text or not p.error)
               and not (p.valid and p.structural_hash and fits.get(p.structural_hash) is None)]
    if not decided:
        return None
    ran = sum(p.valid and fits[p.structural_hash].ok for p in decided if p.structural_hash)
    return ran / len(decided)


def _candidate(digest: str, rec: FitRecord, session: Session, zeta: int) -> Candidate:
    first = session.first_seen[digest]
    decision = session.decisions.get(digest)
    return Candidate(
        hash=digest, program=first.text, status=rec.status, code=rec.code, reason=rec.reason, score=rec.score,
        reliable=rec.reliable(zeta), failed=rec.failed_checks, elpd_loo=rec.elpd_loo, elpd_loo_se=rec.elpd_loo_se,
        log_evidence=rec.log_evidence, multiplicity=session.multiplicity.get(digest, 1), lineage=first.lineage,
        depth=first.depth, block=first.block, parent_hash=first.parent_hash, source=rec.source, netcdf=rec.netcdf,
        seconds=rec.elapsed_s + (session.screens[digest].elapsed_s if digest in session.screens else 0.0),
        screen=decision.to_dict() if decision is not None else None)


def _screened_candidate(digest: str, session: Session) -> Candidate:
    rec, decision = session.screens[digest], session.decisions[digest]
    base = _candidate(digest, rec, session, zeta=0)
    # A screen is never reliable: its short chains only serve the promotion rule.
    return dataclasses.replace(base, status="screened_out", code="search.screened_out", reason=decision.reason,
                               reliable=False, netcdf=None, screen=decision.to_dict())


def _counts(session: Session, candidates, fit_counts: dict) -> dict:
    return {
        "proposals": len(session.proposals), "valid": sum(p.valid for p in session.proposals),
        "duplicates": sum(session.multiplicity.values()) - len(session.multiplicity),
        "replayed": sum(p.replayed for p in session.proposals), "candidates": len(candidates),
        "reliable": sum(c.reliable for c in candidates), "failed_fits": sum(c.status == "failed" for c in candidates),
        **{k: v for k, v in fit_counts.items() if k not in ("fit_s", "screen_s")},
    }


def _tokens(proposals: list[ProposalRecord]) -> dict:
    return {"generated": sum(p.tokens_generated for p in proposals),
            "discarded": sum(p.tokens_discarded for p in proposals), "tries": sum(p.tries for p in proposals)}


def _timing(session: Session, fit_counts: dict) -> dict:
    return {"wall_s": round(session.wall_s, 3),
            "propose_s": round(sum(p.seconds for p in session.proposals if not p.replayed), 3),
            "fit_s": fit_counts.get("fit_s", 0.0),
            **({"screen_s": fit_counts["screen_s"]} if "screen_s" in fit_counts else {})}


def _row(row: CompareRow) -> dict:
    return {k: (_num(v) if isinstance(v, float) else v) for k, v in row.__dict__.items()}


def _num(x):
    return x if x is not None and math.isfinite(x) else None
