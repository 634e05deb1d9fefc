"""`boxloop describe DATA` and the data options every command that reads data shares.

    boxloop describe DATA [--target COL] [--factor COL] [--numeric COL] [--group COL] [--time COL]
                          [--drop COL] [--max-elements N] [--json]

prints the table a user checks before a long run: each column's role, how it was written, its
range or levels, its missing cells, and what boxloop will do with it; then the target (and why),
the other candidates, and every note (renamed columns, rows left out, shifted codes).
JSON: {"source", "target", "target_reason", "alternatives", "rows", "columns": [...], "notes": [...]}.
Exit 0, or 2 when the data cannot be read.
"""

from __future__ import annotations

import sys
from pathlib import Path

OVERRIDE_FLAGS = ("factor", "numeric", "group", "time", "drop")


def add_data_options(p, *, target: bool = False) -> None:
    """--factor/--numeric/--group/--time/--drop COL (repeatable, or comma-separated) and --max-elements."""
    from .data.load import DEFAULT_MAX_ELEMENTS

    group = p.add_argument_group("data (tables)")
    helps = {"factor": "read COL as a factor (levels, not numbers)",
             "numeric": "read COL as numbers (text cells become missing)",
             "group": "read COL as a group index (varying effects by level)",
             "time": "read COL as a time index", "drop": "leave COL out"}
    for flag in OVERRIDE_FLAGS:
        group.add_argument(f"--{flag}", action="append", default=[], metavar="COL", help=helps[flag])
    group.add_argument("--max-elements", type=int, default=DEFAULT_MAX_ELEMENTS, metavar="N",
                       help="most values in one variable, i.e. rows of a table (default %(default)s)")
    if target:
        p.add_argument("--target", help="the column to model (default: boxloop's guess, printed with its reason)")


def overrides_from(args):
    from .data.table import Overrides

    def names(flag: str) -> tuple[str, ...]:
        return tuple(n.strip() for item in getattr(args, flag, []) or [] for n in item.split(",") if n.strip())

    return Overrides(**{flag: names(flag) for flag in OVERRIDE_FLAGS})


def load_task(args):
    """The task for a command that models the data (discover, propose, describe)."""
    from .data import make_task

    return make_task(args.data, target=getattr(args, "target", None), description=getattr(args, "describe", None),
                     overrides=overrides_from(args), max_elements=args.max_elements)


def print_notes(task, as_json: bool) -> None:
    """What was done to the data, on stderr, before a run starts (JSON output carries it instead)."""
    if as_json:
        return
    for note in task.notes:
        print(f"boxloop: [{note.code}] {note.message}", file=sys.stderr)


# ---- reading a command's program and data ---------------------------------------------------


def read_program(path: str) -> str:
    from .api import read_program as read

    return read(Path(path))


def read_data(args, source: str | None = None) -> dict | None:
    """The data for a program: a table's columns encoded as `discover` encodes them, on the rows
    with a value in every column the program's data block declares (notes on stderr)."""
    path = getattr(args, "data", None)
    if path is None:
        return None
    from .api import program_data

    dataset = program_data(path, source, overrides=overrides_from(args), max_elements=args.max_elements)
    args.columns = dataset.columns  # for the level names on the posterior summary
    if not getattr(args, "json", False):
        for note in dataset.notes:
            print(f"boxloop: [{note.code}] {note.message}", file=sys.stderr)
    return dict(dataset.values)


def read_new_rows(path: str) -> dict:
    """Rows to predict at (Stan-JSON or a table, encoded as `discover` encodes one), with their
    sizes: `N`, the row count, is added when the file does not give it."""
    from .data import load_data
    from .data.task import with_sizes

    return dict(with_sizes(load_data(path)).values)


# ---- describe -----------------------------------------------------------------------------------


def register(subparsers) -> None:
    p = subparsers.add_parser("describe", help="show how boxloop reads a dataset: roles, levels, missing cells")
    p.add_argument("data", help="a table (.csv, .tsv, .parquet, .feather), Stan-JSON or R dump file")
    add_data_options(p, target=True)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_describe)


def run_describe(args) -> int:
    from .cli_io import EXIT_OK, emit

    task = load_task(args)
    emit(task.report(), args.json, describe_text(task))
    return EXIT_OK


_HEAD = ("column", "stan name", "role", "type", "range / levels", "missing", "boxloop will")


def describe_text(task) -> str:
    rows = [_row(task, c) for c in task.columns]
    widths = [max(len(r[i]) for r in rows + [_HEAD]) for i in range(len(_HEAD) - 1)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(_HEAD, widths)) + "  " + _HEAD[-1]]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)) + "  " + r[-1] for r in rows]
    rows_used = task.report()["rows"]
    lines.append("")
    source = task.dataset.source or "the data"
    lines.append(f"{source}: {rows_used} rows used" if rows_used is not None else source)
    lines.append(f"target: {_written(task, task.target)} ({task.target_reason})")
    if task.alternatives:
        lines.append(f"other candidates: {', '.join(task.alternatives)} (choose with --target)")
    notes = [n for n in task.notes if n.code != "data.target"]
    lines += [f"note [{n.code}] {n.message}" for n in notes]
    return "\n".join(lines)


def _written(task, stan_name: str) -> str:
    column = task.column(stan_name)
    return column.name if column else stan_name


def _row(task, c) -> tuple[str, ...]:
    return (c.name, c.stan_name or "-", c.role + (" (ordered)" if c.ordered else ""), c.dtype, _range(c),
            str(c.missing), _action(task, c))


def _range(c) -> str:
    if c.levels and not (c.dtype == "int" and c.use == "index" and _numeric_levels(c)):
        shown = ", ".join(c.levels[:6]) + (", ..." if len(c.levels) > 6 else "")
        return f"{len(c.levels)} levels: {shown}"
    if c.low is None:
        return f"{c.distinct} distinct"
    low, high = _fmt(c.low), _fmt(c.high)
    codes = f"{c.distinct} codes " if c.use == "index" else ""
    return f"{codes}{low} to {high}"


def _numeric_levels(c) -> bool:
    try:
        [float(v) for v in c.levels]
    except ValueError:
        return False
    return True


def _action(task, c) -> str:
    from .data.task import level_legend

    if not c.kept:
        return c.note
    if c.use == "target":
        return "model it (target)"
    if c.use == "index":
        effects = "varying intercepts" if c.role == "group" or len(c.levels) >= 5 else "fixed effects"
        size = f" ({c.size_name})" if c.size_name else ""  # Stan-JSON: no level names, K from the codes
        return f"index 1..{len(c.levels) or _fmt(c.high)}{size}; {effects}"
    if c.use == "trials":
        return f"trials of {_written(task, task.target)}"
    if c.use == "offset":
        return "log exposure as an offset"
    if c.role == "binary" and c.levels:
        return f"0/1 indicator: {level_legend(c)}"
    return "covariate"


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.4g}"
