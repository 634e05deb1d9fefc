"""Calls of user-defined functions: the body runs on its own environment, under the caller's trace.

A call binds the arguments (ints promoted where the signature says real), runs the body with the
statement runner and returns the value of the `return` that ended it, cast to the declared return
type. What the call adds to the log density — an `_lp` function's `target +=` and `~`, -inf where
a `reject` was reached — comes back as a separate term, which the calling statement adds to its
own target. Random draws of `_rng` functions use the caller's key.

`y ~ foo(...)` and `foo_lupdf(y | ...)` call the user's `foo_lpdf` (or `foo_lpmf`).
"""

from __future__ import annotations

import functools
from dataclasses import replace

from ..errors import ProgramError
from ..lang import ast
from ..lang import functions as fn
from . import ode, statements
from .interp import RUNNING, Context, Rejected, State, Val, as_real, cast_to, shape_of


@functools.lru_cache(maxsize=256)
def function_table(program: ast.Program) -> FunctionTable | None:
    """The program's function table, or None when it defines no functions."""
    table = FunctionTable(program.functions)
    return table if table else None


class FunctionTable:
    """The defined functions of one program, by name, with their overloads."""

    def __init__(self, functions: tuple):
        self._defs: dict[str, list] = {}
        for f in functions:
            if f.body is not None:
                self._defs.setdefault(f.name, []).append((fn.signature(f), f))

    def __bool__(self) -> bool:
        return bool(self._defs)

    def target_name(self, name: str) -> str | None:
        """The defined function a call of `name` reaches (`foo_lupdf` reaches foo_lpdf)."""
        if name in self._defs:
            return name
        sfx = fn.suffix(name)
        if sfx in ("lupdf", "lupmf"):
            base = f"{fn.family(name)}_l{sfx[2:]}"
            return base if base in self._defs else None
        return None

    def density(self, dist: str) -> str | None:
        """The user's foo_lpdf / foo_lpmf behind `y ~ foo(...)`, or None."""
        return next((f"{dist}_{s}" for s in ("lpdf", "lpmf") if f"{dist}_{s}" in self._defs), None)

    def defines(self, name: str, args: list[Val]) -> bool:
        return self._choose(name, args) is not None

    def _choose(self, name: str, args: list[Val]):
        target = self.target_name(name)
        if target is None:
            return None
        sig = fn.choose([s for s, _ in self._defs[target]], [a.t for a in args])
        return next((f for s, f in self._defs[target] if s is sig), None) if sig is not None else None

    def solve_ode(self, e: ast.Call, st: State, cx: Context) -> Val:
        return ode.solve(e, st, cx)

    def call(self, name: str, args: list[Val], st: State, cx: Context):
        """(the returned Val, or None for void; the term the call adds to the log density)."""
        f = self._choose(name, args)
        if f is None:
            raise ProgramError(f"no definition of {name} takes these arguments", code="infer.no_signature")
        env = {p.name: _bind(p, a) for p, a in zip(f.params, args)}
        inner = State(env, 0.0, None, None, st.rng, RUNNING)
        out = statements.run(f.body.stmts, inner, replace(cx, sim=None, track_loglik=False))
        flow = out.flow
        if flow.rejected is not None and flow.returned is True:
            raise Rejected(f"{f.name}: {flow.rejected}")
        if f.returns is None:
            return None, out.target
        if flow.value is None:
            raise ProgramError(f"{f.name} ended without returning a value", code="infer.no_return")
        t = fn.value_type(f.returns)
        x = flow.value.x
        return Val(cast_to(x, t, shape_of(x)), t), out.target


def _bind(p: ast.Param, a: Val) -> Val:
    t = fn.value_type(p.type)
    return Val(as_real(a.x) if t.kind != "int" else a.x, t)
