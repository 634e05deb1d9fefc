"""The refinement history: each rewrite, the block it replaced, why, and the diff.

A proposal at depth > 0 rewrote one block (prior or likelihood) of its parent program; the
parent's failed diagnostics chose that block (`search.moves`), and the diff shows what changed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from ..search.moves import GEOMETRY, GEOMETRY_FAILURES, PREDICTIVE, REPARAMETERISE
from .run import RunView


@dataclass(frozen=True)
class Step:
    lineage: int
    depth: int
    block: str
    parent: str
    child: str | None  # structural hash, None when the rewrite did not check
    why: str
    outcome: str
    diff: str


def history(view: RunView) -> tuple[Step, ...]:
    texts = {c.hash: c.program for c in view.candidates}
    fits = {c.hash: c.fit for c in view.candidates}
    steps = []
    for p in view.proposals:
        if p.depth == 0 or not p.parent_hash:
            continue
        parent_fit = fits.get(p.parent_hash)
        steps.append(Step(p.lineage, p.depth, p.block, p.parent_hash, p.structural_hash if p.valid else None,
                          reason(p.block, parent_fit), _outcome(p, fits), _diff(texts.get(p.parent_hash, ""), p.text)))
    return tuple(steps)


def reason(block: str, parent_fit) -> str:
    """Why this block was rewritten, from what the parent's fit failed."""
    if parent_fit is None:
        return f"the {block} was rewritten (the parent's fit is not in this run)"
    if not parent_fit.ok:
        why = ("a fit NUTS could not complete points at the posterior's geometry, which the priors shape"
               if parent_fit.code in GEOMETRY_FAILURES else "the parent failed to fit")
        return f"the parent's fit failed ({parent_fit.code}: {parent_fit.reason}); {why}"
    failed = set(parent_fit.failed_checks)
    if block in REPARAMETERISE:
        form = "non-centred" if block == "noncentre" else "centred"
        return (f"the parent failed {', '.join(sorted(failed & GEOMETRY))}: the same model was refitted with its "
                f"hierarchical groups {form}, the parameterisation those diagnostics ask for")
    if block == "prior" and failed & GEOMETRY:
        return (f"the parent failed {', '.join(sorted(failed & GEOMETRY))}: sampler geometry, which the priors' "
                "scales and the parameterisation shape")
    if block == "likelihood" and failed & PREDICTIVE:
        return (f"the parent failed {', '.join(sorted(failed & PREDICTIVE))}: observations the likelihood cannot "
                "accommodate")
    if not failed:
        return "the parent passed every check; an alternative likelihood may predict better"
    return (f"the parent failed {', '.join(sorted(failed))}; the block it pointed at first had been rewritten as "
            f"often as allowed, so the {block} was rewritten instead")


def _outcome(p, fits: dict) -> str:
    if not p.valid:
        return "the rewrite did not check: " + (p.error or "invalid program")
    fit = fits.get(p.structural_hash)
    if fit is None:
        return "not fitted"
    if not fit.ok:
        return f"its fit failed ({fit.code})"
    return f"B(M) = {fit.score}/7" + (f", failed {', '.join(fit.failed_checks)}" if fit.failed_checks else "")


def _diff(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(), after.splitlines(), "parent", "rewrite", lineterm="", n=2)
    return "\n".join(lines)
