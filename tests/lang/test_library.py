"""The distribution and function table against scipy/numpy, under both ops namespaces.

JAX runs with 64-bit floats inside `jax.enable_x64(True)` (a context, so other test files keep the
default), which lets one tolerance serve both backends: 1e-6 relative plus 1e-9 absolute on log
densities unless a case says otherwise.
"""

from __future__ import annotations

import itertools
import math
import subprocess
import sys

import numpy as np
import pytest
from scipy import integrate, special, stats

from boxloop.errors import BoxloopError
from boxloop.lang import library as lib
from boxloop.lang.ops import JAX, NUMPY, get_ops
from boxloop.lang.signatures import choices
from boxloop.lang.supports import match_signature
from boxloop.lang.types import (
    INT, MATRIX, POSITIVE, REAL, REAL_LINE, ROW_VECTOR, UNIT_OPEN, VECTOR, Interval, Structure,
    ValueType,
)

RTOL, ATOL = 1e-6, 1e-9
N = 40


@pytest.fixture(params=["numpy", "jax"])
def m(request):
    if request.param == "numpy":
        yield NUMPY
        return
    import jax

    with jax.enable_x64(True):
        yield JAX


def run(m, fn, *args):
    """fn(m, *args). Under JAX it is traced and compiled as one program, as the compiler uses the
    table (and far faster than dispatching every small op on its own)."""
    if m is NUMPY:
        return fn(NUMPY, *args)
    return fn(JAX, *args)


def _all_three(d):
    return lambda m, y, *a: (d.lpdf(m, y, *a),) + ((d.lcdf(m, y, *a), d.lccdf(m, y, *a)) if d.lcdf else ())


def close(actual, expected, rtol=RTOL, atol=ATOL):
    np.testing.assert_allclose(np.asarray(actual, dtype=float), np.asarray(expected, dtype=float),
                               rtol=rtol, atol=atol)


def _u(r, lo, hi):
    return r.uniform(lo, hi, N)


# name -> (random valid arguments, the same law in scipy.stats)
CONTINUOUS = {
    "normal": (lambda r: (r.normal(0, 3, N), _u(r, 0.2, 3)), lambda mu, s: stats.norm(mu, s)),
    "std_normal": (lambda r: (), lambda: stats.norm()),
    "student_t": (lambda r: (_u(r, 0.5, 30), r.normal(0, 3, N), _u(r, 0.2, 3)),
                  lambda nu, mu, s: stats.t(nu, mu, s)),
    "cauchy": (lambda r: (r.normal(0, 3, N), _u(r, 0.2, 3)), lambda mu, s: stats.cauchy(mu, s)),
    "double_exponential": (lambda r: (r.normal(0, 3, N), _u(r, 0.2, 3)),
                           lambda mu, s: stats.laplace(mu, s)),
    "logistic": (lambda r: (r.normal(0, 3, N), _u(r, 0.2, 3)), lambda mu, s: stats.logistic(mu, s)),
    "lognormal": (lambda r: (r.normal(0, 1, N), _u(r, 0.2, 2)),
                  lambda mu, s: stats.lognorm(s, scale=np.exp(mu))),
    "exponential": (lambda r: (_u(r, 0.1, 5),), lambda b: stats.expon(scale=1 / b)),
    "gamma": (lambda r: (_u(r, 0.3, 8), _u(r, 0.1, 5)), lambda a, b: stats.gamma(a, scale=1 / b)),
    "inv_gamma": (lambda r: (_u(r, 0.3, 8), _u(r, 0.1, 5)), lambda a, b: stats.invgamma(a, scale=b)),
    "weibull": (lambda r: (_u(r, 0.3, 5), _u(r, 0.2, 4)), lambda a, s: stats.weibull_min(a, scale=s)),
    "beta": (lambda r: (_u(r, 0.3, 8), _u(r, 0.3, 8)), lambda a, b: stats.beta(a, b)),
    "uniform": (lambda r: (lambda a: (a, a + _u(r, 0.1, 5)))(r.normal(0, 3, N)),
                lambda a, b: stats.uniform(a, b - a)),
    "gumbel": (lambda r: (r.normal(0, 3, N), _u(r, 0.2, 3)), lambda mu, b: stats.gumbel_r(mu, b)),
    "chi_square": (lambda r: (_u(r, 0.5, 20),), lambda nu: stats.chi2(nu)),
    "inv_chi_square": (lambda r: (_u(r, 0.5, 20),), lambda nu: stats.invgamma(nu / 2, scale=0.5)),
    "scaled_inv_chi_square": (lambda r: (_u(r, 0.5, 20), _u(r, 0.2, 3)),
                              lambda nu, s: stats.invgamma(nu / 2, scale=nu * s * s / 2)),
    "skew_normal": (lambda r: (r.normal(0, 3, N), _u(r, 0.2, 3), r.normal(0, 3, N)),
                    lambda xi, om, al: stats.skewnorm(al, xi, om)),
    "exp_mod_normal": (lambda r: (r.normal(0, 3, N), _u(r, 0.2, 3), _u(r, 0.2, 3)),
                       lambda mu, s, lam: stats.exponnorm(1 / (s * lam), mu, s)),
    "pareto": (lambda r: (_u(r, 0.5, 3), _u(r, 0.5, 5)), lambda y_min, a: stats.pareto(a, scale=y_min)),
    "pareto_type_2": (lambda r: (r.normal(0, 3, N), _u(r, 0.2, 3), _u(r, 0.5, 5)),
                      lambda mu, lam, a: stats.lomax(a, loc=mu, scale=lam)),
}

DISCRETE = {
    "bernoulli": (lambda r: (_u(r, 0.02, 0.98),), lambda p: stats.bernoulli(p)),
    "bernoulli_logit": (lambda r: (r.normal(0, 3, N),), lambda a: stats.bernoulli(special.expit(a))),
    "binomial": (lambda r: (r.integers(0, 40, N), _u(r, 0.02, 0.98)), lambda n, p: stats.binom(n, p)),
    "binomial_logit": (lambda r: (r.integers(0, 40, N), r.normal(0, 2, N)),
                       lambda n, a: stats.binom(n, special.expit(a))),
    "beta_binomial": (lambda r: (r.integers(0, 40, N), _u(r, 0.3, 8), _u(r, 0.3, 8)),
                      lambda n, a, b: stats.betabinom(n, a, b)),
    "poisson": (lambda r: (_u(r, 0.1, 30),), lambda lam: stats.poisson(lam)),
    "poisson_log": (lambda r: (r.normal(0, 2, N),), lambda a: stats.poisson(np.exp(a))),
    "neg_binomial": (lambda r: (_u(r, 0.3, 10), _u(r, 0.1, 3)),
                     lambda a, b: stats.nbinom(a, b / (1 + b))),
    "neg_binomial_2": (lambda r: (_u(r, 0.1, 30), _u(r, 0.2, 50)),
                       lambda mu, phi: stats.nbinom(phi, phi / (mu + phi))),
    "neg_binomial_2_log": (lambda r: (r.normal(0, 2, N), _u(r, 0.2, 50)),
                           lambda eta, phi: stats.nbinom(phi, phi / (np.exp(eta) + phi))),
}


def _continuous_case(name, seed=0):
    r = np.random.default_rng(seed)
    make_args, law = CONTINUOUS[name]
    args = make_args(r)
    u = r.uniform(1e-6, 1 - 1e-6, N)
    u[:4] = [1e-9, 1e-6, 1 - 1e-6, 0.5]  # both tails, where cdf formulas lose precision first
    frozen = law(*args)
    return frozen.ppf(u), args, frozen


def _discrete_case(name, seed=0):
    r = np.random.default_rng(seed)
    make_args, law = DISCRETE[name]
    args = make_args(r)
    frozen = law(*args)
    return np.asarray(frozen.rvs(random_state=r), dtype=int), args, frozen


# ---- univariate densities ----------------------------------------------------------------------


def test_every_univariate_family_has_a_scipy_reference():
    univariate = {n for n, d in lib.DISTRIBUTIONS.items() if not d.multivariate}
    own_tests = {"categorical", "categorical_logit", "ordered_logistic", "ordered_probit"} | set(GLMS)
    assert univariate == set(CONTINUOUS) | set(DISCRETE) | own_tests


@pytest.mark.parametrize("name", sorted(CONTINUOUS))
def test_continuous_lpdf_lcdf_lccdf_match_scipy(m, name):
    y, args, frozen = _continuous_case(name)
    d = lib.DISTRIBUTIONS[name]
    values = run(m, _all_three(d), y, *args)
    close(values[0], frozen.logpdf(y))
    if d.lcdf is not None:
        close(values[1], frozen.logcdf(y))
        close(values[2], frozen.logsf(y))


@pytest.mark.parametrize("name", sorted(DISCRETE))
def test_discrete_lpmf_lcdf_lccdf_match_scipy(m, name):
    y, args, frozen = _discrete_case(name)
    d = lib.DISTRIBUTIONS[name]
    values = run(m, _all_three(d), y, *args)
    close(values[0], frozen.logpmf(y))
    if d.lcdf is not None:
        close(values[1], frozen.logcdf(y))
        close(values[2], frozen.logsf(y))
        below = run(m, _all_three(d), np.full(N, -1), *args)
        assert np.all(np.asarray(below[1]) == -np.inf) and np.all(np.asarray(below[2]) == 0.0)


