"""What each variable *is*: a count, a proportion, a group index, the size of other arrays, ...

The kinds drive the Stan declarations boxloop writes (`array[N] int<lower=0> y;`), the prompt
summary, and the default target. The rules are heuristics over values and names, written so a
statistician can predict them:

* int arrays: `binary` (all 0/1); `time_index` (1-d, at least 3 values, consecutive increasing
  integers such as days 1..21); `categorical` (group index 1..K, see `_categorical_levels`);
  `count` (all >= 0); otherwise `real` (negative integers, e.g. eight schools' effects).
  Exception: a positive int array named like a scale (sigma, sd, se, ...) is `positive_real`,
  because standard errors recorded as whole numbers are still scales, not counts.
* real arrays: `proportion` (all in [0, 1], not all 0/1), `positive_real` (all > 0), else `real`.
  A real is never a count even if its values are whole: it was written as a real.
* int scalars: `size` when some array's axis has that length, when it is the number of levels
  of a group index, or when named like a size (N, J, K, T, N_years, n_groups); else
  binary / count / real by value. Real scalars: positive_real or real.
* `at_most`: a count never above another count of the same shape (r <= n in binomial data).
* Every array axis is linked to the scalar size variable that equals its length (ties go to the
  name most similar to the array's, then to the first declared), or left as a literal.

A table's variables (a dataset with `columns`) are already typed by `table`: a group index is
exactly a column coded 1..K (with its level names), a count's trials are the ones its column
names, and an integer column that `table` calls a measurement or an exposure is a real.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, replace

import numpy as np

from boxloop.data.load import Dataset, nearest_names
from boxloop.errors import DataError

KINDS = ("binary", "count", "proportion", "positive_real", "real", "categorical", "time_index", "size")
INT_KINDS = frozenset({"binary", "count", "categorical", "time_index", "size"})
INDEX_KINDS = frozenset({"size", "categorical", "time_index"})
QUANTILE_LEVELS = (0.05, 0.25, 0.5, 0.75, 0.95)

# Names that usually hold the observed response, in order of preference.
RESPONSE_NAMES = ("y", "Y", "outcome", "response", "target", "label", "r", "C", "k", "kid_score",
                  "switched", "count", "counts", "deaths", "cases", "successes")
_Y_LIKE = re.compile(r"[yY](?:_|\d|\Z)")
_HELD_OUT = re.compile(r"(?:^|_)(?:test|new|pred|future|holdout)(?:_|\d|$)", re.IGNORECASE)
_SIZE_NAME = re.compile(r"(?:[NKJTIMLPDG]|[NnK]_\w+|[NK]\d+)\Z")
_COVARIATE = re.compile(r"[xX](?:\d+|_\w*)?\Z")
_SCALE_NAME = re.compile(r"(?:sigma|sd|se|std|stderr|stdev|scale)(?:_\w*|\d*)\Z|\w*_(?:sigma|sd|se)\Z",
                         re.IGNORECASE)
_GROUP_WORDS = frozenset("""id idx ind index group grp cluster cat category level class site unit subject
    county state region country city school hospital pollster team species block batch plot""".split())


@dataclass(frozen=True)
class Stats:
    """Summary statistics over all values of a variable (NaN when it has none)."""

    minimum: float
    maximum: float
    mean: float
    sd: float
    quantiles: tuple[float, ...]  # at QUANTILE_LEVELS
    n_distinct: int
    integer_valued: bool  # every value is a whole number (whatever the dtype)


@dataclass(frozen=True)
class VariableInfo:
    """One variable's kind and shape. `dims[i]` names the scalar size variable equal to the
    length of axis i, or is the length itself when none matches. For a categorical, `levels` is
    K and `levels_var` the size variable equal to K (None: write K as a literal). For a size,
    `size_of` lists the arrays it measures and `levels_of` the group indices it counts. A count
    that never exceeds another count (successes of trials) lists those in `at_most`."""

    name: str
    kind: str
    shape: tuple[int, ...]
    dtype: str  # "int" or "real", as written in the data
    stats: Stats
    dims: tuple[str | int, ...] = ()
    levels: int | None = None
    levels_var: str | None = None
    level_names: tuple[str, ...] = ()
    size_of: tuple[str, ...] = ()
    levels_of: tuple[str, ...] = ()
    at_most: tuple[str, ...] = ()  # counts of the same shape that bound this one elementwise

    @property
    def is_int(self) -> bool:
        """Declared as int in Stan (a kind that only integers have)."""
        return self.kind in INT_KINDS

    @property
    def ndim(self) -> int:
        return len(self.shape)


def infer_variables(dataset: Dataset) -> tuple[VariableInfo, ...]:
    """Classify every variable of `dataset`, in the dataset's order."""
    sizes = _size_candidates(dataset)
    dims = {name: _axis_dims(name, array, sizes) for name, array in dataset.values.items() if array.ndim}
    from_table = bool(dataset.columns)
    categorical = {name: found for name, array in dataset.values.items()
                   if (found := _categorical_levels(name, array, sizes, dataset.levels.get(name), from_table))
                   is not None}
    used = {dim for axes in dims.values() for dim in axes if isinstance(dim, str)}
    used |= {var for _, var in categorical.values() if var is not None}
    infos = tuple(_describe(name, array, dataset, dims, categorical, used) for name, array in dataset.values.items())
    if from_table:
        return tuple(_as_column_says(v, dataset) for v in infos)
    return _with_bounding_counts(infos, dataset)


