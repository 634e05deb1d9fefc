"""Read data into a `Dataset` of numpy arrays: Stan-JSON and R dump files, dicts, and tables
(CSV/TSV, Parquet, Feather, pandas and polars data frames).

Every value becomes an int64 or float64 array (0-d for scalars). A value is an int only when it
was *written* as one: Stan-JSON `1.0` stays real, a CSV column of whole numbers is int. This is
the distinction Stan itself makes when it reads data, so a program's `int` declarations can be
checked against it. Text in Stan-JSON becomes codes 1..K with the level names kept. Tables go
through `table.read_frame` (roles, factors, names, missing cells; see there), then keep the rows
with a value in every column used. What cannot be fitted (missing values in Stan-JSON, ragged
lists, inf) is rejected with a `DataError` that names the variable, the place and the fix.

pandas is imported lazily: `boxloop check` imports this package and must start fast.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from boxloop.data import readers
from boxloop.data.columns import Column, Note
from boxloop.data.names import STAN_RESERVED, is_legal, natural_key, stan_identifier
from boxloop.errors import DataError

DEFAULT_MAX_ELEMENTS = 10_000_000
# Text that Stan-JSON uses for non-finite reals.
_NONFINITE_TEXT = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "infinity": math.inf,
                   "-inf": -math.inf, "-infinity": -math.inf}
_SHOWN = 5  # positions listed in an error before "and k more"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Named numpy arrays (read-only; the mappings are plain dicts so a Dataset pickles to worker
    processes — treat them as read-only too). `levels[name]` holds the category names of a text column
    encoded as 1..K (level k is `levels[name][k-1]`); `added` names variables boxloop created
    (such as `N` for a CSV); `description` is free text found next to the data, if any.
    A table also keeps its `columns` (one record per column of the source, kept or not) and the
    `notes` saying what was done to it (renamed columns, rows left out, shifted codes)."""

    values: Mapping[str, np.ndarray]
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    added: tuple[str, ...] = ()
    source: str | None = None
    description: str | None = None
    columns: tuple[Column, ...] = ()
    notes: tuple[Note, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.values)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.values[name]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def __len__(self) -> int:
        return len(self.values)

    @cached_property
    def data_hash(self) -> str:
        return data_hash(self.values)

    def stan_json(self) -> dict[str, Any]:
        """Plain Python values (ints stay ints, reals stay floats), ready for `json.dumps`."""
        return {name: value.tolist() for name, value in self.values.items()}

    def with_values(self, extra: Mapping[str, np.ndarray], *, first: bool = True) -> Dataset:
        """A copy with `extra` variables added (marked as added), placed before the others when
        `first` so that sizes come before the arrays they describe."""
        extra = {name: _freeze(np.asarray(value)) for name, value in extra.items()}
        merged = {**extra, **self.values} if first else {**self.values, **extra}
        return Dataset(merged, self.levels, self.added + tuple(extra),
                       self.source, self.description, self.columns, self.notes)


def data_hash(values: Mapping[str, np.ndarray]) -> str:
    """sha256 over names, dtypes, shapes and values, independent of variable order: the same
    data gives the same hash however it was loaded. Used as the data part of fit-cache keys."""
    digest = hashlib.sha256(b"boxloop-data-v1")
    for name in sorted(values):
        array = np.asarray(values[name])
        if array.dtype.kind == "f":
            array = array + 0.0  # -0.0 and 0.0 are the same datum
        header = f"{name}\0{array.dtype.kind}\0{array.shape}\0".encode()
        payload = np.ascontiguousarray(array, dtype="<i8" if array.dtype.kind == "i" else "<f8").tobytes()
        digest.update(len(header).to_bytes(8, "little") + header)
        digest.update(len(payload).to_bytes(8, "little") + payload)
    return digest.hexdigest()


# --- entry point ---------------------------------------------------------------------------------


def load_data(source, *, overrides=None, max_elements: int = DEFAULT_MAX_ELEMENTS,
              columns=None) -> Dataset:
    """Load `source`: a path to a Stan-JSON (`.json`), R dump (`.R`, `.data.R`) or table file
    (`.csv`, `.tsv`, `.parquet`, `.feather`), a dict mapping names to numbers or (nested) lists
    or arrays, a pandas or polars DataFrame, or a Dataset (returned as is).

    Tables give one 1-d variable per kept column plus `N`, the row count, and `K_<factor>` for
    each factor or group index (see `table`); `overrides` (a `table.Overrides`) set roles by
    hand. Rows with a missing cell in a kept column are left out (a note says how many per
    column); `columns` (Stan names) narrows that to the columns a program uses, and only those
    are returned (with the sizes). A JSON object whose member `data` is an object (the Large
    Language Bayes layout) is read from that member, and its `informal_text`, if any, becomes
    the description. `max_elements` caps the values of one variable (the rows of a table).
    """
    if isinstance(source, Dataset):
        return source
    if isinstance(source, (str, Path)) or _is_table_object(source):
        from boxloop.data.table import Overrides

        table = read_table(source, overrides or Overrides(), max_elements)
        if table is not None:
            return dataset_from_table(table, columns)
    if isinstance(source, (str, Path)):
        return _load_path(Path(source), max_elements)
    if isinstance(source, Mapping):
        return _from_mapping(source, max_elements, origin=None)
    raise DataError(
        f"cannot read data from a {type(source).__name__}; pass a path to a .json, .R or .csv file, "
        "a dict of name -> number/list, or a pandas or polars DataFrame", code="data.bad_source")