def test_densities_are_fully_normalised_not_stan_propto():
    # Stan's `~` drops -0.5 log(2 pi), -lgamma(y + 1), log choose; boxloop must keep them.
    close(lib.DISTRIBUTIONS["normal"].lpdf(NUMPY, 0.0, 0.0, 1.0), -0.5 * math.log(2 * math.pi))
    close(lib.DISTRIBUTIONS["poisson"].lpdf(NUMPY, 3, 2.0), 3 * math.log(2) - 2 - math.log(6))
    close(lib.DISTRIBUTIONS["binomial"].lpdf(NUMPY, 1, 4, 0.5), math.log(4 / 16))


def test_univariate_families_broadcast_scalars_against_vectors():
    y = np.array([0.1, 0.5, 2.0])
    out = lib.DISTRIBUTIONS["gamma"].lpdf(NUMPY, y, 2.0, 1.5)
    assert np.shape(out) == (3,)
    close(out, stats.gamma(2.0, scale=1 / 1.5).logpdf(y))


def test_uniform_is_minus_infinity_outside_its_bounds():
    out = lib.DISTRIBUTIONS["uniform"].lpdf(NUMPY, np.array([-1.0, 0.5, 3.0]), 0.0, 2.0)
    close(out[1], -math.log(2.0))
    assert out[0] == -np.inf and out[2] == -np.inf


def _real_arg_positions(d):
    """Positions (in lpdf's argument list after m) of real-valued arguments, variate first."""
    positions = [0] if not d.discrete else []
    return positions + [i + 1 for i, a in enumerate(d.args) if a.shape == "reals"]


def _elementwise_fd(f, values, pos):
    """Central differences of an elementwise log density in argument `pos`, every element at once
    (term i depends only on element i); NaN where a step leaves the support."""
    x = np.asarray(values[pos], dtype=float)
    eps = 1e-7 * np.maximum(np.abs(x), 1e-3)

    def at(shift):
        full = list(values)
        full[pos] = x + shift
        return np.asarray(f(NUMPY, *full), dtype=float)

    with np.errstate(all="ignore"):
        return (at(eps) - at(-eps)) / (2 * eps)


def _gradients_match(f, values, positions, name):
    import jax

    def total(*reals):
        full = list(values)
        for pos, v in zip(positions, reals):
            full[pos] = v
        return jax.numpy.sum(f(JAX, *full))

    grads = jax.grad(total, argnums=tuple(range(len(positions))))(*(values[p] * 1.0 for p in positions))
    for pos, g in zip(positions, grads):
        g, fd = np.asarray(g), _elementwise_fd(f, values, pos)
        assert np.all(np.isfinite(g)), name
        if np.ndim(values[pos]) == 0:  # a scalar argument shared by every term: compare the sum
            fd = np.sum(fd)
        ok = np.isfinite(fd)
        if np.ndim(fd):  # the cases' first points sit on kinks and far tails, for the value tests
            ok[:4] = False
        np.testing.assert_allclose(g[ok] if np.ndim(g) else g, fd[ok] if np.ndim(fd) else fd,
                                   rtol=1e-4, atol=1e-5, err_msg=f"{name}, argument {pos}")


@pytest.mark.parametrize("name", sorted(CONTINUOUS) + sorted(DISCRETE))
def test_jax_gradients_of_lpdf_match_finite_differences(name):
    import jax

    with jax.enable_x64(True):
        if name in CONTINUOUS:
            y, args, _ = _continuous_case(name, seed=1)
        else:
            y, args, _ = _discrete_case(name, seed=1)
        d = lib.DISTRIBUTIONS[name]
        positions = _real_arg_positions(d)
        if name == "uniform":
            positions = [0]  # the density is flat in y; its bounds move the indicator
        _gradients_match(d.lpdf, (y,) + tuple(args), positions, name)


@pytest.mark.parametrize("name", [n for n in sorted(CONTINUOUS) if lib.DISTRIBUTIONS[n].lcdf])
def test_jax_gradients_of_truncation_normalisers_match_finite_differences(name):
    import jax

    with jax.enable_x64(True):
        y, args, _ = _continuous_case(name, seed=2)
        d = lib.DISTRIBUTIONS[name]
        for f in (d.lcdf, d.lccdf):
            _gradients_match(f, (y,) + tuple(args), [0], name)


def test_half_student_t_normaliser_is_smooth_at_the_centre():
    import jax

    lccdf = lib.DISTRIBUTIONS["student_t"].lccdf
    close(lccdf(NUMPY, 0.0, 3.0, 0.0, 2.0), math.log(0.5), rtol=1e-12)
    close(lccdf(NUMPY, 1e-6, 3.0, 0.0, 2.0), stats.t(3.0, 0.0, 2.0).logsf(1e-6), rtol=1e-12)
    with jax.enable_x64(True):
        grad = jax.grad(lambda s: lccdf(JAX, 0.0, 3.0, 0.0, s))(2.0)
    assert float(grad) == 0.0  # P(T > mu) is 1/2 whatever the scale


@pytest.mark.parametrize("name,args,theta,expected", [
    ("bernoulli", (1,), 1.0, 1.0),  # d/dθ log θ at θ = 1
    ("bernoulli", (0,), 0.0, -1.0),  # d/dθ log(1 - θ) at θ = 0
    ("binomial", (5, 5), 1.0, 5.0),
    ("binomial", (0, 5), 0.0, -5.0),
])
def test_probability_on_its_closed_bound_has_a_finite_gradient(name, args, theta, expected):
    # a success probability of exactly 1 where every trial succeeded is a point of the density;
    # a NaN gradient there stopped NUTS at every initial point (posteriordb's dogs models)
    import jax

    lpmf = lib.DISTRIBUTIONS[name].lpdf
    with jax.enable_x64(True):
        value, grad = jax.value_and_grad(lambda p: lpmf(JAX, *args, p))(theta)
    assert float(value) == 0.0 and float(grad) == pytest.approx(expected)


def test_cdf_tails_keep_precision_where_naive_formulas_round_to_zero():
    d = lib.DISTRIBUTIONS
    close(d["cauchy"].lcdf(NUMPY, -1e12, 0.0, 1.0), math.log(1 / (math.pi * 1e12)), rtol=1e-9)
    close(d["exponential"].lcdf(NUMPY, 1e-12, 1.0), math.log(1e-12), rtol=1e-9)
    close(d["normal"].lccdf(NUMPY, 40.0, 0.0, 1.0), stats.norm.logsf(40.0), rtol=1e-9)
    close(d["logistic"].lccdf(NUMPY, 50.0, 0.0, 1.0), -50.0, rtol=1e-9)


# ---- categorical and ordinal families ---------------------------------------------------------------


def test_categorical_picks_one_based_log_probabilities(m):
    r = np.random.default_rng(3)
    theta = r.dirichlet(np.ones(4))
    y = r.integers(1, 5, N)
    close(run(m, lib.DISTRIBUTIONS["categorical"].lpdf, y, theta), np.log(theta[y - 1]))
    beta = r.normal(0, 2, 4)
    close(run(m, lib.DISTRIBUTIONS["categorical_logit"].lpdf, y, beta), special.log_softmax(beta)[y - 1])
    per_row = r.dirichlet(np.ones(4), size=N)  # one simplex per observation also works
    close(run(m, lib.DISTRIBUTIONS["categorical"].lpdf, y, per_row), np.log(per_row[np.arange(N), y - 1]))


def _ordinal_reference(k, eta, c, cdf):
    cuts = np.concatenate([[-np.inf], c, [np.inf]])
    a, b = cuts[k - 1] - eta, cuts[k] - eta
    # both ends in the upper tail: subtract survival probabilities, which keep their digits there
    return np.log(np.where(a > 0, cdf(-a) - cdf(-b), cdf(b) - cdf(a)))


@pytest.mark.parametrize("name,cdf", [("ordered_logistic", special.expit), ("ordered_probit", special.ndtr)])
def test_ordinal_families_match_the_cutpoint_formula_and_sum_to_one(m, name, cdf):
    r = np.random.default_rng(4)
    c = np.sort(r.normal(0, 2, 4))
    eta = r.normal(0, 2, N)
    k = r.integers(1, 6, N)
    d = lib.DISTRIBUTIONS[name]
    close(run(m, d.lpdf, k, eta, c), _ordinal_reference(k, eta, c, cdf))


@pytest.mark.parametrize("name", ["ordered_logistic", "ordered_probit"])
def test_ordinal_gradients_are_finite_in_eta_and_cutpoints(name):
    import jax

    k = np.repeat(np.arange(1, 6), 3)
    eta = np.tile([-30.0, 0.3, 30.0], 5)
    c = np.array([-2.0, -0.3, 0.4, 3.0])
    lpmf = lib.DISTRIBUTIONS[name].lpdf
    with jax.enable_x64(True):
        grads = jax.grad(lambda e, cc: jax.numpy.sum(lpmf(JAX, k, e, cc)), argnums=(0, 1))(eta, c)
        assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)


