"""Find a compiled model's centred normal group effects, for the evidence's change of variables.

A group is a top-level model statement `theta ~ normal(mu, tau)` whose left side is an
unconstrained vector (or real array) parameter, mu an unconstrained scalar parameter, a data
scalar or a literal, and tau a `<lower=0>` scalar parameter or a positive literal. Those are the
cases where u holds theta, mu and log tau themselves, so the map theta = mu + tau * z is a plain
affine change of variables on u (`diagnose.reparam`). Whatever else the program does with theta,
the map stays exact: it only decides which coordinates the estimators see.
"""

from __future__ import annotations

import math

import numpy as np

from ..diagnose import CentredGroup, NonCentring
from ..lang import ast
from ..lang.consteval import literal_number

__all__ = ["noncentred_potential", "noncentring"]

_VECTOR_KINDS = ("vector", "row_vector", "real")


def _plain(spec) -> bool:
    t = spec.decl.type
    return t.lower is None and t.upper is None and t.offset is None and t.multiplier is None


def _location(e, layout: dict, data: dict) -> tuple[int | None, float] | None:
    """(u position, None) for a scalar parameter, (None, value) for a constant; None otherwise."""
    if literal_number(e) is not None:
        return None, literal_number(e)
    if isinstance(e, ast.Var) and e.name in layout:
        p = layout[e.name]
        return (p.offset, 0.0) if p.kind == "real" and p.shape == () and _plain(p) else None
    if isinstance(e, ast.Var) and e.name in data and np.ndim(data[e.name]) == 0:
        return None, float(data[e.name])
    return None


def _scale(e, layout: dict, data: dict) -> tuple[int | None, float] | None:
    """(u position of log tau, 1) for a <lower=0> scalar parameter, (None, tau) for a positive
    constant; None otherwise."""
    constant = _location(e, {}, data)
    if constant is not None:
        return constant if constant[1] > 0 else None
    if not (isinstance(e, ast.Var) and e.name in layout):
        return None
    p = layout[e.name]
    t = p.decl.type
    zero_lower = t.lower is not None and literal_number(t.lower) == 0.0
    ok = p.kind == "real" and p.shape == () and zero_lower and t.upper is None
    return (p.offset, 1.0) if ok else None


def _group(s, layout: dict, data: dict) -> CentredGroup | None:
    if not (isinstance(s, ast.Tilde) and s.dist == "normal" and len(s.args) == 2 and s.truncation is None):
        return None
    if not (isinstance(s.lhs, ast.Var) and s.lhs.name in layout):
        return None
    theta = layout[s.lhs.name]
    if theta.kind not in _VECTOR_KINDS or not _plain(theta) or theta.size < 2:
        return None
    mu, tau = _location(s.args[0], layout, data), _scale(s.args[1], layout, data)
    if mu is None or tau is None or (mu[0] is None and tau[0] is None):
        return None  # with mu and tau fixed the effects are independent normals: no funnel
    return CentredGroup(theta.name, tuple(range(theta.offset, theta.offset + theta.size)), mu[0], tau[0],
                        mu_value=mu[1], tau_value=tau[1])


def noncentring(model) -> NonCentring | None:
    """The model's centred normal groups as a change of variables, or None when it has none."""
    layout = {p.name: p for p in model.param_layout}
    groups: list[CentredGroup] = []
    for s in model.program.stmts("model"):
        g = _group(s, layout, model.data)
        if g is None or any(g.name == h.name for h in groups):
            continue
        # A location or scale among some group's effects would make the map non-affine.
        effects = set(g.theta).union(*(h.theta for h in groups))
        drivers = {i for h in (*groups, g) for i in (h.mu, h.log_tau) if i is not None}
        if effects & drivers:
            continue
        groups.append(g)
    return NonCentring(tuple(groups)) if groups else None


def noncentred_potential(kernel, groups: NonCentring):
    """(v, data) -> NumPyro's potential of the same posterior over v, where each group's effects
    are z = (theta - mu) / tau: -(log density at u = f(v) + log|det df/dv|). NUTS on it does not
    meet the funnel that made a centred fit diverge. One function per (kernel, groups), so the
    sampler compiled for it serves every refit of the same shapes."""
    cache = kernel.__dict__.setdefault("_noncentred", {})
    if groups not in cache:
        cache[groups] = _potential(kernel, groups)
    return cache[groups]


def _potential(kernel, groups: NonCentring):
    import jax.numpy as jnp

    def potential(v, dyn):
        v = jnp.asarray(v)
        u, log_jacobian = v, 0.0
        for g in groups.groups:
            # mu and tau are never among any group's effects, so their v and u values agree.
            mu = v[g.mu] if g.mu is not None else g.mu_value
            log_tau = v[g.log_tau] if g.log_tau is not None else math.log(g.tau_value)
            effects = jnp.asarray(g.theta)
            u = u.at[effects].set(mu + jnp.exp(log_tau) * v[effects])
            log_jacobian = log_jacobian + len(g.theta) * log_tau
        return kernel.potential(u, dyn) - log_jacobian

    return potential
