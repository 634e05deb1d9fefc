"""Matching values against library signatures and declared constraints.

Declared constraints give intervals (what the checker may assume of a variable); library entries give
required supports and shapes (what an argument must satisfy). This module relates the two.
"""

from __future__ import annotations

from . import ast, library
from . import intervals as iv
from .signatures import choices
from .types import INF, POSITIVE, REAL, REAL_LINE, Interval, ValueType, fits

SIGNATURE_SHAPES = {
    "real": "a real scalar",
    "int": "an integer scalar",
    "reals": "a real scalar, vector, row_vector or one-dimensional real array",
    "ints": "an integer or a one-dimensional integer array",
    "vectors": "a vector, a row_vector, or an array of them",
}


def describe_shape(shape: str) -> str:
    """What an argument written `shape` must be, in words ("a vector or matrix")."""
    if shape in SIGNATURE_SHAPES:
        return SIGNATURE_SHAPES[shape]
    alternatives = [SIGNATURE_SHAPES.get(a, f"{'an' if a[0] in 'aeiou' else 'a'} {a}") for a in shape.split("|")]
    return " or ".join(alternatives)


def shape_matches(shape: str, t: ValueType) -> bool:
    """Does a value of type `t` fit an argument written `shape` (itself or by promotion)?"""
    return any(fits(c, t) for c in choices(shape))


def match_signature(spec, types: list[ValueType]) -> ValueType | None:
    """The result type of the overload of `spec` a call with argument `types` binds to, or None."""
    sig = spec.overloads.resolve(types)
    return None if sig is None else sig.returns


def dist_result_type(spec, types: list[ValueType]) -> ValueType | None:
    """What `foo_rng(args)` returns (None when no signature fits)."""
    sig = library.rng_overloads(spec.name).resolve(types)
    return None if sig is None else sig.returns


def density_fits(spec, types: list[ValueType]) -> bool:
    """Does `foo_lpdf(types[0] | types[1:])` (or its cdfs) have a signature?"""
    return library.density_overloads(spec.name).resolve(types) is not None


def call_type(name: str, types: list[ValueType]) -> ValueType | None:
    """The type boxloop gives the call `name(types...)`, or None when it has no such signature:
    functions, and distributions' `_lpdf`/`_lpmf`/`_lcdf`/`_lccdf`/`_cdf`/`_rng` forms."""
    resolved = library.resolve_suffixed(name)
    if resolved is not None:
        spec, suffix = resolved
        if suffix == "rng":
            return dist_result_type(spec, types)
        return REAL if density_fits(spec, types) else None
    spec = library.function(name)
    return None if spec is None else match_signature(spec, types)


# ---- declared constraints ---------------------------------------------------------------------------

_KIND_INTERVAL = {
    "simplex": Interval(0.0, 1.0, True, True),
    "unit_vector": Interval(-1.0, 1.0, True, True),
    "positive_ordered": Interval(0.0, INF, False, False),
    "cholesky_factor_corr": Interval(-1.0, 1.0, True, True),
    "corr_matrix": Interval(-1.0, 1.0, True, True),
}

_STRUCTURE_KINDS = ("simplex", "unit_vector", "ordered", "positive_ordered", "cholesky_factor_corr",
                    "cholesky_factor_cov", "corr_matrix", "cov_matrix")


def declared_structure(kind: str) -> str | None:
    return kind if kind in _STRUCTURE_KINDS else None


def declared_interval(t: ast.TypeSpec, bound_interval, is_param: bool = False) -> Interval:
    """What a declaration guarantees of every element. Parameter bounds are open: the sampler reaches
    them only in the limit (x = a + exp(u)); data may sit on a bound, so data bounds are closed."""
    base = _KIND_INTERVAL.get(t.kind, REAL_LINE)
    if t.kind == "int":
        base = Interval(integer=True)
    lo = bound_interval(t.lower) if t.lower is not None else None
    hi = bound_interval(t.upper) if t.upper is not None else None
    if lo is not None:
        base = iv.meet(base, Interval(lo.lo, INF, lo.lo_closed and not is_param, False))
    if hi is not None:
        base = iv.meet(base, Interval(-INF, hi.hi, False, hi.hi_closed and not is_param))
    return base