@pytest.mark.parametrize("name", ["ordered_logistic", "ordered_probit"])
def test_ordinal_probabilities_sum_to_one_even_far_from_the_cutpoints(name):
    c = np.array([-2.0, -0.3, 0.4, 3.0])
    etas = np.array([-40.0, -3.0, 0.0, 7.5, 40.0])
    probs = np.exp(lib.DISTRIBUTIONS[name].lpdf(NUMPY, np.arange(1, 6)[:, None], etas, c))
    close(probs.sum(axis=0), np.ones(5), rtol=1e-9)


# ---- multivariate ------------------------------------------------------------------------------------


def _spd(r, K):
    A = r.normal(size=(K, K))
    return A @ A.T + K * np.eye(K)


def test_multi_normal_families_match_scipy(m):
    r = np.random.default_rng(5)
    K = 3
    Sigma, mu = _spd(r, K), r.normal(size=K)
    y = r.multivariate_normal(mu, Sigma, size=N)
    expected = stats.multivariate_normal(mu, Sigma).logpdf(y)
    d = lib.DISTRIBUTIONS
    close(run(m, d["multi_normal"].lpdf, y, mu, Sigma), expected)
    close(run(m, d["multi_normal_cholesky"].lpdf, y, mu, np.linalg.cholesky(Sigma)), expected)
    close(run(m, d["multi_normal"].lpdf, y[0], mu, Sigma), expected[0])  # a single vector
    mus = r.normal(size=(N, K))  # one mean per row
    close(run(m, d["multi_normal"].lpdf, y, mus, Sigma),
          [stats.multivariate_normal(mus[i], Sigma).logpdf(y[i]) for i in range(N)])
    nu = 4.5
    t_expected = stats.multivariate_t(mu, Sigma, df=nu).logpdf(y)
    close(run(m, d["multi_student_t"].lpdf, y, nu, mu, Sigma), t_expected)
    close(run(m, d["multi_student_t_cholesky"].lpdf, y, nu, mu, np.linalg.cholesky(Sigma)), t_expected)


def test_dirichlet_matches_scipy(m):
    r = np.random.default_rng(6)
    alpha = r.uniform(0.3, 5, 4)
    theta = r.dirichlet(alpha, size=N)
    close(run(m, lib.DISTRIBUTIONS["dirichlet"].lpdf, theta, alpha),
          [stats.dirichlet(alpha).logpdf(t) for t in theta])


def _lkj_2009_log_constant(eta, K):
    """-log c_K from Lewandowski, Kurowicka and Joe (2009), eq. 16: written independently of the
    row-by-row formula the library uses."""
    total = 0.0
    for k in range(1, K):
        b = eta + (K - k - 1) / 2
        total += (2 * eta - 2 + K - k) * (K - k) * math.log(2) + (K - k) * special.betaln(b, b)
    return -total


def _chol_corr_2(r_):
    return np.array([[1.0, 0.0], [r_, math.sqrt(1 - r_ * r_)]])


@pytest.mark.parametrize("eta", [0.8, 1.0, 2.5, 7.0])
def test_lkj_corr_cholesky_integrates_to_one_for_k2(eta):
    d = lib.DISTRIBUTIONS["lkj_corr_cholesky"]
    total, _ = integrate.quad(lambda r_: math.exp(d.lpdf(NUMPY, _chol_corr_2(r_), eta)), -1, 1, limit=200)
    assert abs(total - 1.0) < 1e-6
    # ... and its density in r is the LKJ one, proportional to (1 - r^2)^(eta - 1).
    ratio = [d.lpdf(NUMPY, _chol_corr_2(x), eta) - (eta - 1) * math.log(1 - x * x) for x in (-0.7, 0.1, 0.9)]
    close(ratio, [ratio[0]] * 3, atol=1e-12)


@pytest.mark.parametrize("eta", [1.0, 1.7, 4.0])
def test_lkj_corr_cholesky_integrates_to_one_for_k3(eta):
    # Free elements: row 2 = (a, .), row 3 = rho (cos t, sin t, .). The density does not depend on t.
    # Substituting a = sin(s), rho = sin(u) makes the integrand smooth up to the boundary, so a
    # Gauss-Legendre grid evaluated in one batched call is accurate.
    nodes, weights = np.polynomial.legendre.leggauss(120)
    s = nodes * math.pi / 2
    u = (nodes + 1) * math.pi / 4
    S, U = np.meshgrid(s, u, indexing="ij")
    a, rho = np.sin(S), np.sin(U)
    L = np.zeros(S.shape + (3, 3))
    L[..., 0, 0] = 1.0
    L[..., 1, 0], L[..., 1, 1] = a, np.cos(S)
    L[..., 2, 0], L[..., 2, 2] = rho, np.cos(U)
    density = np.exp(lib.DISTRIBUTIONS["lkj_corr_cholesky"].lpdf(NUMPY, L, eta))
    jacobian = np.cos(S) * rho * np.cos(U) * (math.pi / 2) * (math.pi / 4)
    total = 2 * math.pi * np.einsum("i,j,ij->", weights, weights, density * jacobian)
    assert abs(total - 1.0) < 1e-6


@pytest.mark.parametrize("K", [2, 3, 4, 6])
def test_lkj_normaliser_matches_the_published_constant(K):
    etas = np.array([0.5, 1.0, 2.3, 10.0])
    expected = [_lkj_2009_log_constant(eta, K) for eta in etas]
    close(lib.lkj_log_normaliser(NUMPY, etas, K), expected, rtol=1e-10)
    if K == 4:  # one JAX check: the formula is the same text
        import jax

        with jax.enable_x64(True):
            close(lib.lkj_log_normaliser(JAX, etas, K), expected, rtol=1e-10)
    assert math.isclose(math.exp(-lib.lkj_log_normaliser(NUMPY, 1.0, 3)), math.pi ** 2 / 2,
                        rel_tol=1e-12)  # the volume of the 3 x 3 elliptope


def test_lkj_corr_is_the_same_law_on_the_matrix(m):
    eta, K = 2.5, 4
    r = np.random.default_rng(7)
    A = r.normal(size=(K, K + 2))
    S = A @ A.T
    omega = S / np.sqrt(np.outer(np.diag(S), np.diag(S)))
    expected = (eta - 1) * np.linalg.slogdet(omega)[1] + _lkj_2009_log_constant(eta, K)
    close(run(m, lib.DISTRIBUTIONS["lkj_corr"].lpdf, omega, eta), expected)
    total, _ = integrate.quad(
        lambda x: math.exp(lib.DISTRIBUTIONS["lkj_corr"].lpdf(NUMPY, np.array([[1, x], [x, 1.0]]), eta)),
        -1, 1)
    assert abs(total - 1.0) < 1e-6


# ---- regressions (_glm) and matrix families: value against scipy, gradient against finite differences ----


def _fd_gradient_matches(lpdf, args, positions, eps=1e-6, rtol=1e-5, atol=1e-6):
    """JAX's gradient of sum(lpdf) in the arguments at `positions` equals central differences of
    the numpy value (which the value tests tie to scipy)."""
    import jax

    args = [np.asarray(a, dtype=float) if i in positions else a for i, a in enumerate(args)]

    def total_numpy(i, value):
        full = list(args)
        full[i] = value
        return float(np.sum(lpdf(NUMPY, *full)))

    def total_jax(*reals):
        full = list(args)
        for i, value in zip(positions, reals):
            full[i] = value
        return jax.numpy.sum(lpdf(JAX, *full))

    with jax.enable_x64(True):
        grads = jax.grad(total_jax, argnums=tuple(range(len(positions))))(*(args[i] for i in positions))
    for i, g in zip(positions, grads):
        x = args[i]
        fd = np.zeros(np.shape(x))
        for idx in np.ndindex(np.shape(x)):
            step = np.zeros(np.shape(x))
            step[idx] = eps
            fd[idx] = (total_numpy(i, x + step) - total_numpy(i, x - step)) / (2 * eps)
        close(g, fd, rtol=rtol, atol=atol)


GLM_N, GLM_K = 12, 3


def _glm_inputs(seed=11):
    r = np.random.default_rng(seed)
    return r, r.normal(0, 1, (GLM_N, GLM_K)), 0.3, r.normal(0, 0.5, GLM_K)


# name -> (data and arguments after x, alpha, beta; the base family's scipy law at eta)
GLMS = {
    "normal_id_glm": (lambda r, eta: (r.normal(eta, 1.3), (1.3,)), lambda eta, s: stats.norm(eta, s)),
    "bernoulli_logit_glm": (lambda r, eta: (r.integers(0, 2, GLM_N), ()),
                            lambda eta: stats.bernoulli(special.expit(eta))),
    "poisson_log_glm": (lambda r, eta: (r.poisson(np.exp(eta)), ()), lambda eta: stats.poisson(np.exp(eta))),
    "neg_binomial_2_log_glm": (lambda r, eta: (r.poisson(np.exp(eta)), (4.0,)),
                               lambda eta, phi: stats.nbinom(phi, phi / (np.exp(eta) + phi))),
    "binomial_logit_glm": None, "ordered_logistic_glm": None, "categorical_logit_glm": None,
}


