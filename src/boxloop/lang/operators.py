"""Typing and interval rules for Stan's operators (the functions live in the library table)."""

from __future__ import annotations

from . import intervals as iv
from .types import INT, MATRIX, REAL, REAL_LINE, ROW_VECTOR, VECTOR, Interval, ValueType

ARITHMETIC = {"+", "-", "*", "/", "%", "%/%", "\\", ".*", "./", "^", ".^"}
COMPARISON = {"<", "<=", ">", ">=", "==", "!="}
LOGICAL = {"&&", "||"}
BOOLEAN = Interval(0.0, 1.0, True, True, integer=True)


class OperatorTypeError(Exception):
    """Raised with a message that says what Stan accepts instead."""


def _scalar(t: ValueType) -> bool:
    return t.is_scalar


def binary_type(op: str, a: ValueType, b: ValueType) -> ValueType:
    if a.array_dims or b.array_dims:
        raise OperatorTypeError(
            f"'{op}' is not defined on arrays in Stan ({a} {op} {b}); declare the variable as a vector "
            "or convert it with to_vector(...)"
        )
    if op in COMPARISON or op in LOGICAL:
        if _scalar(a) and _scalar(b):
            return INT
        raise OperatorTypeError(f"'{op}' compares scalars only; got {a} and {b}")
    if _scalar(a) and _scalar(b):
        return _scalar_arith(op, a, b)
    return _container_arith(op, a, b)


def _scalar_arith(op: str, a: ValueType, b: ValueType) -> ValueType:
    if op in ("%", "%/%"):
        if a.is_int and b.is_int:
            return INT
        raise OperatorTypeError(f"'{op}' needs two integers; got {a} and {b}")
    if op == "\\":
        raise OperatorTypeError("'\\' (left division) needs a matrix on the left")
    if op in ("^", ".^", "./", ".*"):
        return REAL
    return INT if (a.is_int and b.is_int) else REAL


_PRODUCTS = {
    ("vector", "row_vector"): MATRIX,
    ("row_vector", "vector"): REAL,
    ("matrix", "vector"): VECTOR,
    ("row_vector", "matrix"): ROW_VECTOR,
    ("matrix", "matrix"): MATRIX,
}


def _container_arith(op: str, a: ValueType, b: ValueType) -> ValueType:
    ka, kb = a.kind, b.kind
    scalar_side = _scalar(a) or _scalar(b)
    container = b if _scalar(a) else a
    if op in ("+", "-", ".*", "./", ".^"):
        if scalar_side or ka == kb:
            return ValueType(container.kind)
        raise OperatorTypeError(f"'{op}' needs operands of the same shape; got {a} and {b}")
    if op == "*":
        if scalar_side:
            return ValueType(container.kind)
        if (ka, kb) in _PRODUCTS:
            return _PRODUCTS[(ka, kb)]
        hint = " (use .* for an elementwise product, or dot_product)" if ka == kb else ""
        raise OperatorTypeError(f"no product {a} * {b} in Stan{hint}")
    if op == "/":
        if scalar_side or (kb == "matrix" and ka in ("row_vector", "matrix")):
            return ValueType(container.kind)
        raise OperatorTypeError(f"no division {a} / {b} in Stan (use ./ for elementwise division)")
    if op == "\\" and ka == "matrix" and kb in ("vector", "matrix"):
        return ValueType(kb)
    if op == "^":
        raise OperatorTypeError(f"'^' takes scalars; for elementwise powers of {container} use '.^'")
    raise OperatorTypeError(f"'{op}' is not defined for {a} and {b}")


def unary_type(op: str, a: ValueType) -> ValueType:
    if op == "'":
        flipped = {"vector": ROW_VECTOR, "row_vector": VECTOR, "matrix": MATRIX}
        if a.array_dims == 0 and a.kind in flipped:
            return flipped[a.kind]
        raise OperatorTypeError(f"transpose (') needs a vector, row_vector or matrix; got {a}")
    if a.array_dims:
        raise OperatorTypeError(f"unary '{op}' is not defined on arrays ({a}); use to_vector(...)")
    if op == "!":
        if a.is_scalar:
            return INT
        raise OperatorTypeError(f"'!' needs a scalar; got {a}")
    return a


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
