"""A table (pandas or polars frame, CSV, Parquet, Feather) as Stan data: one `Column` record per
column (see `columns` for the vocabulary) and one encoded array per kept column.

The rules, in the order they apply to each column (a user override wins over all of them):

1. Row names are dropped: a column named as pandas or R name their index (`Unnamed: 0`,
   `rownames`, `row.names`, empty) holding one distinct value per row, or an integer column equal
   to 1..N or 0..N-1 named like an identifier (`id`, `obs`, `row`).
2. A column with no values, or a single value, is constant (dropped). Text with a different value
   in every row is an id (dropped).
3. Text, booleans and categoricals are factors: two levels give a 0/1 indicator (the reference
   level, coded 0, is the first in order: a "no"/"false"/"control"-like level when there is one);
   more give codes 1..K with K added as data (`K_<name>`). Levels are ordered when the frame says
   so (an ordered categorical, a polars Enum) or when their names have an evident order (numbers
   or ranges such as `25-34`, `120+`; scales such as low/medium/high); otherwise they are sorted
   as text, numbers inside names numerically (A2 before A10). Dates become a time index.
4. Integers: 0/1 is binary. Integer codes that label groups (named like a group: subject, herd,
   batch, site, ...; or each value in one contiguous block of rows) are a group index; codes
   0..K-1 are shifted to 1..K and arbitrary codes (308..372) numbered 1..K, each said in a note.
   Integers named like time (day, year, week, ...) that count up row by row or take a few
   values equally often are a time index, and so is any column equal to a run k, k+1, k+2, ...
   Three to five consecutive codes from 1 or above with many rows each are an ordered factor (a
   dose level, a period). Other non-negative integers are counts, except those far from zero
   (all at least 10 and at least half the median: a yield in grams, a temperature), which are
   measurements written as whole numbers; negative integers are measurements.
5. Reals in [0, 1] are proportions, other reals measurements.
6. Across the table: a count named like a number of trials (n, size, total, trials, ...) that
   is at least another count in every row, and grows with it, is that count's possible trials
   (it becomes a `size` when that count is the target); a positive column named like an
   exposure (exposure, person-years, population, duration, holders) beside a count is an
   `exposure`.

A numeric column holding a little text (at most three distinct strings in at most a tenth of its
cells, such as `?` or `-`) reads that text as missing, and says so; more text makes it a factor.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from boxloop.data.columns import Column, Note
from boxloop.data.names import natural_key, stan_names, unique_name
from boxloop.errors import DataError

_ROWNAME = re.compile(r"(?:|unnamed: ?\d+|rownames|row\.names|row_names|\.\.\.\d+|index|level_0)\Z", re.IGNORECASE)
_ID_WORDS = frozenset("id ids identifier obs observation row rowid record case caseid serial key uid".split())
_GROUP_WORDS = frozenset("""subject subj patient person individual participant respondent group grp cluster
    batch block plot herd farm site school class classroom county state region country city district
    village household family litter animal tree plant hospital clinic ward unit team species strain
    lab rater judge item field pen tank cage pond lake stand cohort centre center""".split())
_TIME_WORDS = frozenset("""day days date week weeks month months year years time hour hours minute minutes
    t visit wave occasion""".split())
_EXPOSURE_WORDS = frozenset("""exposure exposures offset pyears personyears persontime risktime atrisk
    population pop duration holders service""".split())
_TRIALS_WORDS = frozenset("""n size trials trial total tries attempts number denominator denom atrisk
    risk exposed eligible sampled tested""".split())
_NEGATIVE_LEVELS = ("no", "false", "absent", "negative", "neg", "none", "control", "placebo", "off", "0",
                    "fail", "failure", "normal")
_SCALES = (("very low", "low", "medium", "mid", "moderate", "high", "very high"),
           ("l", "m", "h"), ("xs", "s", "m", "l", "xl"), ("small", "medium", "large"),
           ("none", "mild", "moderate", "severe"), ("never", "rarely", "sometimes", "often", "always"),
           ("strongly disagree", "disagree", "neutral", "agree", "strongly agree"),
           ("poor", "fair", "good", "very good", "excellent"))
_FEW_LEVELS = (3, 5)  # integer codes with this many levels (and many rows each) read as a factor
_TEXT_AS_MISSING = (3, 0.1)  # at most this many distinct strings in at most this share of cells
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?\Z")


@dataclass(frozen=True)
class Overrides:
    """Roles a user sets by hand (column names as written or as Stan names)."""

    factor: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    group: tuple[str, ...] = ()
    time: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()

    def named(self) -> dict[str, str]:
        out = {}
        for flag in ("drop", "factor", "numeric", "group", "time"):
            for name in getattr(self, flag):
                if name in out and out[name] != flag:
                    raise DataError(f"column '{name}' is given both --{out[name]} and --{flag}; choose one",
                                    code="data.conflicting_overrides")
                out[name] = flag
        return out

    def __bool__(self) -> bool:
        return any((self.factor, self.numeric, self.group, self.time, self.drop))


@dataclass(frozen=True, eq=False)
class Table:
    """The columns of a table and, for each kept column, its encoded values (int64 codes or
    counts, float64 reals) and where cells are missing; rows are not yet chosen (`rows`)."""

    columns: tuple[Column, ...]
    values: Mapping[str, np.ndarray]  # Stan name -> values (anything at a missing cell)
    missing: Mapping[str, np.ndarray]  # Stan name -> True where the cell is missing
    n_rows: int
    notes: tuple[Note, ...] = ()
    source: str | None = None
    sizes: Mapping[str, int] = field(default_factory=dict)  # K_<factor> -> K

    @property
    def kept(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.kept)

    def column(self, name: str) -> Column:
        """The record for `name`, as written or as its Stan name."""
        found = _lookup(name, self.columns)
        if found is None:
            raise _unknown_column(name, self.columns, "the data")
        return found

    def complete_rows(self, used) -> tuple[np.ndarray, tuple[Note, ...]]:
        """Rows with a value in every column of `used` (Stan names), and one note saying how many
        rows each column's gaps left out."""
        keep = np.ones(self.n_rows, dtype=bool)
        counts = {}
        for name in used:
            gaps = self.missing.get(name)
            if gaps is not None and gaps.any():
                counts[name] = int(gaps.sum())
                keep &= ~gaps
        if keep.all():
            return keep, ()
        left = int(keep.sum())
        per_column = ", ".join(f"{self._written(n)} {k}" for n, k in counts.items())
        if left == 0:
            raise DataError(f"no row of {self.source or 'the table'} has a value in every column used "
                            f"(missing cells: {per_column}); --drop the emptiest columns", code="data.no_complete_rows")
        message = (f"{self.n_rows - left} of {self.n_rows} rows left out for missing cells ({per_column}); "
                   f"{left} rows used. --drop a column to keep the rows it leaves out")
        return keep, (Note("data.rows_dropped", message),)

    def _written(self, stan_name: str) -> str:
        return next((c.name for c in self.columns if c.stan_name == stan_name), stan_name)