@pytest.mark.parametrize("name", [n for n, case in GLMS.items() if case is not None])
def test_glm_forms_are_their_family_at_the_linear_predictor(m, name):
    r, x, alpha, beta = _glm_inputs()
    eta = alpha + x @ beta
    make, law = GLMS[name]
    y, extra = make(r, eta)
    d = lib.DISTRIBUTIONS[name]
    frozen = law(eta, *extra)
    expected = frozen.logpdf(y) if hasattr(frozen, "logpdf") else frozen.logpmf(y)
    close(run(m, d.lpdf, y, x, alpha, beta, *extra), expected)
    shared = law(np.full(GLM_N, eta[0]), *extra)  # one row of predictors for every observation
    close(run(m, d.lpdf, y, x[0], alpha, beta, *extra),
          shared.logpdf(y) if hasattr(shared, "logpdf") else shared.logpmf(y))


@pytest.mark.parametrize("name", [n for n, case in GLMS.items() if case is not None])
def test_glm_gradients_match_finite_differences(name):
    r, x, alpha, beta = _glm_inputs(12)
    y, extra = GLMS[name][0](r, alpha + x @ beta)
    _fd_gradient_matches(lib.DISTRIBUTIONS[name].lpdf, [y, x, alpha, beta, *extra],
                         positions=list(range(2, 4 + len(extra))))


def test_binomial_ordered_and_categorical_glms_match_their_families(m):
    r, x, alpha, beta = _glm_inputs(13)
    eta = alpha + x @ beta
    d = lib.DISTRIBUTIONS
    trials = r.integers(1, 20, GLM_N)
    n = r.binomial(trials, special.expit(eta))
    close(run(m, d["binomial_logit_glm"].lpdf, n, trials, x, alpha, beta),
          stats.binom(trials, special.expit(eta)).logpmf(n))
    cuts = np.array([-1.0, 0.2, 1.5])
    k = r.integers(1, 5, GLM_N)
    close(run(m, d["ordered_logistic_glm"].lpdf, k, x, beta, cuts),
          d["ordered_logistic"].lpdf(NUMPY, k, x @ beta, cuts))
    alphas, betas = r.normal(size=4), r.normal(size=(GLM_K, 4))
    c = r.integers(1, 5, GLM_N)
    logits = alphas + x @ betas
    close(run(m, d["categorical_logit_glm"].lpdf, c, x, alphas, betas),
          special.log_softmax(logits, axis=1)[np.arange(GLM_N), c - 1])
    _fd_gradient_matches(d["binomial_logit_glm"].lpdf, [n, trials, x, alpha, beta], positions=[3, 4])
    _fd_gradient_matches(d["ordered_logistic_glm"].lpdf, [k, x, beta, cuts], positions=[2, 3])
    _fd_gradient_matches(d["categorical_logit_glm"].lpdf, [c, x, alphas, betas], positions=[2, 3])


def test_multi_normal_prec_wishart_and_inverse_wishart_match_scipy(m):
    r = np.random.default_rng(14)
    K = 3
    Sigma, mu = _spd(r, K), r.normal(size=K)
    y = r.multivariate_normal(mu, Sigma, size=N)
    d = lib.DISTRIBUTIONS
    close(run(m, d["multi_normal_prec"].lpdf, y, mu, np.linalg.inv(Sigma)),
          stats.multivariate_normal(mu, Sigma).logpdf(y))
    nu, W = 5.5, _spd(r, K)
    close(run(m, d["wishart"].lpdf, W, nu, Sigma), stats.wishart(df=nu, scale=Sigma).logpdf(W))
    close(run(m, d["inv_wishart"].lpdf, W, nu, Sigma), stats.invwishart(df=nu, scale=Sigma).logpdf(W))
    _fd_gradient_matches(d["multi_normal_prec"].lpdf, [y[:4], mu, np.linalg.inv(Sigma)], positions=[0, 1, 2])
    for name in ("wishart", "inv_wishart"):
        _fd_gradient_matches(d[name].lpdf, [W, nu, Sigma], positions=[0, 1, 2], rtol=1e-4)


def test_multinomial_families_match_scipy(m):
    theta = np.array([0.2, 0.5, 0.3])
    y = np.array([[3, 4, 1], [0, 8, 2], [5, 0, 0]])
    d = lib.DISTRIBUTIONS
    expected = [stats.multinomial(row.sum(), theta).logpmf(row) for row in y]
    close(run(m, d["multinomial"].lpdf, y, theta), expected)
    gamma = np.log(theta) + 0.7  # softmax is shift-invariant
    close(run(m, d["multinomial_logit"].lpdf, y, gamma), expected)
    _fd_gradient_matches(d["multinomial"].lpdf, [y, theta], positions=[1])
    _fd_gradient_matches(d["multinomial_logit"].lpdf, [y, gamma], positions=[1])


def _dlm_joint(y, F, G, V, W, m0, C0):
    """log p(y) of a dynamic linear model from the joint Gaussian of all its observations."""
    n, T = G.shape[0], y.shape[1]
    powers = [np.linalg.matrix_power(G, t) for t in range(T + 1)]
    mean = np.concatenate([F.T @ powers[t + 1] @ m0 for t in range(T)])
    blocks = [[None] * T for _ in range(T)]
    for s_ in range(1, T + 1):
        for t in range(1, T + 1):
            cov = powers[s_] @ C0 @ powers[t].T
            cov = cov + sum(powers[s_ - u] @ W @ powers[t - u].T for u in range(1, min(s_, t) + 1))
            blocks[s_ - 1][t - 1] = F.T @ cov @ F + (V if s_ == t else 0)
    return stats.multivariate_normal(mean, np.block(blocks)).logpdf(y.T.ravel())


def test_gaussian_dlm_obs_is_the_joint_gaussian_of_its_observations(m):
    r = np.random.default_rng(15)
    n, obs, T = 2, 2, 5
    F, G = r.normal(size=(n, obs)), np.array([[0.9, 0.2], [-0.1, 0.8]])
    V, W, C0 = _spd(r, obs) / 3, _spd(r, n) / 4, _spd(r, n)
    m0, y = r.normal(size=n), r.normal(size=(obs, T))
    d = lib.DISTRIBUTIONS["gaussian_dlm_obs"]
    expected = _dlm_joint(y, F, G, V, W, m0, C0)
    close(run(m, d.lpdf, y, F, G, V, W, m0, C0), expected)
    close(run(m, d.lpdf, y, F, G, np.diag(V), W, m0, C0), _dlm_joint(y, F, G, np.diag(np.diag(V)), W, m0, C0))
    _fd_gradient_matches(d.lpdf, [y, F, G, V, W, m0, C0], positions=[0, 1, 2, 5], rtol=1e-4)


def test_beta_binomial_cdfs_sum_the_pmf():
    import jax

    d = lib.DISTRIBUTIONS["beta_binomial"]
    n, trials = np.array([-1, 0, 3, 7, 9, 12]), np.array([9, 9, 9, 9, 9, 12])
    close(d.lcdf(NUMPY, n, trials, 2.3, 1.7), stats.betabinom(trials, 2.3, 1.7).logcdf(n))
    close(d.lccdf(NUMPY, n, trials, 2.3, 1.7), stats.betabinom(trials, 2.3, 1.7).logsf(n))
    with jax.enable_x64(True):
        close(d.lcdf(JAX, n, trials, 2.3, 1.7), stats.betabinom(trials, 2.3, 1.7).logcdf(n))
    _fd_gradient_matches(d.lcdf, [n[1:4], trials[1:4], np.array([2.3, 1.1, 4.0]), np.array([1.7, 2.0, 0.6])],
                         positions=[2, 3])


def test_eigenvectors_sym_diagonalise_the_matrix(m):
    values = run(m, lib.FUNCTIONS["eigenvalues_sym"].impl, M)
    vectors = np.asarray(run(m, lib.FUNCTIONS["eigenvectors_sym"].impl, M))
    close(vectors @ np.diag(values) @ vectors.T, M, rtol=1e-9, atol=1e-12)
    close(vectors.T @ vectors, np.eye(3), rtol=1e-9, atol=1e-12)


def _many(name, args, n, **kwargs):
    """n independent draws of `name` with the given arguments (one vectorised JAX call)."""
    import jax

    sample = lib.DISTRIBUTIONS[name].sample
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.PRNGKey(3), n)
        return np.asarray(jax.vmap(lambda k: sample(JAX, k, *args, **kwargs))(keys))


def test_new_samplers_match_their_moments():
    r = np.random.default_rng(16)
    Sigma, nu, n = _spd(r, 3) / 3, 7.0, 2000
    wishart = _many("wishart", (nu, Sigma), n)
    se = np.sqrt(nu * (Sigma ** 2 + np.outer(np.diag(Sigma), np.diag(Sigma))) / n)  # Var(W_ij)
    assert np.all(np.abs(wishart.mean(0) - nu * Sigma) < 5 * se)
    inverse = _many("inv_wishart", (nu, Sigma), n)
    assert np.allclose(np.linalg.inv(inverse).mean(0), nu * np.linalg.inv(Sigma), rtol=0.1)
    theta = np.array([0.2, 0.5, 0.3])
    counts = _many("multinomial", (theta, 40), n)
    assert np.all(counts.sum(1) == 40) and counts.min() >= 0
    assert np.all(np.abs(counts.mean(0) - 40 * theta) < 5 * np.sqrt(40 * theta * (1 - theta) / n))


