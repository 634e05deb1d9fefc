"""A modelling task: the data, what each variable is, which one to model, and how to tell Stan.

Every array dimension in the generated `data` block is written with the *name* of a size
variable (`vector[J] y;`), never a literal. When no scalar in the data equals a length,
`make_task` adds one (`N`, or `N_x`, `K_x` ...) to the dataset, so the block, the Stan-JSON and
the programs written against them agree, and a program keeps working on new data of a
different length. (The number of levels of a group index is the exception: it is written as a
literal when no size variable holds it.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from boxloop.data.infer_types import VariableInfo, choose_target, infer_variables
from boxloop.data.load import DEFAULT_MAX_ELEMENTS, Dataset, load_data

_LEVELS_SHOWN = 8


@dataclass(frozen=True, eq=False)
class Task:
    """The data (with any added size variables), the target variable, an optional plain-language
    description, and the inferred kind of every variable (in the dataset's order)."""

    dataset: Dataset
    target: str
    description: str | None
    variables: tuple[VariableInfo, ...]

    def variable(self, name: str) -> VariableInfo:
        return next(v for v in self.variables if v.name == name)

    def data_block(self) -> str:
        """The Stan `data { ... }` block declaring every variable, sizes first."""
        lines = [f"  {declaration(v)}" for v in _declaration_order(self.variables)]
        return "data {\n" + "\n".join(lines) + "\n}"

    def summary(self) -> str:
        """One line per variable (kind, shape, statistics) for a proposer's prompt."""
        return "\n".join(_summary_line(v, v.name == self.target, self.dataset[v.name]) for v in self.variables)

    def stan_json(self) -> dict:
        """The data as Stan-JSON-ready Python values, including any added size variables."""
        return self.dataset.stan_json()


def make_task(source, target: str | None = None, description: str | None = None, *,
              encode_categories: bool = False, max_elements: int = DEFAULT_MAX_ELEMENTS) -> Task:
    """Load `source` (see `load_data`), add missing size variables, classify the variables and
    settle the target (explicit, else `choose_target`'s rule). The description defaults to the
    text found with the data, if any."""
    dataset = with_sizes(load_data(source, encode_categories=encode_categories, max_elements=max_elements))
    variables = infer_variables(dataset)
    return Task(dataset, choose_target(variables, target),
                description if description is not None else dataset.description, variables)


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


def declaration(info: VariableInfo) -> str:
    """Modern Stan syntax: `int<lower=0> N;`, `array[N] int<lower=0> y;`, `vector[N] x;`,
    `matrix[N, K] X;`; reals of three or more dimensions become `array[...] real`."""
    bounds = _bounds(info)
    dims = [str(d) for d in info.dims]
    if info.is_int:
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


def _summary_line(info: VariableInfo, is_target: bool, array: np.ndarray) -> str:
    head = f"{info.name}{' (target)' if is_target else ''}: {info.kind}"
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
        if info.level_names:
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
