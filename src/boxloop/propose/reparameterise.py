"""Switch hierarchical normal groups between the centred and the non-centred form; the model stays
the same.

A group is a parameter `theta` (an unbounded vector, row vector or array of reals) with one
top-level prior `theta ~ normal(mu, tau)`. Declaring it `vector<offset=mu, multiplier=tau>[J]
theta;` changes nothing in the model (every statement and the posterior are the same) but NUTS
then moves in z = (theta - mu) / tau. That cures the funnel of groups with little data (divergences,
low E-BFMI); groups with much data mix better centred, and non-centred they show high R-hat and
low ESS (Betancourt & Girolami 2015). `noncentre` adds the affine transform to every centred group
whose scale tau is a parameter and whose mu and tau are declared before it; `centre` removes it
from every declaration whose multiplier reads a parameter.
Both return None when there is nothing to switch, so a search never refits the same program.
"""

from __future__ import annotations

import dataclasses

from ..lang import ast, parse, to_stan

__all__ = ["DIRECTIONS", "reparameterise"]

DIRECTIONS = ("noncentre", "centre")
_GROUP_KINDS = ("vector", "row_vector", "real")


def reparameterise(text: str, direction: str) -> str | None:
    """`text` with its groups switched to `direction` ("noncentre" or "centre"), or None."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    program = parse(text)
    params = program.block("parameters")
    if params is None:
        return None
    switch = _to_noncentred(program) if direction == "noncentre" else _to_centred(params)
    if not switch:
        return None
    stmts = tuple(switch.get(s.name, s) if isinstance(s, ast.Decl) else s for s in params.stmts)
    blocks = tuple(dataclasses.replace(b, stmts=stmts) if b is params else b for b in program.blocks)
    return to_stan(dataclasses.replace(program, blocks=blocks))


def _to_centred(params: ast.Block) -> dict:
    names = _names(params)
    return {d.name: dataclasses.replace(d, type=dataclasses.replace(d.type, offset=None, multiplier=None))
            for d in params.stmts
            if isinstance(d, ast.Decl) and d.type.multiplier is not None and ast.free_names(d.type.multiplier) & names}


def _names(block: ast.Block) -> set[str]:
    return {d.name for d in block.stmts if isinstance(d, ast.Decl)}


def _to_noncentred(program: ast.Program) -> dict:
    """Groups whose scale is learned (tau reads a parameter: a fixed scale makes no funnel)."""
    priors = _single_priors(program)
    params = _names(program.block("parameters"))
    known: set[str] = {d.name for b in ("data", "transformed data") for d in program.stmts(b) if isinstance(d, ast.Decl)}
    out = {}
    for d in program.stmts("parameters"):
        if not isinstance(d, ast.Decl):
            continue
        prior = priors.get(d.name)
        if (_is_group(d) and prior is not None and _reads(prior.args) <= known
                and ast.free_names(prior.args[1]) & params):
            mu, tau = prior.args
            out[d.name] = dataclasses.replace(d, type=dataclasses.replace(d.type, offset=mu, multiplier=tau))
        known.add(d.name)
    return out


def _is_group(d: ast.Decl) -> bool:
    t = d.type
    plain = t.lower is None and t.upper is None and t.offset is None and t.multiplier is None
    container = t.kind in ("vector", "row_vector") or (t.kind == "real" and len(t.array_sizes) == 1)
    return plain and container and t.kind in _GROUP_KINDS


def _single_priors(program: ast.Program) -> dict:
    """Parameter -> its `~ normal(mu, tau)` statement, for parameters with exactly one top-level
    `~` and no other top-level statement on its left; truncated priors are left alone."""
    found: dict[str, list] = {}
    for s in program.stmts("model"):
        if isinstance(s, ast.Tilde) and isinstance(s.lhs, ast.Var):
            found.setdefault(s.lhs.name, []).append(s)
    return {name: ss[0] for name, ss in found.items()
            if len(ss) == 1 and ss[0].dist == "normal" and len(ss[0].args) == 2 and ss[0].truncation is None
            and name not in _reads(ss[0].args)}


def _reads(exprs) -> set[str]:
    return set().union(*(ast.free_names(e) for e in exprs))
