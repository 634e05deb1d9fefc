"""The library's newer families and functions compiled inside programs: each program's log
density (and pointwise log-likelihood) equals an equivalent program's, or a scipy value, at random
points of the unconstrained space."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from boxloop.infer import compile as C
from boxloop.lang import check
from boxloop.lang.parser import parse

F32 = jnp.result_type(float) == jnp.float32
RTOL = 2e-5 if F32 else 1e-9

R = np.random.default_rng(21)
N, K = 9, 2
X = R.normal(size=(N, K))
REG_DATA = {"N": N, "K": K, "X": X, "y": R.normal(size=N), "k": R.poisson(2.0, N), "b": R.integers(0, 2, N),
            "c": R.integers(1, 4, N)}
REG_HEAD = "data { int N; int K; matrix[N, K] X; vector[N] y; array[N] int k; array[N] int b; " \
           "array[N] int c; }\n"


def _compile(src, data):
    assert check(src, data=data).valid, [str(d) for d in check(src, data=data).errors]
    return C.compile_program(parse(src), data)


def _points(model, n=3):
    return [0.4 * np.random.default_rng(s).normal(size=model.dim) for s in range(n)]


def _same(src_a, src_b, data, loglik=True):
    a, b = _compile(src_a, data), _compile(src_b, data)
    assert a.dim == b.dim
    for u in _points(a):
        np.testing.assert_allclose(float(a.log_density(u)), float(b.log_density(u)), rtol=RTOL, atol=1e-6)
        for key, value in (b.log_likelihood(u) if loglik else {}).items():
            np.testing.assert_allclose(np.asarray(a.log_likelihood(u)[key]), np.asarray(value), rtol=RTOL,
                                       atol=1e-6)


@pytest.mark.parametrize("glm,plain,extra", [
    ("y ~ normal_id_glm(X, a, beta, s);", "y ~ normal(a + X * beta, s);", ("real<lower=0> s;", "s ~ exponential(1);")),
    ("b ~ bernoulli_logit_glm(X, a, beta);", "b ~ bernoulli_logit(a + X * beta);", ("", "")),
    ("k ~ poisson_log_glm(X, a, beta);", "k ~ poisson_log(a + X * beta);", ("", "")),
    ("k ~ neg_binomial_2_log_glm(X, a, beta, phi);", "k ~ neg_binomial_2_log(a + X * beta, phi);",
     ("real<lower=0> phi;", "phi ~ exponential(1);")),
])
def test_glm_forms_are_the_family_at_the_linear_predictor(glm, plain, extra):
    decl, prior = extra

    def program(stmt):
        return (REG_HEAD + f"parameters {{ real a; vector[K] beta; {decl} }}\n"
                f"model {{ a ~ normal(0, 1); beta ~ normal(0, 1); {prior} {stmt} }}\n")
    _same(program(glm), program(plain), REG_DATA)


def test_categorical_logit_glm_is_categorical_logit_per_row():
    head = REG_HEAD + "parameters { vector[3] a; matrix[K, 3] beta; }\nmodel { a ~ normal(0, 1); " \
                      "to_vector(beta) ~ normal(0, 1); "
    _same(head + "c ~ categorical_logit_glm(X, a, beta); }",
          head + "for (n in 1:N) c[n] ~ categorical_logit(a + (X[n] * beta)'); }", REG_DATA)


def test_wishart_prior_on_a_covariance_parameter_matches_its_inverse_wishart_dual():
    # If W ~ wishart(nu, S) then inverse(W) ~ inv_wishart(nu, inverse(S)): the two programs put the
    # same density on W once the change of variables W -> inverse(W) (|W|^-(K+1)) is added.
    data = {"S": [[2.0, 0.3], [0.3, 1.0]]}
    wishart = ("data { cov_matrix[2] S; } parameters { cov_matrix[2] W; } "
               "model { W ~ wishart(5, S); }")
    dual = ("data { cov_matrix[2] S; } parameters { cov_matrix[2] W; } "
            "model { target += inv_wishart_lpdf(inverse(W) | 5, inverse(S)) - 3 * log_determinant(W); }")
    _same(wishart, dual, data, loglik=False)  # the dual's target += touches data S


def test_multinomial_program_matches_scipy():
    data = {"y": [3, 5, 2]}
    m = _compile("data { array[3] int y; } parameters { simplex[3] theta; } "
                 "model { theta ~ dirichlet(rep_vector(1, 3)); y ~ multinomial(theta); }", data)
    for u in _points(m):
        theta = np.asarray(m.constrain(u)["theta"])
        np.testing.assert_allclose(np.asarray(m.log_likelihood(u)["y"]).sum(),
                                   stats.multinomial(10, theta).logpmf(data["y"]), rtol=RTOL)


def test_pareto_and_cdf_forms_compile_to_their_values():
    data = {"n": 5, "y": [1.5, 2.0, 3.5, 1.1, 8.0]}
    m = _compile("data { int n; vector[n] y; } parameters { real<lower=0> alpha; } "
                 "model { alpha ~ exponential(1); y ~ pareto(1, alpha); "
                 "target += log(normal_cdf(0.3 | 0, alpha)) - normal_lcdf(0.3 | 0, alpha); }", data)
    for u in _points(m):
        alpha = float(np.exp(u[0]))
        expected = stats.pareto(alpha, scale=1.0).logpdf(data["y"]).sum() + stats.expon().logpdf(alpha) + u[0]
        np.testing.assert_allclose(float(m.log_density(u)), expected, rtol=RTOL)


HMM_HEAD = """data { int T; vector[T] y; }
transformed data { matrix[2, 2] Gamma = [[0.8, 0.2], [0.3, 0.7]]; }
parameters { simplex[2] rho; real<lower=0> s; }
model {
  matrix[2, T] log_omega;
  for (t in 1:T) {
    log_omega[1, t] = normal_lpdf(y[t] | 0, s);
    log_omega[2, t] = normal_lpdf(y[t] | 2, s);
  }
  s ~ lognormal(0, 1);
"""


def test_hmm_marginal_is_the_forward_algorithm_written_out():
    forward = HMM_HEAD + """  {
    vector[2] alpha = log(rho) + col(log_omega, 1);
    for (t in 2:T) {
      vector[2] next;
      for (j in 1:2) next[j] = log_sum_exp(alpha + log(transpose(row(transpose(Gamma), j)))) + log_omega[j, t];
      alpha = next;
    }
    target += log_sum_exp(alpha);
  }
}"""
    _same(HMM_HEAD + "  target += hmm_marginal(log_omega, Gamma, rho);\n}", forward,
          {"T": 4, "y": [0.2, 1.9, 2.1, -0.3]}, loglik=False)
