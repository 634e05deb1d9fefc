"""Run statements: a `State` in, a new `State` out (environment, target, log-lik, lane effects).

`~` scores the left side with the library's normalised lpdf, subtracts truncation normalisers
(explicit `T[a, b]`, or the automatic one of a bounded parameter's prior, see `analysis.AutoTrunc`)
and, for likelihood statements, adds each term to its observation slot. Under a `SimMode` it draws
the left side instead. `if` on a static condition picks a branch at trace time; on a traced one
both branches run and their states are merged with `where` (`_merge`); inside a vectorised lane
the branches' effects are masked.

Control flow (`return`, `break`, `continue`, `reject`) is carried in `State.flow`. Where a path
has left (known at trace time) the rest of the statement list is skipped; where only some traced
paths have, each later statement runs and its state is merged back with the paths still running.
`reject` makes the log density -inf on the paths that reach it (Stan rejects the draw); reached on
every path while the values are known (transformed data, a constant condition) it is an error.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import FitError, ProgramError
from ..lang import ast, library
from ..lang.ops import JAX
from . import analysis, loops
from .interp import Rejected, active, merge_flow
from .interp import (Context, Effect, Item, Lane, State, Val, add_effect, all_static, as_real, binary,
                     cast_to, count_entry, declared_shape, declared_type, distribution_term, eval_items,
                     ev, fill, index_value, is_int_dtype, position, is_static, lookup, positions,
                     scoped, shape_of)


def run(stmts, st: State, cx: Context) -> State:
    for s in stmts:
        going = active(st.flow)
        if going is False:
            break
        after = execute(s, st, cx)
        st = after if going is True else _continue_where(going, after, st, cx)
    return st


def _continue_where(going, after: State, before: State, cx: Context) -> State:
    """`after` on the paths still running, `before` on those that have left; names the statement
    declared are kept (only the running paths read them)."""
    merged = _merge(going, after, before, before, lambda lvalue: ev(lvalue, before, cx))
    declared = {k: v for k, v in after.env.items() if k not in before.env}
    return merged._replace(env={**merged.env, **declared}) if declared else merged


def run_block(stmts, st: State, cx: Context) -> State:
    """Run a block's statements; a `reject` reached on every path is an error here."""
    st = run(stmts, st, cx)
    if st.flow.rejected is not None and st.flow.returned is True:
        raise Rejected(st.flow.rejected)
    return st


def execute(s, st: State, cx: Context) -> State:
    st = _statement(s, st, cx)
    pending = st.rng.take_pending()
    if isinstance(pending, float) and pending == 0.0:
        return st
    # A rejected call's value may be NaN (log of what it refused): the rejection decides.
    target = jnp.where(jnp.isneginf(pending), -jnp.inf, st.target + pending)
    return st._replace(target=target)


def _statement(s, st: State, cx: Context) -> State:
    match s:
        case ast.Decl():
            return declare(s, st, cx)
        case ast.Assign():
            return _assign(s, st, cx)
        case ast.Tilde():
            return _tilde(s, st, cx)
        case ast.TargetPlus():
            return _target_plus(s, st, cx)
        case ast.For() | ast.ForEach():
            return loops.run_loop(s, st, cx, execute)
        case ast.While():
            return loops.run_while(s, st, cx, execute)
        case ast.If():
            return _if(s, st, cx)
        case ast.Compound(stmts=stmts):
            return scoped(st, run(stmts, st, cx))
        case ast.Break():
            return st._replace(flow=st.flow._replace(broken=True))
        case ast.Continue():
            return st._replace(flow=st.flow._replace(continued=True))
        case ast.Return(value=v):
            value = None if v is None else ev(v, st, cx)
            return st._replace(flow=st.flow._replace(returned=True, value=value))
        case ast.CallStmt(call=c):
            ev(c, st, cx)  # its effects (an _lp function's target, a reject) arrive as pending terms
            return st
        case ast.Print(kind="print"):
            return st  # output is not kept: a fit's draws are its result
        case ast.Print():
            return _reject(s, st, cx)
    raise ProgramError(f"cannot execute {type(s).__name__}", code="infer.unsupported")


