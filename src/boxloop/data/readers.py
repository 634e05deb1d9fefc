"""Files in, raw values out: Stan-JSON and R dump files give a mapping of names to values; tables
(CSV/TSV, Parquet, Feather) and polars frames give a pandas DataFrame for `table.read_frame`.

Nothing here decides what a value means. Files must be regular files: a FIFO or a device given as
data is refused before it is opened (reading one could block for ever).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from pathlib import Path

from boxloop.errors import DataError

# Cells that mean "no value" in tables, beyond pandas' own list (NA, NaN, null, N/A, None, ...).
MISSING_MARKERS = ("", "NA", "NaN", "nan", ".", "null", "NULL", "Null", "N/A", "n/a", "NA_integer_", "NA_real_")
_SNIFF_BYTES = 64 * 1024


def file_kind(path: Path) -> str:
    """json | rdump | csv | parquet | feather, from the file name."""
    name = path.name.lower()
    if name.endswith(".json"):
        return "json"
    if name.endswith((".r", ".rdump", ".rdata.txt")):
        return "rdump"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith((".parquet", ".pq")):
        return "parquet"
    if name.endswith((".feather", ".arrow")):
        return "feather"
    suffix = path.suffix or "(no suffix)"
    raise DataError(f"{path}: unknown data format '{suffix}'; give a Stan-JSON file (.json), an R dump file "
                    "(.data.R), or a table (.csv, .tsv, .parquet, .feather)", code="data.bad_format")


def require_regular_file(path: Path) -> None:
    """Refuse what is not a regular file (missing, a directory, a FIFO, a device, a socket)."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise DataError(f"data file {path} does not exist; check the path", code="data.not_found") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}", code="data.unreadable") from None
    if stat.S_ISDIR(mode):
        raise DataError(f"{path} is a directory; give the data file inside it", code="data.not_found")
    if not stat.S_ISREG(mode):
        what = "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else \
            "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file"
        raise DataError(f"{path} is {what}, not a data file; boxloop reads data only from regular files "
                        "(save the stream to a file first)", code="data.not_regular_file")


def read_text(path: Path) -> str:
    require_regular_file(path)
    try:
        return path.read_text(encoding="utf-8-sig")  # -sig: spreadsheets often write a BOM
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte {err.start}); save it as UTF-8",
                        code="data.unreadable") from None
    except OSError as err:
        raise DataError(f"cannot read {path}: {err.strerror}", code="data.unreadable") from None


# --- Stan-JSON ------------------------------------------------------------------------------------


def parse_json(text: str, origin: str) -> dict:
    """The JSON object in `text`; a key written twice in one object is an error, not 'last wins'."""
    try:
        document = json.loads(text, object_pairs_hook=lambda pairs: _unique_keys(pairs, origin))
    except json.JSONDecodeError as err:
        raise DataError(f"{origin} is not valid JSON: {err.msg} at line {err.lineno}, column {err.colno}; "
                        "fix the file (Stan-JSON is an object mapping names to numbers or nested lists)",
                        code="data.bad_json") from None
    if not isinstance(document, dict):
        raise DataError(f"{origin} holds a JSON {type(document).__name__}, not an object; Stan-JSON "
                        'maps names to values, e.g. {"N": 3, "y": [1, 0, 1]}', code="data.bad_json")
    return document


def _unique_keys(pairs, origin: str) -> dict:
    out = {}
    for key, value in pairs:
        if key in out:
            raise DataError(f"{origin} gives '{key}' more than once in one object; JSON readers disagree on "
                            "which value wins, so boxloop takes neither: keep one", code="data.duplicate_key")
        out[key] = value
    return out


# --- R dump ---------------------------------------------------------------------------------------