# ---- samplers ------------------------------------------------------------------------------------------

SAMPLE_N = 4000
CONT_PARAMS = {
    "normal": (1.0, 2.0), "std_normal": (), "student_t": (3.5, 1.0, 2.0), "cauchy": (1.0, 2.0),
    "double_exponential": (1.0, 2.0), "logistic": (1.0, 2.0), "lognormal": (0.3, 0.7),
    "exponential": (1.7,), "gamma": (2.5, 1.5), "inv_gamma": (3.0, 2.0), "weibull": (1.5, 2.0),
    "beta": (2.0, 5.0), "uniform": (-1.0, 3.0), "gumbel": (1.0, 2.0), "chi_square": (3.0,),
    "inv_chi_square": (4.0,), "scaled_inv_chi_square": (5.0, 1.5), "skew_normal": (1.0, 2.0, 3.0),
    "exp_mod_normal": (1.0, 0.5, 2.0), "pareto": (1.5, 2.5), "pareto_type_2": (1.0, 2.0, 3.0),
}
DISC_PARAMS = {
    "bernoulli": (0.3,), "bernoulli_logit": (-0.8,), "binomial": (12, 0.35), "binomial_logit": (12, 0.4),
    "beta_binomial": (15, 2.0, 3.0), "poisson": (4.5,), "poisson_log": (1.2,), "neg_binomial": (3.0, 0.5),
    "neg_binomial_2": (6.0, 2.5), "neg_binomial_2_log": (1.5, 4.0),
}


def _draw(name, params, shape=(SAMPLE_N,), seed=0):
    import jax

    with jax.enable_x64(True):
        key = jax.random.PRNGKey(seed)
        return np.asarray(lib.DISTRIBUTIONS[name].sample(JAX, key, *params, shape=shape))


@pytest.mark.parametrize("name", sorted(CONT_PARAMS))
def test_continuous_samplers_follow_their_cdf(name):
    draws = _draw(name, CONT_PARAMS[name])
    law = CONTINUOUS[name][1](*CONT_PARAMS[name])
    assert draws.shape == (SAMPLE_N,)
    assert stats.kstest(draws, law.cdf).pvalue > 1e-3


@pytest.mark.parametrize("name", sorted(DISC_PARAMS))
def test_discrete_samplers_match_mean_and_variance(name):
    params = DISC_PARAMS[name]
    draws = _draw(name, params)
    law = DISCRETE[name][1](*params)
    assert np.issubdtype(draws.dtype, np.integer)
    mean, var = law.mean(), law.var()
    assert abs(draws.mean() - mean) < 5 * math.sqrt(var / SAMPLE_N)
    # the variance of a sample variance is about (mu4 - var^2)/n; bound mu4 loosely by 3 var^2 + var
    assert abs(draws.var() - var) < 5 * math.sqrt((2 * var * var + var + law.stats("k") * var * var) / SAMPLE_N)


@pytest.mark.parametrize("name,params", [
    ("categorical", (np.array([0.1, 0.6, 0.3]),)),
    ("categorical_logit", (np.array([0.5, -1.0, 2.0]),)),
    ("ordered_logistic", (0.4, np.array([-1.0, 0.5, 2.0]))),
    ("ordered_probit", (0.4, np.array([-1.0, 0.5, 2.0]))),
])
def test_categorical_samplers_hit_each_outcome_at_its_probability(name, params):
    draws = _draw(name, params)
    d = lib.DISTRIBUTIONS[name]
    K = len(params[-1]) + (1 if name.startswith("ordered") else 0)
    probs = np.exp(np.asarray(d.lpdf(NUMPY, np.arange(1, K + 1), *params)))
    freq = np.bincount(draws, minlength=K + 1)[1:] / SAMPLE_N
    assert draws.min() >= 1 and draws.max() <= K
    assert np.all(np.abs(freq - probs) < 5 * np.sqrt(probs * (1 - probs) / SAMPLE_N) + 1e-12)


def test_multivariate_samplers_match_their_moments():
    r = np.random.default_rng(8)
    Sigma, mu = _spd(r, 3), np.array([1.0, -2.0, 0.5])
    y = _draw("multi_normal", (mu, Sigma), shape=(SAMPLE_N, 3))
    se = np.sqrt(np.diag(Sigma) / SAMPLE_N)
    assert np.all(np.abs(y.mean(0) - mu) < 5 * se)
    assert np.allclose(np.cov(y.T), Sigma, rtol=0.15, atol=0.15 * np.diag(Sigma).max())
    alpha = np.array([1.0, 2.0, 5.0])
    theta = _draw("dirichlet", (alpha,), shape=(SAMPLE_N, 3))
    assert np.allclose(theta.sum(1), 1.0)
    assert np.all(np.abs(theta.mean(0) - alpha / alpha.sum()) < 5 * theta.std(0) / math.sqrt(SAMPLE_N))


@pytest.mark.parametrize("eta", [0.7])
def test_lkj_sampler_gives_correlation_factors_with_beta_marginals(eta):
    K = 4
    L = _draw("lkj_corr_cholesky", (eta,), shape=(SAMPLE_N, K, K))
    assert np.allclose(np.triu(L, 1), 0.0)
    assert np.allclose(np.sum(L * L, axis=-1), 1.0)  # unit rows: a correlation matrix's factor
    omega = L @ np.swapaxes(L, -1, -2)
    b = eta - 1 + K / 2  # each correlation is 2 Beta(b, b) - 1 under LKJ(eta)
    for i, j in ((1, 0), (3, 1)):
        assert stats.kstest((omega[:, i, j] + 1) / 2, stats.beta(b, b).cdf).pvalue > 1e-3


def test_sampler_shape_defaults_to_the_arguments_broadcast_shape():
    out = _draw("normal", (np.zeros(5), 1.0), shape=None)
    assert out.shape == (5,)


def test_lkj_sampler_without_a_shape_is_an_error():
    with pytest.raises(BoxloopError):
        _draw("lkj_corr_cholesky", (2.0,), shape=None)


# ---- the functions ---------------------------------------------------------------------------------

x = np.array([-1.3, 0.2, 2.5])
pos = np.array([0.3, 1.0, 4.2])
p = np.array([0.1, 0.5, 0.95])
v = np.array([1.0, -2.0, 0.5])
w = np.array([0.5, 3.0, -1.0])
ivec = np.array([3, 1, 2])
M = np.array([[2.0, 0.3, 0.1], [0.3, 1.5, -0.2], [0.1, -0.2, 1.0]])
B = np.array([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]])
Lo = np.linalg.cholesky(M)
V, RV, I1 = VECTOR, ROW_VECTOR, ValueType("int", 1)
R1, VS = ValueType("real", 1), ValueType("vector", 1)
pts = np.array([[0.0, 1.0], [1.0, 1.5], [2.0, -1.0]])


def _hmm_by_enumeration(log_omega, gamma, rho):
    """log p(y) of a small HMM, summed over every path of hidden states."""
    K, T = log_omega.shape
    total = 0.0
    for path in itertools.product(range(K), repeat=T):
        p = rho[path[0]] * np.exp(log_omega[path[0], 0])
        for t in range(1, T):
            p *= gamma[path[t - 1], path[t]] * np.exp(log_omega[path[t], t])
        total += p
    return math.log(total)


HMM_LOG_OMEGA = np.log(np.array([[0.2, 0.5, 0.1, 0.7], [0.6, 0.1, 0.3, 0.2]]))
HMM_GAMMA = np.array([[0.9, 0.1], [0.3, 0.7]])
HMM_RHO = np.array([0.4, 0.6])
HMM_LOG_P = _hmm_by_enumeration(HMM_LOG_OMEGA, HMM_GAMMA, HMM_RHO)


def _sqd(a, b):
    a2 = a[:, None] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    return ((a2[:, None, :] - b2[None, :, :]) ** 2).sum(-1)


def _expit(z):
    return 1 / (1 + np.exp(-z))


