"""The compiler: exact log densities, normalisation, pointwise log-likelihood, loops, simulation.
Posterior correctness against posteriordb lives in test_posteriordb.py."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import integrate, stats
from shared_data import shared

from boxloop.errors import DataError, FitError, ProgramError
from boxloop.infer import compile as C
from boxloop.infer.nuts import NutsSettings
from boxloop.lang.parser import parse

VALID = Path(__file__).resolve().parents[1] / "programs" / "valid"
PDB = shared("benchmarks", "posteriordb")
F32 = jnp.result_type(float) == jnp.float32
RTOL = 2e-5 if F32 else 1e-10


def _data(name):
    return json.loads((PDB / "data" / f"{name}.json").read_text())


def _compile(src, data):
    return C.compile_program(parse(src), data)


def _close(a, b, rtol=RTOL, atol=1e-4):
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=rtol,
                               atol=atol if F32 else 1e-9)


EIGHT_NC = """
data { int<lower=0> J; vector[J] y; vector<lower=0>[J] sigma; }
parameters { real mu; real<lower=0> tau; vector[J] eta; }
transformed parameters { vector[J] theta = mu + tau * eta; }
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  eta ~ normal(0, 1);
  y ~ normal(theta, sigma);
}
"""

EIGHT_DATA = {"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}


# ---- exact values -------------------------------------------------------------------------------------


def test_eight_schools_log_density_is_the_hand_computed_value():
    m = _compile(EIGHT_NC, EIGHT_DATA)
    assert [(p.name, p.shape, p.size, p.offset) for p in m.param_layout] == [
        ("mu", (), 1, 0), ("tau", (), 1, 1), ("eta", (8,), 8, 2)]
    u = np.linspace(-1.0, 1.2, m.dim)
    mu, log_tau, eta = u[0], u[1], u[2:]
    tau = math.exp(log_tau)
    theta = mu + tau * eta
    y, sigma = np.array(EIGHT_DATA["y"], float), np.array(EIGHT_DATA["sigma"], float)
    prior = (stats.norm(0, 5).logpdf(mu)
             + stats.cauchy(0, 5).logpdf(tau) + math.log(2.0)  # half-Cauchy: the automatic normaliser
             + log_tau  # Jacobian of tau = exp(u)
             + stats.norm().logpdf(eta).sum())
    loglik = stats.norm(theta, sigma).logpdf(y)
    _close(m.log_density(u), prior + loglik.sum())
    _close(m.log_likelihood(u)["y"], loglik)
    _close(m.log_prior(u), prior)
    _close(m.constrain(u)["theta"], theta)
    _close(m.unconstrain(m.constrain(u)), u)
    # the batched split that likelihood tempering uses: the same prior and likelihood, row by row
    log_prior, log_lik = m.log_prior_likelihood_draws(np.stack([u, u[::-1]]))
    _close(log_prior[0], prior)
    _close(log_lik[0], loglik.sum())
    _close(log_prior[1] + log_lik[1], m.log_density(u[::-1]))


@pytest.mark.parametrize("prior", ["lognormal(mu, s)", "gamma(s, 1)", "exponential(s)"])
def test_a_positive_prior_on_its_own_support_edge_has_the_gradient_of_its_density(prior):
    # `vector<lower=0> x; x ~ lognormal(...)` needs no normaliser; the one that was evaluated and
    # dropped at x = 0, outside the lognormal's domain, still made the gradient in `s` NaN
    src = ("data { int N; } parameters { vector<lower=0>[N] x; real mu; real<lower=0> s; } "
           f"model {{ mu ~ normal(0, 1); s ~ normal(0, 1); x ~ {prior}; }}")
    model = _compile(src, {"N": 3})
    u = jnp.asarray(np.random.default_rng(0).uniform(-2, 2, model.dim))
    grad = np.asarray(jax.grad(model.log_density)(u), dtype=float)
    eps = 1e-3 if F32 else 1e-6
    step = np.eye(model.dim)[-1] * eps
    numeric = (float(model.log_density(u + step)) - float(model.log_density(u - step))) / (2 * eps)
    assert np.all(np.isfinite(grad)) and grad[-1] == pytest.approx(numeric, rel=1e-2 if F32 else 1e-6)


def test_density_identity_and_scalar_data_ops():
    src = """
    data { int N; int K; matrix[N, K] X; vector[N] y; array[N] int g; }
    transformed data {
      int half = N / 2;
      int neg = -7 / 2;
      int md = -7 % 3;
      vector[K] ones_k = rep_vector(1.0, K);
      real dotv = ones_k' * ones_k;
      matrix[K, K] outer = ones_k * ones_k';
      array[3] int idx = {1, 3, 2};
      vector[3] sub = y[idx];
      vector[3] sl = y[2:4];
      real c = N > 3 ? 1.5 : -1.5;
    }
    parameters { vector[K] beta; real<lower=0> sigma; array[2] real a; }
    transformed parameters {
      vector[N] mu = X * beta;
      for (n in 1:N) mu[n] += a[g[n]];
    }
    model {
      beta ~ normal(0, 1);
      a ~ normal(0, 1);
      sigma ~ exponential(1);
      for (n in 1:N) {
        if (g[n] == 1) y[n] ~ normal(mu[n], sigma);
        else y[n] ~ student_t(4, mu[n], sigma);
      }
      if (sigma > 1) target += -1;
    }
    """
    rng = np.random.default_rng(0)
    n, k = 6, 3
    data = dict(N=n, K=k, X=rng.normal(size=(n, k)), y=rng.normal(size=n), g=[1, 2, 1, 2, 2, 1])
    m = _compile(src, data)
    assert (m.data["half"], m.data["neg"], m.data["md"]) == (3, -3, -1)  # Stan truncates toward 0
    assert float(m.data["dotv"]) == 3.0 and m.data["outer"].shape == (3, 3)
    np.testing.assert_array_equal(m.data["sub"], data["y"][[0, 2, 1]])
    np.testing.assert_array_equal(m.data["sl"], data["y"][1:4])
    assert float(m.data["c"]) == 1.5
    for seed in range(3):
        u = np.random.default_rng(seed).normal(size=m.dim)
        beta, sigma, a = u[:3], math.exp(u[3]), u[4:6]
        mu = data["X"] @ beta + a[np.array(data["g"]) - 1]
        g1 = np.array(data["g"]) == 1
        ll = np.where(g1, stats.norm(mu, sigma).logpdf(data["y"]), stats.t(4, mu, sigma).logpdf(data["y"]))
        ref = (stats.norm().logpdf(beta).sum() + stats.norm().logpdf(a).sum() + stats.expon().logpdf(sigma)
               + u[3] + ll.sum() - (sigma > 1))
        _close(m.log_density(u), ref)
        _close(m.log_likelihood(u)["y"], ll)
        _close(m.log_prior(u) + m.log_likelihood(u)["y"].sum(), m.log_density(u))


def test_operators_and_indexing_follow_stan():
    src = """
    data { int N; matrix[N, N] A; vector[N] b; array[2, 3] int k; }
    transformed data {
      vector[N] x = A \\ b;
      row_vector[N] r = b' / A;
      matrix[N, N] At = A';
      row_vector[N] row2 = A[2];
      vector[N] col3 = A[:, 3];
      matrix[2, 2] block = A[2:3, {1, 3}];
      vector[N] sq = b .^ 2;
      real pw = 2 ^ 3;
      int m1 = 7 % 3;
      int m2 = 7 %/% 2;
      int kk = k[2, 3];
      int logic = (1 < 2) && !(3 == 4) || 0;
      real cmp = b[1] > b[2];
    }
    parameters { real z; }
    transformed parameters {
      vector[N] v = A * (b * z);
      real q = b' * A * b * z;
      matrix[N, N] o = b * b' * z;
      v[2:3] = rep_vector(z, 2);
      v[1] *= 2;
    }
    model { z ~ normal(0, 1); }
    """
    rng = np.random.default_rng(4)
    n = 4
    A, b = rng.normal(size=(n, n)) + 3 * np.eye(n), rng.normal(size=n)
    m = _compile(src, {"N": n, "A": A, "b": b, "k": [[1, 2, 3], [4, 5, 6]]})
    d = m.data
    np.testing.assert_allclose(d["x"], np.linalg.solve(A, b), rtol=1e-10)
    np.testing.assert_allclose(d["r"], b @ np.linalg.inv(A), rtol=1e-8)
    np.testing.assert_allclose(d["At"], A.T)
    np.testing.assert_allclose(d["row2"], A[1])
    np.testing.assert_allclose(d["col3"], A[:, 2])
    np.testing.assert_allclose(d["block"], A[1:3][:, [0, 2]])
    np.testing.assert_allclose(d["sq"], b ** 2)
    assert (float(d["pw"]), d["m1"], d["m2"], d["kk"], d["logic"]) == (8.0, 1, 3, 6, 1)
    assert float(d["cmp"]) == float(b[0] > b[1])
    z = 0.7
    tp = m.constrain(np.array([z]))
    v = A @ (b * z)
    v[1:3] = z
    v[0] *= 2
    _close(tp["v"], v)
    _close(tp["q"], b @ A @ b * z)
    _close(tp["o"], np.outer(b, b) * z)


KIDIQ_VEC = """
data { int<lower=0> N; vector[N] kid_score; vector[N] mom_iq; vector[N] mom_hs; }
parameters { vector[4] beta; real<lower=0> sigma; }
model {
  sigma ~ cauchy(0, 2.5);
  kid_score ~ normal(beta[1] + beta[2] * mom_hs + beta[3] * mom_iq + beta[4] * mom_hs .* mom_iq, sigma);
}
"""

KIDIQ_LOOP = """
data { int<lower=0> N; vector[N] kid_score; vector[N] mom_iq; vector[N] mom_hs; }
parameters { vector[4] beta; real<lower=0> sigma; }
model {
  vector[N] mu;
  sigma ~ cauchy(0, 2.5);
  for (n in 1:N) {
    mu[n] = beta[1] + beta[2] * mom_hs[n] + beta[3] * mom_iq[n] + beta[4] * mom_hs[n] * mom_iq[n];
    kid_score[n] ~ normal(mu[n], sigma);
  }
}
"""

ARK_LOOP = """
data { int<lower=0> K; int<lower=0> T; array[T] real y; }
parameters { real alpha; array[K] real beta; real<lower=0> sigma; }
model {
  alpha ~ normal(0, 10);
  beta ~ normal(0, 10);
  sigma ~ cauchy(0, 2.5);
  for (t in (K + 1):T) {
    real mu = alpha;
    for (k in 1:K) mu += beta[k] * y[t - k];
    y[t] ~ normal(mu, sigma);
  }
}
"""

ARK_VEC = """
data { int<lower=0> K; int<lower=0> T; array[T] real y; }
parameters { real alpha; array[K] real beta; real<lower=0> sigma; }
model {
  vector[T - K] mu = rep_vector(alpha, T - K);
  for (k in 1:K) mu += beta[k] * to_vector(y[(K + 1 - k):(T - k)]);
  alpha ~ normal(0, 10);
  beta ~ normal(0, 10);
  sigma ~ cauchy(0, 2.5);
  y[(K + 1):T] ~ normal(mu, sigma);
}
"""


@pytest.mark.parametrize("pair,data", [((KIDIQ_VEC, KIDIQ_LOOP), "kidiq"), ((ARK_VEC, ARK_LOOP), "arK")])
def test_vectorised_and_looped_likelihoods_agree(pair, data):
    d = _data(data)
    vec, loop = (_compile(src, d) for src in pair)
    assert vec.dim == loop.dim
    for seed in range(2):
        u = 0.3 * np.random.default_rng(seed).normal(size=vec.dim)
        _close(vec.log_density(u), loop.log_density(u), rtol=1e-5)
        lv, ll = vec.log_likelihood(u), loop.log_likelihood(u)
        assert lv.keys() == ll.keys() and len(lv) == 1
        _close(next(iter(lv.values())), next(iter(ll.values())), rtol=1e-5)
        _close(loop.log_prior(u) + sum(v.sum() for v in ll.values()), loop.log_density(u), rtol=1e-5)
    n_obs = {"kidiq": 434, "arK": 195}[data]  # arK conditions on the first K values: not observations
    assert next(iter(loop.log_likelihood(u).values())).shape == (n_obs,)


GARCH = """
data { int<lower=0> T; array[T] real y; real<lower=0> sigma1; }
parameters {
  real mu;
  real<lower=0> alpha0;
  real<lower=0, upper=1> alpha1;
  real<lower=0, upper=(1 - alpha1)> beta1;
}
model {
  array[T] real sigma;
  sigma[1] = sigma1;
  for (t in 2:T)
    sigma[t] = sqrt(alpha0 + alpha1 * pow(y[t - 1] - mu, 2) + beta1 * pow(sigma[t - 1], 2));
  y ~ normal(mu, sigma);
}
"""


def test_garch_recursion_matches_numpy():
    d = _data("garch")
    m = _compile(GARCH, d)
    u = np.array([0.1, -0.3, 0.4, -0.2])
    mu, a0 = u[0], math.exp(u[1])
    a1 = 1 / (1 + math.exp(-u[2]))
    b1 = (1 - a1) / (1 + math.exp(-u[3]))
    y = np.array(d["y"])
    sig = np.empty_like(y)
    sig[0] = d["sigma1"]
    for t in range(1, len(y)):
        sig[t] = math.sqrt(a0 + a1 * (y[t - 1] - mu) ** 2 + b1 * sig[t - 1] ** 2)
    ll = stats.norm(mu, sig).logpdf(y)
    jac = u[1] + math.log(a1 * (1 - a1)) + math.log((1 - a1) * (b1 / (1 - a1)) * (1 - b1 / (1 - a1)))
    _close(m.log_likelihood(u)["y"], ll, rtol=1e-4)
    _close(m.log_density(u), ll.sum() + jac, rtol=1e-5)


def test_ragged_sizes_from_integer_data():
    src = """
    data { int G; array[G] int n; int N; vector[N] y; }
    parameters { vector[G] mu; }
    model {
      int pos = 1;
      mu ~ normal(0, 10);
      for (g in 1:G) {
        segment(y, pos, n[g]) ~ normal(mu[g], 1);
        pos += n[g];
      }
    }
    """
    data = {"G": 3, "n": [2, 3, 1], "N": 6, "y": [1.0, 2.0, 0.5, 0.1, -1.0, 3.0]}
    m = _compile(src, data)
    u = np.array([0.5, -0.2, 1.0])
    groups = np.repeat(np.arange(3), data["n"])
    ref = stats.norm(0, 10).logpdf(u).sum() + stats.norm(u[groups], 1).logpdf(data["y"]).sum()
    _close(m.log_density(u), ref)


def test_parameter_dependent_if_and_ternary():
    src = """
    parameters { real x; }
    model {
      x ~ normal(0, 1);
      if (x > 0) target += -x; else target += x;
      target += x > 1 ? 2.0 : 0.0;
    }
    """
    m = _compile(src, {})
    for x in (-1.5, 0.5, 2.0):
        _close(m.log_density(np.array([x])), stats.norm().logpdf(x) - abs(x) + (2.0 if x > 1 else 0.0))


def _loop_modes(monkeypatch):
    from boxloop.infer import loops

    used: dict = {}
    for name in ("_vector_loop", "_scan_loop", "_unrolled_loop"):
        orig = getattr(loops, name)

        def wrapped(*a, _orig=orig, _name=name, **k):
            used[_name.strip("_").split("_")[0]] = used.get(_name.strip("_").split("_")[0], 0) + 1
            return _orig(*a, **k)

        monkeypatch.setattr(loops, name, wrapped)
    return used


LOOP_DATA = {"N": 5, "M": 4, "T": 12}
_rng = np.random.default_rng(1)
LOOP_DATA.update(Y=_rng.normal(size=(5, 4)), X=_rng.normal(size=(5, 12)), z=_rng.normal(size=5))


def _ar_mean(x, r):
    return r * np.concatenate([np.zeros((x.shape[0], 1)), x[:, :-1]], axis=1)


@pytest.mark.parametrize("case", ["nested", "masked", "scan_in_lane", "recursion"])
def test_loop_strategies_agree_with_numpy(case, monkeypatch):
    n, m_, t = 5, 4, 12
    d = LOOP_DATA
    src, ref, ref_ll, modes = {
        "nested": ("""
            data { int N; int M; matrix[N, M] Y; }
            parameters { vector[N] a; vector[M] b; real<lower=0> s; }
            model {
              a ~ normal(0, 1); b ~ normal(0, 1); s ~ lognormal(0, 1);
              for (i in 1:N) for (j in 1:M) Y[i, j] ~ normal(a[i] + b[j], s);
            }""",
            lambda u: (stats.norm().logpdf(u[:n + m_]).sum() + stats.lognorm(1).logpdf(math.exp(u[-1])) + u[-1]
                       + stats.norm(u[:n, None] + u[None, n:n + m_], math.exp(u[-1])).logpdf(d["Y"]).sum()),
            lambda u: stats.norm(u[:n, None] + u[None, n:n + m_], math.exp(u[-1])).logpdf(d["Y"]).ravel(),
            {"vector"}),
        "masked": ("""
            data { int N; vector[N] z; }
            parameters { real c; }
            transformed parameters {
              vector[N] w;
              for (i in 1:N) { if (z[i] > c) w[i] = z[i] - c; else w[i] = 0; }
            }
            model { c ~ normal(0, 1); target += -sum(w); }""",
            lambda u: stats.norm().logpdf(u[0]) - np.maximum(d["z"] - u[0], 0).sum(), None, {"vector"}),
        "scan_in_lane": ("""
            data { int N; int T; matrix[N, T] X; }
            parameters { real<lower=0, upper=1> r; real<lower=0> s; }
            model {
              r ~ beta(2, 2); s ~ exponential(1);
              for (i in 1:N) {
                real h = 0;
                for (t in 1:T) { X[i, t] ~ normal(r * h, s); h = X[i, t]; }
              }
            }""",
            lambda u: (lambda r, s: stats.beta(2, 2).logpdf(r) + math.log(r * (1 - r)) + stats.expon().logpdf(s)
                       + u[1] + stats.norm(_ar_mean(d["X"], r), s).logpdf(d["X"]).sum())(
                1 / (1 + math.exp(-u[0])), math.exp(u[1])),
            lambda u: stats.norm(_ar_mean(d["X"], 1 / (1 + math.exp(-u[0]))), math.exp(u[1])).logpdf(d["X"]).ravel(),
            {"vector", "scan"}),
        "recursion": ("""
            data { int T; int N; matrix[N, T] X; }
            parameters { real phi; real<lower=0> s; }
            model {
              vector[T] e;
              phi ~ normal(0, 1); s ~ normal(0, 1);
              e[1] = X[1, 1];
              for (t in 2:T) e[t] = X[1, t] - phi * X[1, t - 1] + 0.1 * e[t - 1];
              e ~ normal(0, s);
            }""",
            None, None, {"scan"}),
    }[case]
    used = _loop_modes(monkeypatch)
    model = _compile(src, d)
    u = 0.5 * np.random.default_rng(7).normal(size=model.dim)
    if case == "recursion":
        x, phi, s = d["X"][0], u[0], math.exp(u[1])
        e = [x[0]]
        for k in range(1, t):
            e.append(x[k] - phi * x[k - 1] + 0.1 * e[-1])
        ref = lambda u: (stats.norm().logpdf(phi) + stats.halfnorm().logpdf(s) + u[1]  # noqa: E731
                         + stats.norm(0, s).logpdf(np.array(e)).sum())
    _close(model.log_density(u), ref(u), rtol=1e-5)
    if ref_ll is not None:
        _close(next(iter(model.log_likelihood(u).values())), ref_ll(u), rtol=1e-4)
    assert set(used) == modes


MULTIVARIATE = """
data { int N; int K; array[N] vector[K] Y; array[N] int c; }
parameters { cholesky_factor_corr[K] L; vector<lower=0>[K] tau; vector[K] mu; simplex[K] theta; }
model {
  L ~ lkj_corr_cholesky(2);
  tau ~ normal(0, 2);
  mu ~ normal(0, 1);
  theta ~ dirichlet(rep_vector(2, K));
  Y ~ multi_normal_cholesky(mu, diag_pre_multiply(tau, L));
  c ~ categorical(theta);
}
"""


def _multivariate_data():
    rng = np.random.default_rng(2)
    return dict(N=7, K=3, Y=rng.normal(size=(7, 3)), c=rng.integers(1, 4, size=7))


def test_multivariate_likelihood_is_one_term_per_vector():
    data = _multivariate_data()
    m = _compile(MULTIVARIATE, data)
    assert [p.size for p in m.param_layout] == [3, 3, 3, 2]
    u = 0.3 * np.random.default_rng(5).normal(size=m.dim)
    v = {name: np.asarray(x) for name, x in m.constrain(u).items()}
    chol = np.diag(v["tau"]) @ v["L"]
    ll = m.log_likelihood(u)
    _close(ll["Y"], stats.multivariate_normal(v["mu"], chol @ chol.T).logpdf(data["Y"]), rtol=1e-4)
    _close(ll["c"], np.log(v["theta"][data["c"] - 1]), rtol=1e-4)


@pytest.mark.slow
def test_structured_parameters_simulate_from_their_priors():
    m = _compile(MULTIVARIATE, _multivariate_data())
    sims = m.simulate(jax.random.PRNGKey(0), "prior", num_draws=3)
    assert sims["Y"].shape == (3, 7, 3) and sims["L"].shape == (3, 3, 3)
    np.testing.assert_allclose(sims["theta"].sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(np.sum(sims["L"] ** 2, -1), 1.0, rtol=1e-5)  # unit rows


def test_mixture_log_lik_comes_from_the_local_vector():
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.normal(-2, 1, 30), rng.normal(2, 1, 20)])
    src = """
    data { int N; vector[N] y; }
    parameters { ordered[2] mu; vector<lower=0>[2] sigma; real<lower=0, upper=1> theta; }
    model {
      vector[N] lp;
      mu ~ normal(0, 2);
      sigma ~ normal(0, 2);
      theta ~ beta(5, 5);
      for (n in 1:N)
        lp[n] = log_mix(theta, normal_lpdf(y[n] | mu[1], sigma[1]), normal_lpdf(y[n] | mu[2], sigma[2]));
      target += sum(lp);
    }
    """
    m = _compile(src, {"N": y.size, "y": y})
    u = 0.3 * rng.normal(size=m.dim)
    v = {k: np.asarray(x) for k, x in m.constrain(u).items()}
    mu, sigma, th = v["mu"], v["sigma"], float(v["theta"])
    ll = np.logaddexp(math.log(th) + stats.norm(mu[0], sigma[0]).logpdf(y),
                      math.log1p(-th) + stats.norm(mu[1], sigma[1]).logpdf(y))
    prior = (stats.norm(0, 2).logpdf(mu).sum() + math.log(2)  # ordered pair, iid prior: + log 2!
             + (stats.norm(0, 2).logpdf(sigma) + math.log(2)).sum()  # half-normals
             + stats.beta(5, 5).logpdf(th) + u[1:4].sum() + math.log(th * (1 - th)))  # Jacobians
    got = m.log_likelihood(u)
    assert list(got) == ["lp"]
    _close(got["lp"], ll, rtol=1e-4)
    _close(m.log_prior(u), prior, rtol=1e-5)


def test_reference_draws_map_to_the_unconstrained_space():
    m = _compile((VALID / "kidiq_interaction.stan").read_text(), _data("kidiq"))
    chain = json.loads((PDB / "reference_draws" / "kidiq-kidscore_interaction.json").read_text())[0]
    flat = {k: np.asarray(v[:50]) for k, v in chain.items()}
    u = m.unconstrain_draws(flat)
    assert u.shape == (50, m.dim)
    np.testing.assert_allclose(u[:, 4], np.log(flat["sigma"]), rtol=1e-5)
    back = m.constrain(u[3])
    np.testing.assert_allclose(back["beta"], [flat[f"beta[{i}]"][3] for i in range(1, 5)], rtol=1e-5)


# ---- normalisation: what makes evidence right -------------------------------------------------------


def _constrained_mass(m, lo, hi, to_u, du_ds):
    """The integral of the density on the constrained scale: p(s) = p_u(u(s)) |du/ds|."""
    def p(s):
        return math.exp(float(m.log_density(np.array([to_u(s)])))) * du_ds(s)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)  # float32 round-off in the tail
        return integrate.quad(p, lo, hi, limit=200)[0]


@pytest.mark.parametrize("decl,stmt", [
    ("real<lower=0> s;", "s ~ normal(0, 1);"),
    ("real<lower=0> s;", "s ~ normal(0, 1) T[0, ];"),
    ("real<lower=0> s;", "s ~ student_t(3, 1, 2);"),
    ("real<lower=2> s;", "s ~ normal(1, 1.5);"),
])
def test_lower_bounded_prior_integrates_to_one(decl, stmt):
    m = _compile(f"parameters {{ {decl} }} model {{ {stmt} }}", {})
    lo = 2.0 if "lower=2" in decl else 0.0
    mass = _constrained_mass(m, lo, np.inf, lambda s: math.log(s - lo), lambda s: 1.0 / (s - lo))
    assert mass == pytest.approx(1.0, abs=2e-4)


def test_interval_bounded_prior_integrates_to_one():
    m = _compile("parameters { real<lower=0, upper=1> p; } model { p ~ normal(0.3, 0.5); }", {})
    mass = _constrained_mass(m, 0.0, 1.0, lambda s: math.log(s / (1 - s)), lambda s: 1.0 / (s * (1 - s)))
    assert mass == pytest.approx(1.0, abs=2e-4)
    grads = jax.vmap(jax.grad(m.log_density))(jnp.linspace(-30.0, 30.0, 61)[:, None])
    assert np.all(np.isfinite(grads))  # the normaliser is safe to differentiate, even far out


def test_data_dependent_bounds_and_vector_parameters_are_normalised():
    src = """
    data { real L; }
    parameters { vector<lower=L>[2] v; }
    model { v ~ normal(0, 1); }
    """
    m = _compile(src, {"L": 0.5})
    u = np.array([0.2, -0.4])
    v = 0.5 + np.exp(u)
    ref = stats.norm().logpdf(v).sum() - 2 * stats.norm().logsf(0.5) + u.sum()
    _close(m.log_density(u), ref)


def test_no_normaliser_when_the_support_already_matches():
    m = _compile("parameters { real<lower=0> s; } model { s ~ exponential(2); }", {})
    _close(m.log_density(np.array([0.3])), stats.expon(scale=0.5).logpdf(math.exp(0.3)) + 0.3)


def test_truncated_likelihood_normalises_over_the_data():
    src = "data { real y; } parameters { real mu; } model { mu ~ normal(0, 1); y ~ normal(mu, 2) T[-1, 3]; }"
    u = np.array([0.7])
    first = _compile(src, {"y": 0.0})

    def density(y):
        m = _compile(src, {"y": y})
        assert m.kernel is first.kernel  # same program, same data shape: no new compile
        return math.exp(float(m.log_likelihood(u)["y"][0]))

    assert integrate.quad(density, -1, 3)[0] == pytest.approx(1.0, abs=1e-4)
    assert float(_compile(src, {"y": 4.0}).log_density(u)) == -np.inf


def test_discrete_truncation_sums_to_one():
    src = "data { int y; } parameters { real<lower=0> lam; } model { lam ~ gamma(2, 1); y ~ poisson(lam) T[2, 9]; }"
    u = np.array([1.1])
    total = sum(math.exp(float(_compile(src, {"y": y}).log_likelihood(u)["y"][0])) for y in range(2, 10))
    assert total == pytest.approx(1.0, abs=1e-5)


def test_ordered_iid_prior_gets_log_k_factorial():
    m = _compile("parameters { ordered[3] x; } model { x ~ normal(0, 1); }", {})
    u = np.array([-0.5, 0.1, 0.3])
    x = np.cumsum([u[0], math.exp(u[1]), math.exp(u[2])])
    _close(m.log_density(u), stats.norm().logpdf(x).sum() + math.log(6) + u[1] + u[2])


# ---- caching, simulation, generated quantities ----------------------------------------------------------


def test_same_shaped_data_reuses_the_kernel():
    a = _compile(EIGHT_NC, EIGHT_DATA)
    b = _compile(EIGHT_NC, {**EIGHT_DATA, "y": [0.0] * 8})
    c = _compile(EIGHT_NC, {"J": 3, "y": [1, 2, 3], "sigma": [1, 1, 1]})
    assert a.kernel is b.kernel and c.kernel is not a.kernel
    assert C.cache_key(parse(EIGHT_NC), EIGHT_DATA) == C.cache_key(parse(EIGHT_NC), b.data)
    u = np.zeros(a.dim)
    assert float(a.log_density(u)) != float(b.log_density(u))


def test_prior_and_posterior_simulation():
    m = _compile(EIGHT_NC, EIGHT_DATA)
    sims = m.simulate(jax.random.PRNGKey(0), "prior", num_draws=2000)
    assert sims["y"].shape == (2000, 8) and sims["theta"].shape == (2000, 8)
    assert (sims["tau"] > 0).all()
    # tau is half-Cauchy(0, 5): its median is 5.
    assert np.median(sims["tau"]) == pytest.approx(5.0, rel=0.15)
    u = np.zeros((5, m.dim))
    post = m.simulate(jax.random.PRNGKey(1), "posterior", u=u)
    assert post["y"].shape == (5, 8)


def test_looped_autoregression_simulates_forward():
    d = _data("arK")
    m = _compile(ARK_LOOP, d)
    sims = m.simulate(jax.random.PRNGKey(0), "prior", num_draws=4)
    y = sims["y"]
    np.testing.assert_allclose(y[:, : d["K"]], np.broadcast_to(np.array(d["y"][: d["K"]]), (4, d["K"])), rtol=1e-6)
    assert not np.allclose(y[0, d["K"]:], np.array(d["y"][d["K"]:]))


def test_flat_priors_are_not_generative():
    m = _compile(GARCH, {"T": 3, "y": [1.0, 2.0, 0.5], "sigma1": 0.5})
    with pytest.raises(ProgramError) as err:
        m.simulate(jax.random.PRNGKey(0), "prior")
    assert err.value.code == "infer.not_generative" and "no `~` prior" in str(err.value)
    post = m.simulate(jax.random.PRNGKey(0), "posterior", u=np.zeros((2, m.dim)))
    assert post["y"].shape == (2, 3)


def test_generated_quantities_use_the_key():
    src = EIGHT_NC + "generated quantities { vector[J] y_rep; for (j in 1:J) y_rep[j] = normal_rng(theta[j], sigma[j]); }"
    m = _compile(src, EIGHT_DATA)
    u = np.zeros(m.dim)
    a = m.generated_quantities(u, jax.random.PRNGKey(0))["y_rep"]
    b = m.generated_quantities(u, jax.random.PRNGKey(1))["y_rep"]
    assert a.shape == (8,) and not np.allclose(a, b)


# ---- errors --------------------------------------------------------------------------------------------------


def test_missing_data_names_the_variable():
    with pytest.raises(DataError, match="sigma") as err:
        _compile(EIGHT_NC, {"J": 8, "y": EIGHT_DATA["y"]})
    assert err.value.code == "data.missing"


def test_misshapen_data_is_rejected():
    with pytest.raises(DataError, match="shape"):
        _compile(EIGHT_NC, {**EIGHT_DATA, "y": [1.0, 2.0]})


def test_nan_density_everywhere_is_a_bad_init():
    src = "parameters { real x; } model { x ~ normal(0, -1); }"
    with pytest.raises(FitError) as err:
        C.fit(parse(src), {}, NutsSettings(chains=1, warmup=10, draws=10, init_tries=5))
    assert err.value.code == "fit.bad_init"