# Which structures satisfy which requirement (a Cholesky factor of a correlation matrix is also a
# Cholesky factor of a covariance matrix, and so on).
_SATISFIES = {
    "simplex": {"simplex"},
    "ordered": {"ordered", "positive_ordered"},
    "positive_ordered": {"positive_ordered"},
    "unit_vector": {"unit_vector"},
    "cholesky_factor_corr": {"cholesky_factor_corr"},
    "cholesky_factor_cov": {"cholesky_factor_cov", "cholesky_factor_corr"},
    "corr_matrix": {"corr_matrix"},
    "cov_matrix": {"cov_matrix", "corr_matrix"},
}


def structure_ok(required: str, have: str | None) -> bool | None:
    """True: provably satisfied; False: provably another structure; None: unknown."""
    if have is None:
        return None
    return have in _SATISFIES.get(required, {required})


def function_structure(name: str, args) -> str | None:
    """Structures that library functions are known to produce."""
    s = [a.structure for a in args]
    if name == "softmax":
        return "simplex"
    if name == "cholesky_decompose":
        return "cholesky_factor_cov"
    if name == "diag_pre_multiply" and len(s) == 2 and s[1] in ("cholesky_factor_corr", "cholesky_factor_cov") \
            and args[0].interval.lo >= 0:
        return "cholesky_factor_cov"
    if name in ("multiply_lower_tri_self_transpose", "tcrossprod") and s and s[0] in (
            "cholesky_factor_corr", "cholesky_factor_cov"):
        return "corr_matrix" if s[0] == "cholesky_factor_corr" and name != "tcrossprod" else "cov_matrix"
    if name == "gp_exp_quad_cov":
        return "cov_matrix"
    if name == "add_diag" and s and s[0] == "cov_matrix":
        return "cov_matrix"
    if name == "quad_form_diag" and s and s[0] in ("corr_matrix", "cov_matrix"):
        return "cov_matrix"
    if name == "diag_matrix" and args and args[0].interval.lo >= 0:
        return "cov_matrix"
    if name == "identity_matrix":
        return "corr_matrix"
    if name in ("inverse", "inverse_spd") and s and s[0] in ("cov_matrix", "corr_matrix"):
        return "cov_matrix"
    if name in ("sort_asc", "cumulative_sum") and s and s[0] == "positive_ordered":
        return "ordered"
    return None


# ---- what interval arithmetic alone misses ---------------------------------------------------------
#
# Interval arithmetic treats every occurrence of a quantity as independent, so `x / (x + y)` looks
# unbounded and `x * q + y * (1 - q)` looks wider than it is. The rules below recognise the forms
# the corpus writes, and say when an interval is exact: its ends are attained (or approached) by
# values the program really takes, which is what turns "reaches outside the support" into a proof.

_ELEMENTWISE_EXACT = {"+", "-", ".*", "./", "*", "/"}


def _is_point(a: Interval) -> bool:
    return a.lo == a.hi and a.lo_closed and a.hi_closed


def free_parameter(expr, info) -> bool:
    """A parameter (or an element of one) named directly: each of its elements ranges over the whole
    declared interval, whatever the others do."""
    while isinstance(expr, ast.Index):
        expr = expr.base
    return isinstance(expr, ast.Var) and info.exact and info.param_dep


def binary_exact(op: str, left, right, a, b) -> bool:
    """Is the interval of `left op right` exact, given the facts `a`, `b` about its operands?

    Sums, differences, products and quotients of exact operands are exact when the operands share
    no variable (each may then take its extreme independently) and a divisor cannot be 0; between
    two containers, element i meets element i, so one side must be a parameter whose every element
    roams its interval. Powers are exact with a constant integer exponent."""
    if not (a.exact and b.exact):
        return False
    if op in ("^", ".^"):
        return _is_point(b.interval) and float(b.interval.lo).is_integer()
    if op not in _ELEMENTWISE_EXACT:
        return False
    if not (a.vtype.is_scalar or b.vtype.is_scalar):
        if op in ("*", "/"):
            return False  # matrix products and divisions sum over terms
        if not (free_parameter(left, a) or free_parameter(right, b)):
            return False
    if op in ("/", "./") and not (b.interval.lo > 0 or b.interval.hi < 0):
        return False
    if _is_point(a.interval) or _is_point(b.interval):
        return True
    return not (ast.free_names(left) & ast.free_names(right))