def declare(s: ast.Decl, st: State, cx: Context) -> State:
    t = declared_type(s.type)
    shape = declared_shape(s.type, st, cx)
    x = fill(shape, t) if s.init is None else cast_to(ev(s.init, st, cx).x, t, shape)
    st = st._replace(env={**st.env, s.name: Val(x, t)})
    if st.lane is not None:
        st = st._replace(lane=replace(st.lane, locals=st.lane.locals | {s.name}))
    return st


def lvalue_parts(lhs) -> tuple[str, tuple]:
    """`a[i][j, k]` -> ("a", (i, j, k)); nested indexes must be single indexes to flatten."""
    items: tuple = ()
    while isinstance(lhs, ast.Index):
        if items and any(isinstance(i, ast.Slice) for i in lhs.indices):
            raise ProgramError("assignment to a slice of a slice is not supported; index once",
                               code="infer.unsupported")
        items = tuple(lhs.indices) + items
        lhs = lhs.base
    if not isinstance(lhs, ast.Var):
        raise ProgramError("the left side of an assignment must be a variable, possibly indexed",
                           code="infer.bad_lvalue")
    return lhs.name, items


def _assign(s: ast.Assign, st: State, cx: Context) -> State:
    rhs = ev(s.rhs, st, cx)
    if s.op != "=":
        rhs = binary(s.op[:-1], ev(s.lhs, st, cx), rhs)
    return write(s.lhs, rhs.x, st, cx)


def write(lhs, value, st: State, cx: Context, mask=None) -> State:
    """Store `value` at the lvalue `lhs`: immediately, or as an Effect inside a lane."""
    name, items_ast = lvalue_parts(lhs)
    cur = lookup(name, st)
    if not items_ast:
        if st.lane is not None and name not in st.lane.locals:
            raise ProgramError(f"'{name}' is assigned whole inside a vectorised loop",
                               code="infer.internal")
        new = cast_to(value, cur.t, shape_of(cur.x))
        if mask is not None:
            new = jnp.where(mask, new, cur.x)
        return st._replace(env={**st.env, name: Val(new, cur.t)})
    items = eval_items(items_ast, st, cx)
    target_t = cur.t.indexed([i.kind != "single" for i in items])
    if st.lane is not None and name not in st.lane.locals:
        pos = positions(shape_of(cur.x), items)
        val = cast_to(value, target_t, shape_of(pos))
        overlay = {**st.lane.overlay, lhs: Val(val, target_t)}
        lane = replace(st.lane, overlay=overlay,
                       effects=st.lane.effects + (Effect("write", name, pos, val, mask),))
        return st._replace(lane=lane)
    new = _set(cur, items, value, mask)
    return st._replace(env={**st.env, name: Val(new, cur.t)})


def _set(cur: Val, items: tuple[Item, ...], value, mask):
    x = cur.x
    if cur.t.kind != "int":
        value = as_real(value)
    if any(i.kind == "multi" for i in items):
        pos = positions(shape_of(x), items)
        flat = jnp.reshape(jnp.asarray(x), (-1,))
        val = jnp.broadcast_to(jnp.asarray(value, dtype=flat.dtype), shape_of(pos))
        if mask is not None:
            val = jnp.where(mask, val, flat[pos])
        return flat.at[jnp.ravel(pos)].set(jnp.ravel(val)).reshape(shape_of(x))
    idx = _basic_index(items, shape_of(x))
    if mask is None and all_static(x, value, *(i for i in idx if not isinstance(i, slice))):
        x = np.array(x, copy=True)
        x[idx] = value
        return x
    xj = jnp.asarray(x)
    if mask is not None:
        value = jnp.where(mask, value, xj[idx])
    return xj.at[idx].set(jnp.asarray(value, dtype=xj.dtype))


def _basic_index(items, shape):
    out = []
    for it, n in zip(items, shape):
        if it.kind == "single":
            out.append(position(it.value, n))
        else:
            lo, hi = it.value
            out.append(slice((lo or 1) - 1, n if hi is None else hi))
    return tuple(out)


# ---- distribution statements ----------------------------------------------------------------------


