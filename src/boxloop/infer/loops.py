"""Run `for` loops, vectorised when the iterations are independent.

Each loop runs one of three ways:

* vectorised: the body is `jax.vmap`-ed over the iteration when `analysis.vectorisable` finds no
  loop-carried dependence. A lane cannot write into arrays shared by all lanes, so its writes to
  outer variables and its pointwise log-likelihood terms become `Effect`s, scattered once after the
  vmap; a lane reads its own write `mu[i]` back through `Lane.overlay`.
* scanned: `lax.scan` with the written outer variables as the carry (AR / GARCH recursions).
* unrolled: loops of at most UNROLL_MAX iterations that cannot be vectorised, and the fallback when
  a body needs its index as a Python int (a size or slice bound that depends on it). A body that
  can leave early (`break`, `continue`, `return`, `reject`) is always unrolled, iteration by
  iteration, stopping as soon as it is known that every path has left.

`while` loops run iteration by iteration while their condition is known at trace time, and as a
`lax.while_loop` over the variables the body writes once it is not.

The statement runner is passed in (`execute`), so this module does not import `statements`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import jax
import jax.numpy as jnp

from ..errors import FitError
from ..lang import ast
from . import analysis
from .interp import (INT, RUNNING, TRACE_ERRORS, Context, Effect, Item, KeyBox, Lane, NeedsStatic, State,
                     Val, add_effect, cast_to, ev, index_value, is_static, scoped, shape_of, static_int)

UNROLL_MAX = 8  # loops this short are unrolled rather than scanned when they cannot be vectorised
WHILE_MAX = 10_000_000  # iterations of a while loop run at trace time before it is called endless


def run_loop(s, st: State, cx: Context, execute: Callable) -> State:
    if isinstance(s, ast.For):
        lo = static_int(ev(s.lo, st, cx).x, "a loop bound")
        hi = static_int(ev(s.hi, st, cx).x, "a loop bound")
        n = hi - lo + 1
        container = None
    else:
        container = ev(s.container, st, cx)
        lo, n = 1, (shape_of(container.x)[0] if shape_of(container.x) else 1)
    if n <= 0:
        return st
    binder = _binder(s.var, lo, container)
    if analysis.leaves_early(s.body):
        return _stepwise_loop(s, binder, n, st, cx, execute)
    if analysis.vectorisable(s, cx.sim) and n > 1:
        try:
            return _vector_loop(s.body, binder, n, st, cx, execute)
        except (NeedsStatic, *TRACE_ERRORS):
            pass
    if n > UNROLL_MAX:
        try:
            return _scan_loop(s, binder, n, st, cx, execute)
        except (NeedsStatic, *TRACE_ERRORS):
            pass
    return _unrolled_loop(s, binder, n, st, cx, execute)


def _binder(var: str, lo: int, container: Val | None) -> Callable:
    """k (0-based iteration) -> the loop variable's binding."""
    if container is None:
        return lambda k: {var: Val(lo + k, INT)}
    elem_t = container.t.element
    return lambda k: {var: Val(index_value(container.x, (Item("single", k + 1),)), elem_t)}


def _enter(st: State, bindings: dict, var: str) -> State:
    """The state at the top of one iteration: loop variable bound, stale overlay entries dropped."""
    lane = st.lane
    if lane is not None and lane.overlay:
        overlay = {k: v for k, v in lane.overlay.items() if var not in ast.free_names(k)}
        lane = replace(lane, overlay=overlay)
    return st._replace(env={**st.env, **bindings}, lane=lane)


def _unrolled_loop(s, binder, n: int, st: State, cx: Context, execute: Callable) -> State:
    for k in range(n):
        inner = _enter(st, binder(k), s.var)
        st = scoped(st, execute(s.body, inner, cx))
    return st


def _stepwise_loop(s, binder, n: int, st: State, cx: Context, execute: Callable) -> State:
    """One iteration at a time, for bodies that can leave early."""
    outer_flow = st.flow
    for k in range(n):
        st = scoped(st, execute(s.body, _enter(st, binder(k), s.var), cx))
        st, done = next_iteration(st)
        if done:
            break
    return after_loop(st, outer_flow)


def next_iteration(st: State) -> tuple[State, bool]:
    """Clear `continue` for the next iteration; also say whether every path has left the loop."""
    flow = st.flow._replace(continued=False)
    return st._replace(flow=flow), flow.returned is True or flow.broken is True


def after_loop(st: State, outer) -> State:
    """Paths that left by `break` go on after the loop; those that returned stay returned."""
    return st._replace(flow=st.flow._replace(broken=outer.broken, continued=outer.continued))


def run_while(s: ast.While, st: State, cx: Context, execute: Callable) -> State:
    outer_flow = st.flow
    for _ in range(WHILE_MAX):
        c = ev(s.cond, st, cx)
        if not is_static(c.x):
            if analysis.leaves_early(s.body):
                raise FitError("a while loop whose condition depends on parameters cannot contain break, "
                               "continue, return or reject here; move the exit into the condition",
                               code="infer.unsupported")
            return after_loop(_traced_while(s, st, cx, execute), outer_flow)
        if not bool(c.x):
            return after_loop(st, outer_flow)
        st = scoped(st, execute(s.body, st, cx))
        st, done = next_iteration(st)
        if done:
            return after_loop(st, outer_flow)
    raise FitError(f"a while loop ran {WHILE_MAX:,} iterations without its condition becoming false",
                   code="infer.endless_loop")


