"""Typing and interval rules for Stan's operators.

Each operator is a Stan math function (`+` is `add`, `.*` is `elt_multiply`, unary `-` is
`minus`, `^` and `.^` are `pow`, `/` is `divide` or, with a matrix on the right, `mdivide_right`),
and its signatures are written here in the library's shorthand, so they are checked against
stanc's signature dump like every library function (`boxloop.lang.stanc.compare_signatures`).
"""

from __future__ import annotations

from functools import cache

from . import intervals as iv
from .signatures import elementwise, expand
from .types import REAL_LINE, Interval, Overloads, ValueType

ARITHMETIC = {"+", "-", "*", "/", "%", "%/%", "\\", ".*", "./", "^", ".^"}
COMPARISON = {"<", "<=", ">", ">=", "==", "!="}
LOGICAL = {"&&", "||"}
BOOLEAN = Interval(0.0, 1.0, True, True, integer=True)

_CONTAINERS = ("vector", "row_vector", "matrix")


def _with_scalars(*extra: str) -> tuple[str, ...]:
    """int and real arithmetic, a real with any container, and two containers of one type."""
    out = ["int, int -> int", "real, real -> real"]
    for c in _CONTAINERS:
        out += [f"real, {c} -> {c}", f"{c}, real -> {c}", f"{c}, {c} -> {c}"]
    return tuple(out) + extra


_SCALED = tuple(s for c in _CONTAINERS for s in (f"real, {c} -> {c}", f"{c}, real -> {c}"))

# The Stan math functions behind the operators, by their names in stanc's signature dump (pow,
# transpose, mdivide_left and mdivide_right are library functions too, and live in the library).
FUNCTIONS: dict[str, tuple[str, ...]] = {
    "add": _with_scalars(),
    "subtract": _with_scalars(),
    "elt_multiply": _with_scalars(),
    "elt_divide": _with_scalars(),
    "multiply": ("int, int -> int", "real, real -> real", "row_vector, vector -> real",
                 "matrix, vector -> vector", "row_vector, matrix -> row_vector",
                 "vector, row_vector -> matrix", "matrix, matrix -> matrix") + _SCALED,
    "divide": ("int, int -> int", "real, real -> real") + _SCALED,
    "modulus": ("int, int -> int",),
    "logical_and": ("int, int -> int",),
    "logical_or": ("int, int -> int",),
    **{name: ("real, real -> int",) for name in ("logical_lt", "logical_lte", "logical_gt", "logical_gte",
                                                 "logical_eq", "logical_neq")},
    "plus": ("int -> int", "real -> real", "vector -> vector", "row_vector -> row_vector",
             "matrix -> matrix"),
    "logical_negation": ("int -> int",),
}

BINARY_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "+": ("add",), "-": ("subtract",), "*": ("multiply",), "/": ("divide", "mdivide_right"),
    "\\": ("mdivide_left",), "%": ("modulus",), ".*": ("elt_multiply",), "./": ("elt_divide",),
    "^": ("pow",), ".^": ("pow",), "&&": ("logical_and",), "||": ("logical_or",),
    "<": ("logical_lt",), "<=": ("logical_lte",), ">": ("logical_gt",), ">=": ("logical_gte",),
    "==": ("logical_eq",), "!=": ("logical_neq",),
}
UNARY_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "-": ("minus",), "+": ("plus",), "!": ("logical_negation",), "'": ("transpose",),
}


class OperatorTypeError(Exception):
    """Raised with a message that says what Stan accepts instead."""


@cache
def function_overloads(name: str) -> Overloads:
    """The signatures of the Stan function `name` behind an operator."""
    from . import library  # pow, transpose and the mdivides are library functions as well as operators

    if name == "minus":
        return Overloads(elementwise(7, keep_int=True))
    if name in FUNCTIONS:
        return Overloads(s for text in FUNCTIONS[name] for s in expand(text))
    return library.FUNCTIONS[name].overloads


@cache
def _overloads(op: str, unary: bool) -> Overloads:
    if op == "%/%":  # integer division has no function of its own in stanc's dump
        return Overloads(expand("int, int -> int"))
    names = (UNARY_FUNCTIONS if unary else BINARY_FUNCTIONS)[op]
    return Overloads(s for name in names for s in function_overloads(name))


def binary_type(op: str, a: ValueType, b: ValueType) -> ValueType:
    sig = _overloads(op, False).resolve((a, b))
    if sig is None:
        raise OperatorTypeError(_binary_hint(op, a, b))
    return sig.returns


def compound_type(op: str, a: ValueType, b: ValueType) -> ValueType:
    """The type of `a op b` in the compound assignment `a op= b`, where stanc is narrower than the
    operator: `/=` only divides by a scalar, `.*=` and `./=` only update containers."""
    if op in (".*", "./") and a.is_scalar:
        raise OperatorTypeError(f"'{op}=' updates a vector, row_vector or matrix; for {a} write '{op[1]}='")
    if op == "/":
        sig = function_overloads("divide").resolve((a, b))
        if sig is None:
            raise OperatorTypeError(f"'/=' divides by a scalar; got {a} /= {b}")
        return sig.returns
    return binary_type(op, a, b)


def unary_type(op: str, a: ValueType) -> ValueType:
    sig = _overloads(op, True).resolve((a,))
    if sig is None:
        raise OperatorTypeError(_unary_hint(op, a))
    return sig.returns


def _binary_hint(op: str, a: ValueType, b: ValueType) -> str:
    if op in COMPARISON or op in LOGICAL:
        if op in LOGICAL and a.is_scalar and b.is_scalar:
            return f"'{op}' takes integers in Stan; got {a} and {b}: compare reals first (`x > 0 {op} ...`)"
        return f"'{op}' compares scalars only; got {a} and {b}"
    if op in ("%", "%/%"):
        return f"'{op}' needs two integers; got {a} and {b}"
    if a.array_dims or b.array_dims:
        return (f"'{op}' is not defined on arrays in Stan ({a} {op} {b}); declare the variable as a "
                "vector or convert it with to_vector(...)")
    if op == "*" and a.kind == b.kind:
        return f"no product {a} * {b} in Stan (use .* for an elementwise product, or dot_product)"
    if op == "*":
        return f"no product {a} * {b} in Stan"
    if op == "/":
        return f"no division {a} / {b} in Stan (use ./ for elementwise division)"
    if op == "\\":
        return f"'\\' (left division) needs a matrix on the left and a vector or matrix on the right; got {a}, {b}"
    return f"'{op}' needs operands of the same shape, or a scalar with a container; got {a} and {b}"


def _unary_hint(op: str, a: ValueType) -> str:
    if op == "'":
        return f"transpose (') needs a vector, row_vector or matrix; got {a}"
    if op == "!":
        return f"'!' takes an integer in Stan; got {a}: compare it first (`!(x > 0)`)"
    return f"unary '{op}' is not defined on {a}; use to_vector(...)"


def binary_interval(op: str, a: Interval, b: Interval) -> Interval:
    if op in COMPARISON or op in LOGICAL:
        return BOOLEAN
    rule = {
        "+": iv.add, "-": iv.sub, "*": iv.mul, ".*": iv.mul, "/": iv.div, "./": iv.div,
        "^": iv.power, ".^": iv.power,
    }.get(op)
    return rule(a, b) if rule else REAL_LINE


def unary_interval(op: str, a: Interval) -> Interval:
    if op == "-":
        return iv.neg(a)
    if op == "!":
        return BOOLEAN
    return a