def read_table(source, overrides, max_elements: int = DEFAULT_MAX_ELEMENTS):
    """The `table.Table` of a table file or data frame; None when `source` is not a table."""
    from boxloop.data.table import read_frame

    if readers.is_polars_frame(source):
        return read_frame(readers.polars_to_pandas(source), overrides=overrides, max_elements=max_elements)
    if readers.is_pandas_frame(source):
        return read_frame(source, overrides=overrides, max_elements=max_elements)
    if not isinstance(source, (str, Path)):
        return None
    path = Path(source)
    kind = readers.file_kind(path)
    if kind in ("json", "rdump"):
        return None
    frame = readers.read_table_file(path, kind, max_elements)
    return read_frame(frame, origin=str(path), overrides=overrides, max_elements=max_elements)


def dataset_from_table(table, used=None) -> Dataset:
    """The kept columns of `table` (only `used`, Stan names, when given) on the rows that have
    a value in each of them, with `N` and the factor sizes first."""
    kept = [c for c in table.kept if used is None or c.stan_name in used]
    keep, notes = table.complete_rows([c.stan_name for c in kept])
    values = {"N": np.asarray(int(keep.sum()), dtype=np.int64)}
    values.update({c.size_name: np.asarray(table.sizes[c.size_name], dtype=np.int64) for c in kept if c.size_name})
    values.update({c.stan_name: table.values[c.stan_name][keep] for c in kept})
    levels = {c.stan_name: c.levels for c in kept if c.use == "index"}
    return Dataset({k: _freeze(v) for k, v in values.items()}, levels,
                   ("N",) + tuple(c.size_name for c in kept if c.size_name), table.source, None,
                   table.columns, table.notes + notes)


def _is_table_object(source) -> bool:
    return readers.is_pandas_frame(source) or readers.is_polars_frame(source)


def _load_path(path: Path, max_elements: int) -> Dataset:
    kind = readers.file_kind(path)
    text = readers.read_text(path)
    if not text.strip():
        raise DataError(f"{path} is empty; it needs at least one variable", code="data.empty")
    if kind == "rdump":
        return _from_mapping(readers.parse_rdump(text, str(path)), max_elements, origin=str(path))
    return _from_json_text(text, str(path), max_elements)


# --- JSON and dicts ------------------------------------------------------------------------------


def _from_json_text(text: str, origin: str, max_elements: int) -> Dataset:
    document = readers.parse_json(text, origin)
    description = None
    if isinstance(document.get("data"), dict):  # a problem file wrapping the data with its text
        description = document.get("informal_text") if isinstance(document.get("informal_text"), str) else None
        document = document["data"]
    dataset = _from_mapping(document, max_elements, origin=origin)
    return Dataset(dataset.values, dataset.levels, dataset.added, origin, description)


def _from_mapping(mapping: Mapping, max_elements: int, origin: str | None) -> Dataset:
    if not mapping:
        raise DataError(f"{origin or 'the data'} has no variables; give at least one", code="data.empty")
    values, levels = {}, {}
    for name, raw in mapping.items():
        _check_name(name, "variable")
        array, names = _array_from_value(name, raw)
        _check_array(name, array, max_elements)
        values[name] = _freeze(array)
        if names is not None:
            levels[name] = names
    return Dataset(values, levels, (), origin)


def _array_from_value(name: str, raw) -> tuple[np.ndarray, tuple[str, ...] | None]:
    if readers.is_pandas_frame(raw) or isinstance(raw, Mapping):
        raise DataError(f"variable '{name}' holds a {type(raw).__name__}; give a number or a (nested) list",
                        code="data.bad_value")
    try:
        array = np.asarray(raw)
    except (ValueError, OverflowError):
        raise _ragged_error(name, raw) from None
    if array.dtype.kind in "OUS":
        # numpy turns [1, "NaN"] into text; look at the values as written instead.
        array = _resolve_objects(name, np.array(raw, dtype=object))
    if array.dtype.kind in "US":
        return _encode_text(array)
    return _numeric(name, array), None