_R_TOKEN = re.compile(r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?)
  | (?P<name>`[^`]*`|"[^"]*"|'[^']*'|[A-Za-z.][A-Za-z0-9._]*)
  | (?P<assign><-|=)
  | (?P<punct>[(),:;\-+])
""", re.VERBOSE)
_R_ITEM = r"\s*(?:[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?L?|NA|NaN|-?Inf)\s*"
_R_PLAIN_VECTOR = re.compile(rf"c\(((?:{_R_ITEM},)*{_R_ITEM})\)")  # c(1, 2.5, NA): the common case, read at once
_R_CONSTANTS = {"NA": float("nan"), "NaN": float("nan"), "Inf": float("inf"), "TRUE": 1, "FALSE": 0,
                "T": 1, "F": 0, "NA_integer_": float("nan"), "NA_real_": float("nan")}
_R_EMPTY = {"integer": "int", "double": "real", "numeric": "real"}


class _RReader:
    """Reads `name <- value` assignments as CmdStan's rdump does: numbers, c(...), a:b,
    structure(c(...), .Dim = c(...)) in column-major order, integer(0), as.integer(...).
    A value is an int when every number in it is written as one (no point, no exponent).
    Each value is read as (flat values, dims or None, is_int, written as a bare scalar)."""

    def __init__(self, text: str, origin: str):
        self.text, self.origin, self.pos = text, origin, 0
        self._next = None  # the token at self.pos, once looked at

    def _fail(self, pos: int, what: str):
        line = self.text.count("\n", 0, pos) + 1
        raise DataError(f"{self.origin} is not an R dump file: {what} at line {line}; boxloop reads "
                        "`name <- value` lines with numbers, c(...), a:b and structure(..., .Dim = c(...)) "
                        "(as R's dump() writes them), not R code", code="data.bad_rdump")

    def peek(self):
        """(kind, text, start) of the next token, read lazily from `pos` (space and comments skipped)."""
        if self._next is None:
            pos = self.pos
            while True:
                m = _R_TOKEN.match(self.text, pos)
                if m is None:
                    if pos < len(self.text):
                        self._fail(pos, f"{self.text[pos]!r}, a character R dump files do not use")
                    self._next = ("end", "", pos, pos)
                    break
                if m.lastgroup != "space":
                    self._next = (m.lastgroup, m.group(), m.start(), m.end())
                    break
                pos = m.end()
        return self._next[:3]

    def take(self, kind=None, text=None):
        tok = self.peek()
        if (kind and tok[0] != kind) or (text and tok[1] != text):
            self._fail(tok[2], f"expected {text or kind}, found {tok[1] or 'the end of the file'!r}")
        self.pos, self._next = self._next[3], None
        return tok

    def assignments(self) -> dict:
        out = {}
        while self.peek()[0] != "end":
            if self.peek()[1] == ";":
                self.take()
                continue
            name = self.take("name")[1].strip("`\"'")
            self.take("assign")
            if name in out:
                raise DataError(f"{self.origin} assigns '{name}' more than once; keep one",
                                code="data.duplicate_key")
            out[name] = self.value()
        return out

    def value(self):
        kind, text, pos = self.peek()
        if kind == "name" and text == "c":
            plain = _R_PLAIN_VECTOR.match(self.text, pos)
            if plain:
                return self._plain_vector(plain)
        if kind == "name" and text == "structure":
            return self._structure()
        if kind == "name" and text in ("c", "as.integer", "as.double", "as.numeric"):
            self.take()
            self.take("punct", "(")
            items = [] if self.peek()[1] == ")" else self._items()
            self.take("punct", ")")
            values = [v for part in items for v in part[0]]
            is_int = all(part[2] for part in items) if text == "c" else text == "as.integer"
            if text == "as.integer":
                values = [int(v) if v == v and abs(v) != float("inf") else v for v in values]
            return values, None, is_int, False
        if kind == "name" and text in _R_EMPTY:
            self.take()
            self.take("punct", "(")
            self.take("number", "0")
            self.take("punct", ")")
            return [], None, _R_EMPTY[text] == "int", False
        return self._sequence()

    def _plain_vector(self, match):
        items = [item.strip() for item in match.group(1).split(",")]
        values, is_int = [], True
        for item in items:
            if item in _R_CONSTANTS or item.lstrip("-") in _R_CONSTANTS:
                value = _R_CONSTANTS[item.lstrip("-")]
                values.append(-value if item.startswith("-") else value)
                is_int = is_int and isinstance(value, int)
            elif item.endswith("L"):
                values.append(int(float(item[:-1])))
            elif re.search(r"[.eE]", item):
                values.append(float(item))
                is_int = False
            else:
                values.append(int(item))
        self.pos, self._next = match.end(), None
        return values, None, is_int, False

    def _items(self):
        items = [self.value()]
        while self.peek()[1] == ",":
            self.take()
            items.append(self.value())
        return items

    def _sequence(self):
        first, first_int = self._scalar()
        if self.peek()[1] != ":":
            return [first], None, first_int, True
        self.take()
        last, _ = self._scalar()
        step = 1 if last >= first else -1
        return list(range(int(first), int(last) + step, step)), None, True, False

    def _scalar(self):
        sign = 1
        while self.peek()[1] in ("-", "+"):
            sign = -sign if self.take()[1] == "-" else sign
        kind, text, pos = self.take()
        if kind == "number":
            if text.endswith("L"):
                return sign * int(float(text[:-1])), True
            is_int = not re.search(r"[.eE]", text)
            return sign * (int(text) if is_int else float(text)), is_int
        if kind == "name" and text[0] in "\"'":
            return text[1:-1], False  # text: a factor's labels
        if kind == "name" and text in _R_CONSTANTS:
            value = _R_CONSTANTS[text]
            return (sign * value if isinstance(value, float) else value), isinstance(value, int)
        self._fail(pos, f"{text!r} (a call or name where a number belongs)")

    def _structure(self):
        self.take()
        self.take("punct", "(")
        if self.peek()[1] == ".Data":
            self.take()
            self.take("assign")
        values, _, is_int, _ = self.value()
        dims = None
        while self.peek()[1] == ",":
            self.take()
            key = self.take("name")[1]
            self.take("assign")
            attribute = self.value()
            if key == ".Dim":
                dims = tuple(int(d) for d in attribute[0])
        self.take("punct", ")")
        return values, dims, is_int, False


