"""Stan's ODE solvers with a user-defined right-hand side, on JAX's adaptive Runge-Kutta integrator.

`integrate_ode_rk45(f, y0, t0, ts, theta, x_r, x_i[, rtol, atol, max_steps])` and
`ode_rk45(f, y0, t0, ts, ...)` (with `_tol`: rtol, atol, max_steps after ts) give the state at
each time in ts. Every solver name (rk45, bdf, adams, ckrk) is integrated the same way: with
`jax.experimental.ode.odeint` (Dormand-Prince 5(4), adaptive steps, gradients by the adjoint
method) at the program's tolerances and step limit or Stan's defaults (where Stan would reject a draw
whose solve exceeds the step limit, this solve stops there). A stiff system therefore takes many small
steps where Stan's bdf would take few; the values agree to the tolerances.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.experimental.ode import odeint

from ..errors import ProgramError
from ..lang import ast
from ..lang import functions as fn
from ..lang.types import REAL, ValueType
from .interp import Context, State, Val, as_real, ev

DEFAULT_RTOL, DEFAULT_ATOL, DEFAULT_MAX_STEPS = 1e-6, 1e-6, 10**6  # Stan's defaults (rk45)


def solve(e: ast.Call, st: State, cx: Context) -> Val:
    if cx.functions is None or not isinstance(e.args[0], ast.Var):
        raise ProgramError(f"{e.name} needs a user-defined right-hand side", code="infer.ode")
    old = e.name in fn.OLD_ODE
    fixed, _ = fn.ode_layout(e.name)
    args = [ev(a, st, cx) for a in e.args[1:]]
    y0, t0, ts = args[0], args[1], args[2]
    if old:
        extra, tol = args[3:6], args[6:9]
    else:
        extra, tol = args[3 + fixed:], args[3:3 + fixed]
    rtol = float(tol[0].x) if tol else DEFAULT_RTOL
    atol = float(tol[1].x) if tol else DEFAULT_ATOL
    # Stan rejects a draw whose solve needs more steps; here the solve stops there, inaccurate
    max_steps = int(tol[2].x) if tol else DEFAULT_MAX_STEPS
    state_t = ValueType("real", 1) if old else ValueType("vector")
    name = e.args[0].name

    # Real arguments go through odeint (it differentiates with respect to them); integer ones are
    # data, closed over as they are.
    reals = [k for k, a in enumerate(extra) if a.t.kind != "int"]

    def rhs(y, t, *values):
        given = dict(zip(reals, values))
        call_args = [Val(t, REAL), Val(y, state_t)] + [
            Val(given[k], a.t) if k in given else a for k, a in enumerate(extra)]
        value, _ = cx.functions.call(name, call_args, st, cx)
        return jnp.asarray(value.x, dtype=y.dtype)

    times = jnp.concatenate([jnp.reshape(as_real(t0.x), (1,)), jnp.asarray(as_real(ts.x))])
    y_start = jnp.asarray(as_real(y0.x))
    values = [jnp.asarray(as_real(extra[k].x)) for k in reals]
    path = odeint(rhs, y_start, times, *values, rtol=rtol, atol=atol, mxstep=max_steps)
    result = ValueType("real", 2) if old else ValueType("vector", 1)
    return Val(path[1:], result)

