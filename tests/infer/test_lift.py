"""Prior constants lifted into data (infer.lift): programs differing only in those numbers share
one kernel and its compiled sampler, with each program's own density."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.scipy import stats as jstats

from boxloop.infer import compile as C
from boxloop.infer.lift import lift_constants
from boxloop.infer.nuts import NutsSettings
from boxloop.lang import to_stan
from boxloop.lang.parser import parse


@pytest.fixture(autouse=True, scope="module")
def float64():
    with jax.enable_x64(True):
        yield


# Every kind of lifted literal: int and real, a negated one, a `target += _lpdf` argument.
PRIORS = """
data {{ int<lower=0> N; vector[N] y; }}
parameters {{ real mu; real<lower=0> sigma; real<lower=0> nu; }}
model {{
  mu ~ normal({loc}, {scale});
  sigma ~ exponential({rate});
  nu ~ gamma(2, 0.1);
  target += student_t_lpdf(mu | 3, -1, 2.5);
  y ~ normal(mu, sigma);
}}
"""
Y = np.array([0.3, -1.2, 2.5, 0.8, 1.1])
DATA = {"N": len(Y), "y": Y}


def _priors(loc=0, scale=5, rate=1):
    return parse(PRIORS.format(loc=loc, scale=scale, rate=rate))


def _closed_form(loc, scale, rate):
    """The density of PRIORS at u = (mu, log sigma, log nu), with log-Jacobians, from jax.scipy."""
    def f(u):
        mu, sigma, nu = u[0], jnp.exp(u[1]), jnp.exp(u[2])
        return (jstats.norm.logpdf(mu, loc, scale) + jstats.expon.logpdf(sigma, scale=1 / rate)
                + jstats.gamma.logpdf(nu, 2, scale=10.0) + jstats.t.logpdf(mu, 3, -1, 2.5)
                + jnp.sum(jstats.norm.logpdf(Y, mu, sigma)) + u[1] + u[2])
    return f


def test_eligible_literals_become_data_in_source_order():
    lifted = lift_constants(_priors(loc=-1.5, scale=5, rate=0.5))
    assert lifted.constants == {"__c0": -1.5, "__c1": 5.0, "__c2": 0.5, "__c3": 2.0, "__c4": 0.1,
                                "__c5": 3.0, "__c6": -1.0, "__c7": 2.5}
    text = to_stan(lifted.program)
    assert "mu ~ normal(__c0, __c1);" in text and "student_t_lpdf(mu | __c5, __c6, __c7)" in text
    assert all(f"real {n};" in text for n in lifted.constants)


def test_literals_outside_real_distribution_arguments_stay():
    src = """
    data { int<lower=0> n; }
    transformed data { real half = 1 / 2; }
    parameters { real<lower=0, upper=1> theta; vector[3] b; real z; }
    model {
      for (i in 1:3) b[i] ~ normal(z + 1, 2);
      z ~ normal(0, 1) T[-5, 5];
      theta ~ beta(1, 1);
      n ~ binomial(10, theta);
      target += -0.5 * z;
    }
    generated quantities { real r = normal_rng(0, 3); }
    """
    program = parse(src)
    lifted = lift_constants(program)
    assert list(lifted.constants.values()) == [2.0, 0.0, 1.0, 1.0, 1.0]
    expect = program.block("model").stmts[0].body
    got = lifted.program.block("model").stmts[0].body
    assert got.args[0] == expect.args[0] and got.lhs == expect.lhs  # `z + 1` and the index stay
    skeleton = to_stan(lifted.program)
    assert "binomial(10, theta)" in skeleton and "T[-5, 5]" in skeleton and "normal_rng(0, 3)" in skeleton
    for block in ("transformed data", "parameters", "generated quantities"):
        assert lifted.program.block(block) == program.block(block)


def test_a_program_without_eligible_literals_is_its_own_skeleton():
    program = parse("data { real s; } parameters { real mu; } model { mu ~ normal(s, s); }")
    assert lift_constants(program).program is program


def test_prior_constants_share_a_cache_key_and_structure_and_int_arguments_do_not():
    assert C.cache_key(_priors(scale=5), DATA) == C.cache_key(_priors(scale=2.5, loc=-3, rate=4), DATA)
    assert C.cache_key(_priors(), DATA) != C.cache_key(parse(PRIORS.format(loc=0, scale=5, rate=1)
                                                             .replace("normal(0, 5)", "cauchy(0, 5)")), DATA)
    binomial = """data { int<lower=0> y; } parameters { real<lower=0, upper=1> theta; }
                  model { theta ~ beta(1, 1); y ~ binomial(%d, theta); }"""
    assert C.cache_key(parse(binomial % 10), {"y": 3}) != C.cache_key(parse(binomial % 12), {"y": 3})


def test_shared_kernel_gives_each_program_its_own_density_and_gradient():
    rng = np.random.default_rng(0)
    first = C.compile_program(_priors(0, 5, 1), DATA)
    for loc, scale, rate in ((0, 5, 1), (1.5, 0.7, 3), (-2, 20, 0.25)):
        m = C.compile_program(_priors(loc, scale, rate), DATA)
        assert m.kernel is first.kernel
        exact = _closed_form(loc, scale, rate)
        for u in rng.normal(size=(4, 3)):
            value, grad = m.log_density_and_gradient(jnp.asarray(u))
            np.testing.assert_allclose(value, exact(u), rtol=1e-10)
            np.testing.assert_allclose(grad, jax.grad(exact)(jnp.asarray(u)), rtol=1e-10, atol=1e-12)


def test_the_model_keeps_the_program_as_written():
    program = _priors(0, 5, 1)
    m = C.compile_program(program, DATA)
    assert m.program is program and set(m.data) == {"N", "y"}
    assert m.info.data == frozenset({"N", "y"})
    assert m.kernel.program != program and "__c0" in m.dyn


def test_simulation_and_generated_quantities_read_the_lifted_constants():
    src = """parameters { real mu; } model { mu ~ normal(%s, %s); }
             generated quantities { real twice = 2 * mu; }"""
    wide, narrow = (C.compile_program(parse(src % c), {}) for c in ((3, 10), (-1, 0.5)))
    assert wide.kernel is narrow.kernel
    key = jax.random.PRNGKey(0)
    for m, (loc, scale) in ((wide, (3, 10)), (narrow, (-1, 0.5))):
        mu = m.simulate(key, "prior", num_draws=4000)["mu"]
        assert abs(mu.mean() - loc) < 4 * scale / np.sqrt(4000) and abs(mu.std() / scale - 1) < 0.05
        u = jnp.asarray([0.7])
        assert float(m.generated_quantities(u, key)["twice"]) == pytest.approx(1.4)


def test_constants_are_fixed_in_the_trace_when_all_data_must_be():
    # The while loop's bound comes from real data, so every datum (constants too) is static.
    src = """data { int N; vector[N] y; real cut; } parameters { real mu; }
             model { int k = 1; while (y[k] < cut) k += 1;
                     mu ~ normal(0, %s); segment(y, k, N - k + 1) ~ normal(mu, 1); }"""
    data = {"N": 4, "y": [0.1, 0.5, 2.0, 3.0], "cut": 1.0}
    a, b = (C.compile_program(parse(src % s), data) for s in (5, 2))
    assert "__c1" in a.kernel.static and a.kernel is not b.kernel
    u = jnp.asarray([0.4])
    for m, scale in ((a, 5), (b, 2)):
        exact = jstats.norm.logpdf(0.4, 0, scale) + jnp.sum(jstats.norm.logpdf(jnp.asarray([2.0, 3.0]), 0.4, 1))
        np.testing.assert_allclose(m.log_density(u), exact, rtol=1e-10)


# Conjugate: y_i ~ normal(mu, 1) with mu ~ normal(0, s) has posterior mean sum(y) / (n + 1 / s^2).
CONJUGATE = """data { int<lower=0> N; vector[N] y; } parameters { real mu; }
               model { mu ~ normal(0, %s); y ~ normal(mu, 1); }"""
Y_CONJ = np.array([2.1, 3.4, 2.8, 3.9, 2.8])


def _posterior(scale):
    precision = len(Y_CONJ) + 1 / scale**2
    return Y_CONJ.sum() / precision, precision ** -0.5


def test_a_refit_with_other_prior_constants_compiles_nothing_and_follows_its_prior():
    data = {"N": len(Y_CONJ), "y": Y_CONJ}
    settings = NutsSettings(chains=2, warmup=200, draws=200)
    first = C.fit(parse(CONJUGATE % 10), data, settings, seed=0)
    second = C.fit(parse(CONJUGATE % 0.3), data, settings, seed=1)
    assert second.model.kernel is first.model.kernel
    assert first.timing["compile_s"] > 0 and second.timing["compile_s"] == 0.0
    for fitted, scale in ((first, 10), (second, 0.3)):
        mean, sd = _posterior(scale)
        draws = fitted.draws["mu"]
        assert abs(draws.mean() - mean) < 4 * sd / np.sqrt(draws.size / 2), (scale, draws.mean(), mean)
    assert abs(_posterior(10)[0] - _posterior(0.3)[0]) > 1.0  # the two posteriors are far apart


def test_pathfinder_on_other_prior_constants_compiles_nothing():
    data = {"N": len(Y_CONJ), "y": Y_CONJ}
    C.approximate(parse(CONJUGATE % 4), data, seed=0)
    second = C.approximate(parse(CONJUGATE % 0.5), data, seed=1)
    assert second.timing["compile_s"] == 0.0
    mean, sd = _posterior(0.5)
    assert abs(second.draws["mu"].mean() - mean) < 0.2 * sd
