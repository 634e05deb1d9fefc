"""Does the data fit a program's `data` block? One `DataMismatch` per problem, each saying what
was declared, what the data holds, and where.

The program side arrives as `DataDecl`s whose sizes are already evaluated (the caller owns
parsing and expression evaluation), so this module only compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from boxloop.data.load import Dataset, nearest_names

VECTOR_KINDS = frozenset({"vector", "row_vector", "simplex", "unit_vector", "ordered", "positive_ordered"})
SQUARE_KINDS = frozenset({"cov_matrix", "corr_matrix", "cholesky_factor_corr"})
MATRIX_KINDS = frozenset({"matrix", "cholesky_factor_cov"}) | SQUARE_KINDS
_TOL = 1e-8  # Stan's tolerance for simplex sums, unit norms and symmetry


@dataclass(frozen=True)
class DataDecl:
    """One data-block declaration. `kind` is the declared type (int, real, vector, row_vector,
    matrix, simplex, unit_vector, ordered, positive_ordered, cov_matrix, corr_matrix,
    cholesky_factor_corr, cholesky_factor_cov); `array_sizes` the enclosing `array[...]`
    dimensions and `sizes` the type's own (`vector[N]` -> (N,), `cov_matrix[K]` -> (K,)), each an
    int or None when it could not be evaluated; `lower`/`upper` the constant bounds, if any."""

    name: str
    kind: str
    array_sizes: tuple[int | None, ...] = ()
    sizes: tuple[int | None, ...] = ()
    lower: float | None = None
    upper: float | None = None
    line: int = 0
    column: int = 0


@dataclass(frozen=True)
class DataMismatch:
    code: str  # data.missing_variable | data.type_mismatch | data.shape_mismatch | data.bounds | data.constraint
    name: str
    message: str
    line: int
    column: int


def check_data_against(decls, dataset: Dataset | Mapping) -> list[DataMismatch]:
    """Every way the data disagrees with `decls`, in declaration order. Variables in the data
    that no declaration mentions are fine (Stan ignores them too)."""
    values = dataset.values if isinstance(dataset, Dataset) else dataset
    found: list[DataMismatch] = []
    for decl in decls:
        found.extend(_check_one(decl, values))
    return found


def _check_one(decl: DataDecl, values: Mapping) -> list[DataMismatch]:
    def mismatch(code: str, message: str) -> DataMismatch:
        return DataMismatch(code, decl.name, message, decl.line, decl.column)

    if decl.name not in values:
        close = nearest_names(decl.name, values)
        hint = f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""
        have = ", ".join(values) or "nothing"
        return [mismatch("data.missing_variable",
                         f"'{decl.name}' is declared in the data block but the data has no '{decl.name}'{hint}; "
                         f"the data has: {have}")]
    array = np.asarray(values[decl.name])
    shape_problem = _shape_problem(decl, array)
    if shape_problem:
        return [mismatch("data.shape_mismatch", shape_problem)]
    type_problem = _type_problem(decl, array)
    if type_problem:
        return [mismatch("data.type_mismatch", type_problem)]
    found = [mismatch("data.bounds", m) for m in _bounds_problems(decl, array)]
    constraint = _constraint_problem(decl, array)
    if constraint:
        found.append(mismatch("data.constraint", constraint))
    return found


# --- shape ---------------------------------------------------------------------------------------


def expected_shape(decl: DataDecl) -> tuple[int | None, ...]:
    """The numpy shape the declaration asks for (None where a size is unknown)."""
    own = tuple(decl.sizes)
    if decl.kind in SQUARE_KINDS or (decl.kind == "cholesky_factor_cov" and len(own) == 1):
        own = own[:1] * 2  # cov_matrix[K] is K x K; cholesky_factor_cov[M] is M x M
    return tuple(decl.array_sizes) + own


def _shape_problem(decl: DataDecl, array: np.ndarray) -> str | None:
    expected = expected_shape(decl)
    # Stan-JSON writes any empty array as [], whatever its rank.
    if array.size == 0 and array.ndim == 1 and any(e == 0 for e in expected):
        return None
    if array.ndim != len(expected):
        return (f"'{decl.name}' is declared as {_describe_shape(decl, expected)} but the data holds "
                f"{_describe_data(array)}; change the declaration or the data so they agree")
    for axis, (want, have) in enumerate(zip(expected, array.shape)):
        if want is not None and want != have:
            where = f"dimension {axis + 1} of " if len(expected) > 1 else ""
            return (f"{where}'{decl.name}' is declared with size {want} but the data has {have} "
                    f"(declared {_describe_shape(decl, expected)}, data {_describe_data(array)}); "
                    "check the size variable's value")
    return None


def _describe_shape(decl: DataDecl, expected: tuple[int | None, ...]) -> str:
    if not expected:
        return f"a scalar {decl.kind}"
    sizes = " x ".join("?" if e is None else str(e) for e in expected)
    return f"{decl.kind} with shape {sizes}" + (" (inside array[...])" if decl.array_sizes else "")


def _describe_data(array: np.ndarray) -> str:
    if array.ndim == 0:
        return f"a single number ({array.item()!r})"
    return "an array of shape " + " x ".join(map(str, array.shape))


# --- type ----------------------------------------------------------------------------------------


def _type_problem(decl: DataDecl, array: np.ndarray) -> str | None:
    if decl.kind != "int" or array.dtype.kind in "iub":
        return None
    fractional = array != np.round(array)
    if fractional.any():
        first = _first_index(fractional)
        return (f"'{decl.name}' is declared int but {decl.name}{first} = {_value_at(array, fractional)} is not "
                f"a whole number; declare it real (or vector), or round the data")
    example = f"{decl.name}{_first_index(np.ones(array.shape, bool))}" if array.ndim else decl.name
    return (f"'{decl.name}' is declared int but the data writes it as reals (e.g. {example} = "
            f"{array.ravel()[0]!r}); write the values without a decimal point, or declare it real")


# --- bounds and constraints ----------------------------------------------------------------------


def _bounds_problems(decl: DataDecl, array: np.ndarray) -> list[str]:
    found = []
    for bound, bad, side in ((decl.lower, lambda b: array < b, "lower"), (decl.upper, lambda b: array > b, "upper")):
        if bound is None or array.size == 0:
            continue
        violated = bad(bound)
        if violated.any():
            count = int(violated.sum())
            more = f" (and {count - 1} more value(s))" if count > 1 else ""
            found.append(f"{decl.name}{_first_index(violated)} = {_value_at(array, violated)}{more} but "
                         f"{decl.name} is declared <{side}={_fmt(bound)}>; fix the data or the bound")
    return found


def _constraint_problem(decl: DataDecl, array: np.ndarray) -> str | None:
    check = _CONSTRAINTS.get(decl.kind)
    if check is None or array.size == 0:
        return None
    core = 1 if decl.kind in VECTOR_KINDS else 2
    elements = array.reshape((-1,) + array.shape[array.ndim - core:])
    for i, element in enumerate(elements):
        problem = check(element.astype(np.float64))
        if problem:
            where = f"{decl.name}{_stan_index(np.unravel_index(i, array.shape[:array.ndim - core]))}" \
                if array.ndim > core else decl.name
            return f"{where} is declared {decl.kind} but {problem}"
    return None


def _simplex(v: np.ndarray) -> str | None:
    if (v < 0).any():
        return f"it has a negative entry ({_fmt(v.min())}); a simplex needs entries >= 0 summing to 1"
    if abs(v.sum() - 1) > _TOL:
        return f"its entries sum to {_fmt(v.sum())}, not 1; normalise it"
    return None


def _ordered(v: np.ndarray) -> str | None:
    if (np.diff(v) <= 0).any():
        i = int(np.argmax(np.diff(v) <= 0))
        return f"entry {i + 2} ({_fmt(v[i + 1])}) is not greater than entry {i + 1} ({_fmt(v[i])}); sort it"
    return None


def _positive_ordered(v: np.ndarray) -> str | None:
    if (v <= 0).any():
        return f"it has an entry <= 0 ({_fmt(v.min())}); entries must be positive and increasing"
    return _ordered(v)


def _unit_vector(v: np.ndarray) -> str | None:
    norm = float(np.sqrt(v @ v))
    return None if abs(norm - 1) <= _TOL else f"its length is {_fmt(norm)}, not 1; divide it by its norm"


def _cov_matrix(m: np.ndarray) -> str | None:
    if not np.allclose(m, m.T, rtol=0, atol=_TOL * max(1.0, float(np.abs(m).max()))):
        return "it is not symmetric"
    try:
        np.linalg.cholesky(m)
    except np.linalg.LinAlgError:
        return "it is not positive definite"
    return None


def _corr_matrix(m: np.ndarray) -> str | None:
    problem = _cov_matrix(m)
    if problem is None and np.abs(np.diag(m) - 1).max() > _TOL:
        problem = "its diagonal is not all 1"
    return problem


def _cholesky_cov(m: np.ndarray) -> str | None:
    if np.abs(np.triu(m, 1)).max(initial=0) > 0:
        return "it has non-zero entries above the diagonal; it must be lower triangular"
    if (np.diag(m) <= 0).any():
        return "its diagonal has entries <= 0"
    return None


def _cholesky_corr(m: np.ndarray) -> str | None:
    problem = _cholesky_cov(m)
    if problem is None and np.abs(np.sqrt((m * m).sum(axis=1)) - 1).max() > _TOL:
        problem = "its rows do not have unit length"
    return problem


_CONSTRAINTS = {
    "simplex": _simplex, "ordered": _ordered, "positive_ordered": _positive_ordered,
    "unit_vector": _unit_vector, "cov_matrix": _cov_matrix, "corr_matrix": _corr_matrix,
    "cholesky_factor_cov": _cholesky_cov, "cholesky_factor_corr": _cholesky_corr,
}


# --- formatting ----------------------------------------------------------------------------------


def _first_index(mask: np.ndarray) -> str:
    if mask.ndim == 0:
        return ""
    return _stan_index(np.unravel_index(int(np.argmax(mask)), mask.shape))


def _value_at(array: np.ndarray, mask: np.ndarray):
    value = array[mask].ravel()[0] if array.ndim else array.item()
    return _fmt(value)


def _stan_index(index) -> str:
    return "[" + ", ".join(str(int(i) + 1) for i in index) + "]"


def _fmt(x) -> str:
    x = float(x)
    return str(int(x)) if x.is_integer() and abs(x) < 1e15 else f"{x:.6g}"
