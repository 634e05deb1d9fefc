"""User-defined functions: their signatures, Stan's suffix rules, overload choice, and the facts
the checker and compiler share (every path returns, which functions call which).

The checker (`checker.Checker`) checks function bodies with the same predicates as the blocks; this
module holds what does not need a scope: types of signatures, which suffix a name carries and what
the suffix permits, which overload a call picks, and whether a body always returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import ast
from .types import ValueType, fits

# The suffixes that change what a function may do or where it may be called.
DENSITY_SUFFIXES = ("lpdf", "lpmf", "lcdf", "lccdf")
SUFFIXES = (*DENSITY_SUFFIXES, "lupdf", "lupmf", "rng", "lp")


def suffix(name: str) -> str | None:
    """`foo_lpdf` -> "lpdf"; None for a name without one of Stan's suffixes."""
    head, sep, tail = name.rpartition("_")
    return tail if sep and head and tail in SUFFIXES else None


def family(name: str) -> str:
    """`foo_lpdf` -> `foo`: the name a `~` statement uses."""
    return name.rpartition("_")[0] if suffix(name) else name


def value_type(t: ast.ArgType) -> ValueType:
    return ValueType(t.kind, t.array_dims)


@dataclass(frozen=True)
class Signature:
    """One user-defined function as the checker sees it; `returns` None is void."""

    name: str
    params: tuple  # of ValueType
    data_only: tuple  # of bool, one per parameter
    returns: ValueType | None
    defined: bool  # False while only forward-declared
    fundef: ast.FunDef

    def text(self) -> str:
        args = ", ".join(("data " if d else "") + str(p) for p, d in zip(self.params, self.data_only))
        return f"{'void' if self.returns is None else self.returns} {self.name}({args})"


def signature(f: ast.FunDef) -> Signature:
    return Signature(f.name, tuple(value_type(p.type) for p in f.params),
                     tuple(p.data_only for p in f.params),
                     None if f.returns is None else value_type(f.returns), f.body is not None, f)


def same_params(a: Signature, b: Signature) -> bool:
    return a.params == b.params


def promotions(params: tuple, args: list[ValueType]) -> int | None:
    """How many int -> real promotions a call needs, or None when the arguments do not fit."""
    if len(params) != len(args):
        return None
    count = 0
    for p, a in zip(params, args):
        if p == a:
            continue
        if not fits(p, a):
            return None
        count += 1
    return count


def choose(overloads: list[Signature], args: list[ValueType]) -> Signature | None:
    """The overload with the fewest promotions (Stan's rule); None when none fits or two tie."""
    scored = [(n, s) for s in overloads if (n := promotions(s.params, args)) is not None]
    if not scored:
        return None
    best = min(n for n, _ in scored)
    winners = [s for n, s in scored if n == best]
    return winners[0] if len(winners) == 1 else None


def suffix_problem(sig: Signature) -> str | None:
    """What a function's suffix requires of its own signature, when it is broken."""
    sfx = suffix(sig.name)
    if sfx in DENSITY_SUFFIXES:
        if not sig.params:
            return f"{sig.name} needs a first argument, the variate"
        first = sig.params[0]
        if sfx == "lpmf" and first.kind != "int":
            return f"{sig.name} is a mass function: its first argument must be int (or int array); got {first}"
        if sfx != "lpmf" and first.kind == "int":
            return (f"{sig.name} is a density: its first argument must be real-valued; got {first} "
                    f"(name it {family(sig.name)}_lpmf for integer variates)")
        if sig.returns != ValueType("real"):
            return f"{sig.name} must return real; it returns {sig.returns or 'void'}"
    if sfx in ("lupdf", "lupmf"):
        return f"define {family(sig.name)}_{sfx.replace('u', '')}; Stan derives {sig.name} from it"
    return None


# ---- control flow facts ---------------------------------------------------------------------


def always_returns(s) -> bool:
    """Whether control cannot fall off the end of `s` (Stan's rule, which trusts loop bodies:
    `for (...) return x;` counts, as does ending in reject / fatal_error)."""
    match s:
        case ast.Return():
            return True
        case ast.Print(kind=kind):
            return kind != "print"
        case ast.If(then=t, other=o):
            return o is not None and always_returns(t) and always_returns(o)
        case ast.For(body=b) | ast.ForEach(body=b) | ast.While(body=b):
            return always_returns(b)
        case ast.Compound(stmts=stmts):
            return any(always_returns(x) for x in stmts)
    return False


def called_names(node) -> set[str]:
    """Names of every function called inside `node`, `~` distributions included."""
    out = set()
    for n in ast.walk(node):
        if isinstance(n, ast.Call):
            out.add(n.name)
        elif isinstance(n, ast.Tilde):
            out.add(n.dist)
    return out


def recursive_cycle(functions: tuple) -> list[str] | None:
    """A chain of user functions that calls back into itself (f -> g -> f), or None."""
    names = {f.name for f in functions}
    calls: dict[str, set] = {}
    for f in functions:
        if f.body is not None:
            called = called_names(f.body)
            tilde = {d + sfx_ for d in called for sfx_ in ("_lpdf", "_lpmf")}
            calls.setdefault(f.name, set()).update((called | tilde | _plain(called)) & names)
    state: dict[str, int] = {}

    def visit(name, path):
        state[name] = 1
        for g in sorted(calls.get(name, ())):
            if state.get(g) == 1:
                return path[path.index(g):] + [g]
            if g not in state and (found := visit(g, path + [g])):
                return found
        state[name] = 2
        return None

    for name in sorted(calls):
        if name not in state and (found := visit(name, [name])):
            return found
    return None


def _plain(called: set) -> set:
    # `foo_lupdf(...)` calls the user's foo_lpdf
    return {family(c) + "_l" + suffix(c)[2:] for c in called if suffix(c) in ("lupdf", "lupmf")}


# ---- ODE solvers: library functions whose first argument is a user function ------------------

# Stan's older interface: f(real t, array[] real y, array[] real theta, data array[] real x_r,
# data array[] int x_i) -> array[] real; the solver returns array[,] real, one row per time.
OLD_ODE = ("integrate_ode_rk45", "integrate_ode_bdf", "integrate_ode_adams")
# The current one: f(real t, vector y, ...) -> vector; the solver returns array[] vector.
NEW_ODE = ("ode_rk45", "ode_bdf", "ode_adams", "ode_ckrk", "ode_rk45_tol", "ode_bdf_tol",
           "ode_adams_tol", "ode_ckrk_tol")
ODE_SOLVERS = OLD_ODE + NEW_ODE


def ode_layout(name: str) -> tuple[int, int]:
    """(number of fixed arguments after f, y0, t0, ts; 1 when the solver takes rtol, atol, max_steps)."""
    if name in OLD_ODE:
        return 3, 1  # theta, x_r, x_i, then optionally rtol, atol, max_steps
    return (3, 0) if name.endswith("_tol") else (0, 0)