# (function, arguments, their types (for overload choice), expected value)
CASES = [
    ("exp", (x,), (V,), np.exp(x)), ("log", (pos,), (V,), np.log(pos)),
    ("log2", (pos,), (V,), np.log2(pos)), ("log2", (), (), math.log(2)),
    ("log10", (pos,), (V,), np.log10(pos)), ("log10", (), (), math.log(10)),
    ("exp2", (x,), (V,), 2.0 ** x), ("log1p", (pos,), (V,), np.log(1 + pos)),
    ("expm1", (x,), (V,), np.exp(x) - 1), ("inv_logit", (x,), (V,), _expit(x)),
    ("logit", (p,), (V,), np.log(p / (1 - p))), ("log1p_exp", (x,), (V,), np.log(1 + np.exp(x))),
    ("log_inv_logit", (x,), (V,), np.log(_expit(x))),
    ("log1m_inv_logit", (x,), (V,), np.log(1 - _expit(x))), ("log1m", (p,), (V,), np.log(1 - p)),
    ("log1m_exp", (-pos,), (V,), np.log(1 - np.exp(-pos))),
    ("inv_cloglog", (x,), (V,), 1 - np.exp(-np.exp(x))),
    ("sqrt", (pos,), (V,), np.sqrt(pos)), ("cbrt", (x,), (V,), np.sign(x) * np.abs(x) ** (1 / 3)),
    ("square", (x,), (V,), x * x), ("abs", (np.array([-3, 2]),), (I1,), [3, 2]),
    ("inv", (x,), (V,), 1 / x), ("inv_sqrt", (pos,), (V,), 1 / np.sqrt(pos)),
    ("inv_square", (x,), (V,), 1 / x ** 2), ("Phi", (x,), (V,), stats.norm.cdf(x)),
    ("Phi_approx", (x,), (V,), _expit(0.07056 * x ** 3 + 1.5976 * x)),
    ("inv_Phi", (p,), (V,), stats.norm.ppf(p)),
    ("erf", (x,), (V,), [math.erf(t) for t in x]), ("erfc", (x,), (V,), [math.erfc(t) for t in x]),
    ("lgamma", (pos,), (V,), [math.lgamma(t) for t in pos]),
    ("tgamma", (pos,), (V,), [math.gamma(t) for t in pos]),
    ("digamma", (pos,), (V,), special.digamma(pos)), ("trigamma", (pos,), (V,), special.polygamma(1, pos)),
    ("sin", (x,), (V,), np.sin(x)), ("cos", (x,), (V,), np.cos(x)), ("tan", (x,), (V,), np.tan(x)),
    ("asin", (p,), (V,), np.arcsin(p)), ("acos", (p,), (V,), np.arccos(p)),
    ("atan", (x,), (V,), np.arctan(x)), ("sinh", (x,), (V,), np.sinh(x)), ("cosh", (x,), (V,), np.cosh(x)),
    ("tanh", (x,), (V,), np.tanh(x)), ("asinh", (x,), (V,), np.arcsinh(x)),
    ("acosh", (1 + pos,), (V,), np.arccosh(1 + pos)), ("atanh", (p,), (V,), np.arctanh(p)),
    ("floor", (x,), (V,), np.floor(x)), ("ceil", (x,), (V,), np.ceil(x)),
    ("round", (np.array([-2.5, -0.5, 0.5, 1.5, 2.4]),), (V,), [-3, -1, 1, 2, 2]),
    ("trunc", (x,), (V,), np.trunc(x)),
    ("pow", (pos, 1.7), (V, REAL), pos ** 1.7), ("pow", (2, -1), (INT, INT), 0.5),
    ("fmin", (x, v), (V, V), np.minimum(x, v)), ("fmax", (x, v), (V, V), np.maximum(x, v)),
    ("fdim", (x, v), (V, V), np.maximum(x - v, 0)), ("hypot", (x, v), (V, V), np.sqrt(x * x + v * v)),
    ("atan2", (x, v), (V, V), np.arctan2(x, v)),
    ("lbeta", (pos, 2.0), (V, REAL), special.betaln(pos, 2.0)),
    ("lchoose", (10.0, 3.0), (REAL, REAL), math.log(120)), ("choose", (10, 3), (INT, INT), 120),
    ("lmultiply", (2.0, pos), (REAL, V), 2 * np.log(pos)),
    ("log_diff_exp", (pos, -pos), (V, V), np.log(np.exp(pos) - np.exp(-pos))),
    ("log_inv_logit_diff", (pos, -pos), (V, V), np.log(_expit(pos) - _expit(-pos))),
    ("fma", (x, v, w), (V, V, V), x * v + w),
    ("log_mix", (0.3, -1.0, -2.0), (REAL, REAL, REAL), np.log(0.3 * np.exp(-1) + 0.7 * np.exp(-2))),
    ("log_mix", (np.array([0.2, 0.8]), np.array([-1.0, -3.0])), (V, V),
     np.log(0.2 * np.exp(-1) + 0.8 * np.exp(-3))),
    ("step", (-1.0,), (REAL,), 0), ("step", (0.0,), (REAL,), 1), ("int_step", (0,), (INT,), 0),
    ("int_step", (2.5,), (REAL,), 1), ("is_inf", (-np.inf,), (REAL,), 1), ("is_nan", (np.nan,), (REAL,), 1),
    ("is_nan", (1.0,), (REAL,), 0),
    ("pi", (), (), math.pi), ("e", (), (), math.e), ("sqrt2", (), (), math.sqrt(2)),
    ("positive_infinity", (), (), np.inf), ("negative_infinity", (), (), -np.inf),
    ("machine_precision", (), (), np.finfo(float).eps),
    ("sum", (ivec,), (I1,), 6), ("sum", (M,), (MATRIX,), M.sum()), ("prod", (v,), (V,), v.prod()),
    ("mean", (v,), (V,), v.mean()), ("sd", (v,), (V,), v.std(ddof=1)),
    ("variance", (M,), (MATRIX,), M.var(ddof=1)), ("min", (v,), (V,), -2.0), ("min", (3, 2), (INT, INT), 2),
    ("max", (M,), (MATRIX,), 2.0), ("max", (3, 5), (INT, INT), 5),
    ("log_sum_exp", (v,), (V,), np.log(np.exp(v).sum())),
    ("log_sum_exp", (1.0, 2.0), (REAL, REAL), np.logaddexp(1.0, 2.0)),
    ("size", (B,), (MATRIX,), 6), ("size", (ivec,), (I1,), 3), ("num_elements", (B,), (MATRIX,), 6),
    ("rows", (B,), (MATRIX,), 3), ("rows", (v,), (RV,), 1), ("rows", (v,), (V,), 3),
    ("cols", (B,), (MATRIX,), 2), ("cols", (v,), (RV,), 3), ("cols", (v,), (V,), 1),
    ("dot_product", (v, w), (V, V), v @ w), ("dot_self", (v,), (V,), v @ v),
    ("columns_dot_product", (B, B), (MATRIX, MATRIX), (B * B).sum(0)),
    ("columns_dot_product", (v, w), (V, V), [v @ w]),
    ("rows_dot_product", (B, B), (MATRIX, MATRIX), (B * B).sum(1)),
    ("rows_dot_product", (v, w), (RV, RV), [v @ w]),
    ("rows_dot_self", (B,), (MATRIX,), (B * B).sum(1)), ("columns_dot_self", (B,), (MATRIX,), (B * B).sum(0)),
    ("rep_vector", (2, 3), (INT, INT), [2.0, 2.0, 2.0]), ("rep_row_vector", (1.5, 2), (REAL, INT), [1.5, 1.5]),
    ("rep_matrix", (1.5, 2, 3), (REAL, INT, INT), np.full((2, 3), 1.5)),
    ("rep_matrix", (v, 2), (V, INT), np.column_stack([v, v])),
    ("rep_matrix", (v, 2), (RV, INT), np.vstack([v, v])),
    ("rep_array", (v, 2), (V, INT), np.vstack([v, v])), ("rep_array", (4, 2, 2), (INT, INT, INT), [[4, 4], [4, 4]]),
    ("zeros_vector", (2,), (INT,), [0, 0]), ("zeros_row_vector", (2,), (INT,), [0, 0]),
    ("ones_vector", (2,), (INT,), [1, 1]), ("ones_row_vector", (2,), (INT,), [1, 1]),
    ("uniform_simplex", (4,), (INT,), [0.25] * 4), ("identity_matrix", (3,), (INT,), np.eye(3)),
    ("linspaced_vector", (5, 0.0, 1.0), (INT, REAL, REAL), np.linspace(0, 1, 5)),
    ("linspaced_row_vector", (3, -1.0, 1.0), (INT, REAL, REAL), [-1, 0, 1]),
    ("linspaced_array", (3, 0.0, 4.0), (INT, REAL, REAL), [0, 2, 4]),
    ("diag_matrix", (v,), (V,), np.diag(v)), ("diagonal", (M,), (MATRIX,), np.diag(M)),
    ("add_diag", (M, 2.0), (MATRIX, REAL), M + 2 * np.eye(3)), ("add_diag", (M, v), (MATRIX, V), M + np.diag(v)),
    ("to_vector", (B,), (MATRIX,), B.T.ravel()), ("to_vector", (ivec,), (I1,), [3.0, 1.0, 2.0]),
    ("to_row_vector", (B,), (MATRIX,), B.T.ravel()),
    ("to_matrix", (v,), (V,), v[:, None]), ("to_matrix", (v,), (RV,), v[None, :]),
    ("to_matrix", (np.arange(6.0), 2, 3), (V, INT, INT), np.arange(6.0).reshape(3, 2).T),
    ("to_array_1d", (B,), (MATRIX,), B.T.ravel()),
    ("append_row", (v, w), (V, V), np.concatenate([v, w])), ("append_row", (1.0, w), (REAL, V), [1.0, 0.5, 3, -1]),
    ("append_row", (v, w), (RV, RV), np.vstack([v, w])), ("append_row", (M, v), (MATRIX, RV), np.vstack([M, v])),
    ("append_col", (v, w), (RV, RV), np.concatenate([v, w])), ("append_col", (v, w), (V, V), np.column_stack([v, w])),
    ("append_col", (B, v), (MATRIX, V), np.column_stack([B, v])),
    ("append_array", (ivec, ivec), (I1, I1), np.concatenate([ivec, ivec])),
    ("segment", (x, 2, 2), (V, INT, INT), x[1:3]), ("head", (x, 2), (V, INT), x[:2]),
    ("tail", (x, 2), (V, INT), x[1:]), ("tail", (x, 0), (V, INT), []), ("reverse", (x,), (V,), x[::-1]),
    ("sort_asc", (v,), (V,), np.sort(v)), ("sort_desc", (v,), (V,), np.sort(v)[::-1]),
    ("cumulative_sum", (ivec,), (I1,), [3, 4, 6]), ("softmax", (v,), (V,), special.softmax(v)),
    ("log_softmax", (v,), (V,), special.log_softmax(v)),
    ("cholesky_decompose", (M,), (MATRIX,), Lo),
    ("gp_exp_quad_cov", (x, 1.5, 0.7), (R1, REAL, REAL), 2.25 * np.exp(-_sqd(x, x) / (2 * 0.49))),
    ("gp_exp_quad_cov", (pts, 1.5, 0.7), (VS, REAL, REAL), 2.25 * np.exp(-_sqd(pts, pts) / (2 * 0.49))),
    ("gp_exp_quad_cov", (x, v, 1.5, 0.7), (R1, R1, REAL, REAL), 2.25 * np.exp(-_sqd(x, v) / (2 * 0.49))),
    ("gp_exp_quad_cov", (pts, 1.5, np.array([0.7, 2.0])), (VS, REAL, R1),
     2.25 * np.exp(-_sqd(pts / [0.7, 2.0], pts / [0.7, 2.0]) / 2)),
    ("gp_exponential_cov", (x, 1.5, 0.7), (R1, REAL, REAL), 2.25 * np.exp(-np.sqrt(_sqd(x, x)) / 0.7)),
    ("gp_matern32_cov", (pts, 1.5, 0.7), (VS, REAL, REAL),
     2.25 * (1 + np.sqrt(3 * _sqd(pts, pts)) / 0.7) * np.exp(-np.sqrt(3 * _sqd(pts, pts)) / 0.7)),
    ("gp_matern52_cov", (x, 1.5, 0.7), (R1, REAL, REAL),
     2.25 * (1 + np.sqrt(5 * _sqd(x, x)) / 0.7 + 5 * _sqd(x, x) / (3 * 0.49))
     * np.exp(-np.sqrt(5 * _sqd(x, x)) / 0.7)),
    ("diag_pre_multiply", (v, M), (V, MATRIX), np.diag(v) @ M),
    ("diag_post_multiply", (M, v), (MATRIX, V), M @ np.diag(v)),
    ("quad_form_diag", (M, v), (MATRIX, V), np.diag(v) @ M @ np.diag(v)),
    ("quad_form", (M, B), (MATRIX, MATRIX), B.T @ M @ B), ("quad_form", (M, v), (MATRIX, V), v @ M @ v),
    ("quad_form_sym", (M, v), (MATRIX, V), v @ M @ v),
    ("tcrossprod", (B,), (MATRIX,), B @ B.T), ("crossprod", (B,), (MATRIX,), B.T @ B),
    ("multiply_lower_tri_self_transpose", (M,), (MATRIX,), np.tril(M) @ np.tril(M).T),
    ("mdivide_left_tri_low", (Lo, v), (MATRIX, V), np.linalg.solve(Lo, v)),
    ("mdivide_left_tri_low", (Lo, B), (MATRIX, MATRIX), np.linalg.solve(Lo, B)),
    ("mdivide_right_tri_low", (v, Lo), (RV, MATRIX), v @ np.linalg.inv(Lo)),
    ("mdivide_left_spd", (M, v), (MATRIX, V), np.linalg.solve(M, v)),
    ("mdivide_left", (M, B), (MATRIX, MATRIX), np.linalg.solve(M, B)),
    ("inverse", (M,), (MATRIX,), np.linalg.inv(M)), ("inverse_spd", (M,), (MATRIX,), np.linalg.inv(M)),
    ("log_determinant", (M,), (MATRIX,), np.log(np.linalg.det(M))),
    ("determinant", (M,), (MATRIX,), np.linalg.det(M)), ("trace", (M,), (MATRIX,), np.trace(M)),
    ("transpose", (v,), (V,), v), ("transpose", (B,), (MATRIX,), B.T),
    ("col", (B, 2), (MATRIX, INT), B[:, 1]), ("row", (B, 3), (MATRIX, INT), B[2]),
    ("sub_col", (M, 2, 3, 2), (MATRIX, INT, INT, INT), M[1:3, 2]),
    ("sub_row", (M, 1, 2, 2), (MATRIX, INT, INT, INT), M[0, 1:3]),
    ("block", (M, 2, 1, 2, 2), (MATRIX, INT, INT, INT, INT), M[1:3, 0:2]),
    ("sort_indices_asc", (v,), (V,), [2, 3, 1]),
    ("sort_indices_desc", (np.array([2, 5, 2, 1]),), (I1,), [2, 1, 3, 4]),  # ties keep their order
    ("rank", (v, 1), (V, INT), 2),
    ("symmetrize_from_lower_tri", (np.array([[1.0, 9, 9], [2, 3, 9], [4, 5, 6]]),), (MATRIX,),
     [[1, 2, 4], [2, 3, 5], [4, 5, 6]]),
    ("dims", (B,), (MATRIX,), [3, 2]), ("dims", (np.zeros((2, 4, 3)),), (ValueType("vector", 2),), [2, 4, 3]),
    ("eigenvalues_sym", (M,), (MATRIX,), np.linalg.eigvalsh(M)),
    ("mdivide_right", (v, M), (RV, MATRIX), v @ np.linalg.inv(M)),
    ("mdivide_right", (B.T, M), (MATRIX, MATRIX), B.T @ np.linalg.inv(M)),
    ("log_mix", (np.array([0.2, 0.8]), np.array([[-1.0, -3.0], [-2.0, -0.5]])), (V, VS),
     special.logsumexp(np.log([0.2, 0.8]) + np.array([[-1.0, -3.0], [-2.0, -0.5]]), axis=1).sum()),
    ("to_matrix", (np.arange(6.0), 2, 3, 0), (V, INT, INT, INT), np.arange(6.0).reshape(2, 3)),
    ("columns_dot_self", (v,), (V,), [v @ v]), ("rows_dot_self", (v,), (RV,), [v @ v]),
    ("hmm_marginal", (HMM_LOG_OMEGA, HMM_GAMMA, HMM_RHO), (MATRIX, MATRIX, V), HMM_LOG_P),
]


