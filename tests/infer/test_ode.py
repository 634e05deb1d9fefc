"""ODE solvers with a user-defined right-hand side against a closed-form solution."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from boxloop.infer import compile as C
from boxloop.lang import check

F32 = jnp.result_type(float) == jnp.float32


def _compile(src, data):
    result = check(src)
    assert result.valid, [str(d) for d in result.errors]
    return C.compile_program(result.program, data)


def _close(a, b, rtol):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=1e-4 if F32 else 1e-9)


ODE_OLD = """
functions {
  array[] real decay(real t, array[] real y, array[] real theta, array[] real x_r, array[] int x_i) {
    return {-theta[1] * y[1], theta[1] * y[1] - x_r[1] * y[2]};
  }
}
data { int N; array[N] real ts; }
parameters { real<lower=0> k; }
transformed parameters {
  array[N, 2] real z = integrate_ode_rk45(decay, {2.0, 0.0}, 0.0, ts, {k}, {0.5}, rep_array(0, 0),
                                          1e-8, 1e-8, 10000);
}
model { for (n in 1:N) target += z[n, 1] + z[n, 2]; }
"""

ODE_NEW = """
functions { vector decay(real t, vector y, real k) { return -k * y; } }
data { int N; array[N] real ts; }
parameters { real<lower=0> k; }
transformed parameters { array[N] vector[1] z = ode_rk45_tol(decay, [2.0]', 0.0, ts, 1e-8, 1e-8, 10000, k); }
model { for (n in 1:N) target += z[n, 1]; }
"""


def _decay_chain(k, t):
    """y1' = -k y1, y2' = k y1 - y2 / 2 from (2, 0): closed form."""
    y1 = 2 * np.exp(-k * t)
    y2 = 2 * k / (k - 0.5) * (np.exp(-0.5 * t) - np.exp(-k * t))
    return y1, y2


@pytest.mark.parametrize("src", [ODE_OLD, ODE_NEW], ids=["integrate_ode_rk45", "ode_rk45_tol"])
def test_ode_solution_and_gradient_match_the_closed_form(src):
    ts = np.array([0.5, 1.0, 2.5, 4.0])
    m = _compile(src, {"N": 4, "ts": ts.tolist()})
    k, eps = 1.3, 1e-4
    both = src is ODE_OLD

    def exact(kk):
        y1, y2 = _decay_chain(kk, ts)
        return (y1 + y2).sum() if both else y1.sum()

    u = jnp.asarray([math.log(k)])  # k > 0: u = log k, and the Jacobian adds u
    _close(m.log_density(u), exact(k) + math.log(k), rtol=1e-4)
    slope = (exact(k + eps) - exact(k - eps)) / (2 * eps)
    _close(jax.grad(m.log_density)(u), [slope * k + 1], rtol=1e-3)
