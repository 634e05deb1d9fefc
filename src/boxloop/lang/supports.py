"""Matching values against library signatures and declared constraints.

Declared constraints give intervals (what the checker may assume of a variable); library entries give
required supports and shapes (what an argument must satisfy). This module relates the two.
"""

from __future__ import annotations

from . import ast
from . import intervals as iv
from .types import (INF, REAL_LINE, Interval, Signature, ValueType)

SIGNATURE_SHAPES = {
    "real": "a real scalar",
    "int": "an integer scalar",
    "reals": "a real scalar, vector, row_vector or one-dimensional real array",
    "ints": "an integer or a one-dimensional integer array",
    "vector": "a vector",
    "row_vector": "a row_vector",
    "matrix": "a matrix",
    "vectors": "a vector, a row_vector, or an array of vectors",
    "int_array": "a one-dimensional integer array",
    "real_array": "a one-dimensional real array",
    "any": "any value",
}


def shape_matches(shape: str, t: ValueType) -> bool:
    """Does a value of type `t` fit an argument written `shape` in Stan's signature notation?"""
    k, d = t.kind, t.array_dims
    scalar_kinds = ("int", "real")
    rules = {
        "real": d == 0 and k in scalar_kinds,
        "int": d == 0 and k == "int",
        "reals": (d <= 1 and k in scalar_kinds) or (d == 0 and k in ("vector", "row_vector")),
        "ints": d <= 1 and k == "int",
        "vector": d == 0 and k == "vector",
        "row_vector": d == 0 and k == "row_vector",
        "matrix": d == 0 and k == "matrix",
        "vectors": (d <= 1 and k in ("vector", "row_vector")),
        "int_array": d == 1 and k == "int",
        "real_array": d == 1 and k in scalar_kinds,
        "any": True,
        "T": k in scalar_kinds + ("vector", "row_vector", "matrix"),
        "T_int": k in scalar_kinds + ("vector", "row_vector", "matrix"),
    }
    return rules.get(shape, False)


_RETURNS = {
    "int": ValueType("int"),
    "real": ValueType("real"),
    "vector": ValueType("vector"),
    "row_vector": ValueType("row_vector"),
    "matrix": ValueType("matrix"),
    "int_array": ValueType("int", 1),
    "real_array": ValueType("real", 1),
    "ints": ValueType("int", 1),
    "reals": ValueType("real", 1),
}


def match_signature(spec, types: list[ValueType]) -> ValueType | None:
    """The result type of the first signature of `spec` the argument types fit, or None."""
    for sig in spec.signatures:
        if len(sig.params) == len(types) and all(shape_matches(p, t) for p, t in zip(sig.params, types)):
            return _result(sig, types)
    return None


def _result(sig: Signature, types: list[ValueType]) -> ValueType:
    if sig.returns in ("T", "T_int"):
        generic = next((t for p, t in zip(sig.params, types) if p in ("T", "T_int")), types[0])
        if sig.returns == "T" and generic.kind == "int":
            return ValueType("real", generic.array_dims)
        return generic
    if sig.returns in _RETURNS:
        return _RETURNS[sig.returns]
    if sig.returns.startswith("array_of:"):  # e.g. rep_array: an array of the first argument's type
        t = types[0]
        return ValueType(t.kind, t.array_dims + int(sig.returns.split(":")[1]))
    return ValueType("real")


def dist_result_type(spec, types: list[ValueType]) -> ValueType:
    """What `foo_rng(args)` returns: one variate per element when any argument is a container."""
    elem = "int" if spec.discrete else "real"
    if spec.multivariate:
        return ValueType("vector")
    vectorised = any(not t.is_scalar for t in types)
    return ValueType(elem, 1 if vectorised else 0)


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
    if name in ("gp_exp_quad_cov", "cov_exp_quad"):
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
