"""Evaluate data-only expressions (sizes, bounds) with numpy, before anything is compiled."""

from __future__ import annotations

import numpy as np

from . import ast

_ARITH = {
    "+": np.add, "-": np.subtract, "*": np.multiply, ".*": np.multiply, "./": np.true_divide,
    "^": np.power, ".^": np.power, "<": np.less, "<=": np.less_equal, ">": np.greater,
    ">=": np.greater_equal, "==": np.equal, "!=": np.not_equal,
}
_SIZE_FUNCS = {
    "size": lambda x: np.shape(x)[0] if np.ndim(x) else 1,
    "num_elements": np.size,
    "rows": lambda x: np.shape(x)[0],
    "cols": lambda x: np.shape(x)[1] if np.ndim(x) > 1 else 1,
}


class NotConstant(Exception):
    """The expression depends on something unknown before sampling."""


def evaluate(e, env: dict):
    """Value of a data-only expression given `env` (name -> numpy value); raises NotConstant."""
    match e:
        case ast.IntLit(value=v) | ast.RealLit(value=v):
            return v
        case ast.Var(name=n):
            if n not in env:
                raise NotConstant(n)
            return env[n]
        case ast.Unary(op="-", operand=a):
            return -evaluate(a, env)
        case ast.Unary(op="+", operand=a):
            return evaluate(a, env)
        case ast.Binary(op=op, left=a, right=b):
            return _binary(op, evaluate(a, env), evaluate(b, env))
        case ast.Call(name=name, args=args) if not e.conditional:
            return _call(name, [evaluate(a, env) for a in args])
        case ast.Index(base=b, indices=ix) if all(not isinstance(i, ast.Slice) for i in ix):
            base = np.asarray(evaluate(b, env))
            return base[tuple(int(evaluate(i, env)) - 1 for i in ix)]
    raise NotConstant(type(e).__name__)


def _binary(op: str, a, b):
    if op == "/":
        if _is_int(a) and _is_int(b):
            return int(np.trunc(a / b))  # Stan's integer division truncates toward zero
        return np.true_divide(a, b)
    if op == "%/%":
        return int(np.trunc(a / b))
    if op == "%":
        return int(np.fmod(a, b))
    if op in _ARITH:
        out = _ARITH[op](a, b)
        return int(out) if np.ndim(out) == 0 and _is_int(a) and _is_int(b) else out
    raise NotConstant(op)


def _call(name: str, args):
    if name in _SIZE_FUNCS and len(args) == 1:
        return int(_SIZE_FUNCS[name](np.asarray(args[0])))
    from . import library
    from .ops import NUMPY

    spec = library.function(name)
    if spec is None:
        raise NotConstant(name)
    return spec.impl(NUMPY, *args)


def _is_int(x) -> bool:
    return isinstance(x, (int, np.integer)) or (isinstance(x, np.ndarray) and x.dtype.kind in "iu")


def try_int(e, env: dict) -> int | None:
    """An integer size if it can be computed from the data, else None."""
    try:
        v = evaluate(e, env)
    except (NotConstant, IndexError, TypeError, ValueError, ZeroDivisionError):
        return None
    return int(v) if np.ndim(v) == 0 and float(v).is_integer() else None


def try_float(e, env: dict) -> float | None:
    try:
        v = evaluate(e, env)
    except (NotConstant, IndexError, TypeError, ValueError, ZeroDivisionError):
        return None
    return float(v) if np.ndim(v) == 0 else None


def literal_number(e) -> float | None:
    """The value of a number written as a literal (`2`, `0.5`, `-1`), else None: the program's own
    constants, which a rewrite may read off without any data."""
    if isinstance(e, (ast.IntLit, ast.RealLit)):
        return float(e.value)
    if isinstance(e, ast.Unary) and e.op == "-" and isinstance(e.operand, (ast.IntLit, ast.RealLit)):
        return -float(e.operand.value)
    return None
