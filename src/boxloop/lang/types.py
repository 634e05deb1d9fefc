"""Value types, supports and library signatures shared by the checker, compiler and decoder.

A Stan declaration has a *value type* (what the checker reasons about: int/real scalar, vector,
row_vector, matrix, each possibly inside arrays) and a *support* (what the declared constraint
guarantees about every element). Library entries describe arguments in the same two terms.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

# --- value types -------------------------------------------------------------------------------

SCALAR_KINDS = ("int", "real")
CONTAINER_KINDS = ("vector", "row_vector", "matrix")
VALUE_KINDS = SCALAR_KINDS + CONTAINER_KINDS


@dataclass(frozen=True)
class ValueType:
    """The static type of an expression: a kind, wrapped in `array_dims` levels of array."""

    kind: str
    array_dims: int = 0

    @property
    def is_int(self) -> bool:
        return self.kind == "int"

    @property
    def is_scalar(self) -> bool:
        return self.kind in SCALAR_KINDS and self.array_dims == 0

    @property
    def is_real_valued(self) -> bool:
        return self.kind != "int"

    @property
    def element(self) -> "ValueType":
        """The type after one level of indexing."""
        if self.array_dims:
            return ValueType(self.kind, self.array_dims - 1)
        if self.kind == "matrix":
            return ValueType("row_vector")
        if self.kind in ("vector", "row_vector"):
            return ValueType("real")
        raise TypeError(f"{self} cannot be indexed")

    def indexed(self, kept) -> "ValueType":
        """The type after indexing; `kept[k]` says index k keeps its dimension (a slice or a
        multi-index) rather than dropping it (a single index)."""
        array_kept = list(kept[: self.array_dims])
        inner = list(kept[self.array_dims:])
        kind = self.kind
        if kind == "matrix" and len(inner) == 1:
            kind = "matrix" if inner[0] else "row_vector"
        elif kind == "matrix" and inner:
            kind = {(True, True): "matrix", (True, False): "vector", (False, True): "row_vector",
                    (False, False): "real"}[(inner[0], inner[1])]
        elif kind in ("vector", "row_vector") and inner:
            kind = kind if inner[0] else "real"
        return ValueType(kind, self.array_dims - len(array_kept) + sum(array_kept))

    @property
    def rank(self) -> int:
        """Number of indices that reach a scalar."""
        return self.array_dims + {"int": 0, "real": 0, "vector": 1, "row_vector": 1, "matrix": 2}[self.kind]

    def __str__(self) -> str:
        return "array[" + ",".join("" for _ in range(self.array_dims)) + "] " + self.kind if self.array_dims else self.kind


INT = ValueType("int")
REAL = ValueType("real")
VECTOR = ValueType("vector")
ROW_VECTOR = ValueType("row_vector")
MATRIX = ValueType("matrix")

# Declared kinds that are constrained versions of a container; the value type is the container.
CONSTRAINED_KINDS = {
    "simplex": "vector",
    "unit_vector": "vector",
    "ordered": "vector",
    "positive_ordered": "vector",
    "cholesky_factor_corr": "matrix",
    "cholesky_factor_cov": "matrix",
    "corr_matrix": "matrix",
    "cov_matrix": "matrix",
}
DECLARABLE_KINDS = VALUE_KINDS + tuple(CONSTRAINED_KINDS)


def value_kind(declared_kind: str) -> str:
    """The value kind behind a declared kind (`simplex` -> `vector`)."""
    return CONSTRAINED_KINDS.get(declared_kind, declared_kind)


# --- supports ----------------------------------------------------------------------------------

INF = math.inf


@dataclass(frozen=True)
class Interval:
    """A set of reals known to contain every element of a value. Endpoints may be +-inf.

    `integer` says every element is an integer, which lets [0, inf) integer mean "count".
    """

    lo: float = -INF
    hi: float = INF
    lo_closed: bool = False
    hi_closed: bool = False
    integer: bool = False

    def contains(self, other: "Interval") -> bool:
        """True when every point of `other` is provably inside self."""
        if other.is_empty:
            return True
        lo_ok = other.lo > self.lo or (other.lo == self.lo and (self.lo_closed or not other.lo_closed))
        hi_ok = other.hi < self.hi or (other.hi == self.hi and (self.hi_closed or not other.hi_closed))
        return lo_ok and hi_ok

    def disjoint(self, other: "Interval") -> bool:
        """True when no point of `other` can lie inside self: a provable violation."""
        if self.is_empty or other.is_empty:
            return True
        if other.hi < self.lo or other.lo > self.hi:
            return True
        if other.hi == self.lo:
            return not (other.hi_closed and self.lo_closed)
        if other.lo == self.hi:
            return not (other.lo_closed and self.hi_closed)
        return False

    @property
    def is_empty(self) -> bool:
        return self.lo > self.hi or (self.lo == self.hi and not (self.lo_closed and self.hi_closed))

    def __str__(self) -> str:
        if self == REAL_LINE:
            return "(-inf, inf)"
        left = "[" if self.lo_closed else "("
        right = "]" if self.hi_closed else ")"
        text = f"{left}{_fmt(self.lo)}, {_fmt(self.hi)}{right}"
        return text + " (integer)" if self.integer else text


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return str(int(x)) if float(x).is_integer() else repr(x)


REAL_LINE = Interval()
POSITIVE = Interval(0.0, INF, lo_closed=False)
NONNEGATIVE = Interval(0.0, INF, lo_closed=True)
UNIT_OPEN = Interval(0.0, 1.0)
UNIT_CLOSED = Interval(0.0, 1.0, True, True)
INTEGERS = Interval(integer=True)
COUNTS = Interval(0.0, INF, lo_closed=True, integer=True)
POSITIVE_INTS = Interval(1.0, INF, lo_closed=True, integer=True)
BINARY = Interval(0.0, 1.0, True, True, integer=True)


@dataclass(frozen=True)
class Structure:
    """A support that is a property of the whole container, not of each element."""

    name: str  # simplex, ordered, positive_ordered, unit_vector, cholesky_factor_corr,
    # cholesky_factor_cov, corr_matrix, cov_matrix

    def __str__(self) -> str:
        return self.name


Support = Interval | Structure

# --- library signatures ------------------------------------------------------------------------

@dataclass(frozen=True)
class Arg:
    """A named argument (or the variate) of a distribution, with the support it must lie in.

    `shape` is written in the shorthand of `boxloop.lang.signatures`: a Stan type ("real",
    "array[] int", ...), one of Stan's vectorisation sets ("reals": real, vector, row_vector or
    array[] real; "ints": int or array[] int; "vectors": vector, row_vector or arrays of them), or
    alternatives ("row_vector|matrix")."""

    name: str
    shape: str
    support: Support = REAL_LINE


@dataclass(frozen=True)
class Signature:
    """One concrete overload, in Stan's types: `hypot(array[] real, real) => array[] real`.

    `impl`, when set, computes this overload instead of the function's `impl`: vectors and row
    vectors are both 1-d arrays, so overloads such as append_row(vector, vector) and
    append_row(row_vector, row_vector) cannot be told apart from the values alone."""

    params: tuple[ValueType, ...]
    returns: ValueType
    impl: Callable | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"({', '.join(str(p) for p in self.params)}) => {self.returns}"


def promoted(t: ValueType) -> ValueType | None:
    """What `t` promotes to in Stan (int to real, element by element through arrays), or None."""
    return ValueType("real", t.array_dims) if t.kind == "int" else None


def fits(param: ValueType, arg: ValueType) -> bool:
    """Does an argument of type `arg` fit a parameter of type `param`, itself or by promotion?"""
    return arg == param or promoted(arg) == param


class Overloads:
    """Concrete signatures indexed for Stan's overload resolution: a signature fits when every
    argument has its parameter's type or promotes to it; the fit needing fewest promotions wins."""

    def __init__(self, signatures):
        self._index: dict[tuple[ValueType, ...], Signature] = {}
        for s in signatures:
            self._index.setdefault(s.params, s)

    def __iter__(self):
        return iter(self._index.values())

    def __len__(self) -> int:
        return len(self._index)

    def resolve(self, types) -> Signature | None:
        """The signature a call with argument `types` binds to, or None when none fits."""
        types = tuple(types)
        exact = self._index.get(types)
        if exact is not None:
            return exact
        promotable = [k for k, t in enumerate(types) if promoted(t) is not None]
        for count in range(1, len(promotable) + 1):
            for chosen in itertools.combinations(promotable, count):
                candidate = tuple(promoted(t) if k in chosen else t for k, t in enumerate(types))
                hit = self._index.get(candidate)
                if hit is not None:
                    return hit
        return None