def test_every_function_has_a_reference_case():
    tested = {c[0] for c in CASES} | {"not_a_number", "eigenvectors_sym"}
    assert set(lib.FUNCTIONS) == tested


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}{i}" for i, c in enumerate(CASES)])
def test_function_impl_matches_numpy(case):
    name, args, types, expected = case
    spec = lib.FUNCTIONS[name]
    assert match_signature(spec, list(types)) is not None, "the case's types must fit a signature"
    close(lib.implementation(spec, types)(NUMPY, *args), expected, rtol=1e-9, atol=1e-12)


def test_function_impls_match_numpy_under_jax():
    import jax

    def all_cases():
        return [lib.implementation(lib.FUNCTIONS[name], types)(JAX, *args) for name, args, types, _ in CASES]

    with jax.enable_x64(True):
        outputs = jax.jit(all_cases)()  # one compile for every case; arguments are constants
    wrong = []
    for (name, _, _, expected), out in zip(CASES, outputs):
        if not np.allclose(np.asarray(out, dtype=float), np.asarray(expected, dtype=float),
                           rtol=1e-9, atol=1e-12, equal_nan=True):
            wrong.append(name)
    assert not wrong


def test_not_a_number_is_nan():
    assert math.isnan(lib.FUNCTIONS["not_a_number"].impl(NUMPY))


def test_return_types_follow_the_signatures():
    assert match_signature(lib.FUNCTIONS["exp"], [ValueType("int", 1)]) == ValueType("real", 1)
    assert match_signature(lib.FUNCTIONS["abs"], [INT]) == INT
    assert match_signature(lib.FUNCTIONS["sum"], [I1]) == INT
    assert match_signature(lib.FUNCTIONS["rep_array"], [VECTOR, INT]) == ValueType("vector", 1)
    assert match_signature(lib.FUNCTIONS["append_row"], [ROW_VECTOR, ROW_VECTOR]) == MATRIX
    assert match_signature(lib.FUNCTIONS["pow"], [REAL, VECTOR]) == VECTOR
    assert match_signature(lib.FUNCTIONS["softmax"], [MATRIX]) is None


