"""Integer data used as indices, checked against what they index before any sampling.

Inside the compiled density an index array is traced, so JAX cannot stop on a bad value: an index
0 wraps round to the last element and one past the end is clamped (or turns the density into
NaN). The result is a silently wrong posterior or a baffling failure to initialise. Stan stops with
an index error; we do earlier, when a program is checked against its data (and again when it is
compiled, for callers that skip the check): every integer data array that indexes a container directly
(`a[g]`, `a[g[i]]`, `a[g[i], k]`, `b[j][g[i]]`) is checked on the data, once per fit, against the
extent of the axis it indexes. The check is conservative in one way: it reads every value of the
index array, also those a loop might skip. Under a condition that reads the index array itself
(`if (grade[i, j] != -1) target += log(p[i, j, grade[i, j]]);`, a missing-value code that the
program steps round) out-of-range values are the program's business: a warning, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from . import ast
from .consteval import try_int
from .diagnostics import Diagnostic

__all__ = ["index_range_diagnostics"]

_ORDINAL = {1: "1st", 2: "2nd", 3: "3rd"}
_DECLARING = ("parameters", "transformed parameters", "model", "generated quantities")


def index_range_diagnostics(program: ast.Program, values: Mapping[str, np.ndarray]) -> list[Diagnostic]:
    """One error ("data.index_range") per index expression whose integer data reach outside the
    axis they index. `values`: the data (and transformed data, when known), by name."""
    indices = {n for n, v in values.items() if np.ndim(v) >= 1 and np.issubdtype(np.asarray(v).dtype, np.integer)}
    if not indices:
        return []
    extents = _extents(program, values)
    found = []
    for block in program.blocks:
        for stmt in block.stmts:
            for node, guards in _indexes(stmt, frozenset()):
                found.extend(_check(node, values, extents, indices, guards))
    return found


def _indexes(node, guards: frozenset):
    """Every Index below `node`, with the names read by the conditions it sits under."""
    match node:
        case ast.If(cond=c, then=a, other=b) | ast.Ternary(cond=c, then=a, other=b):
            yield from _indexes(c, guards)
            inner = guards | ast.free_names(c)
            yield from _indexes(a, inner)
            if b is not None:
                yield from _indexes(b, inner)
            return
        case ast.While(cond=c, body=a):
            yield from _indexes(c, guards)
            yield from _indexes(a, guards | ast.free_names(c))
            return
    if isinstance(node, ast.Index):
        yield node, guards
    for child in ast.children(node):
        yield from _indexes(child, guards)


def _extents(program: ast.Program, values: Mapping) -> dict:
    """Shape by name of the data and of every top-level declaration whose sizes the data fix."""
    out = {n: np.shape(v) for n, v in values.items()}
    for block in _DECLARING:
        for d in program.stmts(block):
            if isinstance(d, ast.Decl):
                sizes = [try_int(s, values) for s in (*d.type.array_sizes, *d.type.sizes)]
                if None not in sizes:
                    out[d.name] = tuple(sizes)
    return out


def _check(node: ast.Index, values, extents, indices: set[str], guards: frozenset) -> list[Diagnostic]:
    target, offset = _container(node.base)
    shape = extents.get(target) if target else None
    if shape is None:
        return []
    found = []
    for k, item in enumerate(node.indices):
        source = _index_source(item)
        axis = offset + k
        if source in indices and axis < len(shape):
            g = np.asarray(values[source])
            found.extend(_check_values(source, g, _reachable(item, g), target, axis, shape[axis], node,
                                       guarded=source in guards))
    return found


def _container(base) -> tuple[str | None, int]:
    """The named container and how many of its axes earlier single indexes used: `b[j]` -> (b, 1)."""
    offset = 0
    while isinstance(base, ast.Index):
        if any(isinstance(i, ast.Slice) for i in base.indices):
            return None, 0  # a slice keeps its axis: not worth following
        offset += len(base.indices)
        base = base.base
    return (base.name, offset) if isinstance(base, ast.Var) else (None, 0)


def _index_source(item) -> str | None:
    """`g` when the index expression is `g` itself or `g[...]` with single indexes."""
    if isinstance(item, ast.Var):
        return item.name
    if isinstance(item, ast.Index) and isinstance(item.base, ast.Var) \
            and not any(isinstance(i, ast.Slice) for i in item.indices):
        return item.base.name
    return None


def _reachable(item, g: np.ndarray) -> np.ndarray:
    """Where in `g` the index can read: a literal index narrows its axis (`pair[i, 1]` reads only
    the first column), anything else may take the whole axis. Out-of-range literals are left to
    the compiler's own check."""
    mask = np.ones(g.shape, dtype=bool)
    if isinstance(item, ast.Index):
        for axis, (i, n) in enumerate(zip(item.indices, g.shape)):
            if isinstance(i, ast.IntLit) and 1 <= i.value <= n:
                keep = np.zeros(n, dtype=bool)
                keep[i.value - 1] = True
                mask &= np.expand_dims(keep, tuple(a for a in range(g.ndim) if a != axis))
    return mask


def _check_values(source: str, g: np.ndarray, reachable: np.ndarray, target: str, axis: int, extent: int,
                  node: ast.Index, guarded: bool = False) -> list[Diagnostic]:
    bad = np.argwhere(reachable & ((g < 1) | (g > extent)))
    if not bad.size:
        return []
    where = bad[0]
    value = int(g[tuple(where)])
    position = ", ".join(str(int(i) + 1) for i in where)
    hint = (f"Stan indices start at 1; if {source} counts from 0, add 1 to it" if value < 1 and g[reachable].min() == 0
            else f"its values must lie in 1..{extent}")
    message = (f"{source} indexes {target} along its {_ORDINAL.get(axis + 1, f'{axis + 1}th')} dimension, of "
               f"size {extent}, but {source}[{position}] = {value} ({bad.shape[0]} value(s) out of range); {hint}")
    if guarded:
        return [Diagnostic("data.index_guarded", "data", f"{message}; this use is under a condition on {source}, "
                           "which must keep those values from reaching it", node.pos.line, node.pos.column, "warning")]
    return [Diagnostic("data.index_range", "data", message, node.pos.line, node.pos.column, "error")]
