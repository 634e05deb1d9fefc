"""User-defined functions and control flow in the compiler: a function program has the log density
of its hand-inlined equivalent, early returns and breaks on known and traced conditions, while
loops, `reject`, `_lp` and `_rng` functions, and a fit that matches the conjugate posterior.
The ODE solvers, which take a user function, are in test_ode.py."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from boxloop.errors import FitError
from boxloop.infer import compile as C
from boxloop.infer.nuts import NutsSettings
from boxloop.lang import check

F32 = jnp.result_type(float) == jnp.float32
RTOL = 2e-5 if F32 else 1e-10


def _compile(src, data):
    result = check(src)
    assert result.valid, [str(d) for d in result.errors]
    return C.compile_program(result.program, data)


def _close(a, b, rtol=RTOL):
    np.testing.assert_allclose(np.asarray(a, float), np.asarray(b, float), rtol=rtol, atol=1e-4 if F32 else 1e-9)


WITH_FUNCTIONS = """
functions {
  real centre(real x, data real shift) { return x - shift; }
  real gauss_lpdf(real y, real mu, real sigma) { return normal_lpdf(y | mu, sigma); }
  void priors_lp(real mu, real sigma) {
    mu ~ normal(0, 5);
    target += exponential_lpdf(sigma | 1);
  }
  real capped(real x) {
    if (x > 2) return 2;
    return x;
  }
}
data { int N; vector[N] y; real shift; }
parameters { real mu; real<lower=0> sigma; }
model {
  priors_lp(mu, sigma);
  for (n in 1:N) y[n] ~ gauss(centre(mu, shift) + capped(mu) - capped(mu), sigma);
}
"""

INLINED = """
data { int N; vector[N] y; real shift; }
parameters { real mu; real<lower=0> sigma; }
model {
  mu ~ normal(0, 5);
  target += exponential_lpdf(sigma | 1);
  for (n in 1:N) target += normal_lpdf(y[n] | mu - shift, sigma);
}
"""

DATA = {"N": 5, "y": [0.3, -1.2, 2.2, 0.8, 1.1], "shift": 0.5}


def test_function_program_has_the_log_density_and_gradient_of_its_inlined_equivalent():
    a, b = _compile(WITH_FUNCTIONS, DATA), _compile(INLINED, DATA)
    for u in ([0.3, -0.2], [3.0, 0.4], [-1.5, 1.0]):  # mu = 3 takes capped's early return
        u = jnp.asarray(u)
        _close(a.log_density(u), b.log_density(u))
        _close(jax.grad(a.log_density)(u), jax.grad(b.log_density)(u))
    # the user density's observations are pointwise log-likelihood terms, one per y[n]
    ll = a.log_likelihood(jnp.asarray([0.3, -0.2]))["y"]
    _close(ll, stats.norm.logpdf(DATA["y"], 0.3 - 0.5, math.exp(-0.2)))


def test_traced_early_return_gives_each_branch_its_value_and_gradient():
    src = """
    functions {
      real piecewise(real x) {
        if (x < 0) return -x;
        if (x < 1) return x^2;
        return 2 * x - 1;
      }
    }
    parameters { real x; }
    model { target += piecewise(x); }
    """
    m = _compile(src, {})
    for x, value, slope in ((-2.0, 2.0, -1.0), (0.5, 0.25, 1.0), (3.0, 5.0, 2.0)):
        u = jnp.asarray([x])
        _close(m.log_density(u), value)
        _close(jax.grad(m.log_density)(u), [slope])


def test_loops_with_break_continue_and_return_on_data():
    src = """
    functions {
      int first_positive(array[] int v) {
        for (k in 1:size(v)) { if (v[k] > 0) return k; }
        return 0;
      }
      int sum_odd_until_zero(array[] int v) {
        int total = 0;
        for (k in 1:size(v)) {
          if (v[k] == 0) break;
          if (v[k] % 2 == 0) continue;
          total += v[k];
        }
        return total;
      }
      int steps_to_one(int start) {
        int n = start;
        int steps = 0;
        while (n != 1) {
          n = n % 2 == 0 ? n %/% 2 : 3 * n + 1;
          steps += 1;
        }
        return steps;
      }
    }
    data { int N; array[N] int v; }
    transformed data {
      int first = first_positive(v);
      int odd = sum_odd_until_zero(v);
      int collatz = steps_to_one(27);
      array[N] int firsts;
      for (i in 1:N) firsts[i] = first_positive(v[i:N]);
    }
    parameters { real mu; }
    model { mu ~ normal(0, 1); }
    """
    m = _compile(src, {"N": 7, "v": [-1, 3, 4, 5, 0, 7, 2]})
    # -1 + 3 + 5: the even 4 is skipped, and the 0 ends the sum before 7
    assert (m.data["first"], m.data["odd"], m.data["collatz"]) == (2, 7, 111)
    assert list(m.data["firsts"]) == [2, 1, 1, 1, 2, 1, 1]


def test_while_loop_on_a_parameter_runs_as_a_traced_loop():
    src = """
    parameters { real<lower=0> rate; }
    model { rate ~ exponential(1); }
    generated quantities {
      int k = 0;
      while (k < 10 * rate && k < 100) k += 1;
    }
    """
    m = _compile(src, {})
    for rate in (0.05, 0.42, 3.0, 20.0):
        gq = m.generated_quantities(jnp.asarray([math.log(rate)]), jax.random.PRNGKey(0))
        assert int(gq["k"]) == min(math.ceil(10 * rate), 100)


def test_reject_in_a_function_rejects_only_the_draws_that_reach_it():
    src = """
    functions {
      real checked_log(real x) {
        if (x <= 0) reject("checked_log needs x > 0; found x=", x);
        return log(x);
      }
    }
    parameters { real x; }
    model { target += checked_log(x) + normal_lpdf(x | 1, 1); }
    """
    m = _compile(src, {})
    assert float(m.log_density(jnp.asarray([-0.5]))) == -math.inf
    _close(m.log_density(jnp.asarray([2.0])), math.log(2.0) + stats.norm.logpdf(2.0, 1, 1))


def test_reject_reached_in_transformed_data_is_an_error_with_its_message():
    src = """
    data { int N; }
    transformed data { if (N < 2) reject("need at least two rows; N=", N); }
    parameters { real mu; }
    model { mu ~ normal(0, 1); }
    """
    with pytest.raises(FitError) as exc:
        _compile(src, {"N": 1})
    assert exc.value.code == "infer.reject"
    assert "need at least two rows; N=1" in str(exc.value)
    _compile(src, {"N": 3})  # and no error where the condition is false


def test_rng_function_draws_in_generated_quantities():
    src = """
    functions { real shifted_rng(real m) { return normal_rng(m, 0.001) + 10; } }
    parameters { real mu; }
    model { mu ~ normal(0, 1); }
    generated quantities { real z = shifted_rng(mu); }
    """
    m = _compile(src, {})
    z = m.generated_quantities(jnp.asarray([0.7]), jax.random.PRNGKey(1))["z"]
    assert abs(float(z) - 10.7) < 0.01


def test_fit_of_a_function_program_matches_the_conjugate_posterior():
    # y ~ N(mu, 1) with mu ~ N(0, 5) written through a user density and an _lp prior
    src = """
    functions {
      real unit_lpdf(vector y, real mu) { return normal_lpdf(y | mu, 1); }
      void prior_lp(real mu) { mu ~ normal(0, 5); }
    }
    data { int N; vector[N] y; }
    parameters { real mu; }
    model { prior_lp(mu); y ~ unit(mu); }
    """
    y = np.array([1.2, 0.4, 2.1, 1.7, 0.9, 1.4])
    fit = C.fit(check(src).program, {"N": 6, "y": y.tolist()},
                NutsSettings(chains=2, warmup=300, draws=400), seed=3)
    draws = np.asarray(fit.draws["mu"]).reshape(-1)
    precision = 1 / 25 + len(y)
    mean, sd = y.sum() / precision, precision ** -0.5
    mcse = sd / math.sqrt(len(draws) / 2)  # a conservative ESS of half the draws
    assert abs(draws.mean() - mean) < 4 * mcse
    assert abs(draws.std() - sd) < 0.15 * sd