def _lookup(name: str, columns) -> Column | None:
    """By Stan name first (a renamed column's new name may be another column's old one)."""
    return next((c for c in columns if c.stan_name and c.stan_name == name), None) \
        or next((c for c in columns if c.name == name), None)


def _unknown_column(name: str, columns, where: str) -> DataError:
    import difflib

    names = [c.name for c in columns]
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
    return DataError(f"'{name}' is not a column of {where}{hint}; the columns are: {', '.join(names)}",
                     code="data.unknown_column")


# --- entry point ---------------------------------------------------------------------------------


def read_frame(frame, *, origin: str | None = None, overrides: Overrides = Overrides(),
               max_elements: int) -> Table:
    """Classify and encode every column of a pandas DataFrame."""
    where = origin or "the table"
    if frame.shape[1] == 0:
        raise DataError(f"{where} has no columns", code="data.empty")
    if frame.shape[0] == 0:
        raise DataError(f"{where} has a header but no rows; add data rows", code="data.empty")
    if frame.shape[0] > max_elements:
        raise DataError(f"{where} has more than {max_elements:,} rows, over the limit of {max_elements:,} values "
                        "per variable; subsample it, or raise the limit (CLI: --max-elements, Python: "
                        "max_elements=)", code="data.too_large")
    names = [_column_name(c) for c in frame.columns]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError(f"{where} has more than one column named {', '.join(map(repr, duplicated))}; "
                        "rename them", code="data.bad_name")
    if bool(frame.isna().to_numpy().all()):
        raise DataError(f"every cell of {where} is missing; there is nothing to model", code="data.all_missing")
    chosen = _match_overrides(overrides, names, where)
    n = frame.shape[0]
    drafts = [_draft(name, frame.iloc[:, i], n, chosen.get(name)) for i, name in enumerate(names)]
    drafts = _table_roles(drafts, n)
    return _assemble(drafts, n, origin)


