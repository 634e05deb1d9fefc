"""Read data (Stan-JSON, CSV, dict, DataFrame) into a `Dataset` of numpy arrays.

Every value becomes an int64 or float64 array (0-d for scalars). A value is an int only when it
was *written* as one: Stan-JSON `1.0` stays real, a CSV column of whole numbers is int. This is
the distinction Stan itself makes when it reads data, so a program's `int` declarations can be
checked against it. Anything boxloop cannot fit (missing cells, text, ragged lists, inf) is
rejected here with a `DataError` that names the variable, the place and the fix.

pandas is imported lazily: `boxloop check` imports this package and must start fast.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from boxloop.errors import DataError

DEFAULT_MAX_ELEMENTS = 10_000_000

# Words a Stan program cannot use as a variable name (keywords and type names).
STAN_RESERVED = frozenset(
    """for in while repeat until if then else true false target functions model data parameters
    quantities transformed generated profile return break continue print reject fatal_error
    int real complex vector simplex unit_vector ordered positive_ordered row_vector matrix
    cholesky_factor_corr cholesky_factor_cov corr_matrix cov_matrix array tuple void
    complex_vector complex_row_vector complex_matrix""".split()
)
_IDENTIFIER = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# Text that Stan-JSON uses for non-finite reals.
_NONFINITE_TEXT = {"nan": math.nan, "inf": math.inf, "+inf": math.inf, "infinity": math.inf,
                   "-inf": -math.inf, "-infinity": -math.inf}
_SHOWN = 5  # positions listed in an error before "and k more"


@dataclass(frozen=True, eq=False)
class Dataset:
    """Named numpy arrays (read-only; the mappings are plain dicts so a Dataset pickles to worker
    processes — treat them as read-only too). `levels[name]` holds the category names of a text column
    encoded as 1..K (level k is `levels[name][k-1]`); `added` names variables boxloop created
    (such as `N` for a CSV); `description` is free text found next to the data, if any."""

    values: Mapping[str, np.ndarray]
    levels: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    added: tuple[str, ...] = ()
    source: str | None = None
    description: str | None = None

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
                       self.source, self.description)


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


def load_data(source, *, encode_categories: bool = False,
              max_elements: int = DEFAULT_MAX_ELEMENTS) -> Dataset:
    """Load `source`: a path to a `.json` (Stan-JSON) or `.csv`/`.tsv` file, a dict mapping names
    to numbers or (nested) lists or arrays, a pandas DataFrame, or a Dataset (returned as is).

    Tables (CSV, DataFrame) give one 1-d variable per column plus `N`, the row count, unless a
    column is already called N. With `encode_categories`, text values become integers 1..K in
    sorted order (pandas categoricals keep their own order) and the names go to
    `Dataset.levels`; without it text is an error. A JSON object whose member `data` is an object
    (the Large Language Bayes layout) is read from that member, and its `informal_text`, if any,
    becomes the description.
    """
    if isinstance(source, Dataset):
        return source
    if isinstance(source, (str, Path)):
        return _load_path(Path(source), encode_categories, max_elements)
    if isinstance(source, Mapping):
        return _from_mapping(source, encode_categories, max_elements, origin=None)
    if _is_dataframe(source):
        return _from_frame(source, encode_categories, max_elements, origin=None)
    raise DataError(
        f"cannot read data from a {type(source).__name__}; pass a path to a .json or .csv file, "
        "a dict of name -> number/list, or a pandas DataFrame", code="data.bad_source")


def _load_path(path: Path, encode_categories: bool, max_elements: int) -> Dataset:
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv", ".tsv"):
        raise DataError(f"{path}: unknown data format '{suffix or '(no suffix)'}'; "
                        "give a Stan-JSON file (.json) or a table (.csv, .tsv)", code="data.bad_format")
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path} is empty; it needs at least one variable", code="data.empty")
    if suffix == ".json":
        return _from_json_text(text, str(path), encode_categories, max_elements)
    return _from_table_text(text, path, "\t" if suffix == ".tsv" else ",", encode_categories, max_elements)


def _read_text(path: Path) -> str:
    if path.is_dir():
        raise DataError(f"{path} is a directory; give the data file inside it", code="data.not_found")
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a BOM
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist; check the path", code="data.not_found") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte {err.start}); save it as UTF-8",
                        code="data.unreadable") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}", code="data.unreadable") from None


# --- JSON and dicts ------------------------------------------------------------------------------


def _from_json_text(text: str, origin: str, encode_categories: bool, max_elements: int) -> Dataset:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{origin} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}; "
                        "fix the file (Stan-JSON is an object mapping names to numbers or nested lists)",
                        code="data.bad_json") from None
    if not isinstance(document, dict):
        raise DataError(f"{origin} holds a JSON {type(document).__name__}, not an object; Stan-JSON "
                        'maps names to values, e.g. {"N": 3, "y": [1, 0, 1]}', code="data.bad_json")
    description = None
    if isinstance(document.get("data"), dict):  # a problem file wrapping the data with its text
        description = document.get("informal_text") if isinstance(document.get("informal_text"), str) else None
        document = document["data"]
    dataset = _from_mapping(document, encode_categories, max_elements, origin=origin)
    return Dataset(dataset.values, dataset.levels, dataset.added, origin, description)


def _from_mapping(mapping: Mapping, encode_categories: bool, max_elements: int, origin: str | None) -> Dataset:
    if not mapping:
        raise DataError(f"{origin or 'the data'} has no variables; give at least one", code="data.empty")
    values, levels = {}, {}
    for name, raw in mapping.items():
        _check_name(name, "variable")
        array, names = _array_from_value(name, raw, encode_categories)
        _check_array(name, array, max_elements, unit="variable")
        values[name] = _freeze(array)
        if names is not None:
            levels[name] = names
    return Dataset(values, levels, (), origin)


def _array_from_value(name: str, raw, encode_categories: bool) -> tuple[np.ndarray, tuple[str, ...] | None]:
    if _is_dataframe(raw) or isinstance(raw, Mapping):
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
        return _encode_text(name, array, encode_categories, kind="variable")
    return _numeric(name, array), None


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


# --- tables --------------------------------------------------------------------------------------


def _from_table_text(text: str, path: Path, sep: str, encode_categories: bool, max_elements: int) -> Dataset:
    import io

    import pandas as pd

    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} has no columns; it needs a header row and data rows", code="data.empty") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path} is not a well-formed table: {err}; every row needs the same number of "
                        "fields as the header", code="data.bad_csv") from None
    return _from_frame(frame, encode_categories, max_elements, origin=str(path))


def _from_frame(frame, encode_categories: bool, max_elements: int, origin: str | None) -> Dataset:
    where = origin or "the table"
    if frame.shape[1] == 0:
        raise DataError(f"{where} has no columns", code="data.empty")
    if frame.shape[0] == 0:
        raise DataError(f"{where} has a header but no rows; add data rows", code="data.empty")
    names = [str(c).strip() for c in frame.columns]
    for name in names:
        _check_name(name, "column")
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise DataError(f"{where} has more than one column named {', '.join(map(repr, duplicated))}; "
                        "rename them", code="data.bad_name")
    values, levels = {}, {}
    for name, column in zip(names, (frame.iloc[:, i] for i in range(frame.shape[1]))):
        array, level_names = _column_array(name, column, encode_categories)
        _check_array(name, array, max_elements, unit="column")
        values[name] = _freeze(array)
        if level_names is not None:
            levels[name] = level_names
    added = ()
    if "N" not in values:  # the row count, as Stan programs over a table expect
        values = {"N": _freeze(np.asarray(frame.shape[0], dtype=np.int64)), **values}
        added = ("N",)
    return Dataset(values, levels, added, origin)


def _column_array(name: str, column, encode_categories: bool) -> tuple[np.ndarray, tuple[str, ...] | None]:
    import pandas as pd

    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _encode_categorical(name, column, encode_categories)
    if pd.api.types.is_bool_dtype(dtype) and not column.isna().any():
        return column.to_numpy(dtype=np.int64), None
    if pd.api.types.is_integer_dtype(dtype) and not column.isna().any():
        return column.to_numpy(dtype=np.int64), None
    if pd.api.types.is_numeric_dtype(dtype):
        # Nullable ints with gaps become float here only to be reported as missing below.
        return column.to_numpy(dtype=np.float64, na_value=np.nan), None
    missing = column.isna().to_numpy()
    if missing.any():
        _raise_missing(name, missing, unit="column")
    text = column.astype(str).to_numpy()
    numeric = pd.to_numeric(column, errors="coerce")
    if not numeric.isna().any():  # e.g. an object column of Python numbers
        return _numeric(name, np.asarray(numeric)), None
    return _encode_text(name, text.astype(str), encode_categories, kind="column")


def _encode_categorical(name: str, column, encode_categories: bool):
    if not encode_categories:
        _raise_text(name, column.astype(str).to_numpy(), "column")
    missing = column.isna().to_numpy()
    if missing.any():
        _raise_missing(name, missing, unit="column")
    return column.cat.codes.to_numpy(dtype=np.int64) + 1, tuple(str(c) for c in column.cat.categories)


def _encode_text(name: str, text: np.ndarray, encode_categories: bool, kind: str):
    if not encode_categories:
        _raise_text(name, text, kind)
    level_names, codes = np.unique(text, return_inverse=True)
    return (codes.reshape(text.shape) + 1).astype(np.int64), tuple(str(x) for x in level_names)


def _raise_text(name: str, text: np.ndarray, kind: str):
    distinct = list(dict.fromkeys(text.ravel().tolist()))
    example = ", ".join(repr(x) for x in distinct[:3]) + (", ..." if len(distinct) > 3 else "")
    raise DataError(f"{kind} '{name}' holds text ({example}; {len(distinct)} distinct values); encode the "
                    "categories as integers 1..K, or load with encode_categories=True (CLI: "
                    "--encode-categories) to have boxloop do it", code="data.string_column")


# --- shared checks -------------------------------------------------------------------------------


def _check_name(name, kind: str) -> None:
    if not isinstance(name, str):
        raise DataError(f"{kind} name {name!r} is not text; name every {kind} with a Stan identifier",
                        code="data.bad_name")
    if _IDENTIFIER.match(name) and not name.endswith("__") and name not in STAN_RESERVED:
        return
    reason = "is a reserved word in Stan" if name in STAN_RESERVED else "is not a valid Stan variable name"
    raise DataError(f"{kind} '{name}' {reason}; rename it, e.g. to '{_suggest_name(name)}' (letters, digits "
                    "and _, starting with a letter, not ending in __)", code="data.bad_name")


def _suggest_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_]+", "_", name.strip()).strip("_") or "x"
    if not cleaned[0].isalpha():
        cleaned = "v_" + cleaned
    cleaned = cleaned.rstrip("_") or "x"
    return cleaned + "_" if cleaned in STAN_RESERVED else cleaned


def _check_array(name: str, array: np.ndarray, max_elements: int, unit: str) -> None:
    if array.size > max_elements:
        raise DataError(f"{unit} '{name}' has {array.size:,} values, over the limit of {max_elements:,}; "
                        "subsample it, or raise max_elements (CLI: --max-elements)", code="data.too_large")
    if array.dtype.kind != "f":
        return
    missing = np.isnan(array)
    if missing.any():
        _raise_missing(name, missing, unit)
    infinite = np.isinf(array)
    if infinite.any():
        positions = _positions(name, infinite, unit)
        raise DataError(f"{unit} '{name}' has {int(infinite.sum())} infinite value(s) ({positions}); "
                        "replace or drop them before fitting", code="data.nonfinite")


def _raise_missing(name: str, missing: np.ndarray, unit: str):
    raise DataError(f"{unit} '{name}' has {int(missing.sum())} missing value(s) ({_positions(name, missing, unit)}); "
                    "drop or impute them before fitting", code="data.missing_value")


def _positions(name: str, mask: np.ndarray, unit: str) -> str:
    """The first few flagged places, 1-based: rows for table columns, Stan indices otherwise."""
    where = np.argwhere(np.atleast_1d(mask))
    more = len(where) - _SHOWN
    if unit == "column":
        shown = "rows " + ", ".join(str(int(i[0]) + 1) for i in where[:_SHOWN])
    elif mask.ndim == 0:
        shown = name
    else:
        shown = ", ".join(name + _stan_index(tuple(int(k) for k in i)) for i in where[:_SHOWN])
    return shown + (f" and {more} more" if more > 0 else "")


def _stan_index(index: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(i + 1) for i in index) + "]"


def _freeze(array: np.ndarray) -> np.ndarray:
    array = np.array(array, copy=True)
    array.setflags(write=False)
    return array


def _is_dataframe(value) -> bool:
    # Checked by name so that dicts and paths never import pandas.
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")


def nearest_names(name: str, names) -> list[str]:
    """Up to three names close to `name`, for 'did you mean' hints."""
    return difflib.get_close_matches(name, list(names), n=3, cutoff=0.6)