def _spec(name: str):
    spec = library.distribution(name)
    if spec is None:
        raise ProgramError(f"unknown distribution '{name}'", code="infer.unknown_distribution")
    return spec


def _tilde(s: ast.Tilde, st: State, cx: Context) -> State:
    role = cx.info.roles.get(s)
    user = cx.functions.density(s.dist) if cx.functions is not None else None
    if user is not None:
        return _user_tilde(s, user, role, st, cx)
    if cx.sim is not None:
        return _simulate_tilde(s, role, st, cx)
    spec = _spec(s.dist)
    y = ev(s.lhs, st, cx)
    args = [ev(a, st, cx) for a in s.args]
    lp = distribution_term(spec, "lpmf" if spec.discrete else "lpdf", y, args)
    lp = _truncate(s, role, spec, y, args, lp, st, cx)
    st = st._replace(target=st.target + jnp.sum(lp) + _order_factor(role, y, args))
    if role is not None and role.likelihood:
        st = _add_loglik(role, lp, y, spec, st, cx)
    return st


def _user_tilde(s: ast.Tilde, name: str, role, st: State, cx: Context) -> State:
    """`y ~ foo(...)` with the user's foo_lpdf: the same as `target += foo_lpdf(y | ...)`."""
    if cx.sim is not None:
        raise ProgramError(f"{s.dist} is user-defined and has no sampler, so it cannot be simulated",
                           code="infer.not_generative")
    lp = ev(ast.Call(name, (s.lhs, *s.args), True, s.pos), st, cx).x
    st = st._replace(target=st.target + lp + st.rng.take_pending())
    if role is not None and role.likelihood:
        st = _add_loglik(role, lp, None, None, st, cx)
    return st


def _order_factor(role, y: Val, args: list[Val]):
    """log K! per ordered vector under an iid prior: the ordered region holds 1/K! of its mass."""
    if role is None or not role.sort or any(np.ndim(a.x) for a in args):
        return 0.0
    shape = shape_of(y.x)
    return float(np.prod(shape[:-1], dtype=int) * math.lgamma(shape[-1] + 1))


def _bounds(s: ast.Tilde, role, y: Val, st: State, cx: Context):
    """(lower, upper, check) of a truncation: explicit T[a, b], or the automatic one for a bounded
    parameter (then `check` is False: the transform already keeps the value inside)."""
    if s.truncation is not None:
        lo = None if s.truncation.lo is None else ev(s.truncation.lo, st, cx).x
        hi = None if s.truncation.hi is None else ev(s.truncation.hi, st, cx).x
        return lo, hi, True
    if role is None or role.auto is None:
        return None, None, False
    auto = role.auto
    shape = shape_of(st.env[auto.param].x)
    items = eval_items(auto.items, st, cx) if auto.items else ()

    def bound(expr, edge: float, lower: bool):
        if expr is None:
            return None
        b = jnp.broadcast_to(jnp.asarray(ev(expr, st, cx).x, dtype=float), shape)
        # Only where the support reaches past the bound is there mass to renormalise.
        b = jnp.where(b > edge, b, -jnp.inf) if lower else jnp.where(b < edge, b, jnp.inf)
        return index_value(b, items) if items else b

    return bound(auto.lower, auto.support_lo, True), bound(auto.upper, auto.support_hi, False), False


def _truncate(s: ast.Tilde, role, spec, y: Val, args: list[Val], lp, st: State, cx: Context):
    lo, hi, check = _bounds(s, role, y, st, cx)
    if lo is None and hi is None:
        return lp
    shape = jnp.broadcast_shapes(jnp.shape(lp), shape_of(y.x))
    lp = jnp.broadcast_to(lp, shape)
    norm = log_mass(spec, [a.x for a in args], lo, hi, shape)
    out = lp - norm
    if check:
        inside = jnp.ones(shape, bool)
        if lo is not None:
            inside = inside & (jnp.asarray(y.x) >= lo)
        if hi is not None:
            inside = inside & (jnp.asarray(y.x) <= hi)
        out = jnp.where(inside, out, -jnp.inf)
    return out


