"""Matching values against library signatures and declared constraints.

Declared constraints give intervals (what the checker may assume of a variable); library entries give
required supports and shapes (what an argument must satisfy). This module relates the two.
"""

from __future__ import annotations

from . import ast, library
from . import intervals as iv
from .signatures import choices
from .types import INF, REAL, REAL_LINE, Interval, ValueType, fits

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
    if name in ("sort_asc", "cumulative_sum") and s and s[0] == "positive_ordered":
        return "ordered"
    return None