def _traced_while(s: ast.While, st: State, cx: Context, execute: Callable) -> State:
    """lax.while_loop with the written outer variables and the target as the carry."""
    written = [v for v in sorted(analysis.assigned_names(s.body)) if v in st.env]
    if st.lane is not None and any(v not in st.lane.locals for v in written):
        raise NeedsStatic("a while loop writes an outer variable inside a vectorised loop")
    dtypes = {v: jnp.asarray(st.env[v].x).dtype for v in written}

    def state_of(carry) -> State:
        vals, target = carry
        env = {**st.env, **{v: Val(vals[v], st.env[v].t) for v in written}}
        return State(env, target, None, st.lane, KeyBox(None), RUNNING)

    def cond(carry):
        return jnp.asarray(ev(s.cond, state_of(carry), cx).x) != 0

    def body(carry):
        out = execute(s.body, state_of(carry), cx)
        vals = {v: jnp.asarray(cast_to(out.env[v].x, st.env[v].t, shape_of(st.env[v].x)), dtype=dtypes[v])
                for v in written}
        return vals, jnp.asarray(out.target, dtype=float)

    carry0 = ({v: jnp.asarray(st.env[v].x, dtype=dtypes[v]) for v in written}, jnp.zeros(()))
    vals, target = jax.lax.while_loop(cond, body, carry0)
    env = {**st.env, **{v: Val(vals[v], st.env[v].t) for v in written}}
    return st._replace(env=env, target=st.target + target)


def _vector_loop(body, binder, n: int, st: State, cx: Context, execute: Callable) -> State:
    meta: list = []
    lane_keys = jax.random.split(st.rng.next(), n) if st.rng.key is not None else None
    var = next(iter(binder(0)))

    def one(k, key):
        bindings = binder(k)
        lane = Lane(frozenset(bindings),
                    {kk: v for kk, v in (st.lane.overlay if st.lane else {}).items()
                     if var not in ast.free_names(kk)})
        inner = State({**st.env, **bindings}, jnp.zeros(()), None, lane, KeyBox(key))
        out = execute(body, inner, cx)
        meta.clear()
        meta.extend((e.kind, e.name, e.mask is not None) for e in out.lane.effects)
        arrays = [(jnp.asarray(e.pos), jnp.asarray(e.val)) + ((e.mask,) if e.mask is not None else ())
                  for e in out.lane.effects]
        return out.target, arrays

    ks = jnp.arange(n)
    targets, arrays = jax.vmap(one)(ks, lane_keys) if lane_keys is not None else \
        jax.vmap(lambda k: one(k, None))(ks)
    st = st._replace(target=st.target + jnp.sum(targets))
    for (kind, name, has_mask), arr in zip(meta, arrays):
        pos, val = arr[0], arr[1]
        st = add_effect(st, Effect(kind, name, pos, val, arr[2] if has_mask else None))
    return st


def _scan_loop(s, binder, n: int, st: State, cx: Context, execute: Callable) -> State:
    """lax.scan over the iterations; written outer variables, target, log-lik and key are the carry.
    Inside a lane, effects of each iteration come out stacked as the scan's outputs."""
    written = [v for v in sorted(analysis.assigned_names(s.body, cx.sim)) if v in st.env]
    meta: list = []
    in_lane = st.lane is not None
    for v in written:
        if in_lane and v not in st.lane.locals:
            raise NeedsStatic("a sequential loop writes an outer variable inside a vectorised loop")
    key0 = st.rng.next() if st.rng.key is not None else None
    carry0 = ({v: jnp.asarray(st.env[v].x) for v in written}, jnp.asarray(st.target, dtype=float),
              st.loglik, key0)

    def step(carry, k):
        vals, target, loglik, key = carry
        env = {**st.env, **{v: Val(vals[v], st.env[v].t) for v in written}}
        lane = None
        if in_lane:
            lane = Lane(st.lane.locals, {kk: vv for kk, vv in st.lane.overlay.items()
                                         if s.var not in ast.free_names(kk)})
        box = KeyBox(None)
        if key is not None:
            key, box.key = jax.random.split(key)
        inner = State({**env, **binder(k)}, target, loglik, lane, box)
        out = execute(s.body, inner, cx)
        new_vals = {v: jnp.asarray(cast_to(out.env[v].x, st.env[v].t, shape_of(st.env[v].x)),
                                   dtype=carry0[0][v].dtype) for v in written}
        effects = out.lane.effects if in_lane else ()
        meta.clear()
        meta.extend((e.kind, e.name, e.mask is not None) for e in effects)
        ys = [(jnp.asarray(e.pos), jnp.asarray(e.val)) + ((e.mask,) if e.mask is not None else ())
              for e in effects]
        return (new_vals, jnp.asarray(out.target, dtype=float), out.loglik, key), ys

    (vals, target, loglik, _), ys = jax.lax.scan(step, carry0, jnp.arange(n))
    env = {**st.env, **{v: Val(vals[v], st.env[v].t) for v in written}}
    st = st._replace(env=env, target=target, loglik=loglik)
    for (kind, name, has_mask), arr in zip(meta, ys):
        pos, val = arr[0], arr[1]
        st = add_effect(st, Effect(kind, name, pos, val, arr[2] if has_mask else None))
    return st