def _as_column_says(info: VariableInfo, dataset: Dataset) -> VariableInfo:
    column = next((c for c in dataset.columns if c.stan_name == info.name), None)
    if column is None:
        return info
    stan = {c.name: c.stan_name for c in dataset.columns if c.stan_name}
    changes = {"at_most": tuple(stan[t] for t in column.trials if t in stan and stan[t] in dataset)}
    if column.role in ("measurement", "exposure") and info.kind in INT_KINDS:
        changes["kind"] = "positive_real" if info.stats.minimum > 0 else "real"
    if column.role == "binary" and column.levels:
        changes["level_names"] = column.levels
    return replace(info, **changes)


def _with_bounding_counts(infos: tuple[VariableInfo, ...], dataset: Dataset) -> tuple[VariableInfo, ...]:
    counts = [v for v in infos if v.kind == "count" and v.stats.n_distinct]

    def bounds(a: VariableInfo) -> tuple[str, ...]:
        x = dataset[a.name]
        return tuple(b.name for b in counts if b is not a and b.shape == a.shape
                     and np.all(x <= dataset[b.name]) and np.any(x < dataset[b.name]))

    return tuple(replace(v, at_most=bounds(v)) if v in counts else v for v in infos)


def choose_target(variables: tuple[VariableInfo, ...], target: str | None = None,
                  group_level: frozenset = frozenset()) -> str:
    """The explicit `target` if the data has it, else the most likely response:

    1. among arrays that are not sizes, group indices or time indices, and not named as held-out
       data (`*_test`, `*_new`, `*_pred`), the first in RESPONSE_NAMES order (y, Y, outcome, ...),
       else the first whose name starts like y (`y_obs`, `y1`), else the first count bounded by
       another count (successes r <= trials n), else the last one not named like a covariate
       (x, x1, x_age) nor in `group_level` (one value per level of a group index: an attribute of
       the group, such as a county's uranium beside each house's radon), else the last one;
    2. if there is no such array, the same rule over scalars that are not sizes (e.g. a count of
       successes), then over every variable.
    """
    names = [v.name for v in variables]
    if target is not None:
        if target in names:
            return target
        close = nearest_names(target, names)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        raise DataError(f"target '{target}' is not in the data{hint}; choose one of: {', '.join(names)}",
                        code="data.unknown_target")
    observed = [v for v in variables if v.kind not in INDEX_KINDS and not _HELD_OUT.search(v.name)]
    groups = ([v.name for v in observed if v.ndim], [v.name for v in observed if not v.ndim], names)
    group = next(g for g in groups if g)
    bounded = {v.name for v in variables if v.at_most}
    preferred = ([n for n in RESPONSE_NAMES if n in group] + [n for n in group if _Y_LIKE.match(n)]
                 + [n for n in group if n in bounded]
                 + [n for n in group if not _COVARIATE.match(n) and n not in group_level][-1:])
    return preferred[0] if preferred else group[-1]


