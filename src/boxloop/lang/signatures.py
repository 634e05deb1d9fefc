"""The shorthand the library table writes Stan's signatures in, expanded into concrete ones.

A concrete signature (`boxloop.lang.types.Signature`) has Stan's own types, as stanc prints them
(`--dump-stan-math-signatures`: `hypot(array[] real, real) => array[] real`). The table writes:

- `"p1, p2 -> r"` where each parameter is a Stan type (`int`, `real`, `vector`, `row_vector`,
  `matrix`, `array[] int`, `array[,] vector`, ...) or one of Stan's vectorisation sets, `reals`
  (real, vector, row_vector, array[] real), `ints` (int, array[] int) or `vectors` (vector,
  row_vector, array[] vector, array[] row_vector), or alternatives such as `row_vector|matrix`;
  the signature stands for every combination;
- `over("T, int -> T[]", types)`: a template over a type variable `T`, where `T[]` (`T[,]`, ...) is
  `T` inside one (two, ...) more array levels, instantiated for each of `types`;
- `elementwise(depth)` and `elementwise2(depth)`: how Stan vectorises its scalar functions, over a
  scalar, vector, row_vector or matrix inside up to `depth` array levels (the deepest stanc
  accepts for that function); see their docstrings.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterable

from .types import Signature, ValueType, promoted

KINDS = ("int", "real", "vector", "row_vector", "matrix")

SETS = {
    "reals": ("real", "vector", "row_vector", "array[] real"),
    "ints": ("int", "array[] int"),
    "vectors": ("vector", "row_vector", "array[] vector", "array[] row_vector"),
}


class SignatureError(ValueError):
    """Text that is not a type or a signature boxloop represents."""


_TYPE = re.compile(r"^array\[(,*)\]\s*(\w+)$|^(\w+)$")


def parse_type(text: str) -> ValueType:
    """`array[,] real` -> ValueType("real", 2)."""
    m = _TYPE.match(text.strip())
    if m is None or (m.group(2) or m.group(3)) not in KINDS:
        raise SignatureError(f"not a Stan type boxloop represents: {text!r}")
    if m.group(3):
        return ValueType(m.group(3))
    return ValueType(m.group(2), len(m.group(1)) + 1)


def split_params(text: str) -> list[str]:
    """'array[,] real, int' -> ['array[,] real', 'int'] (commas inside brackets do not split)."""
    parts = [p.strip() for p in re.split(r",(?![^\[]*\])", text)]
    return [p for p in parts if p]


def choices(param: str) -> tuple[ValueType, ...]:
    """The concrete types a parameter written `param` stands for: a type, a set, or alternatives
    separated by `|` ("row_vector|matrix")."""
    return tuple(parse_type(t) for alt in param.split("|") for t in SETS.get(alt.strip(), (alt,)))


def expand(text: str, impl: Callable | None = None) -> tuple[Signature, ...]:
    """Concrete signatures of one entry written "reals, int -> vector"."""
    if "->" not in text:
        raise SignatureError(f"a signature needs '->': {text!r}")
    params, returns = text.split("->")
    out = parse_type(returns)
    return tuple(Signature(tuple(combo), out, impl)
                 for combo in itertools.product(*(choices(p) for p in split_params(params))))


def all_types(depth: int, kinds: Iterable[str] = KINDS, min_depth: int = 0) -> tuple[ValueType, ...]:
    """Every type of the given kinds inside min_depth..depth array levels."""
    return tuple(ValueType(k, d) for d in range(min_depth, depth + 1) for k in kinds)


def _instance(token: str, t: ValueType) -> ValueType:
    m = re.fullmatch(r"T(?:\[(,*)\])?", token)
    if m is None:
        return parse_type(token)
    extra = 0 if m.group(1) is None else len(m.group(1)) + 1
    return ValueType(t.kind, t.array_dims + extra)


def over(template: str, types: Iterable[ValueType], impl: Callable | None = None) -> tuple[Signature, ...]:
    """The template "T, int -> T[]" instantiated for each type in `types`."""
    params, returns = template.split("->")
    tokens = split_params(params)
    return tuple(Signature(tuple(_instance(p, t) for p in tokens), _instance(returns.strip(), t), impl)
                 for t in types)


def _real(t: ValueType) -> ValueType:
    return promoted(t) or t


def elementwise(depth: int, keep_int: bool = False) -> tuple[Signature, ...]:
    """f(T) => T for a scalar, vector, row_vector or matrix inside up to `depth` array levels; an int
    argument gives a real result unless `keep_int` (abs)."""
    return tuple(Signature((t,), t if keep_int else _real(t)) for t in all_types(depth))


def elementwise2(depth: int, kinds: Iterable[str] = KINDS, container_depth: int | None = None
                 ) -> tuple[Signature, ...]:
    """f(T1, T2) for two scalars (=> real), a scalar with a container (=> the container's type), or
    two containers of one type: arrays of scalars up to `depth` levels, vectors, row vectors and
    matrices inside up to `container_depth` (default `depth`). Int elements give real results unless
    the only kind is int (choose)."""
    kinds = tuple(kinds)
    ints_only = kinds == ("int",)
    result = (lambda t: t) if ints_only else _real
    scalars = tuple(t for t in (ValueType("int"), ValueType("real")) if t.kind in kinds)
    deepest = {k: depth if k in ("int", "real") else (depth if container_depth is None else container_depth)
               for k in kinds}
    containers = [ValueType(k, d) for d in range(depth + 1) for k in kinds
                  if d <= deepest[k] and not (d == 0 and k in ("int", "real"))]
    out = [Signature((a, b), result(ValueType("int" if ints_only else "real"))) for a in scalars
           for b in scalars]
    for c in containers:
        out += [Signature((s, c), result(c)) for s in scalars]
        out += [Signature((c, s), result(c)) for s in scalars]
        out.append(Signature((c, c), result(c)))
    return tuple(out)


def parse_stanc_signature(line: str) -> tuple[str, Signature] | None:
    """One line of stanc's signature dump as (name, Signature); None for signatures with types
    boxloop does not represent (complex numbers, tuples, function arguments)."""
    m = re.fullmatch(r"(\w+)\((.*)\) => (.+)", line.strip())
    if m is None:
        return None
    try:
        params = tuple(parse_type(p) for p in split_params(m.group(2)))
        return m.group(1), Signature(params, parse_type(m.group(3)))
    except SignatureError:
        return None