def _terms(e, sign: int = 1) -> list[tuple[int, object]]:
    """A sum or difference as signed terms: `a + 1 - b` -> [(1, a), (1, 1), (-1, b)]."""
    if isinstance(e, ast.Binary) and e.op in ("+", "-"):
        return _terms(e.left, sign) + _terms(e.right, sign if e.op == "+" else -sign)
    return [(sign, e)]


def _factors(e) -> list:
    if isinstance(e, ast.Binary) and e.op in ("*", ".*"):
        return _factors(e.left) + _factors(e.right)
    return [e]


def _nonnegative(a: Interval) -> bool:
    return a.lo >= 0


def _share(e: ast.Binary, interval_of) -> Interval | None:
    """x / (x + r) with x and the rest r of the sum nonnegative lies in [0, 1]."""
    if e.op not in ("/", "./"):
        return None
    terms = _terms(e.right)
    if len(terms) < 2 or (1, e.left) not in terms:
        return None
    rest = list(terms)
    rest.remove((1, e.left))
    total = iv.point(0.0)
    for sign, t in rest:
        total = iv.add(total, interval_of(t) if sign > 0 else iv.neg(interval_of(t)))
    if _nonnegative(interval_of(e.left)) and _nonnegative(total):
        return Interval(0.0, 1.0, True, True)
    return None


def _complement_of(e):
    """q when `e` is `1 - q`."""
    if isinstance(e, ast.Binary) and e.op == "-" and e.left in (ast.IntLit(1), ast.RealLit(1.0)):
        return e.right
    return None


def _weighted(term, weight) -> object | None:
    """The product `term` without its factor `weight` (None when `weight` is not a factor)."""
    factors = _factors(term)
    if weight not in factors:
        return None
    rest = list(factors)
    rest.remove(weight)
    out = rest[0] if rest else ast.IntLit(1)
    for f in rest[1:]:
        out = ast.Binary("*", out, f)
    return out


def _mixture(e: ast.Binary, interval_of) -> Interval | None:
    """x * q + y * (1 - q) with q in [0, 1] lies between x and y (a convex combination)."""
    if e.op != "+":
        return None
    for first, second in ((e.left, e.right), (e.right, e.left)):
        for factor in _factors(second):
            q = _complement_of(factor)
            if q is None:
                continue
            x, y = _weighted(first, q), _weighted(second, factor)
            if x is not None and y is not None and Interval(0.0, 1.0, True, True).contains(interval_of(q)):
                return iv.hull(interval_of(x), interval_of(y))
    return None


def structural_interval(e: ast.Binary, interval_of) -> Interval | None:
    """A bound for `e` from its form (shares of a sum, convex combinations), or None. `interval_of`
    gives what is known of a sub-expression."""
    return _share(e, interval_of) or _mixture(e, interval_of)


def structured_element(structure: str | None, indices) -> Interval | None:
    """What an element of a structured matrix is known to be: a covariance matrix's diagonal is
    positive, a correlation matrix's diagonal is 1 and its other elements lie in [-1, 1]."""
    if structure not in ("cov_matrix", "corr_matrix") or len(indices) != 2:
        return None
    diagonal = indices[0] == indices[1] and not isinstance(indices[0], ast.Slice)
    if structure == "cov_matrix":
        return POSITIVE if diagonal else None
    return iv.point(1.0) if diagonal else None


def structured_result(name: str, args) -> Interval | None:
    """What a function of a structured argument is known to give: a covariance or correlation
    matrix has a positive determinant."""
    if name == "determinant" and args and args[0].structure in ("cov_matrix", "corr_matrix"):
        return POSITIVE
    return None