def _column_name(label) -> str:
    if isinstance(label, tuple):  # a MultiIndex header
        return "_".join(str(part) for part in label if str(part))
    return str(label).strip()


def _match_overrides(overrides: Overrides, names: list[str], where: str) -> dict[str, str]:
    from boxloop.data.names import stan_identifier

    chosen = {}
    for name, flag in overrides.named().items():
        match = name if name in names else next((n for n in names if stan_identifier(n) == name), None)
        if match is None:
            raise _unknown_column(name, [Column(n, n, "constant", "text", "dropped") for n in names],
                                  f"{where} (given to --{flag})")
        chosen[match] = flag
    return chosen


# --- one column ----------------------------------------------------------------------------------


@dataclass
class _Draft:
    """A column while its role is being decided (mutable, local to this module)."""

    name: str
    dtype: str  # int | real | bool | text | category | date
    values: np.ndarray  # int64 / float64 codes or numbers; object array of str for text
    missing: np.ndarray
    role: str = ""
    use: str = "covariate"
    levels: tuple[str, ...] = ()
    reference: str | None = None
    ordered: bool = False
    note: str = ""
    notes: list = field(default_factory=list)
    override: str | None = None
    candidate: bool = False
    trials: list = field(default_factory=list)
    n_distinct: int | None = None  # counted once, when the role is decided

    @property
    def present(self) -> np.ndarray:
        return self.values[~self.missing]

    def drop(self, role: str, why: str, code: str | None = None) -> _Draft:
        self.role, self.use, self.note = role, "dropped", why
        if code:
            self.notes.append(Note(code, f"'{self.name}' {why}", self.name))
        return self


def _draft(name: str, series, n: int, override: str | None) -> _Draft:
    draft = _raw(name, series, override)
    draft.override = override
    if override == "drop":
        return draft.drop("constant" if not len(draft.present) else _guess_role(draft, n), "dropped (--drop)")
    if draft.missing.all():
        return draft.drop("constant", "has no values: dropped", "data.all_missing")
    return _decide(draft, n)


def _guess_role(draft: _Draft, n: int) -> str:
    return _decide(replace(draft, notes=[], override=None), n).role


def _raw(name: str, series, override: str | None) -> _Draft:
    """The values as written: ints stay ints, text stays text (stripped), booleans 0/1."""
    import pandas as pd

    dtype = series.dtype
    missing = series.isna().to_numpy(dtype=bool)
    if isinstance(dtype, pd.CategoricalDtype):
        levels = tuple(str(c) for c in dtype.categories)
        codes = series.cat.codes.to_numpy(dtype=np.int64)
        draft = _Draft(name, "category", codes, missing, levels=levels, ordered=bool(dtype.ordered))
        return draft
    if pd.api.types.is_bool_dtype(dtype):
        values = series.to_numpy(dtype=np.int64, na_value=0)
        return _Draft(name, "bool", values, missing, levels=("false", "true"))
    if pd.api.types.is_integer_dtype(dtype):
        return _Draft(name, "int", series.to_numpy(dtype=np.int64, na_value=0), missing)
    if pd.api.types.is_float_dtype(dtype):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
        _check_finite(name, values, missing)
        return _Draft(name, "real", values, missing)
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return _from_dates(name, series, missing)
    return _from_text(name, series, missing, override)


