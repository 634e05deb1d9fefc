"""Level names on posterior summaries and programs.

A parameter declared with a factor's level count as a size (`vector[K_Batch] a_Batch;`) has one
element per level, so `a_Batch[3]` is the effect of the third level: `Batch = C`. A size of
`K_Batch - 1` is a treatment-coded effect (level 1 is the reference), so element k belongs to
level k + 1 (`Batch = D vs A`). Matrices and arrays label each axis that such a size measures.
"""

from __future__ import annotations

import itertools

from boxloop.lang import ast, parse

_LABELLED_BLOCKS = ("parameters", "transformed parameters", "generated quantities")


def level_labels(program, columns) -> dict[str, str]:
    """`{"a_Batch[3]": "Batch = C", ...}` for every element of a declared quantity one of whose
    sizes counts the levels of a column in `columns` (`Column` records); program is text or AST."""
    tree = parse(program) if isinstance(program, str) else program
    counted = {c.size_name: c for c in columns if c.size_name and c.levels}
    out = {}
    for block in _LABELLED_BLOCKS:
        for decl in tree.stmts(block):
            if isinstance(decl, ast.Decl):
                out.update(_labels(decl, counted))
    return out


def _labels(decl: ast.Decl, counted) -> dict[str, str]:
    axes = [_axis(size, counted) for size in tuple(decl.type.array_sizes) + tuple(decl.type.sizes)]
    if not axes or any(a is None for a in axes) or not any(label for a in axes for _, label in a):
        return {}  # nothing to label, or an axis of unknown extent (its flat names are unknown)
    out = {}
    for index in itertools.product(*(range(len(a)) for a in axes)):
        names = [a[i][1] for a, i in zip(axes, index) if a[i][1]]
        if names:
            out[f"{decl.name}[{', '.join(str(i + 1) for i in index)}]"] = ", ".join(names)
    return out


def _axis(size, counted):
    """[(position, label or '')] for the axis of extent `size`; None when the extent is unknown."""
    if isinstance(size, ast.Var) and size.name in counted:
        c = counted[size.name]
        return [(k, f"{c.name} = {level}") for k, level in enumerate(c.levels)]
    if isinstance(size, ast.Binary) and size.op == "-" and isinstance(size.left, ast.Var) \
            and size.left.name in counted and isinstance(size.right, ast.IntLit) and size.right.value == 1:
        c = counted[size.left.name]
        return [(k, f"{c.name} = {level} vs {c.levels[0]}") for k, level in enumerate(c.levels[1:])]
    if isinstance(size, ast.IntLit):
        return [(k, "") for k in range(size.value)]
    return None


def annotate_program(text: str, task) -> str:
    """`text` with each data declaration that the task explains (levels, original column name)
    followed by that explanation as a comment; lines that already carry a comment are kept."""
    lines = text.splitlines()
    in_data, out = False, []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("data") and stripped.rstrip("{ ").strip() == "data":
            in_data = True
        elif in_data and stripped.startswith("}"):
            in_data = False
        elif in_data and stripped.endswith(";") and "//" not in line:
            name = stripped[:-1].split()[-1]
            comment = task.comment(name)
            if comment:
                line = f"{line}  // {comment}"
        out.append(line)
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")
