"""Check a data file against a program's data block: every variable present, typed, shaped, bounded."""

from __future__ import annotations

import numpy as np

from ..data import DataDecl, check_data_against
from . import ast
from .consteval import try_float, try_int
from .diagnostics import Diagnostic
from .indexcheck import index_range_diagnostics


def data_decls(program: ast.Program, data: dict) -> list[DataDecl]:
    """The data block's declarations with sizes and bounds evaluated against `data`."""
    out = []
    for d in program.stmts("data"):
        t = d.type
        out.append(DataDecl(
            name=d.name,
            kind=t.kind,
            array_sizes=tuple(try_int(s, data) for s in t.array_sizes),
            sizes=tuple(try_int(s, data) for s in t.sizes),
            lower=try_float(t.lower, data) if t.lower is not None else None,
            upper=try_float(t.upper, data) if t.upper is not None else None,
            line=d.pos.line,
            column=d.pos.column,
        ))
    return out


def check_data_declarations(program: ast.Program, data: dict) -> list[Diagnostic]:
    """One diagnostic per mismatch between the data and the data block; when the data fit the
    block, also one per index expression whose integer data reach outside what they index."""
    found = [
        Diagnostic(m.code, "data", m.message, m.line, m.column, "error")
        for m in check_data_against(data_decls(program, data), data)
    ]
    return found or index_range_diagnostics(program, {k: np.asarray(v) for k, v in data.items()})


__all__ = ["check_data_declarations", "data_decls"]