def _check_finite(name: str, values: np.ndarray, missing: np.ndarray) -> None:
    infinite = np.isinf(values) & ~missing
    if infinite.any():
        rows = ", ".join(str(int(i) + 1) for i in np.flatnonzero(infinite)[:5])
        raise DataError(f"column '{name}' has {int(infinite.sum())} infinite value(s) (rows {rows}); "
                        "replace or drop them before fitting", code="data.nonfinite")


def _from_text(name: str, series, missing: np.ndarray, override: str | None) -> _Draft:
    """Text cells, read through their distinct values (a million cells of twenty levels cost
    twenty parses, not a million)."""
    import pandas as pd

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    labels = np.array([str(u).strip() for u in uniques] + [""], dtype=object)  # code -1 (missing): ""
    cells = labels[codes]
    numbers_u = pd.to_numeric(pd.Series(labels, dtype=object), errors="coerce").to_numpy(dtype=np.float64,
                                                                                       na_value=np.nan)
    marker_u = np.isin(labels, ["", "."])
    missing = missing | marker_u[codes]
    text_u = np.isnan(numbers_u) & ~marker_u
    is_text = text_u[codes] & ~missing
    numbers = numbers_u[codes]
    written = labels[~text_u & ~marker_u]
    if not is_text.any():
        return _numbers_from_text(name, written, numbers, missing)
    present = ~missing
    distinct = [str(t) for t in labels[text_u]]
    if not (is_text == present).all():  # numbers and text in one column
        few = len(distinct) <= _TEXT_AS_MISSING[0] and is_text.sum() <= _TEXT_AS_MISSING[1] * present.sum()
        if override == "numeric" or (few and override != "factor"):
            draft = _numbers_from_text(name, written, numbers, missing | is_text)
            shown = ", ".join(repr(t) for t in distinct[:3])
            draft.notes.append(Note("data.text_in_numbers", f"'{name}' is numeric but {int(is_text.sum())} cell(s) "
                                    f"hold text ({shown}): read as missing", name))
            return draft
        draft = _Draft(name, "text", cells, missing)
        draft.notes.append(Note("data.mixed_as_factor", f"'{name}' mixes numbers and text ({len(distinct)} distinct "
                                f"text values): read as a factor; --numeric {name} reads the text as missing", name))
        return draft
    if override == "numeric":
        raise DataError(f"--numeric {name}: column '{name}' holds only text (e.g. {distinct[0]!r}); "
                        "a factor is what boxloop makes of it", code="data.not_numeric")
    if all(_ISO_DATE.match(t) for t in distinct):
        return _from_dates(name, pd.to_datetime(pd.Series(np.where(missing, None, cells)), format="ISO8601"), missing)
    return _Draft(name, "text", cells, missing)


def _numbers_from_text(name: str, written: np.ndarray, numbers: np.ndarray, missing: np.ndarray) -> _Draft:
    """`written`: the distinct numbers as written (ints when none has a point or an exponent)."""
    whole = len(written) > 0 and all(re.fullmatch(r"[+-]?\d+", str(w)) for w in written)
    values = np.array(numbers, dtype=np.float64)
    values[missing] = 0.0 if whole else np.nan
    if whole:
        return _Draft(name, "int", values.astype(np.int64), missing)
    _check_finite(name, values, missing)
    return _Draft(name, "real", values, missing)