@dataclass(frozen=True)
class Distribution:
    """One row of the distribution table.

    `lpdf(m, y, *args)` returns the fully normalised log density (constants kept) broadcast
    elementwise over vectorised arguments: one entry per observation for univariate families, one per
    vector for multivariate ones. `m` is an ops namespace (`boxloop.lang.ops.NUMPY` or `.JAX`), so the
    same formula is checked against scipy and traced by JAX.
    `lcdf`/`lccdf` (same calling convention) give truncation normalisers; None where Stan has none.
    `sample(m, key, *args, shape)` draws variates (JAX only); None where not generative.

    The density's signatures are the product of the variate's and the arguments' shapes, unless
    `overloads` lists them (variate first) where Stan allows only some combinations. `rng_args` are
    the `_rng` function's parameters where they differ from `args` (lkj_corr_rng(K, eta)), and
    `rng_returns` its return type where the vectorisation rule does not give it. `rng` says Stan has
    the `_rng` function; `sample` may exist without it, to simulate `~` statements forward.
    """

    name: str
    args: tuple[Arg, ...]
    variate: Arg
    lpdf: Callable
    lcdf: Callable | None = None
    lccdf: Callable | None = None
    sample: Callable | None = None
    multivariate: bool = False
    stan: str = ""
    numpyro: str = ""
    pymc: str = ""
    overloads: tuple[Signature, ...] = ()
    rng_args: tuple[Arg, ...] | None = None
    rng_returns: str | None = None
    rng: bool = True

    @property
    def discrete(self) -> bool:
        return isinstance(self.variate.support, Interval) and self.variate.support.integer

    @property
    def arg_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.args)


@dataclass(frozen=True)
class Function:
    """One row of the function table.

    `signatures` are concrete (the table writes them in `boxloop.lang.signatures`' shorthand).
    `impl(m, *args)` computes the value with ops namespace `m`. `domain` gives, per parameter, the
    support each argument must lie in (None: anything). `interval(*arg_intervals)` maps what is known of
    the arguments to what is known of the result (the sign analysis behind phi-5); None means nothing is
    known (the real line).
    """

    name: str
    signatures: tuple[Signature, ...]
    impl: Callable
    domain: tuple[Support | None, ...] | None = None
    interval: Callable[..., Interval] | None = None
    stan: str = ""
    numpyro: str = ""
    pymc: str = ""
    overloads: Overloads = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "overloads", Overloads(self.signatures))