def log_mass(spec, args, lo, hi, shape):
    """log P(lo <= Y <= hi) elementwise, from the library's lcdf/lccdf (either end may be None or
    infinite). For a discrete Y, P(Y >= lo) = P(Y > lo - 1)."""
    def at(b):
        return None if b is None else jnp.broadcast_to(jnp.asarray(b, dtype=float), shape)

    lo, hi = at(lo), at(hi)
    if lo is not None and spec.discrete:
        lo = lo - 1.0
    args = [as_real(a) if not (spec.discrete and is_int_dtype(a)) else a for a in args]
    lcdf = (lambda b: spec.lcdf(JAX, b, *args)) if spec.lcdf is not None else None
    lccdf = (lambda b: spec.lccdf(JAX, b, *args)) if spec.lccdf is not None else None
    if lcdf is None and lccdf is not None:
        lcdf = lambda b: _log1m_exp(lccdf(b))  # noqa: E731
    if lccdf is None and lcdf is not None:
        lccdf = lambda b: _log1m_exp(lcdf(b))  # noqa: E731
    if lcdf is None:
        raise ProgramError(f"{spec.name} has no CDF, so it cannot be truncated",
                           code="infer.no_cdf")
    inside = _inside(spec)

    def finite_or(b, fn, default):
        return _finite_or(b, fn, default, inside)

    if hi is None:
        return finite_or(lo, lccdf, 0.0)
    if lo is None:
        return finite_or(hi, lcdf, 0.0)
    upper_tail = finite_or(lo, lcdf, -jnp.inf) > math.log(0.5)
    # In the upper tail F(b) - F(a) cancels; S(a) - S(b) does not.
    via_cdf = _log_diff_exp(finite_or(hi, lcdf, 0.0), finite_or(lo, lcdf, -jnp.inf))
    via_ccdf = _log_diff_exp(finite_or(lo, lccdf, 0.0), finite_or(hi, lccdf, -jnp.inf))
    return jnp.where(upper_tail, via_ccdf, via_cdf)


def _inside(spec) -> float:
    """A point inside the variate's support, where its CDF and the CDF's gradient are finite."""
    sup = getattr(spec.variate, "support", None)
    lo, hi = (getattr(sup, "lo", -math.inf), getattr(sup, "hi", math.inf))
    if math.isfinite(lo) and math.isfinite(hi):
        return (lo + hi) / 2
    return lo + 1.0 if math.isfinite(lo) else hi - 1.0 if math.isfinite(hi) else 0.0


def _finite_or(b, fn, default, inside: float = 0.0):
    """fn(b) where b is finite, `default` where it is infinite (no bound on that element). The
    unused branch is evaluated at `inside`: at a point outside the support (0 for a lognormal)
    its gradient is NaN, and `where` passes a NaN gradient on even from the branch it drops."""
    finite = jnp.isfinite(b)
    safe = jnp.where(finite, b, inside)
    return jnp.where(finite, fn(safe), default)


def _log1m_exp(a):
    return jnp.where(a > -math.log(2.0), jnp.log(-jnp.expm1(a)), jnp.log1p(-jnp.exp(a)))


def _log_diff_exp(a, b):
    return a + _log1m_exp(jnp.minimum(b - a, 0.0))


def _target_plus(s: ast.TargetPlus, st: State, cx: Context) -> State:
    if cx.sim is not None:
        return st
    role = cx.info.roles.get(s)
    if role is not None and role.likelihood and role.direct:
        c = s.expr
        spec, suffix = library.resolve_suffixed(c.name)
        y = ev(c.args[0], st, cx)
        args = [ev(a, st, cx) for a in c.args[1:]]
        lp = distribution_term(spec, suffix, y, args)
        st = st._replace(target=st.target + jnp.sum(lp))
        return _add_loglik(role, lp, y, spec, st, cx)
    v = ev(s.expr, st, cx)
    st = st._replace(target=st.target + jnp.sum(jnp.asarray(v.x)))
    if role is not None and role.likelihood:
        terms = lookup(role.elements, st).x if role.elements else jnp.sum(jnp.asarray(v.x))
        st = _add_loglik(role, terms, None, None, st, cx)
    return st