def _from_dates(name: str, series, missing: np.ndarray) -> _Draft:
    """Dates as a time index from 1: months when every date is the first of its month, else days."""
    import pandas as pd

    stamps = pd.to_datetime(series)
    present = stamps[~missing]
    first = present.min()
    if bool((present.dt.day == 1).all()) and present.dt.month.nunique() > 1:
        index = (stamps.dt.year - first.year) * 12 + (stamps.dt.month - first.month) + 1
        unit = "months"
    else:
        index = (stamps.dt.normalize() - first.normalize()).dt.days + 1
        unit = "days"
    values = np.array(index.to_numpy(dtype=np.float64, na_value=np.nan))
    values[missing] = 0
    draft = _Draft(name, "date", values.astype(np.int64), missing, role="time")
    draft.note = f"{unit} since {first.date()}, from 1"
    draft.notes.append(Note("data.date_as_time", f"'{name}' holds dates ({first.date()} to {present.max().date()}): "
                            f"read as a time index, {unit} since {first.date()} counted from 1", name))
    return draft


# --- roles ---------------------------------------------------------------------------------------


def _decide(d: _Draft, n: int) -> _Draft:
    if d.dtype == "date":
        d.role, d.use = "time", "covariate"
        return d
    if d.override is None and _is_row_names(d, n):
        return d.drop("id", "holds row names: dropped", "data.row_names")
    if d.dtype in ("text", "category", "bool") or d.override in ("factor", "group"):
        return _factor(d, n)
    distinct = np.unique(d.present)
    d.n_distinct = len(distinct)
    if len(distinct) == 1 and d.override is None:
        return d.drop("constant", f"has one value ({_fmt(distinct[0])}) in every row: dropped", "data.constant")
    if d.override == "time":
        d.role = "time"
        return d
    if d.dtype == "int":
        return _integers(d, distinct, n)
    lo, hi = float(distinct[0]), float(distinct[-1])
    zero_one = len(distinct) == 2 and lo == 0.0 and hi == 1.0
    d.role = "binary" if zero_one else "proportion" if 0 <= lo and hi <= 1 else "measurement"
    if d.role == "binary":
        d.values, d.dtype = d.values.astype(np.int64), "int"
    d.candidate = not _design_like(d.present, distinct, n) or d.role == "binary"
    return d


def _is_row_names(d: _Draft, n: int) -> bool:
    if d.missing.any():
        return False
    values = d.values
    if _ROWNAME.match(d.name):
        if d.dtype in ("text", "category"):
            import pandas as pd

            return bool(pd.Series(values).is_unique)
        return _is_row_count(values, n)
    return d.dtype == "int" and _is_row_count(values, n) and bool(_tokens(d.name) & _ID_WORDS)


def _is_row_count(values: np.ndarray, n: int) -> bool:
    if values.dtype.kind != "i":
        return False
    steps = np.diff(values)
    return bool(np.all(steps == 1)) and int(values[0]) in (0, 1)


def _integers(d: _Draft, distinct: np.ndarray, n: int) -> _Draft:
    lo, hi, k = int(distinct[0]), int(distinct[-1]), len(distinct)
    if d.override != "numeric":
        if lo >= 0 and hi <= 1:
            d.role, d.candidate = "binary", True
            return d
        tokens = _tokens(d.name)
        if tokens & _ID_WORDS and k == n:
            return d.drop("id", "holds a different identifier in every row: dropped", "data.id_column")
        if lo >= 0 and (tokens & _TIME_WORDS and (_counts_up(d.values) or _design_like(d.present, distinct, n))
                        or _is_series_index(d.values)):
            d.role = "time"
            return d
        if lo >= 0 and 3 <= k <= n / 2 and (tokens & _GROUP_WORDS or tokens & _ID_WORDS or _in_blocks(d.values, k)):
            return _codes(d, distinct, "group")
        if _few_codes(d.present, distinct, n):
            return _codes(d, distinct, "factor", ordered=True)
    far_from_zero = lo >= 10 and lo >= 0.5 * float(np.median(d.present))
    d.role = "count" if lo >= 0 and not far_from_zero else "measurement"
    d.candidate = not _design_like(d.present, distinct, n)
    return d