def group_level_arrays(variables: tuple[VariableInfo, ...], dataset: Dataset) -> frozenset:
    """1-d arrays that take one value per level of a group index whose levels repeat (most levels
    hold two or more rows): attributes of the groups, not observations of the rows."""
    out = set()
    for index in (v for v in variables if v.kind == "categorical" and v.ndim == 1):
        codes = np.asarray(dataset[index.name])
        _, counts = np.unique(codes, return_counts=True)
        if np.median(counts) < 2:
            continue
        order = np.argsort(codes, kind="stable")
        starts = np.flatnonzero(np.diff(codes[order])) + 1
        for v in variables:
            values = np.asarray(dataset[v.name])
            if v is index or v.ndim != 1 or values.shape != codes.shape or v.kind in INDEX_KINDS:
                continue
            runs = np.split(values[order], starts)
            if all(np.all(run == run[0]) for run in runs):
                out.add(v.name)
    return frozenset(out)


# --- sizes ---------------------------------------------------------------------------------------


def _size_candidates(dataset: Dataset) -> dict[str, int]:
    """Non-negative int scalars, in declaration order: the variables that can be sizes."""
    return {name: int(a) for name, a in dataset.values.items() if a.ndim == 0 and a.dtype.kind == "i" and a >= 0}


def _axis_dims(name: str, array: np.ndarray, sizes: dict[str, int]) -> tuple[str | int, ...]:
    dims: list[str | int] = []
    for length in array.shape:
        dims.append(_best_match(name, [s for s, v in sizes.items() if v == length], avoid=dims) or length)
    return tuple(dims)


def _best_match(name: str, candidates: list[str], avoid=()) -> str | None:
    """The candidate whose name shares the longest run of characters with `name` (so that
    `day1_temp_test` gets `num_days_test`, not `num_days_train`); then one not in `avoid` (an
    n1 x n2 grid is more likely than n1 x n1 when n1 = n2); then the first declared."""
    if not candidates:
        return None
    return max(candidates, key=lambda c: (_common_run(name, c), c not in avoid, -candidates.index(c)))


def _common_run(a: str, b: str) -> int:
    match = difflib.SequenceMatcher(None, a.lower(), b.lower(), autojunk=False).find_longest_match()
    return match.size


def _categorical_levels(name: str, array: np.ndarray, sizes: dict[str, int],
                        level_names: tuple[str, ...] | None = None,
                        from_table: bool = False) -> tuple[int, str | None] | None:
    """(K, size variable holding K or None) when `array` looks like a group index 1..K.

    Text encoded by `load_data` always is one (K = number of level names). Otherwise integers
    >= 1 (and not a time index) qualify when
    (a) a scalar equals the largest value and is smaller than the number of values (so groups
        repeat), e.g. county_idx with J = 85; or a scalar K at least the largest value, smaller
        than the number of values, with at least 90% of 1..K present (node indices 1..N); or
    (b) the name says it is an index (..._idx, group, site, city, ...) and a scalar is at least
        the largest value (some groups may be absent, e.g. sites with missing data); or
    (c) the name says so, no scalar fits, and the values are exactly 1..K with repeats.
    """
    if level_names:
        k = len(level_names)
        return k, _best_match(name, [s for s, v in sizes.items() if v == k])
    if from_table:
        return None
    if array.ndim == 0 or array.dtype.kind != "i" or array.size == 0 or array.min() < 1 or _is_time_index(array):
        return None
    top, n = int(array.max()), array.size
    exact = [s for s, v in sizes.items() if v == top]
    if top >= 2 and top < n and exact:
        return top, _best_match(name, exact)
    present = len(np.unique(array))
    dense = sorted((v, s) for s, v in sizes.items() if top <= v < n and present >= 0.9 * v)
    if top >= 2 and dense:
        return dense[0]
    if not _names_a_group(name):
        return None
    # Not the array's own length: with rows N, city in 1..5 has 5 levels, not N.
    covering = [s for s, v in sizes.items() if v >= top >= 2 and v not in array.shape]
    if covering:
        best = _best_match(name, covering)
        return sizes[best], best
    if top >= 2 and top < n and len(np.unique(array)) == top:
        return top, None
    return None