def _add_loglik(role, lp, y: Val | None, spec, st: State, cx: Context) -> State:
    if not cx.track_loglik:
        return st
    slot_shape = cx.slot_shapes[role.entry]
    if role.joint:
        pos, val = np.zeros((), np.int32), jnp.sum(lp)
    else:
        items = eval_items(role.items, st, cx) if role.items else ()
        pos = positions(slot_shape, items)
        val = _reduce(jnp.asarray(lp), shape_of(pos), None if y is None else np.ndim(y.x),
                      spec is not None and not spec.multivariate)
    st = add_effect(st, Effect("loglik", role.entry, pos, val, None))
    # Which slots are observations at all (arK's first K values are not): count the hits.
    return add_effect(st, Effect("loglik", count_entry(role.entry), pos, jnp.ones(shape_of(pos)), None))


def _reduce(lp, pos_shape: tuple, y_ndim, univariate: bool):
    """Sum the elementwise terms of one statement down to one per observation slot."""
    if univariate and y_ndim is not None and lp.ndim > y_ndim:
        lp = lp.sum(axis=tuple(range(lp.ndim - y_ndim)))  # arguments broadcast beyond y: Stan sums
    if lp.ndim > len(pos_shape):
        lp = lp.sum(axis=tuple(range(len(pos_shape), lp.ndim)))  # event dims inside one slot
    try:
        return jnp.broadcast_to(lp, pos_shape)
    except ValueError:
        raise FitError(f"cannot attribute log-likelihood terms of shape {lp.shape} to observations "
                       f"of shape {pos_shape}", code="infer.loglik_shape") from None


# ---- simulation ------------------------------------------------------------------------------------


def _simulate_tilde(s: ast.Tilde, role, st: State, cx: Context) -> State:
    """Forward simulation: draw the left side instead of scoring it (see analysis.SimMode)."""
    sim = cx.sim
    is_lik = role is not None and role.likelihood
    if (is_lik and not sim.data) or (not is_lik and not sim.params):
        return st
    spec = _spec(s.dist)
    args = [ev(a, st, cx) for a in s.args]
    y = ev(s.lhs, st, cx)
    if s.truncation is not None or is_lik:
        lo, hi, _ = _bounds(s, None, y, st, cx)
    else:
        lo, hi = _param_bounds(s.lhs, st, cx)
    draw = sample_truncated(spec, [a.x for a in args], lo, hi, shape_of(y.x), st.rng.next())
    if role is not None and role.sort:
        draw = jnp.sort(draw, axis=-1)
    lhs = s.lhs
    if is_lik and not sim.write_back:
        lhs = _rename_base(lhs, analysis.rep_name(_base_name(lhs)))
    return write(lhs, draw, st, cx)


def _param_bounds(lhs, st, cx):
    """Declared bounds of a parameter (data- or parameter-dependent), indexed like `lhs`."""
    name, items_ast = lvalue_parts(lhs)
    decl = cx.info.param_decls.get(name)
    if decl is None:
        return None, None
    items = eval_items(items_ast, st, cx) if items_ast else ()
    shape = shape_of(st.env[name].x)
    lower = ast.IntLit(0) if decl.type.kind == "positive_ordered" else decl.type.lower

    def bound(e):
        if e is None:
            return None
        b = jnp.broadcast_to(jnp.asarray(ev(e, st, cx).x, dtype=float), shape)
        return index_value(b, items) if items else b

    return bound(lower), bound(decl.type.upper)


def _base_name(lhs) -> str:
    return lvalue_parts(lhs)[0]


def _rename_base(lhs, new: str):
    if isinstance(lhs, ast.Var):
        return ast.Var(new)
    return ast.Index(_rename_base(lhs.base, new), lhs.indices)