def _counts_up(values: np.ndarray) -> bool:
    """Most steps from one row to the next go up (days 0, 1, 2, ... or weeks 0, 2, 4, ...
    restarting in each group)."""
    return len(values) >= 3 and float(np.mean(np.diff(values) > 0)) >= 0.7


def _is_series_index(values: np.ndarray) -> bool:
    return len(values) >= 3 and bool(np.all(np.diff(values) == 1))


def _in_blocks(values: np.ndarray, k: int) -> bool:
    """Each value fills one contiguous run of rows (the table is sorted by this column)."""
    runs = 1 + int(np.count_nonzero(values[1:] != values[:-1]))
    return runs == k


def _few_codes(present: np.ndarray, distinct: np.ndarray, n: int) -> bool:
    k = len(distinct)
    consecutive = int(distinct[-1] - distinct[0]) == k - 1
    if not (_FEW_LEVELS[0] <= k <= _FEW_LEVELS[1] and consecutive and distinct[0] >= 1):
        return False
    return int(np.bincount(present - int(distinct[0])).min()) >= max(3, n // (4 * k))


def _design_like(present: np.ndarray, distinct: np.ndarray, n: int) -> bool:
    """A few values, each on about as many rows: a variable someone set (a dose, a day), not
    an outcome that was measured."""
    k = len(distinct)
    if k > 6 or n < 4 * k:
        return False
    _, counts = np.unique(present, return_counts=True)
    return counts.max() <= 1.5 * counts.min()


def _codes(d: _Draft, distinct: np.ndarray, role: str, ordered: bool = False) -> _Draft:
    """Integer codes as an index 1..K: kept when they are 1..K, shifted when 0..K-1, numbered in
    sorted order otherwise (the level names keep the codes)."""
    lo, hi, k = int(distinct[0]), int(distinct[-1]), len(distinct)
    d.role, d.use, d.ordered, d.dtype = role, "index", ordered, "int"
    d.levels = tuple(str(int(v)) for v in distinct)
    if lo == 1 and hi == k:
        return d
    d.values = np.where(d.missing, 0, np.searchsorted(distinct, d.values) + 1).astype(np.int64)
    if lo == 0 and hi == k - 1:
        d.notes.append(Note("data.zero_based", f"'{d.name}' codes 0..{hi} are shifted to 1..{k}: Stan indexes from 1",
                            d.name))
    else:
        d.notes.append(Note("data.recoded", f"'{d.name}' codes {lo}..{hi} ({k} distinct) are numbered 1..{k} in "
                            "sorted order; each level keeps its code as its name", d.name))
    return d


def _factor(d: _Draft, n: int) -> _Draft:
    """Text, booleans, categoricals (and numbers given --factor/--group) as levels."""
    levels, codes = _levels(d)
    k = len(levels)
    d.levels, d.values = levels, codes
    if k == 1 and d.override is None:
        return d.drop("constant", f"has a single level ({levels[0]!r}): dropped, it cannot explain anything",
                      "data.single_level")
    if k == int((~d.missing).sum()) and k > 2 and d.override is None:
        return d.drop("id", f"has a different value in every row ({k} levels for {k} rows): an identifier, "
                      "not a factor; dropped", "data.id_column")
    if k == 2 and d.override != "group":
        d.role, d.use, d.reference, d.candidate = "binary", "covariate", levels[0], True
        d.values = np.where(d.missing, 0, codes - 1).astype(np.int64)
        return d
    d.role = "group" if d.override == "group" else "factor"
    d.use, d.reference = "index", levels[0]
    d.candidate = d.role == "factor"
    return d


def _levels(d: _Draft) -> tuple[tuple[str, ...], np.ndarray]:
    """(level names in code order, codes 1..K; 0 at missing cells)."""
    if d.dtype == "category":
        present = np.unique(d.present)
        levels = tuple(d.levels[i] for i in present)  # unused categories have no rows: drop them
        remap = np.zeros(len(d.levels) + 1, dtype=np.int64)
        remap[present + 1] = np.arange(1, len(present) + 1)
        codes = remap[np.where(d.missing, -1, d.values) + 1]
        if not d.ordered:
            order = _evident_order(levels)
            if order is not None:
                d.ordered = True
                return _reorder(levels, codes, order)
        return levels, codes
    if d.dtype == "bool":
        present = sorted(set(d.present.tolist()))
        levels = tuple(d.levels[v] for v in present)
        return levels, np.where(d.missing, 0, np.searchsorted(present, d.values) + 1).astype(np.int64)
    labels = d.values if d.dtype == "text" else np.array([_fmt(v) for v in d.values], dtype=object)
    import pandas as pd

    codes, uniques = pd.factorize(np.asarray(labels, dtype=object)[~d.missing], sort=False)
    names = tuple(str(u) for u in uniques)
    if d.dtype in ("int", "real"):
        order = sorted(range(len(names)), key=lambda i: float(names[i]))
        d.ordered = True
    else:
        order = _evident_order(names)
        d.ordered = order is not None
        order = order if order is not None else _text_order(names)
    full = np.zeros(len(d.values), dtype=np.int64)
    full[~d.missing] = codes + 1
    return _reorder(names, full, order)


def _reorder(names: tuple[str, ...], codes: np.ndarray, order: list[int]):
    """Levels rearranged so that level j is names[order[j]]; codes follow (0 stays 0)."""
    new_code = np.zeros(len(names) + 1, dtype=np.int64)
    for j, i in enumerate(order):
        new_code[i + 1] = j + 1
    return tuple(names[i] for i in order), new_code[codes]


def _text_order(names) -> list[int]:
    """Sorted as text with numbers compared as numbers; a "no"-like level first when there are two."""
    order = sorted(range(len(names)), key=lambda i: natural_key(names[i]))
    if len(names) == 2:
        negative = [i for i in order if names[i].strip().lower() in _NEGATIVE_LEVELS]
        if len(negative) == 1:
            order = negative + [i for i in order if i != negative[0]]
    return order


def _evident_order(names) -> list[int] | None:
    """An order the level names themselves give: a known scale (low < medium < high), or the
    first number in each name once a shared prefix is set aside (25-34 < 35-44; F0 < F1; 120+)."""
    lowered = [n.strip().lower() for n in names]
    for scale in _SCALES:
        if len(names) >= 2 and all(n in scale for n in lowered):
            return sorted(range(len(names)), key=lambda i: scale.index(lowered[i]))
    if len(names) < 3:
        return None
    prefix = _common_prefix(lowered)
    keys = []
    for name in lowered:
        m = re.match(r"\s*(<|>|≤|≥|under|over|below|above)?=?\s*(\d+(?:\.\d+)?)", name[len(prefix):])
        if m is None:
            return None
        side = {"<": -1, "≤": -1, "under": -1, "below": -1, ">": 1, "≥": 1, "over": 1, "above": 1}.get(m.group(1), 0)
        keys.append((float(m.group(2)), side))  # "<25" before "25-29", ">35" after "30-35"
    if len(set(keys)) != len(keys):
        return None
    return sorted(range(len(names)), key=lambda i: keys[i])


def _common_prefix(names) -> str:
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return re.sub(r"\d+(?:\.\d*)?$", "", prefix)  # a shared leading digit belongs to the numbers


def _tokens(name: str) -> set[str]:
    spaced = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name)
    return {t for t in re.split(r"[^A-Za-z]+", spaced.lower()) if t}