def _names_a_group(name: str) -> bool:
    tokens = [t for t in re.split(r"[_\d]+|(?<=[a-z])(?=[A-Z])", name.lower()) if t]
    return any(t in _GROUP_WORDS or t.endswith(("idx", "site", "group")) for t in tokens)


def _is_time_index(array: np.ndarray) -> bool:
    return (array.ndim == 1 and array.dtype.kind == "i" and array.size >= 3
            and bool(np.all(np.diff(array) == 1)))


# --- one variable --------------------------------------------------------------------------------


def _describe(name, array, dataset, dims, categorical, used) -> VariableInfo:
    stats = _stats(array)
    levels, levels_var = categorical.get(name, (None, None))
    kind = "categorical" if levels is not None else _value_kind(name, array, stats, name in used)
    size_of = tuple(a for a, axes in dims.items() if name in axes) if kind == "size" else ()
    levels_of = tuple(c for c, (_, var) in categorical.items() if var == name) if kind == "size" else ()
    return VariableInfo(name=name, kind=kind, shape=tuple(array.shape),
                        dtype="int" if array.dtype.kind == "i" else "real", stats=stats,
                        dims=dims.get(name, ()), levels=levels, levels_var=levels_var,
                        level_names=tuple(dataset.levels.get(name, ())), size_of=size_of, levels_of=levels_of)


def _value_kind(name: str, array: np.ndarray, stats: Stats, is_used_size: bool) -> str:
    if array.size == 0:
        return "real" if array.dtype.kind == "f" else "count"
    lo, hi = stats.minimum, stats.maximum
    if array.dtype.kind == "i":
        if array.ndim == 0 and lo >= 0 and (is_used_size or _SIZE_NAME.match(name)):
            return "size"
        if lo >= 0 and hi <= 1:
            return "binary"
        if _is_time_index(array):
            return "time_index"
        if lo > 0 and _SCALE_NAME.match(name):
            return "positive_real"
        return "count" if lo >= 0 else "real"
    if array.ndim and lo >= 0 and hi <= 1 and not np.all((array == 0) | (array == 1)):
        return "proportion"
    return "positive_real" if lo > 0 else "real"


def _stats(array: np.ndarray) -> Stats:
    if array.size == 0:
        nan = float("nan")
        return Stats(nan, nan, nan, nan, tuple(nan for _ in QUANTILE_LEVELS), 0, True)
    values = np.sort(array.astype(np.float64).ravel())  # one sort gives the quantiles and the distinct count
    position = np.asarray(QUANTILE_LEVELS) * (values.size - 1)
    below = np.floor(position).astype(int)
    above = np.minimum(below + 1, values.size - 1)
    quantiles = values[below] + (position - below) * (values[above] - values[below])  # numpy's default (linear)
    return Stats(minimum=float(values[0]), maximum=float(values[-1]), mean=float(values.mean()),
                 sd=float(values.std(ddof=1)) if values.size > 1 else 0.0,
                 quantiles=tuple(float(q) for q in quantiles),
                 n_distinct=1 + int(np.count_nonzero(values[1:] != values[:-1])),
                 integer_valued=bool(np.all(values == np.round(values))))
