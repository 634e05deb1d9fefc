"""A modelling task: the data, what each variable is, which one to model, and how to tell Stan.

Every array dimension in the generated `data` block is written with the *name* of a size
variable (`vector[J] y;`), never a literal. When no scalar in the data equals a length,
`make_task` adds one (`N`, or `N_x`, `K_x` ...) to the dataset, so the block, the Stan-JSON and
the programs written against them agree, and a program keeps working on new data of a
different length. (The number of levels of a group index is the exception: it is written as a
literal when no size variable holds it.)

A table (CSV, Parquet, a data frame) keeps its `Column` records: the target is chosen among its
columns (`choose_column_target`), the trials of a count target become its `size`, and the rows
with a missing target or covariate are left out, with a note per column.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from boxloop.data.columns import Column, Note
from boxloop.data.infer_types import RESPONSE_NAMES, VariableInfo, choose_target, group_level_arrays, infer_variables
from boxloop.data.load import DEFAULT_MAX_ELEMENTS, Dataset, dataset_from_table, load_data, read_table
from boxloop.errors import DataError

_LEVELS_SHOWN = 8
_LEVELS_IN_COMMENT = 12


@dataclass(frozen=True, eq=False)
class Task:
    """The data (with any added size variables), the target variable, an optional plain-language
    description, and the inferred kind of every variable (in the dataset's order). `columns`
    describes each column of the source (for Stan-JSON, each variable), `notes` what was done to
    the data, `target_reason` why the target was chosen and `alternatives` the other candidates."""

    dataset: Dataset
    target: str
    description: str | None
    variables: tuple[VariableInfo, ...]
    columns: tuple[Column, ...] = ()
    notes: tuple[Note, ...] = ()
    target_reason: str = ""
    alternatives: tuple[str, ...] = ()

    def variable(self, name: str) -> VariableInfo:
        return next(v for v in self.variables if v.name == name)

    def column(self, name: str) -> Column | None:
        """The record of the column that became the Stan variable `name`, else of the column
        written `name` (None for an added size variable)."""
        return next((c for c in self.columns if c.stan_name == name), None) \
            or next((c for c in self.columns if c.name == name), None)

    def data_block(self, as_real: frozenset[str] = frozenset()) -> str:
        """The Stan `data { ... }` block declaring every variable, sizes first; each line that a
        column's levels or name explain carries them as a comment. Integer arrays named in
        `as_real` are declared as real vectors (same bounds): a covariate that is to be scaled
        or multiplied by a coefficient needs no `to_vector` then."""
        lines = []
        for v in _declaration_order(self.variables):
            comment = self.comment(v.name)
            lines.append(f"  {declaration(v, v.name in as_real)}" + (f"  // {comment}" if comment else ""))
        return "data {\n" + "\n".join(lines) + "\n}"

    def comment(self, name: str) -> str:
        """What a reader of the program needs to know about the data variable `name`: the levels
        behind its codes, the column it came from, the factor it counts the levels of."""
        column = self.column(name)
        if column is None:
            counted = next((c for c in self.columns if c.size_name == name), None)
            return f"levels of {counted.stan_name}" if counted else ""
        parts = []
        if column.stan_name != column.name:
            parts.append(f"column {_safe(column.name)!r}")
        if column.levels and column.use in ("index", "covariate", "target") and not _codes_are_names(column):
            parts.append(level_legend(column, _LEVELS_IN_COMMENT))
        if column.use in ("trials", "offset"):
            parts.append(f"{column.use} of {self.target}" if column.use == "trials" else "exposure (offset)")
        return "; ".join(parts)

    def summary(self) -> str:
        """One line per variable (kind, shape, statistics, role and levels) for a proposer's
        prompt, then the columns left out and why."""
        lines = [_summary_line(v, v.name == self.target, self.dataset[v.name], self.column(v.name))
                 for v in self.variables]
        dropped = [c for c in self.columns if not c.kept]
        if dropped:
            lines.append("left out: " + "; ".join(f"{c.name} ({c.note})" for c in dropped))
        return "\n".join(lines)

    def stan_json(self) -> dict:
        """The data as Stan-JSON-ready Python values, including any added size variables."""
        return self.dataset.stan_json()

    def report(self) -> dict:
        """The data as boxloop read it, for JSON output and the run store."""
        return {"source": self.dataset.source, "target": self.target, "target_reason": self.target_reason,
                "alternatives": list(self.alternatives), "rows": _rows(self.dataset),
                "columns": [c.to_dict() for c in self.columns], "notes": [n.to_dict() for n in self.notes]}


def level_legend(column: Column, shown: int = _LEVELS_SHOWN) -> str:
    """`1 = A, 2 = B, ...` for a factor; `1 = yes, 0 = no (reference)` for an indicator."""
    if column.role == "binary":
        return f"1 = {_safe(column.levels[1])}, 0 = {_safe(column.levels[0])} (reference)"
    text = ", ".join(f"{k + 1} = {_safe(name)}" for k, name in enumerate(column.levels[:shown]))
    more = f", ... ({len(column.levels)} levels)" if len(column.levels) > shown else ""
    return text + more + (" (ordered)" if column.ordered else "")


def _codes_are_names(column: Column) -> bool:
    """Levels named 1..K (codes that were already 1..K): a legend would only repeat them."""
    return column.role != "binary" and column.levels == tuple(str(k + 1) for k in range(len(column.levels)))


def _safe(text: str) -> str:
    """Level names inside a `//` comment: one line, printable."""
    return "".join(ch if ch.isprintable() else " " for ch in str(text))[:40]


def _rows(dataset: Dataset) -> int | None:
    n = dataset.values.get("N")
    return int(n) if n is not None and np.ndim(n) == 0 and "N" in dataset.added else None


def make_task(source, target: str | None = None, description: str | None = None, *, overrides=None,
              max_elements: int = DEFAULT_MAX_ELEMENTS) -> Task:
    """Load `source` (see `load_data`), add missing size variables, classify the variables and
    settle the target (explicit, else `choose_target`'s rule; for a table, the column rule of
    `choose_column_target`). The description defaults to the text found with the data, if any.
    `overrides` (a `table.Overrides`) set column roles by hand."""
    from boxloop.data.table import Overrides

    table = None if isinstance(source, Dataset) else read_table(source, overrides or Overrides(), max_elements)
    if table is not None:
        return _table_task(table, target, description)
    if overrides:
        raise DataError("--factor/--numeric/--group/--time/--drop apply to tables (CSV, Parquet, data "
                        "frames); in Stan-JSON the program's declarations say what each variable is",
                        code="data.overrides_need_table")
    dataset = with_sizes(load_data(source, max_elements=max_elements))
    variables = infer_variables(dataset)
    chosen = choose_target(variables, target, group_level_arrays(variables, dataset))
    reason = "given" if target is not None else "boxloop's rule for Stan-JSON (a response-like name, else a count " \
                                                 "bounded by another, else the last array that is neither named " \
                                                 "like a covariate nor one value per group)"
    return Task(dataset, chosen, description if description is not None else dataset.description, variables,
                variable_columns(variables, chosen), (), reason)


def _table_task(table, target: str | None, description: str | None) -> Task:
    chosen, reason, alternatives = choose_column_target(table.columns, target)
    alternatives = tuple(a for a in alternatives if a not in chosen.trials)
    columns = tuple(_with_use(c, chosen) for c in table.columns)
    table = replace(table, columns=columns)
    dataset = dataset_from_table(table)
    note = Note("data.target", f"target {chosen.name}: {reason}" +
                (f"; other candidates: {', '.join(alternatives)} (choose with --target)" if alternatives else ""),
                chosen.name)
    dataset = replace(dataset, notes=dataset.notes + (note,))
    variables = infer_variables(dataset)
    return Task(dataset, chosen.stan_name, description, variables, dataset.columns, dataset.notes, reason,
                alternatives)


def _with_use(column: Column, target: Column) -> Column:
    if column is target:
        return replace(column, use="target")
    if column.name in target.trials:
        return replace(column, role="size", use="trials", candidate=False, note=f"trials of {target.name}")
    return column


def choose_column_target(columns, target: str | None = None) -> tuple[Column, str, tuple[str, ...]]:
    """(the target column, why, the other candidates). Never an id, index, size, time, exposure or
    design column: among the outcome-like columns (`Column.candidate`), a count with known trials
    first, then one named like a response (y, outcome, ...), then the only measured column of a
    table whose other columns are all factors (a factorial layout), then the first measurement,
    count, proportion or binary indicator in table order, then the first factor."""
    kept = [c for c in columns if c.kept]
    if target is not None:
        match = next((c for c in columns if target in (c.name, c.stan_name) and c.kept), None)
        if match is None:
            gone = next((c for c in columns if target == c.name), None)
            if gone is not None:
                raise DataError(f"target '{target}' {gone.note}; choose another column or drop the override",
                                code="data.target_dropped")
            from boxloop.data.table import _unknown_column

            raise _unknown_column(target, kept, "the data")
        others = tuple(c.name for c in kept if c.candidate and c is not match)[:5]
        return match, "given with --target", others
    candidates = [c for c in kept if c.candidate]
    if not candidates:
        raise DataError("no column looks like an outcome (every kept column is an id, index, size, time, exposure "
                        "or design variable); pass --target COLUMN", code="data.no_target")
    numeric = [c for c in candidates if c.role in ("measurement", "count", "proportion", "binary")]
    named = [c for n in RESPONSE_NAMES for c in numeric if n in (c.name, c.stan_name)]
    measured = [c for c in numeric if c.role != "binary" or c.dtype in ("int", "real")]
    factorial = len(measured) == 1 and all(c is measured[0] or not c.candidate or c.dtype in ("text", "category", "bool")
                                           for c in kept)
    ranked = ([(c, f"a count with its trials in '{c.trials[0]}' (a binomial outcome)") for c in numeric if c.trials]
              + [(c, "named like a response") for c in named]
              + [(c, "the only measured column; the others are factors that can explain it") for c in measured
                 if factorial]
              + [(c, f"the first outcome-like column ({c.role}; not an id, index, size, time or design variable)")
                 for c in numeric]
              + [(c, "the first factor (no numeric column looks like an outcome)") for c in candidates])
    chosen, why = ranked[0]
    others = tuple(dict.fromkeys(c.name for c, _ in ranked if c is not chosen))[:5]
    return chosen, why, others


def variable_columns(variables, target: str | None = None) -> tuple[Column, ...]:
    """Column records for Stan-JSON variables (each one its own column), so `describe`, the
    prompt and the SPFN read one vocabulary whatever the source."""
    roles = {"binary": "binary", "count": "count", "proportion": "proportion", "positive_real": "measurement",
             "real": "measurement", "categorical": "group", "time_index": "time", "size": "size"}
    out = []
    for v in variables:
        use = "target" if v.name == target else "index" if v.kind == "categorical" else "covariate"
        out.append(Column(v.name, v.name, roles[v.kind], v.dtype, use, levels=v.level_names,
                          distinct=v.stats.n_distinct, low=_finite(v.stats.minimum), high=_finite(v.stats.maximum),
                          candidate=v.kind not in ("size", "categorical", "time_index")))
    return tuple(out)


def _finite(x: float) -> float | None:
    return x if x == x and abs(x) != float("inf") else None


def with_sizes(dataset: Dataset) -> Dataset:
    """`dataset` plus one int scalar for every array length that no scalar holds. Arrays sharing
    a length share the variable. Names: `N` (if free) for the first length missing, then `N_<array>`
    for a first axis, `K_<array>` for a second, `D<i>_<array>` beyond."""
    lengths = {int(v) for v in dataset.values.values() if v.ndim == 0 and v.dtype.kind == "i"}
    added: dict[str, int] = {}
    taken = set(dataset.names)
    for name, array in dataset.values.items():
        for axis, length in enumerate(array.shape):
            if length in lengths or length in added.values():
                continue
            size_name = _unique(_size_name(name, axis, taken), taken)
            taken.add(size_name)
            added[size_name] = length
    if not added:
        return dataset
    return dataset.with_values({n: np.asarray(v, dtype=np.int64) for n, v in added.items()})


def _size_name(array_name: str, axis: int, taken: set[str]) -> str:
    if axis == 0:
        return "N" if "N" not in taken else f"N_{array_name}"
    return f"K_{array_name}" if axis == 1 else f"D{axis + 1}_{array_name}"


def _unique(name: str, taken: set[str]) -> str:
    suffix = 2
    candidate = name
    while candidate in taken:
        candidate, suffix = f"{name}{suffix}", suffix + 1
    return candidate


# --- declarations --------------------------------------------------------------------------------


def declaration(info: VariableInfo, as_real: bool = False) -> str:
    """Modern Stan syntax: `int<lower=0> N;`, `array[N] int<lower=0> y;`, `vector[N] x;`,
    `matrix[N, K] X;`; reals of three or more dimensions become `array[...] real`. With `as_real`,
    an integer array is declared as reals (`vector<lower=0, upper=1>[N] x;`)."""
    bounds = _bounds(info)
    dims = [str(d) for d in info.dims]
    if info.is_int and not (as_real and dims):
        return f"array[{', '.join(dims)}] int{bounds} {info.name};" if dims else f"int{bounds} {info.name};"
    if not dims:
        return f"real{bounds} {info.name};"
    if len(dims) == 1:
        return f"vector{bounds}[{dims[0]}] {info.name};"
    if len(dims) == 2:
        return f"matrix{bounds}[{dims[0]}, {dims[1]}] {info.name};"
    return f"array[{', '.join(dims)}] real{bounds} {info.name};"


def _bounds(info: VariableInfo) -> str:
    lower, upper = {
        "size": (0, None), "count": (0, None), "binary": (0, 1), "proportion": (0, 1),
        "positive_real": (0, None), "real": (None, None),
        "categorical": (1, info.levels_var or info.levels),
        "time_index": (_time_lower(info), None),
    }[info.kind]
    parts = [f"lower={lower}"] * (lower is not None) + [f"upper={upper}"] * (upper is not None)
    return f"<{', '.join(parts)}>" if parts else ""


def _time_lower(info: VariableInfo) -> int | None:
    if info.stats.minimum >= 1:
        return 1
    return 0 if info.stats.minimum >= 0 else None


def _declaration_order(variables: tuple[VariableInfo, ...]) -> list[VariableInfo]:
    """Sizes used by other declarations come first: Stan needs them declared before use."""
    used = {d for v in variables for d in v.dims if isinstance(d, str)}
    used |= {v.levels_var for v in variables if v.levels_var}
    return [v for v in variables if v.name in used] + [v for v in variables if v.name not in used]


# --- summary -------------------------------------------------------------------------------------


def _summary_line(info: VariableInfo, is_target: bool, array: np.ndarray, column: Column | None = None) -> str:
    head = f"{info.name}{' (target)' if is_target else ''}: {info.kind}"
    if column is not None and column.name != info.name:
        head += f" (column '{column.name}', {column.role})"
    elif column is not None and column.role not in (info.kind, "measurement"):
        head += f" ({column.role})"
    if not info.shape:
        value = _num(info.stats.minimum)
        measured = info.size_of + tuple(f"levels of {c}" for c in info.levels_of)
        bound = f"; never above {', '.join(info.at_most)}" if info.at_most else ""
        return f"{head} = {value}" + (f" (size of {', '.join(measured)})" if measured else "") + bound
    shape = "[" + ", ".join(f"{d}={n}" if isinstance(d, str) else str(n) for d, n in zip(info.dims, info.shape)) + "]"
    if array.size == 0:
        return f"{head} {shape}, empty"
    whole = ", all whole" if info.stats.integer_valued else ""
    written = "int values" if info.dtype == "int" else f"real values{whole}"
    parts = [f"{head} {shape}, {written}"]
    parts.extend(_kind_detail(info, array))
    if column is not None and column.levels and info.kind == "binary":
        parts.append(level_legend(column))
    if column is not None and column.ordered and info.kind == "categorical":
        parts.append("levels ordered")
    if info.at_most:
        parts.append(f"never above {', '.join(info.at_most)} (elementwise)")
    return "; ".join(parts)


def _kind_detail(info: VariableInfo, array: np.ndarray) -> list[str]:
    s = info.stats
    if info.kind == "binary":
        return [f"share of 1s {_num(s.mean)}"]
    if info.kind == "time_index":
        return [f"consecutive from {_num(s.minimum)} to {_num(s.maximum)}"]
    if info.kind == "categorical":
        k = f"{info.levels_var}={info.levels}" if info.levels_var else str(info.levels)
        per_level = np.bincount(array.ravel())[1:]
        detail = [f"group index 1..{k}, {s.n_distinct} levels present, "
                  f"{int(per_level[per_level > 0].min())} to {int(per_level.max())} per level"]
        if info.level_names and info.level_names != tuple(str(k + 1) for k in range(len(info.level_names))):
            shown = ", ".join(f"{i + 1}={n}" for i, n in enumerate(info.level_names[:_LEVELS_SHOWN]))
            detail.append("levels " + shown + (", ..." if len(info.level_names) > _LEVELS_SHOWN else ""))
        return detail
    return [f"{s.n_distinct} distinct",
            f"min {_num(s.minimum)}, q25 {_num(s.quantiles[1])}, median {_num(s.quantiles[2])}, "
            f"q75 {_num(s.quantiles[3])}, max {_num(s.maximum)}",
            f"mean {_num(s.mean)}, sd {_num(s.sd)}"]


def _num(x: float) -> str:
    if x != x:  # NaN
        return "nan"
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}"