def _fmt(x) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.6g}"


# --- across the table ----------------------------------------------------------------------------


def _table_roles(drafts: list[_Draft], n: int) -> list[_Draft]:
    """Possible trials (a count named like a number of trials that bounds another count and
    grows with it) and exposures (a positive amount named like one, beside a count). Trials
    become a `size` only once the count they bound is the target (`task`)."""
    counts = [d for d in drafts if d.role == "count" and d.use != "dropped"]
    for r in counts:
        r.trials = [c.name for c in counts if c is not r and _tokens(c.name) & _TRIALS_WORDS and _bounds(c, r)]
    if counts:
        for d in drafts:
            if d.override is None and d.use == "covariate" and d.role in ("count", "measurement") \
                    and _names_exposure(d.name) and bool(np.all(d.present > 0)):
                d.role, d.use, d.candidate = "exposure", "offset", False
    return drafts


def _names_exposure(name: str) -> bool:
    joined = re.sub(r"[^a-z]", "", name.lower())  # person_years, PersonYears -> personyears
    return bool(_tokens(name) & _EXPOSURE_WORDS) or joined in _EXPOSURE_WORDS


def _bounds(n_col: _Draft, r_col: _Draft) -> bool:
    """`n_col` >= `r_col` in every row both have (> in some), never 0, and more trials go with
    more successes: n are trials of r."""
    both = ~(n_col.missing | r_col.missing)
    if both.sum() < 3:
        return False
    n, r = n_col.values[both].astype(float), r_col.values[both].astype(float)
    if not (np.all(r <= n) and np.any(r < n) and np.all(n > 0)):
        return False
    return float(np.std(n)) == 0.0 or float(np.corrcoef(n, r)[0, 1]) >= 0.3