def sample_truncated(spec, args, lo, hi, shape, key, max_tries: int = 100):
    """Draws of `spec` restricted to [lo, hi] by rejection (resampling only what fell outside)."""
    if spec.sample is None:
        raise ProgramError(f"{spec.name} has no sampler", code="infer.not_generative")
    args = [a if (spec.discrete and is_int_dtype(a)) else as_real(a) for a in args]
    draw_shape = tuple(shape)
    key, sub = jax.random.split(key)
    x = spec.sample(JAX, sub, *args, shape=draw_shape)
    if lo is None and hi is None:
        return x

    def outside(v):
        bad = jnp.zeros(jnp.shape(v), bool)
        if lo is not None:
            bad = bad | (v < lo)
        if hi is not None:
            bad = bad | (v > hi)
        return bad

    def cond(c):
        return jnp.any(outside(c[0])) & (c[2] < max_tries)

    def body(c):
        v, k, n = c
        k, sub = jax.random.split(k)
        fresh = spec.sample(JAX, sub, *args, shape=draw_shape)
        return jnp.where(outside(v), fresh, v), k, n + 1

    x, _, _ = jax.lax.while_loop(cond, body, (x, key, 0))
    return jnp.where(outside(x), jnp.nan, x)


# ---- control flow -----------------------------------------------------------------------------------


def _if(s: ast.If, st: State, cx: Context) -> State:
    c = ev(s.cond, st, cx)
    if is_static(c.x):
        if bool(c.x):
            return scoped(st, execute(s.then, st, cx))
        return scoped(st, execute(s.other, st, cx)) if s.other is not None else st
    cond = jnp.asarray(c.x) != 0
    a = _branch(s.then, st, cx)
    b = _branch(s.other, st, cx) if s.other is not None else st
    return _merge(cond, a, b, st, lambda lvalue: ev(lvalue, st, cx))


def _branch(body, st: State, cx: Context) -> State:
    """One side of an `if` on a traced condition; a function that rejects on every path rejects
    only the draws that take this side."""
    try:
        return scoped(st, execute(body, st, cx))
    except Rejected as r:
        return st._replace(target=st.target - jnp.inf,
                           flow=st.flow._replace(returned=True, rejected=r.reason))


def _merge(cond, a: State, b: State, base: State, read: Callable) -> State:
    """The state after `if (cond) A else B` with a traced condition."""
    env = {}
    for k, v in base.env.items():
        va, vb = a.env[k], b.env[k]
        env[k] = v if (va.x is v.x and vb.x is v.x) else Val(jnp.where(cond, va.x, vb.x), v.t)
    target = jnp.where(cond, a.target, b.target)
    loglik = None
    if base.loglik is not None:
        loglik = {k: jnp.where(cond, a.loglik[k], b.loglik[k]) for k in base.loglik}
    lane = base.lane
    if lane is not None:
        lane = _merge_lanes(cond, a.lane, b.lane, base.lane, read)
    return State(env, target, loglik, lane, base.rng, merge_flow(cond, a.flow, b.flow))


def _merge_lanes(cond, a: Lane, b: Lane, base: Lane, read: Callable) -> Lane:
    n = len(base.effects)
    effects = base.effects + tuple(_masked(e, cond) for e in a.effects[n:]) + tuple(
        _masked(e, ~cond) for e in b.effects[n:])
    overlay = dict(base.overlay)
    for key in set(a.overlay) | set(b.overlay):
        va, vb = a.overlay.get(key), b.overlay.get(key)
        if va is base.overlay.get(key) and vb is base.overlay.get(key):
            continue
        va = va if va is not None else read(key)  # written on one branch only: the other keeps
        vb = vb if vb is not None else read(key)  # the value from before the `if`
        overlay[key] = Val(jnp.where(cond, va.x, vb.x), va.t)
    return Lane(base.locals, overlay, effects)


def _masked(e: Effect, cond) -> Effect:
    mask = cond if e.mask is None else (e.mask & cond)
    return e._replace(mask=jnp.broadcast_to(mask, shape_of(e.pos)))

def _reject(s: ast.Print, st: State, cx: Context) -> State:
    """The draw is rejected: the log density is -inf from here, and the path stops."""
    message = message_text(s.items, st, cx)
    return st._replace(target=st.target - jnp.inf,
                       flow=st.flow._replace(returned=True, rejected=message))


def message_text(items, st: State, cx: Context) -> str:
    """print / reject items as Stan shows them; values unknown while tracing as `?`."""
    parts = []
    for item in items:
        if isinstance(item, ast.StringLit):
            parts.append(item.value)
            continue
        x = ev(item, st, cx).x
        parts.append(str(np.asarray(x).tolist()) if is_static(x) else "?")
    return "".join(parts)
