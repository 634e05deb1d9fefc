"""What the checker knows about names and expressions: symbols, scopes and expression facts."""

from __future__ import annotations

from dataclasses import dataclass, replace

from . import ast
from .types import REAL_LINE, Interval, ValueType

# Where a name came from. Parameters (and what is computed from them) are explored in full by the
# sampler, which is what lets the support analysis turn "may leave the support" into an error.
ORIGINS = ("data", "transformed data", "parameter", "transformed parameter", "local",
           "generated quantity", "loop")
BLOCK_ORIGIN = {
    "data": "data",
    "transformed data": "transformed data",
    "parameters": "parameter",
    "transformed parameters": "transformed parameter",
    "model": "local",
    "generated quantities": "generated quantity",
}


@dataclass(frozen=True)
class Info:
    """Facts about an expression: its type, an interval holding its elements, a structural property
    (simplex, cholesky_factor_cov, ...) when one is known, and whether it depends on parameters.

    `exact` says the interval's ends are attained (a whole data variable whose values are known, or a
    bare parameter, which the sampler explores in full): reaching outside a support is then certain.
    """

    vtype: ValueType | None
    interval: Interval = REAL_LINE
    structure: str | None = None
    param_dep: bool = False
    exact: bool = False

    @property
    def known(self) -> bool:
        return self.vtype is not None


UNKNOWN = Info(None)


@dataclass(frozen=True)
class Symbol:
    name: str
    decl: ast.Decl | None
    origin: str
    vtype: ValueType
    interval: Interval
    structure: str | None
    param_dep: bool
    assigned: bool
    block: str
    depth: int  # 0 for block-level declarations, >0 inside loops / braces

    @property
    def info(self) -> Info:
        return Info(self.vtype, self.interval, self.structure, self.param_dep)

    @property
    def pos(self) -> ast.Pos:
        return self.decl.pos if self.decl is not None else ast.NOWHERE


class Scope:
    """A stack of name -> Symbol frames. Symbols are immutable; an update replaces the entry."""

    def __init__(self):
        self.frames: list[dict[str, Symbol]] = [{}]

    def push(self) -> None:
        self.frames.append({})

    def pop(self) -> None:
        self.frames.pop()

    @property
    def depth(self) -> int:
        return len(self.frames) - 1

    def lookup(self, name: str) -> Symbol | None:
        for frame in reversed(self.frames):
            if name in frame:
                return frame[name]
        return None

    def define(self, sym: Symbol) -> None:
        self.frames[-1][sym.name] = sym

    def update(self, name: str, **changes) -> None:
        for frame in reversed(self.frames):
            if name in frame:
                frame[name] = replace(frame[name], **changes)
                return

    def names(self) -> list[str]:
        return sorted({n for f in self.frames for n in f})

    def top(self) -> dict[str, Symbol]:
        return dict(self.frames[0])

    def snapshot(self) -> list[dict[str, Symbol]]:
        return [dict(f) for f in self.frames]

    def restore(self, frames: list[dict[str, Symbol]]) -> None:
        self.frames = [dict(f) for f in frames]