# ---- intervals for the support analysis ------------------------------------------------------------------


def test_positive_and_unit_functions_map_the_real_line_into_their_ranges():
    f = lib.FUNCTIONS
    assert POSITIVE.contains(f["exp"].interval(REAL_LINE))
    assert POSITIVE.contains(f["log1p_exp"].interval(REAL_LINE))
    assert f["inv_logit"].interval(REAL_LINE) == UNIT_OPEN
    assert f["square"].interval(Interval(-2.0, 1.0, True, True)) == Interval(0.0, 4.0, True, True)
    assert f["exp"].interval(Interval(0.0, 1.0, True, True)) == Interval(1.0, math.e, True, True)
    assert f["log"].interval(POSITIVE) == REAL_LINE
    assert f["log"].domain == (Interval(0.0, math.inf, True),)  # Stan's log(0) = -inf is allowed
    assert f["sqrt"].domain[0].contains(Interval(0.0, 3.0, True, True))


def test_saturation_in_floating_point_never_empties_an_interval():
    # inv_logit(40) rounds to 1.0, yet every value is below 1: the result must stay non-empty.
    out = lib.FUNCTIONS["inv_logit"].interval(Interval(40.0, 50.0, True, True))
    assert not out.is_empty and UNIT_OPEN.contains(out)


SAMPLE_INTERVALS = (Interval(-3.0, 2.0, True, True), Interval(0.05, 6.0, True, True),
                    Interval(0.02, 0.98, True, True), Interval(-0.9, -0.1, True, True))


def _inside(values, interval, slack=1e-12):
    lo_ok = values >= interval.lo - slack * max(1.0, abs(interval.lo)) if interval.lo_closed else values > interval.lo - slack
    hi_ok = values <= interval.hi + slack * max(1.0, abs(interval.hi)) if interval.hi_closed else values < interval.hi + slack
    return np.all(lo_ok & hi_ok | np.isinf(values) & ((values > 0) == (interval.hi == math.inf)))


@pytest.mark.parametrize("name", [f.name for f in lib.FUNCTIONS.values()
                                  if f.interval is not None
                                  and ValueType("real", 7) in {s.params[0] for s in f.signatures
                                                               if len(s.params) == 1}])
def test_elementwise_interval_maps_contain_every_value(name):
    spec = lib.FUNCTIONS[name]
    r = np.random.default_rng(9)
    for a in SAMPLE_INTERVALS:
        if spec.domain and spec.domain[0] is not None and not spec.domain[0].contains(a):
            continue
        xs = np.concatenate([[a.lo, a.hi], r.uniform(a.lo, a.hi, 200)])
        with np.errstate(all="ignore"):
            values = np.asarray(spec.impl(NUMPY, xs), dtype=float)
        values = values[~np.isnan(values)]  # poles (tgamma at -3) are outside the function's domain
        assert _inside(values, spec.interval(a)), (name, a, spec.interval(a))


@pytest.mark.parametrize("name,args,expected", [
    ("sum", (POSITIVE,), Interval(0.0, math.inf, True)),
    ("fmin", (Interval(1.0, 3.0, True, True), Interval(2.0, 5.0, True, True)), Interval(1.0, 3.0, True, True)),
    ("fmax", (Interval(1.0, 3.0, True, True), Interval(2.0, 5.0, True, True)), Interval(2.0, 5.0, True, True)),
    ("sd", (REAL_LINE,), Interval(0.0, math.inf, True)),
    ("pi", (), Interval(math.pi, math.pi, True, True)),
    ("size", (REAL_LINE,), Interval(0.0, math.inf, True, False, True)),
])
def test_other_interval_maps(name, args, expected):
    assert lib.FUNCTIONS[name].interval(*args) == expected


# ---- the table itself -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(lib.DISTRIBUTIONS))
def test_distribution_rows_are_complete(name):
    d = lib.DISTRIBUTIONS[name]
    assert d.stan == name and callable(d.lpdf)
    assert not d.rng or d.sample is not None  # Stan's _rng needs a sampler
    assert choices(d.variate.shape) and d.variate.support is not None
    assert all(choices(a.shape) and isinstance(a.support, (Interval, Structure)) for a in d.args)
    assert len(set(d.arg_names)) == len(d.args)
    if not d.multivariate and not d.discrete and name not in GLMS:
        assert d.lcdf is not None and d.lccdf is not None  # truncation needs both
    assert (d.lcdf is None) == (d.lccdf is None)
    assert d.discrete == all(t.kind == "int" for t in choices(d.variate.shape))


def test_supports_are_stan_exact_for_the_checker():
    d = lib.DISTRIBUTIONS
    assert d["normal"].args[1].support == POSITIVE
    assert d["bernoulli"].args[0].support == Interval(0.0, 1.0, True, True)
    assert d["categorical"].args[0].support == Structure("simplex")
    assert d["ordered_logistic"].args[1].support == Structure("ordered")
    assert d["lkj_corr_cholesky"].variate.support == Structure("cholesky_factor_corr")
    assert d["gamma"].arg_names == ("alpha", "beta") and d["neg_binomial_2"].arg_names == ("mu", "phi")
    assert d["poisson"].variate.support.integer and d["categorical"].variate.support.lo == 1


@pytest.mark.parametrize("name", sorted(lib.FUNCTIONS))
def test_function_rows_are_complete(name):
    f = lib.FUNCTIONS[name]
    assert f.stan and callable(f.impl) and f.signatures
    arity = max(len(s.params) for s in f.signatures)
    for s in f.signatures:
        assert all(isinstance(p, ValueType) for p in s.params) and isinstance(s.returns, ValueType), s
    assert f.domain is None or len(f.domain) <= arity


# ---- lookups -------------------------------------------------------------------------------------------


def test_lookups_and_suffixes():
    assert lib.distribution("normal").name == "normal" and lib.distribution("gaussian") is None
    assert lib.function("exp").name == "exp" and lib.function("normal") is None
    normal, suffix = lib.resolve_suffixed("normal_lpdf")
    assert normal.name == "normal" and suffix == "lpdf"
    assert lib.resolve_suffixed("poisson_lpmf")[1] == "lpmf"
    assert lib.resolve_suffixed("poisson_lupmf")[1] == "lpmf"
    assert lib.resolve_suffixed("normal_lcdf")[1] == "lcdf"
    assert lib.resolve_suffixed("normal_lccdf")[1] == "lccdf"
    assert lib.resolve_suffixed("normal_rng")[1] == "rng"
    assert lib.resolve_suffixed("normal_lpmf") is None  # wrong kind of density
    assert lib.resolve_suffixed("normal_cdf")[1] == "cdf"
    assert lib.resolve_suffixed("poisson_log_lcdf") is None  # Stan has no cdf for it
    assert lib.resolve_suffixed("binomial_logit_rng") is None  # nor this rng, though boxloop can simulate it
    assert lib.resolve_suffixed("exp") is None


def test_suggestions_name_what_the_user_meant():
    assert "normal" in lib.suggest("gaussian", "distribution")
    assert lib.suggest("neg_binomial_3", "distribution")[0] in ("neg_binomial_2", "neg_binomial")
    assert lib.suggest("HalfCauchy", "distribution") == ["cauchy"]
    assert lib.suggest("poisson_lpdf", "function")[0] == "poisson_lpmf"
    assert lib.suggest("gaussian_lpdf", "function")[0] == "normal_lpdf"
    assert lib.suggest("sigmoid", "function")[0] == "inv_logit"
    assert lib.suggest("inv_logt", "function")[0] == "inv_logit"
    assert lib.suggest("zzzzzzzz", "any") == []
    with pytest.raises(BoxloopError):
        lib.suggest("x", "operator")


def test_reserved_words_are_stan_keywords_not_library_names():
    assert lib.is_reserved("for") and lib.is_reserved("target") and lib.is_reserved("x__")
    assert not lib.is_reserved("beta") and not lib.is_reserved("sigma")
    assert lib.nearest("sigm", ["sigma", "mu", "tau"]) == ["sigma"]


# ---- ops namespaces -------------------------------------------------------------------------------------


def test_get_ops_and_immutable_updates():
    assert get_ops("numpy") is NUMPY and get_ops("jax") is JAX
    with pytest.raises(BoxloopError):
        get_ops("torch")
    a = np.zeros(3)
    b = NUMPY.set_at(a, 1, 5.0)
    assert a[1] == 0.0 and b[1] == 5.0
    idx = np.array([0, 0, 2])  # repeated indices accumulate under both backends
    close(NUMPY.add_at(a, idx, 1.0), [2.0, 0.0, 1.0])
    close(JAX.add_at(a, idx, 1.0), [2.0, 0.0, 1.0])
    with pytest.raises(AttributeError):
        NUMPY.random  # noqa: B018 - samplers are JAX only


def test_numpy_ops_do_not_import_jax():
    code = ("import sys; from boxloop.lang import library as L; from boxloop.lang.ops import NUMPY;"
            "L.DISTRIBUTIONS['normal'].lpdf(NUMPY, 0.0, 0.0, 1.0); L.suggest('gausian', 'any');"
            "assert 'jax' not in sys.modules, 'jax imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