# --- assembling the records ----------------------------------------------------------------------


def _assemble(drafts: list[_Draft], n: int, origin: str | None) -> Table:
    kept = [d for d in drafts if d.use != "dropped"]
    stan = dict(zip((d.name for d in kept), stan_names([d.name for d in kept], reserved={"N"})))
    notes = [note for d in drafts for note in d.notes]
    notes += [Note("data.renamed", f"'{name}' is called {s} in Stan programs (the data keep both names)", name)
              for name, s in stan.items() if s != name]
    taken = set(stan.values()) | {"N"}
    columns, values, missing, sizes = [], {}, {}, {}
    for d in drafts:
        name = stan.get(d.name, "")
        size_name = None
        if d.use == "index":
            size_name = unique_name(f"K_{name}", taken)
            sizes[size_name] = len(d.levels)
        columns.append(_record(d, name, size_name))
        if name:
            values[name] = d.values
            if d.missing.any():
                missing[name] = d.missing
    if not values:
        raise DataError(f"no column of {origin or 'the table'} is left to model (every one was dropped: "
                        + "; ".join(f"{c.name}: {c.note}" for c in columns) + ")", code="data.nothing_left")
    return Table(tuple(columns), values, missing, n, tuple(notes), origin, sizes)


def _record(d: _Draft, stan_name: str, size_name: str | None) -> Column:
    low, high = _range(d)
    present = d.present
    distinct = len(d.levels) if d.levels else d.n_distinct if d.n_distinct is not None else \
        int(len(np.unique(present))) if present.size else 0
    return Column(name=d.name, stan_name=stan_name, role=d.role, dtype=d.dtype, use=d.use, levels=d.levels,
                  reference=d.reference, ordered=d.ordered, size_name=size_name, missing=int(d.missing.sum()),
                  distinct=distinct, low=_finite_or_none(low), high=_finite_or_none(high),
                  candidate=d.candidate and d.use != "dropped", trials=tuple(d.trials), note=d.note)


def _range(d: _Draft) -> tuple[float | None, float | None]:
    """The smallest and largest value as written (a coded index: its codes; text: none)."""
    if d.use == "index" or d.levels:
        try:
            written = [float(v) for v in d.levels]
        except ValueError:
            return None, None
        return (min(written), max(written)) if written else (None, None)
    present = d.present
    if present.size and d.dtype in ("int", "real", "date"):
        return float(np.min(present)), float(np.max(present))
    return None, None


def _finite_or_none(x):
    return x if x is not None and math.isfinite(x) else None