def parse_rdump(text: str, origin: str) -> dict:
    """Names to numpy arrays (row-major, as Stan-JSON writes them; NA becomes NaN)."""
    import numpy as np

    out = {}
    for name, (values, dims, is_int, scalar) in _RReader(text, origin).assignments().items():
        whole = is_int and all(v == v for v in values)  # NA in an int vector is still missing
        text = any(isinstance(v, str) for v in values)
        array = np.asarray(values, dtype=object if text else np.int64 if whole else np.float64)
        if dims is not None:
            if int(np.prod(dims)) != array.size:
                raise DataError(f"{origin}: '{name}' has {array.size} values but .Dim = {list(dims)}; "
                                "fix the file", code="data.bad_rdump")
            array = array.reshape(dims, order="F")  # R stores arrays column-major
        out[name] = array[0] if scalar else array
    return out


# --- tables ---------------------------------------------------------------------------------------


def read_table_file(path: Path, kind: str, max_rows: int):
    """A pandas DataFrame of the table at `path`, at most `max_rows` + 1 rows read (the caller
    reports a table over its limit without ever holding all of it)."""
    require_regular_file(path)
    if kind == "csv":
        return _read_csv(path, max_rows)
    import pandas as pd

    reader = pd.read_parquet if kind == "parquet" else pd.read_feather
    try:
        frame = reader(path)
    except ImportError:
        raise DataError(f"reading {path.name} needs pyarrow, which is not installed; pip install pyarrow "
                        "(or save the table as CSV)", code="data.needs_package") from None
    except Exception as err:  # pyarrow raises its own types for corrupt files
        raise DataError(f"{path} is not a readable {kind} file: {err}", code="data.unreadable") from None
    return frame


def _read_csv(path: Path, max_rows: int):
    import pandas as pd

    sample = _sample(path)
    if not sample.strip():
        raise DataError(f"{path} is empty; it needs a header row and data rows", code="data.empty")
    sep, quote = _sniff(sample, path)
    decimal = "," if sep == ";" and re.search(r"\d,\d", sample) else "."
    try:
        return pd.read_csv(path, sep=sep, quotechar=quote, decimal=decimal, na_values=list(MISSING_MARKERS),
                           keep_default_na=True, skipinitialspace=True, nrows=max_rows + 1,
                           encoding="utf-8-sig", dtype_backend="numpy_nullable", low_memory=False)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} has no columns; it needs a header row and data rows", code="data.empty") from None
    except pd.errors.ParserError as err:
        raise DataError(f"{path} is not a well-formed table: {err}; every row needs the same number of "
                        "fields as the header", code="data.bad_csv") from None
    except UnicodeDecodeError as err:
        raise DataError(f"{path} is not UTF-8 text (byte {err.start}); save it as UTF-8",
                        code="data.unreadable") from None


def _sample(path: Path) -> str:
    with open(path, "rb") as handle:
        raw = handle.read(_SNIFF_BYTES)
    text = raw.decode("utf-8-sig", errors="ignore")
    return text if len(raw) < _SNIFF_BYTES else text[: text.rfind("\n") + 1] or text


def _sniff(sample: str, path: Path) -> tuple[str, str]:
    """(delimiter, quote character): a .tsv is tab-separated; otherwise the delimiter that
    splits the first lines into the same number of fields."""
    if path.name.lower().endswith(".tsv"):
        return "\t", '"'
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        sep, quote = dialect.delimiter, dialect.quotechar or '"'
    except csv.Error:
        sep, quote = _count_delimiter(sample), '"'
    return sep, quote if quote in "\"'" else '"'


def _count_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    best, best_score = ",", -1
    for sep in (",", "\t", ";", "|"):
        counts = [len(next(csv.reader(io.StringIO(line), delimiter=sep))) for line in lines]
        if counts and counts[0] > 1 and len(set(counts)) == 1 and counts[0] > best_score:
            best, best_score = sep, counts[0]
    return best


def polars_to_pandas(frame):
    """A polars DataFrame as pandas, column by column (no pyarrow needed): categoricals and enums
    keep their levels (an Enum is ordered), dates stay dates, nulls become missing."""
    import pandas as pd
    import polars as pl

    columns = {}
    for name in frame.columns:
        series = frame[name]
        if isinstance(series.dtype, (pl.Categorical, pl.Enum)):
            text = series.cast(pl.String).to_list()
            levels = list(series.dtype.categories) if isinstance(series.dtype, pl.Enum) else None
            columns[name] = pd.Categorical(text, categories=levels, ordered=isinstance(series.dtype, pl.Enum))
        elif series.dtype == pl.String:
            columns[name] = pd.array(series.to_list(), dtype=object)
        elif series.dtype.is_integer() and series.null_count():
            columns[name] = pd.array(series.to_list(), dtype="Int64")
        elif series.dtype == pl.Boolean and series.null_count():
            columns[name] = pd.array(series.to_list(), dtype="boolean")
        else:
            columns[name] = series.to_numpy()
    return pd.DataFrame(columns)


def is_polars_frame(value) -> bool:
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("polars")


def is_pandas_frame(value) -> bool:
    # Checked by name so that dicts and paths never import pandas.
    return type(value).__name__ == "DataFrame" and type(value).__module__.startswith("pandas")