def _encode_text(text: np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Text as codes 1..K, the levels sorted (numbers inside names compared as numbers)."""
    names = sorted(set(text.ravel().tolist()), key=natural_key)
    code = {level: k + 1 for k, level in enumerate(names)}
    codes = np.array([code[x] for x in text.ravel().tolist()], dtype=np.int64).reshape(text.shape)
    return codes, tuple(str(x) for x in names)


def _resolve_objects(name: str, array: np.ndarray) -> np.ndarray:
    """Object arrays come from None (JSON null), mixed text and numbers, or huge integers.
    Turn Stan-JSON's "NaN"/"Inf" text into floats so they get the non-finite errors."""
    flat = array.ravel()
    if any(isinstance(x, (list, tuple)) for x in flat):
        raise _ragged_error(name, array.tolist())
    if any(isinstance(x, str) for x in flat):
        if all(isinstance(x, str) and x.strip().lower() in _NONFINITE_TEXT or _is_number(x) for x in flat):
            return np.array([_NONFINITE_TEXT[x.strip().lower()] if isinstance(x, str) else x for x in flat],
                            dtype=float).reshape(array.shape)
        return array.astype(str)
    if any(isinstance(x, int) and not isinstance(x, bool) and abs(x) >= 2**63 for x in flat):
        raise DataError(f"variable '{name}' has an integer too large for 64 bits; write it as a real "
                        "(with a decimal point) or rescale it", code="data.bad_value")
    # Only None (and numbers) remain: None is a missing value.
    return np.array([math.nan if x is None else x for x in flat], dtype=float).reshape(array.shape)


def _is_number(x) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) or x is None


def _numeric(name: str, array: np.ndarray) -> np.ndarray:
    kind = array.dtype.kind
    if kind in "iub":
        return array.astype(np.int64)
    if kind == "f":
        return array.astype(np.float64)
    raise DataError(f"variable '{name}' has values of type {array.dtype} that are not numbers; "
                    "give integers or reals", code="data.bad_value")


def _ragged_error(name: str, raw) -> DataError:
    where = _find_ragged(raw, depth=1, index=())
    detail = f": {where}" if where else ""
    return DataError(f"variable '{name}' is a ragged nested list{detail}; Stan arrays must be "
                     "rectangular — pad the rows, or split them into separate variables",
                     code="data.ragged")


def _find_ragged(value, depth: int, index: tuple[int, ...]) -> str | None:
    """Describe the first place where sibling lists disagree in length or nesting."""
    if not isinstance(value, (list, tuple, np.ndarray)):
        return None
    items = list(value)
    lists = [isinstance(x, (list, tuple, np.ndarray)) for x in items]
    at = f"at depth {depth}" + (f" (inside element {_stan_index(index)})" if index else "")
    if any(lists) and not all(lists):
        first_scalar = lists.index(False) + 1
        return f"{at}, element {first_scalar} is a number but others are lists"
    if not any(lists):
        return None
    lengths = [len(x) for x in items]
    for i, length in enumerate(lengths):
        if length != lengths[0]:
            return f"{at}, element {i + 1} has length {length} but element 1 has length {lengths[0]}"
    for i, item in enumerate(items):
        found = _find_ragged(item, depth + 1, index + (i,))
        if found:
            return found
    return None


# --- shared checks -------------------------------------------------------------------------------


def _check_name(name, kind: str) -> None:
    """Stan-JSON names are the names a program declares: boxloop cannot rename them for the user
    (a table's columns it can, and does)."""
    if not isinstance(name, str):
        raise DataError(f"{kind} name {name!r} is not text; name every {kind} with a Stan identifier",
                        code="data.bad_name")
    if is_legal(name):
        return
    reason = "is a reserved word in Stan" if name in STAN_RESERVED else "is not a valid Stan variable name"
    raise DataError(f"{kind} '{name}' {reason}; rename it, e.g. to '{stan_identifier(name)}' (letters, digits "
                    "and _, starting with a letter, not ending in __)", code="data.bad_name")


def _check_array(name: str, array: np.ndarray, max_elements: int) -> None:
    """Stan data have no missing or infinite values (tables leave such rows out instead)."""
    if array.size > max_elements:
        raise DataError(f"variable '{name}' has {array.size:,} values, over the limit of {max_elements:,}; "
                        "subsample it, or raise the limit (CLI: --max-elements, Python: max_elements=)",
                        code="data.too_large")
    if array.dtype.kind != "f":
        return
    missing = np.isnan(array)
    if missing.any():
        raise DataError(f"variable '{name}' has {int(missing.sum())} missing value(s) ({_positions(name, missing)}); "
                        "drop or impute them before fitting", code="data.missing_value")
    infinite = np.isinf(array)
    if infinite.any():
        raise DataError(f"variable '{name}' has {int(infinite.sum())} infinite value(s) "
                        f"({_positions(name, infinite)}); replace or drop them before fitting", code="data.nonfinite")


def _positions(name: str, mask: np.ndarray) -> str:
    """The first few flagged places as 1-based Stan indices."""
    where = np.argwhere(np.atleast_1d(mask))
    more = len(where) - _SHOWN
    shown = name if mask.ndim == 0 else ", ".join(name + _stan_index(tuple(int(k) for k in i)) for i in where[:_SHOWN])
    return shown + (f" and {more} more" if more > 0 else "")


def _stan_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i + 1) for i in index) + "]"


def _freeze(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def nearest_names(name: str, names) -> list[str]:
    """Up to three names close to `name`, for 'did you mean' hints."""
    return difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
