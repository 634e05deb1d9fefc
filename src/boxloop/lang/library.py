"""The one table of distributions and functions the parser, checker, compiler, decoder and exporters read.

Conventions
-----------
- Every formula takes an ops namespace `m` first (`boxloop.lang.ops.NUMPY` or `.JAX`) and is written
  only in terms of it, so the same text is checked against scipy and traced by JAX.
- `lpdf(m, y, *args)` is the fully normalised log density (Stan's `~` drops constants; boxloop keeps
  them so that marginal likelihoods compare across programs). Univariate families broadcast every
  argument elementwise and return one value per observation; multivariate families return one value
  per vector (per row of an array of vectors).
- `lcdf(m, y, *args)` = log P(Y <= y) and `lccdf(m, y, *args)` = log P(Y > y), Stan's conventions;
  they give truncation normalisers (for a discrete Y, P(Y >= a) is `lccdf(a - 1)`).
- `sample(m, key, *args, shape=None)` draws with `m.random` (JAX only). `shape` is the shape of the
  result, event dimensions included (for lkj_corr_cholesky it must end in (K, K)); None means the
  broadcast shape of the arguments.
- Continuous supports are stated up to their boundary points, which have probability zero.
  Outside a variate's support the lpdf value is unspecified (the checker and data loader reject such
  input), except where the support depends on an argument (`uniform`, `pareto`, `pareto_type_2`):
  there it is -inf outside, as in Stan.
- Signatures are Stan's own, written in the shorthand of `boxloop.lang.signatures` (Stan types,
  the sets `reals`/`ints`/`vectors`, alternatives `a|b`, templates over `T`, and Stan's
  element-wise families) and expanded into concrete ones; `boxloop.lang.stanc.compare_signatures`
  holds every name to stanc's own signature dump. `interval` receives, per argument, an interval
  holding every element and returns one holding every element of the result.
- `log` accepts 0 (Stan returns -inf there), so its domain is [0, inf): a `<lower=0>` variable may be
  logged without a warning.
"""

from __future__ import annotations

import functools
import itertools
import math
import statistics
from collections.abc import Callable

import numpy as np

from ..errors import BoxloopError
from . import intervals as iv
from .signatures import all_types, choices, elementwise, elementwise2, expand, over, parse_type
from .types import (
    BINARY, CONTAINER_KINDS, COUNTS, INF, MATRIX, NONNEGATIVE, POSITIVE, POSITIVE_INTS, REAL,
    REAL_LINE, ROW_VECTOR, UNIT_CLOSED, UNIT_OPEN, VECTOR, Arg, Distribution, Function, Interval,
    Overloads, Signature, Structure, ValueType,
)


class LibraryError(BoxloopError):
    """A library name exists but cannot be used as written (wrong suffix, no sampler, ...)."""

    code = "library.invalid"


_LOG_2PI = math.log(2.0 * math.pi)
_LOG_PI = math.log(math.pi)
_LOG2 = math.log(2.0)


# ---- shared numerics ----------------------------------------------------------------------------


def _log1m_exp(m, a):
    """log(1 - exp(a)) for a <= 0, accurate at both ends (Maechler's switch at -log 2)."""
    near_zero = a > -_LOG2
    a_near = m.where(near_zero, a, -1.0)  # keep the unused branch finite for gradients
    a_far = m.where(near_zero, -1.0, a)
    return m.where(near_zero, m.log(-m.expm1(a_near)), m.log1p(-m.exp(a_far)))


def _log_diff_exp(m, a, b):
    """log(exp(a) - exp(b)) for a >= b."""
    return a + _log1m_exp(m, b - a)


def _softplus(m, x):
    return m.logaddexp(0.0, x)


def _lchoose(m, n, k):
    return m.gammaln(n + 1.0) - m.gammaln(k + 1.0) - m.gammaln(n - k + 1.0)


def _batch(m, shape, *args):
    """The result shape of a univariate draw: `shape`, or the broadcast shape of the arguments."""
    if shape is not None:
        return tuple(shape)
    return tuple(m.broadcast_shapes(*(m.shape(a) for a in args)))


def _param(m, x, shape):
    """A sampler parameter as a float array of `shape`. Always the same dtype, never weakly typed, so
    jax.random's compiled samplers are reused across families instead of recompiled."""
    return m.broadcast_to(m.as_float(x), shape)


def _ints(m, x):
    return m.astype(m.asarray(x), int)


def _pick(m, table, y):
    """table[..., y - 1] with the 1-based index `y` broadcast against table's leading axes."""
    idx = m.asarray(y) - 1
    batch = tuple(m.broadcast_shapes(m.shape(idx), m.shape(table)[:-1]))
    table = m.broadcast_to(table, batch + tuple(m.shape(table)[-1:]))
    idx = m.broadcast_to(idx, batch)
    return m.take_along_axis(table, idx[..., None], axis=-1)[..., 0]


# ---- continuous univariate ------------------------------------------------------------------------


def _normal_lpdf(m, y, mu, sigma):
    z = (y - mu) / sigma
    return -0.5 * z * z - m.log(sigma) - 0.5 * _LOG_2PI


def _normal_lcdf(m, y, mu, sigma):
    return m.log_ndtr((y - mu) / sigma)


def _normal_lccdf(m, y, mu, sigma):
    return m.log_ndtr((mu - y) / sigma)


def _normal_sample(m, key, mu, sigma, shape=None):
    return mu + sigma * m.random.normal(key, _batch(m, shape, mu, sigma))


def _std_normal_lpdf(m, y):
    return -0.5 * y * y - 0.5 * _LOG_2PI


def _std_normal_lcdf(m, y):
    return m.log_ndtr(y)


def _std_normal_lccdf(m, y):
    return m.log_ndtr(-y)


def _std_normal_sample(m, key, shape=None):
    return m.random.normal(key, _batch(m, shape))


def _student_t_lpdf(m, y, nu, mu, sigma):
    z = (y - mu) / sigma
    return (m.gammaln(0.5 * (nu + 1.0)) - m.gammaln(0.5 * nu) - 0.5 * m.log(nu * math.pi)
            - m.log(sigma) - 0.5 * (nu + 1.0) * m.log1p(z * z / nu))


def _student_t_tail(m, z, nu):
    """P(T > |z|) for a standard t: half the regularised incomplete beta I_{nu/(nu+z^2)}(nu/2, 1/2)."""
    return 0.5 * m.betainc(0.5 * nu, 0.5, nu / (nu + z * z))


def _student_t_lcdf(m, y, nu, mu, sigma):
    z = (y - mu) / sigma
    # At z = 0 the beta form has derivative inf * 0 (NaN in JAX), and a truncation at the centre
    # (a half-t prior) sits exactly there; use the cdf's tangent line near 0 (error ~ z^3 < 1e-15).
    near = m.abs(z) < 1e-5
    z_far = m.where(near, 1.0, z)
    tail = _student_t_tail(m, z_far, nu)
    far = m.where(z_far < 0, m.log(tail), m.log1p(-tail))
    density_at_0 = m.exp(m.gammaln(0.5 * (nu + 1.0)) - m.gammaln(0.5 * nu) - 0.5 * m.log(nu * math.pi))
    z_near = m.where(near, z, 0.0)
    return m.where(near, m.log(0.5 + density_at_0 * z_near), far)


def _student_t_lccdf(m, y, nu, mu, sigma):
    return _student_t_lcdf(m, -y, nu, -mu, sigma)


def _student_t_sample(m, key, nu, mu, sigma, shape=None):
    # z / sqrt(chi2_nu / nu), built on the gamma sampler the other families compile anyway
    shape = _batch(m, shape, nu, mu, sigma)
    k0, k1 = m.random.split(key)
    chi2_over_nu = 2.0 * m.random.gamma(k1, _param(m, 0.5 * nu, shape), shape) / nu
    return mu + sigma * m.random.normal(k0, shape) / m.sqrt(chi2_over_nu)


def _cauchy_lpdf(m, y, mu, sigma):
    z = (y - mu) / sigma
    return -_LOG_PI - m.log(sigma) - m.log1p(z * z)


def _cauchy_lcdf(m, y, mu, sigma):
    # 1/2 + atan(z)/pi == atan2(1, -z)/pi, which keeps full precision in the left tail.
    return m.log(m.arctan2(1.0, (mu - y) / sigma)) - _LOG_PI


def _cauchy_lccdf(m, y, mu, sigma):
    return m.log(m.arctan2(1.0, (y - mu) / sigma)) - _LOG_PI


def _cauchy_sample(m, key, mu, sigma, shape=None):
    return mu + sigma * m.random.cauchy(key, _batch(m, shape, mu, sigma))


def _double_exponential_lpdf(m, y, mu, sigma):
    return -_LOG2 - m.log(sigma) - m.abs(y - mu) / sigma


def _double_exponential_lcdf(m, y, mu, sigma):
    z = (y - mu) / sigma
    below, above = m.minimum(z, 0.0), m.maximum(z, 0.0)
    return m.where(z < 0, below - _LOG2, m.log1p(-0.5 * m.exp(-above)))


def _double_exponential_lccdf(m, y, mu, sigma):
    return _double_exponential_lcdf(m, -y, -mu, sigma)


def _double_exponential_sample(m, key, mu, sigma, shape=None):
    return mu + sigma * m.random.laplace(key, _batch(m, shape, mu, sigma))


def _logistic_lpdf(m, y, mu, sigma):
    z = (y - mu) / sigma
    return -z - 2.0 * _softplus(m, -z) - m.log(sigma)


def _logistic_lcdf(m, y, mu, sigma):
    return m.log_expit((y - mu) / sigma)


def _logistic_lccdf(m, y, mu, sigma):
    return m.log_expit((mu - y) / sigma)


def _logistic_sample(m, key, mu, sigma, shape=None):
    return mu + sigma * m.random.logistic(key, _batch(m, shape, mu, sigma))


def _lognormal_lpdf(m, y, mu, sigma):
    log_y = m.log(y)
    return _normal_lpdf(m, log_y, mu, sigma) - log_y


def _lognormal_lcdf(m, y, mu, sigma):
    return m.log_ndtr((m.log(y) - mu) / sigma)


def _lognormal_lccdf(m, y, mu, sigma):
    return m.log_ndtr((mu - m.log(y)) / sigma)


def _lognormal_sample(m, key, mu, sigma, shape=None):
    return m.exp(_normal_sample(m, key, mu, sigma, shape))


def _exponential_lpdf(m, y, beta):
    return m.log(beta) - beta * y


def _exponential_lcdf(m, y, beta):
    return _log1m_exp(m, -beta * y)


def _exponential_lccdf(m, y, beta):
    return -beta * y


def _exponential_sample(m, key, beta, shape=None):
    return m.random.exponential(key, _batch(m, shape, beta)) / beta


def _gamma_lpdf(m, y, alpha, beta):
    return alpha * m.log(beta) - m.gammaln(alpha) + m.xlogy(alpha - 1.0, y) - beta * y


def _gamma_lcdf(m, y, alpha, beta):
    return m.log(m.gammainc(alpha, beta * y))


def _gamma_lccdf(m, y, alpha, beta):
    return m.log(m.gammaincc(alpha, beta * y))


def _gamma_sample(m, key, alpha, beta, shape=None):
    shape = _batch(m, shape, alpha, beta)
    return m.random.gamma(key, _param(m, alpha, shape), shape) / beta


def _inv_gamma_lpdf(m, y, alpha, beta):
    return alpha * m.log(beta) - m.gammaln(alpha) - (alpha + 1.0) * m.log(y) - beta / y


def _inv_gamma_lcdf(m, y, alpha, beta):
    return m.log(m.gammaincc(alpha, beta / y))


def _inv_gamma_lccdf(m, y, alpha, beta):
    return m.log(m.gammainc(alpha, beta / y))


def _inv_gamma_sample(m, key, alpha, beta, shape=None):
    shape = _batch(m, shape, alpha, beta)
    return beta / m.random.gamma(key, _param(m, alpha, shape), shape)


def _weibull_lpdf(m, y, alpha, sigma):
    x = y / sigma
    return m.log(alpha) - m.log(sigma) + m.xlogy(alpha - 1.0, x) - m.power(x, alpha)


def _weibull_lcdf(m, y, alpha, sigma):
    return _log1m_exp(m, -m.power(y / sigma, alpha))


def _weibull_lccdf(m, y, alpha, sigma):
    return -m.power(y / sigma, alpha)


def _weibull_sample(m, key, alpha, sigma, shape=None):
    e = m.random.exponential(key, _batch(m, shape, alpha, sigma))
    return sigma * m.power(e, 1.0 / alpha)


def _beta_lpdf(m, y, alpha, beta):
    return m.xlogy(alpha - 1.0, y) + m.xlog1py(beta - 1.0, -y) - m.betaln(alpha, beta)


def _beta_lcdf(m, y, alpha, beta):
    return m.log(m.betainc(alpha, beta, y))


def _beta_lccdf(m, y, alpha, beta):
    return m.log(m.betainc(beta, alpha, 1.0 - y))


def _beta_sample(m, key, alpha, beta, shape=None):
    shape = _batch(m, shape, alpha, beta)
    return m.random.beta(key, _param(m, alpha, shape), _param(m, beta, shape), shape)


def _uniform_lpdf(m, y, alpha, beta):
    inside = (y >= alpha) & (y <= beta)
    return m.where(inside, -m.log(beta - alpha), -m.inf)


def _uniform_lcdf(m, y, alpha, beta):
    return m.log(m.clip((y - alpha) / (beta - alpha), 0.0, 1.0))


def _uniform_lccdf(m, y, alpha, beta):
    return m.log(m.clip((beta - y) / (beta - alpha), 0.0, 1.0))


def _uniform_sample(m, key, alpha, beta, shape=None):
    return alpha + (beta - alpha) * m.random.uniform(key, _batch(m, shape, alpha, beta))


def _gumbel_lpdf(m, y, mu, beta):
    z = (y - mu) / beta
    return -m.log(beta) - z - m.exp(-z)


def _gumbel_lcdf(m, y, mu, beta):
    return -m.exp((mu - y) / beta)


def _gumbel_lccdf(m, y, mu, beta):
    return _log1m_exp(m, -m.exp((mu - y) / beta))


def _gumbel_sample(m, key, mu, beta, shape=None):
    return mu + beta * m.random.gumbel(key, _batch(m, shape, mu, beta))


def _chi_square_lpdf(m, y, nu):
    return _gamma_lpdf(m, y, 0.5 * nu, 0.5)


def _chi_square_lcdf(m, y, nu):
    return _gamma_lcdf(m, y, 0.5 * nu, 0.5)


def _chi_square_lccdf(m, y, nu):
    return _gamma_lccdf(m, y, 0.5 * nu, 0.5)


def _chi_square_sample(m, key, nu, shape=None):
    return _gamma_sample(m, key, 0.5 * nu, 0.5, shape)


def _inv_chi_square_lpdf(m, y, nu):
    return _inv_gamma_lpdf(m, y, 0.5 * nu, 0.5)


def _inv_chi_square_lcdf(m, y, nu):
    return _inv_gamma_lcdf(m, y, 0.5 * nu, 0.5)


def _inv_chi_square_lccdf(m, y, nu):
    return _inv_gamma_lccdf(m, y, 0.5 * nu, 0.5)


def _inv_chi_square_sample(m, key, nu, shape=None):
    return _inv_gamma_sample(m, key, 0.5 * nu, 0.5, shape)


def _scaled_inv_chi_square_lpdf(m, y, nu, sigma):
    return _inv_gamma_lpdf(m, y, 0.5 * nu, 0.5 * nu * sigma * sigma)


def _scaled_inv_chi_square_lcdf(m, y, nu, sigma):
    return _inv_gamma_lcdf(m, y, 0.5 * nu, 0.5 * nu * sigma * sigma)


def _scaled_inv_chi_square_lccdf(m, y, nu, sigma):
    return _inv_gamma_lccdf(m, y, 0.5 * nu, 0.5 * nu * sigma * sigma)


def _scaled_inv_chi_square_sample(m, key, nu, sigma, shape=None):
    return _inv_gamma_sample(m, key, 0.5 * nu, 0.5 * nu * sigma * sigma, shape)


def _skew_normal_lpdf(m, y, xi, omega, alpha):
    z = (y - xi) / omega
    return _LOG2 - m.log(omega) - 0.5 * z * z - 0.5 * _LOG_2PI + m.log_ndtr(alpha * z)


def _skew_normal_sample(m, key, xi, omega, alpha, shape=None):
    # Azzalini's construction: delta |U0| + sqrt(1 - delta^2) U1 is skew-normal(0, 1, alpha).
    shape = _batch(m, shape, xi, omega, alpha)
    k0, k1 = m.random.split(key)
    delta = alpha / m.sqrt(1.0 + alpha * alpha)
    z = delta * m.abs(m.random.normal(k0, shape)) + m.sqrt(1.0 - delta * delta) * m.random.normal(k1, shape)
    return xi + omega * z


def _exp_mod_normal_lpdf(m, y, mu, sigma, lam):
    return (m.log(lam) + lam * (mu + 0.5 * lam * sigma * sigma - y)
            + m.log_ndtr((y - mu) / sigma - lam * sigma))


def _exp_mod_normal_shift(m, y, mu, sigma, lam):
    """log of exp(-lam (y - mu) + lam^2 sigma^2 / 2) Phi((y - mu)/sigma - lam sigma)."""
    return -lam * (y - mu) + 0.5 * (lam * sigma) ** 2 + m.log_ndtr((y - mu) / sigma - lam * sigma)


def _exp_mod_normal_lcdf(m, y, mu, sigma, lam):
    return _log_diff_exp(m, m.log_ndtr((y - mu) / sigma), _exp_mod_normal_shift(m, y, mu, sigma, lam))


def _exp_mod_normal_lccdf(m, y, mu, sigma, lam):
    return m.logaddexp(m.log_ndtr((mu - y) / sigma), _exp_mod_normal_shift(m, y, mu, sigma, lam))


def _exp_mod_normal_sample(m, key, mu, sigma, lam, shape=None):
    shape = _batch(m, shape, mu, sigma, lam)
    k0, k1 = m.random.split(key)
    return mu + sigma * m.random.normal(k0, shape) + m.random.exponential(k1, shape) / lam


# ---- discrete univariate ----------------------------------------------------------------------------


def _xlogy0(m, x, y):
    """x log y, 0 where x = 0 with a zero (not NaN) gradient in y: a probability of exactly 0 or 1
    (theta = 1 where every y is 1) is a valid point of the density, and of its gradient."""
    return m.xlogy(x, m.where(x == 0, 1.0, y))


def _xlog1py0(m, x, y):
    return m.xlog1py(x, m.where(x == 0, 0.0, y))


def _bernoulli_lpmf(m, y, theta):
    y = y * 1.0  # JAX's xlogy cannot differentiate through an integer first argument
    return _xlogy0(m, y, theta) + _xlog1py0(m, 1.0 - y, -theta)


def _bernoulli_lcdf(m, y, theta):
    return m.where(y < 0, -m.inf, m.where(y < 1, m.log1p(-theta), 0.0))


def _bernoulli_lccdf(m, y, theta):
    return m.where(y < 0, 0.0, m.where(y < 1, m.log(theta), -m.inf))


def _bernoulli_sample(m, key, theta, shape=None):
    return _ints(m, m.random.bernoulli(key, theta, _batch(m, shape, theta)))


def _bernoulli_logit_lpmf(m, y, alpha):
    return y * m.log_expit(alpha) + (1 - y) * m.log_expit(-alpha)


def _bernoulli_logit_sample(m, key, alpha, shape=None):
    return _bernoulli_sample(m, key, m.expit(alpha), shape)


def _binomial_lpmf(m, n, N, theta):
    n, N = n * 1.0, N * 1.0
    return _lchoose(m, N, n) + _xlogy0(m, n, theta) + _xlog1py0(m, N - n, -theta)


def _binomial_lcdf(m, n, N, theta):
    # P(Y <= n) = I_{1-theta}(N - n, n + 1); the shape arguments are kept valid where unused.
    inside = (n >= 0) & (n < N)
    a = m.where(inside, N - n, 1)
    b = m.where(inside, n + 1, 1)
    value = m.log(m.betainc(a * 1.0, b * 1.0, 1.0 - theta))
    return m.where(n < 0, -m.inf, m.where(n >= N, 0.0, value))


def _binomial_lccdf(m, n, N, theta):
    inside = (n >= 0) & (n < N)
    a = m.where(inside, n + 1, 1)
    b = m.where(inside, N - n, 1)
    value = m.log(m.betainc(a * 1.0, b * 1.0, theta))
    return m.where(n < 0, 0.0, m.where(n >= N, -m.inf, value))


def _binomial_sample(m, key, N, theta, shape=None):
    shape = _batch(m, shape, N, theta)
    return _ints(m, m.random.binomial(key, _param(m, N, shape), _param(m, theta, shape),
                                      shape))


def _binomial_logit_lpmf(m, n, N, alpha):
    return _lchoose(m, N, n) + n * m.log_expit(alpha) + (N - n) * m.log_expit(-alpha)


def _binomial_logit_sample(m, key, N, alpha, shape=None):
    return _binomial_sample(m, key, N, m.expit(alpha), shape)


def _beta_binomial_lpmf(m, n, N, alpha, beta):
    return _lchoose(m, N, n) + m.betaln(n + alpha, N - n + beta) - m.betaln(alpha, beta)


def _beta_binomial_tail(m, n, N, alpha, beta, upper: bool):
    """log P(Y <= n), or log P(Y > n) when `upper`, by summing the pmf over 0..max(N), a grid
    read from the (integer, hence static) trial counts. The sum always keeps one outcome, so an
    empty tail is set to its value afterwards with finite gradients."""
    n, N, alpha, beta = m.broadcast_arrays(*(m.asarray(a) for a in (n, N, alpha, beta)))
    k = m.arange(int(m.max(N)) + 1)
    kk, NN = k * 1.0, N[..., None]
    possible = k <= NN
    lp = _beta_binomial_lpmf(m, m.where(possible, kk, 0.0), NN * 1.0, alpha[..., None] * 1.0,
                             beta[..., None] * 1.0)
    if upper:
        keep = k > m.minimum(n, N - 1)[..., None]
    else:
        keep = k <= m.maximum(n, 0)[..., None]
    value = m.logsumexp(m.where(possible & keep, lp, -m.inf), axis=-1)
    if upper:
        return m.where(n >= N, -m.inf, m.where(n < 0, 0.0, value))
    return m.where(n < 0, -m.inf, m.where(n >= N, 0.0, value))


def _beta_binomial_lcdf(m, n, N, alpha, beta):
    return _beta_binomial_tail(m, n, N, alpha, beta, upper=False)


def _beta_binomial_lccdf(m, n, N, alpha, beta):
    return _beta_binomial_tail(m, n, N, alpha, beta, upper=True)


def _beta_binomial_sample(m, key, N, alpha, beta, shape=None):
    shape = _batch(m, shape, N, alpha, beta)
    k0, k1 = m.random.split(key)
    return _binomial_sample(m, k1, N, _beta_sample(m, k0, alpha, beta, shape), shape)


def _poisson_lpmf(m, n, lam):
    return m.xlogy(n * 1.0, lam) - lam - m.gammaln(n + 1.0)


def _poisson_lcdf(m, n, lam):
    value = m.log(m.gammaincc(m.maximum(n, 0) + 1.0, lam))
    return m.where(n < 0, -m.inf, value)


def _poisson_lccdf(m, n, lam):
    value = m.log(m.gammainc(m.maximum(n, 0) + 1.0, lam))
    return m.where(n < 0, 0.0, value)


def _poisson_sample(m, key, lam, shape=None):
    shape = _batch(m, shape, lam)
    return _ints(m, m.random.poisson(key, _param(m, lam, shape), shape))


def _poisson_log_lpmf(m, n, alpha):
    return n * alpha - m.exp(alpha) - m.gammaln(n + 1.0)


def _poisson_log_sample(m, key, alpha, shape=None):
    return _poisson_sample(m, key, m.exp(alpha), shape)


def _nb_counts_term(m, n, phi):
    """log of Gamma(n + phi) / (Gamma(n + 1) Gamma(phi)): the ways of arranging the counts."""
    return m.gammaln(n + phi) - m.gammaln(n + 1.0) - m.gammaln(phi)


def _neg_binomial_2_lpmf(m, n, mu, phi):
    # phi log(phi / (mu + phi)) written as -phi log1p(mu / phi): exact when phi >> mu (near Poisson).
    return (_nb_counts_term(m, n, phi) + m.xlogy(n * 1.0, mu) - n * m.log(mu + phi)
            - phi * m.log1p(mu / phi))


def _neg_binomial_2_lcdf(m, n, mu, phi):
    value = m.log(m.betainc(phi, m.maximum(n, 0) + 1.0, phi / (mu + phi)))
    return m.where(n < 0, -m.inf, value)


def _neg_binomial_2_lccdf(m, n, mu, phi):
    value = m.log(m.betainc(m.maximum(n, 0) + 1.0, phi, mu / (mu + phi)))
    return m.where(n < 0, 0.0, value)


def _neg_binomial_2_sample(m, key, mu, phi, shape=None):
    shape = _batch(m, shape, mu, phi)
    k0, k1 = m.random.split(key)
    rate = m.random.gamma(k0, _param(m, phi, shape), shape) * mu / phi
    return _poisson_sample(m, k1, rate, shape)


def _neg_binomial_2_log_lpmf(m, n, eta, phi):
    log_phi = m.log(phi)
    s = _softplus(m, eta - log_phi)  # log(mu + phi) - log(phi)
    return _nb_counts_term(m, n, phi) + n * (eta - log_phi) - (n + phi) * s


def _neg_binomial_2_log_sample(m, key, eta, phi, shape=None):
    return _neg_binomial_2_sample(m, key, m.exp(eta), phi, shape)


def _neg_binomial_lpmf(m, n, alpha, beta):
    return (_nb_counts_term(m, n, alpha) + alpha * (m.log(beta) - m.log1p(beta))
            - n * m.log1p(beta))


def _neg_binomial_lcdf(m, n, alpha, beta):
    value = m.log(m.betainc(alpha, m.maximum(n, 0) + 1.0, beta / (1.0 + beta)))
    return m.where(n < 0, -m.inf, value)


def _neg_binomial_lccdf(m, n, alpha, beta):
    value = m.log(m.betainc(m.maximum(n, 0) + 1.0, alpha, 1.0 / (1.0 + beta)))
    return m.where(n < 0, 0.0, value)


def _neg_binomial_sample(m, key, alpha, beta, shape=None):
    shape = _batch(m, shape, alpha, beta)
    k0, k1 = m.random.split(key)
    rate = m.random.gamma(k0, _param(m, alpha, shape), shape) / beta
    return _poisson_sample(m, k1, rate, shape)


def _categorical_lpmf(m, y, theta):
    return _pick(m, m.log(theta), y)


def _categorical_logit_lpmf(m, y, beta):
    return _pick(m, m.log_softmax(beta, axis=-1), y)


def _categorical_logit_sample(m, key, beta, shape=None):
    batch = tuple(m.shape(beta)[:-1]) if shape is None else tuple(shape)
    return _ints(m, m.random.categorical(key, beta, axis=-1, shape=batch)) + 1


def _categorical_sample(m, key, theta, shape=None):
    return _categorical_logit_sample(m, key, m.log(theta), shape)


def _ordered_parts(m, k, c):
    """The cutpoints either side of outcome k (c_{k-1}, c_k), clipped to valid positions, and
    whether k is the first or the last outcome."""
    n_cuts = m.shape(c)[-1]
    lower = _pick(m, c, m.clip(k - 1, 1, n_cuts))
    upper = _pick(m, c, m.clip(k, 1, n_cuts))
    return lower, upper, k <= 1, k >= n_cuts + 1


def _ordered_logistic_lpmf(m, k, eta, c):
    lower, upper, first, last = _ordered_parts(m, k, c)
    # P = inv_logit(eta - c_{k-1}) - inv_logit(eta - c_k)
    #   = inv_logit(eta - c_{k-1}) inv_logit(c_k - eta) (1 - exp(c_{k-1} - c_k)).
    gap = m.where(first | last, -1.0, lower - upper)
    middle = m.log_expit(eta - lower) + m.log_expit(upper - eta) + _log1m_exp(m, gap)
    return m.where(first, m.log_expit(upper - eta), m.where(last, m.log_expit(eta - lower), middle))


def _ordered_probit_lpmf(m, k, eta, c):
    lower, upper, first, last = _ordered_parts(m, k, c)
    # log(Phi(b) - Phi(a)), a < b; reflected when both lie in the upper tail to keep precision.
    a, b = lower - eta, upper - eta
    flip = a > 0
    hi = m.where(flip, -a, b)
    lo = m.where(flip, -b, a)
    lo = m.where(first | last, hi - 1.0, lo)
    middle = _log_diff_exp(m, m.log_ndtr(hi), m.log_ndtr(lo))
    return m.where(first, m.log_ndtr(b), m.where(last, m.log_ndtr(-a), middle))


def _ordered_sample(noise):
    def sample(m, key, eta, c, shape=None):
        batch = _batch(m, shape, eta, c[..., 0])
        latent = eta + getattr(m.random, noise)(key, batch)
        return _ints(m, m.sum(latent[..., None] > c, axis=-1)) + 1
    return sample


# ---- multivariate ---------------------------------------------------------------------------------


def _dirichlet_lpdf(m, theta, alpha):
    return (m.sum(m.xlogy(alpha - 1.0, theta), axis=-1) + m.gammaln(m.sum(alpha, axis=-1))
            - m.sum(m.gammaln(alpha), axis=-1))


def _dirichlet_sample(m, key, alpha, shape=None):
    batch = tuple(m.shape(alpha)[:-1]) if shape is None else tuple(shape)[:-1]
    return m.random.dirichlet(key, alpha, batch)


def _solve_lower_rows(m, L, d):
    """z with L z = d for every vector d[..., :] (one Cholesky factor, or one per vector)."""
    K = m.shape(d)[-1]
    if m.ndim(L) == 2:
        flat = m.reshape(d, (-1, K))
        z = m.solve_triangular(L, m.transpose(flat), lower=True)
        return m.reshape(m.transpose(z), m.shape(d))
    batch = tuple(m.broadcast_shapes(m.shape(L)[:-2], m.shape(d)[:-1]))
    Lb = m.broadcast_to(L, batch + (K, K))
    db = m.broadcast_to(d, batch + (K,))
    return m.solve_triangular(Lb, db[..., None], lower=True)[..., 0]


def _half_log_det(m, L):
    return m.sum(m.log(m.diagonal(L, axis1=-2, axis2=-1)), axis=-1)


def _mahalanobis(m, y, mu, L):
    z = _solve_lower_rows(m, L, y - mu)
    return m.sum(z * z, axis=-1)


def _multi_normal_cholesky_lpdf(m, y, mu, L):
    K = m.shape(L)[-1]
    return -0.5 * K * _LOG_2PI - _half_log_det(m, L) - 0.5 * _mahalanobis(m, y, mu, L)


def _multi_normal_lpdf(m, y, mu, Sigma):
    return _multi_normal_cholesky_lpdf(m, y, mu, m.cholesky(Sigma))


def _event_batch(m, shape, *vectors):
    if shape is not None:
        return tuple(shape)
    return tuple(m.broadcast_shapes(*(m.shape(v) for v in vectors)))


def _multi_normal_cholesky_sample(m, key, mu, L, shape=None):
    shape = _event_batch(m, shape, mu, L[..., 0])
    z = m.random.normal(key, shape)
    return mu + m.einsum("...ij,...j->...i", L, z)


def _multi_normal_sample(m, key, mu, Sigma, shape=None):
    return _multi_normal_cholesky_sample(m, key, mu, m.cholesky(Sigma), shape)


def _multi_student_t_cholesky_lpdf(m, y, nu, mu, L):
    K = m.shape(L)[-1]
    q = _mahalanobis(m, y, mu, L)
    return (m.gammaln(0.5 * (nu + K)) - m.gammaln(0.5 * nu) - 0.5 * K * m.log(nu * math.pi)
            - _half_log_det(m, L) - 0.5 * (nu + K) * m.log1p(q / nu))


def _multi_student_t_lpdf(m, y, nu, mu, Sigma):
    return _multi_student_t_cholesky_lpdf(m, y, nu, mu, m.cholesky(Sigma))


def _multi_student_t_cholesky_sample(m, key, nu, mu, L, shape=None):
    k0, k1 = m.random.split(key)
    y = _multi_normal_cholesky_sample(m, k0, 0.0 * mu, L, shape)
    w = m.random.gamma(k1, _param(m, 0.5 * nu, m.shape(y)[:-1]), m.shape(y)[:-1]) * 2.0 / nu
    return mu + y / m.sqrt(w)[..., None]


def _multi_student_t_sample(m, key, nu, mu, Sigma, shape=None):
    return _multi_student_t_cholesky_sample(m, key, nu, mu, m.cholesky(Sigma), shape)


def _lkj_row_powers(m, eta, K):
    """For rows i = 2..K of the Cholesky factor: half the row's free dimension, and the power p_i
    with density (1 - |w_i|^2)^p_i on the row's free part w_i (which lies in the unit ball)."""
    i = m.arange(2, K + 1) * 1.0
    half_dim = 0.5 * (i - 1.0)
    p = 0.5 * (K - i + 2.0 * m.asarray(eta)[..., None] - 2.0)
    return half_dim, p


def lkj_log_normaliser(m, eta, K: int):
    """log of the LKJ(eta) normalising constant for K x K correlation matrices.

    The density of a Cholesky factor factorises over rows, each a unit-ball density proportional to
    (1 - |w|^2)^p with integral pi^(d/2) Gamma(p + 1) / Gamma(p + 1 + d/2); the constant is the
    product of those integrals (equal to Lewandowski, Kurowicka and Joe's c_K).
    """
    half_dim, p = _lkj_row_powers(m, eta, K)
    log_ball = half_dim * _LOG_PI + m.gammaln(p + 1.0) - m.gammaln(p + 1.0 + half_dim)
    return -m.sum(log_ball, axis=-1)


def _lkj_corr_cholesky_lpdf(m, L, eta):
    K = m.shape(L)[-1]
    log_diag = m.log(m.diagonal(L, axis1=-2, axis2=-1)[..., 1:])
    i = m.arange(2, K + 1) * 1.0
    power = K - i + 2.0 * m.asarray(eta)[..., None] - 2.0
    return m.sum(power * log_diag, axis=-1) + lkj_log_normaliser(m, eta, K)


def _lkj_corr_lpdf(m, y, eta):
    return (eta - 1.0) * m.slogdet(y)[1] + lkj_log_normaliser(m, eta, m.shape(y)[-1])


def _lkj_corr_cholesky_sample(m, key, eta, shape=None):
    """Exact draws, row by row: |w_i|^2 ~ Beta(d/2, p_i + 1), direction uniform on the sphere."""
    if shape is None or len(shape) < 2:
        raise LibraryError("lkj_corr_cholesky draws need shape (..., K, K)", code="library.shape")
    shape = tuple(shape)
    batch, K = shape[:-2], shape[-1]
    half_dim, p = _lkj_row_powers(m, m.broadcast_to(eta, batch), K)
    keys = m.random.split(key, 2 * K)
    rows = [m.zeros(batch + (K,)) + m.where(m.arange(K) == 0, 1.0, 0.0)]
    for r in range(1, K):
        r2 = _beta_sample(m, keys[2 * r], half_dim[..., r - 1], p[..., r - 1] + 1.0, batch)
        u = m.random.normal(keys[2 * r + 1], batch + (r,))
        w = u / m.sqrt(m.sum(u * u, axis=-1, keepdims=True)) * m.sqrt(r2)[..., None]
        rows.append(m.concatenate([w, m.sqrt(1.0 - r2)[..., None], m.zeros(batch + (K - r - 1,))], axis=-1))
    return m.stack(rows, axis=-2)


def _lkj_corr_sample(m, key, eta, shape=None):
    L = _lkj_corr_cholesky_sample(m, key, eta, shape)
    return m.einsum("...ij,...kj->...ik", L, L)


def _multi_normal_prec_lpdf(m, y, mu, omega):
    K = m.shape(omega)[-1]
    d = y - mu
    quad = m.einsum("...i,ij,...j->...", d, omega, d)
    return -0.5 * K * _LOG_2PI + 0.5 * m.slogdet(omega)[1] - 0.5 * quad


def _multi_normal_prec_sample(m, key, mu, omega, shape=None):
    return _multi_normal_sample(m, key, mu, m.inv(omega), shape)


def _wishart_lpdf(m, w, nu, sigma):
    K = m.shape(sigma)[-1]
    trace = m.trace(m.solve(sigma, w))
    return (0.5 * (nu - K - 1.0) * m.slogdet(w)[1] - 0.5 * trace - 0.5 * nu * K * _LOG2
            - 0.5 * nu * m.slogdet(sigma)[1] - m.multigammaln(0.5 * nu, K))


def _inv_wishart_lpdf(m, w, nu, sigma):
    K = m.shape(sigma)[-1]
    trace = m.trace(m.solve(w, sigma))
    return (0.5 * nu * m.slogdet(sigma)[1] - 0.5 * nu * K * _LOG2 - m.multigammaln(0.5 * nu, K)
            - 0.5 * (nu + K + 1.0) * m.slogdet(w)[1] - 0.5 * trace)


def _wishart_sample(m, key, nu, sigma, shape=None):
    """Bartlett's construction: L A A' L' with L = chol(sigma), A lower triangular, A_ii^2 ~
    chi-square(nu - i + 1) and standard normals below the diagonal."""
    K = m.shape(sigma)[-1]
    k0, k1 = m.random.split(key)
    dof = nu - m.arange(K) * 1.0
    diag = m.sqrt(2.0 * m.random.gamma(k0, 0.5 * dof, (K,)))
    below = m.tril(m.random.normal(k1, (K, K)), -1)
    a = m.cholesky(sigma) @ (below + m.diag(diag))
    return a @ m.transpose(a)


def _inv_wishart_sample(m, key, nu, sigma, shape=None):
    return m.inv(_wishart_sample(m, key, nu, m.inv(sigma), shape))


def _multinomial_lpmf(m, y, theta):
    y = y * 1.0
    return (m.gammaln(m.sum(y, axis=-1) + 1.0) - m.sum(m.gammaln(y + 1.0), axis=-1)
            + m.sum(m.xlogy(y, theta), axis=-1))


def _multinomial_logit_lpmf(m, y, gamma):
    return _multinomial_lpmf(m, y, m.softmax(gamma, axis=-1))


def _multinomial_sample(m, key, theta, *trials, shape=None):
    """multinomial_rng(theta, N) by successive binomials: each count out of what the earlier
    categories left, with the probability renormalised over the categories still open."""
    if not trials:
        raise LibraryError("multinomial draws need the number of trials N (multinomial_rng(theta, N)); "
                           "a `y ~ multinomial(theta)` statement cannot be simulated forward",
                           code="library.not_generative")
    theta = m.as_float(theta)
    K = m.shape(theta)[-1]
    left = m.as_float(trials[0])
    remaining = 1.0
    counts = []
    for k, sub in enumerate(m.random.split(key, K - 1)):
        p = m.clip(theta[k] / m.maximum(remaining, 1e-300), 0.0, 1.0)
        draw = m.random.binomial(sub, left, p)
        counts.append(draw)
        left, remaining = left - draw, remaining - theta[k]
    return _ints(m, m.stack(counts + [left]))


def _multinomial_logit_sample(m, key, gamma, *trials, shape=None):
    return _multinomial_sample(m, key, m.softmax(gamma, axis=-1), *trials, shape=shape)


def _dlm_diagonal(m, v):
    return m.diag(v) if m.ndim(v) == 1 else v


def _gaussian_dlm_obs_lpdf(m, y, F, G, V, W, m0, C0):
    """log p(y) of the dynamic linear model y_t ~ N(F' theta_t, V), theta_t ~ N(G theta_{t-1}, W),
    theta_0 ~ N(m0, C0), by the Kalman filter (y holds one observation vector per column)."""
    V = _dlm_diagonal(m, V)
    mean, cov, lp = m0, C0, 0.0
    for t in range(m.shape(y)[1]):
        a = G @ mean
        R = G @ cov @ m.transpose(G) + W
        Q = m.transpose(F) @ R @ F + V
        e = y[:, t] - m.transpose(F) @ a
        L = m.cholesky(Q)
        lp = lp + _multi_normal_cholesky_lpdf(m, e, 0.0 * e, L)
        gain = m.transpose(m.solve(Q, m.transpose(R @ F)))
        mean = a + gain @ e
        cov = R - gain @ Q @ m.transpose(gain)
        cov = 0.5 * (cov + m.transpose(cov))
    return lp


# ---- regressions: the _glm forms ------------------------------------------------------------------


def _linear(m, x, alpha, beta):
    return alpha + x @ beta


def _normal_id_glm_lpdf(m, y, x, alpha, beta, sigma):
    return _normal_lpdf(m, y, _linear(m, x, alpha, beta), sigma)


def _normal_id_glm_sample(m, key, x, alpha, beta, sigma, shape=None):
    return _normal_sample(m, key, _linear(m, x, alpha, beta), sigma, shape)


def _bernoulli_logit_glm_lpmf(m, y, x, alpha, beta):
    return _bernoulli_logit_lpmf(m, y, _linear(m, x, alpha, beta))


def _bernoulli_logit_glm_sample(m, key, x, alpha, beta, shape=None):
    return _bernoulli_logit_sample(m, key, _linear(m, x, alpha, beta), shape)


def _poisson_log_glm_lpmf(m, y, x, alpha, beta):
    return _poisson_log_lpmf(m, y, _linear(m, x, alpha, beta))


def _poisson_log_glm_sample(m, key, x, alpha, beta, shape=None):
    return _poisson_log_sample(m, key, _linear(m, x, alpha, beta), shape)


def _neg_binomial_2_log_glm_lpmf(m, y, x, alpha, beta, phi):
    return _neg_binomial_2_log_lpmf(m, y, _linear(m, x, alpha, beta), phi)


def _neg_binomial_2_log_glm_sample(m, key, x, alpha, beta, phi, shape=None):
    return _neg_binomial_2_log_sample(m, key, _linear(m, x, alpha, beta), phi, shape)


def _binomial_logit_glm_lpmf(m, n, N, x, alpha, beta):
    return _binomial_logit_lpmf(m, n, N, _linear(m, x, alpha, beta))


def _binomial_logit_glm_sample(m, key, N, x, alpha, beta, shape=None):
    return _binomial_logit_sample(m, key, N, _linear(m, x, alpha, beta), shape)


def _ordered_logistic_glm_lpmf(m, y, x, beta, cuts):
    return _ordered_logistic_lpmf(m, y, x @ beta, cuts)


def _ordered_logistic_glm_sample(m, key, x, beta, cuts, shape=None):
    return _ordered_sample("logistic")(m, key, x @ beta, cuts, shape)


def _categorical_logit_glm_lpmf(m, y, x, alpha, beta):
    return _categorical_logit_lpmf(m, y, _linear(m, x, alpha, beta))


def _categorical_logit_glm_sample(m, key, x, alpha, beta, shape=None):
    return _categorical_logit_sample(m, key, _linear(m, x, alpha, beta), shape)


# ---- Pareto families -----------------------------------------------------------------------------


def _pareto_lpdf(m, y, y_min, alpha):
    value = m.log(alpha) + alpha * m.log(y_min) - (alpha + 1.0) * m.log(y)
    return m.where(y < y_min, -m.inf, value)


def _pareto_log_tail(m, y, y_min, alpha):
    """log P(Y > y) for y >= y_min: alpha log(y_min / y)."""
    return alpha * (m.log(y_min) - m.log(m.maximum(y, y_min)))


def _pareto_lcdf(m, y, y_min, alpha):
    tail = _pareto_log_tail(m, y, y_min, alpha)
    inside = y > y_min
    return m.where(inside, _log1m_exp(m, m.where(inside, tail, -1.0)), -m.inf)


def _pareto_lccdf(m, y, y_min, alpha):
    return _pareto_log_tail(m, y, y_min, alpha)


def _pareto_sample(m, key, y_min, alpha, shape=None):
    return y_min * m.exp(m.random.exponential(key, _batch(m, shape, y_min, alpha)) / alpha)


def _pareto_type_2_lpdf(m, y, mu, lam, alpha):
    value = m.log(alpha) - m.log(lam) - (alpha + 1.0) * m.log1p((y - mu) / lam)
    return m.where(y < mu, -m.inf, value)


def _pareto_type_2_lccdf(m, y, mu, lam, alpha):
    return -alpha * m.log1p(m.maximum(y - mu, 0.0) / lam)


def _pareto_type_2_lcdf(m, y, mu, lam, alpha):
    inside = y > mu
    tail = _pareto_type_2_lccdf(m, y, mu, lam, alpha)
    return m.where(inside, _log1m_exp(m, m.where(inside, tail, -1.0)), -m.inf)


def _pareto_type_2_sample(m, key, mu, lam, alpha, shape=None):
    e = m.random.exponential(key, _batch(m, shape, mu, lam, alpha))
    return mu + lam * m.expm1(e / alpha)


def _skew_normal_cdf_parts(m, y, xi, omega, alpha):
    z = (y - xi) / omega
    return z, 2.0 * m.owens_t(z, alpha)


def _skew_normal_lcdf(m, y, xi, omega, alpha):
    z, t = _skew_normal_cdf_parts(m, y, xi, omega, alpha)
    return m.log(m.ndtr(z) - t)


def _skew_normal_lccdf(m, y, xi, omega, alpha):
    z, t = _skew_normal_cdf_parts(m, y, xi, omega, alpha)
    return m.log(m.ndtr(-z) + t)


# ---- the distribution table ---------------------------------------------------------------------------


def _dist(name, variate, args, lpdf, lcdf=None, lccdf=None, sample=None, *, multivariate=False,
          numpyro="", pymc="", overloads=(), rng_args=None, rng_returns=None, rng=True) -> Distribution:
    return Distribution(name=name, args=tuple(args), variate=variate, lpdf=lpdf, lcdf=lcdf, lccdf=lccdf,
                        sample=sample, multivariate=multivariate, stan=name, numpyro=numpyro, pymc=pymc,
                        overloads=tuple(s for text in overloads for s in expand(text + " -> real")),
                        rng_args=None if rng_args is None else tuple(rng_args), rng_returns=rng_returns,
                        rng=rng and sample is not None)


def _y(support=REAL_LINE, name="y"):
    return Arg(name, "reals", support)


def _n(support=COUNTS, name="n"):
    return Arg(name, "ints", support)


def _r(name, support=REAL_LINE):
    return Arg(name, "reals", support)


_LOC, _SCALE = _r("mu"), _r("sigma", POSITIVE)

_SIMPLEX = Structure("simplex")
_ORDERED = Structure("ordered")
_COV = Structure("cov_matrix")
_CUTS = Arg("c", "vector|array[] vector", _ORDERED)
_CUTS_ONE = Arg("c", "vector", _ORDERED)
_ETA = Arg("eta", "real", POSITIVE)
_LKJ_SIZE = Arg("K", "int", POSITIVE_INTS)
_TRIALS = Arg("N", "int", COUNTS)
_GLM_X = Arg("x", "row_vector|matrix")
_GLM_ALPHA = Arg("alpha", "real|vector")
_GLM_BETA = Arg("beta", "vector")
_GLM_COUNTS = ("int, matrix, real|vector, vector", "array[] int, row_vector|matrix, real|vector, vector")

_DISTRIBUTION_LIST = (
    _dist("normal", _y(), (_LOC, _SCALE), _normal_lpdf, _normal_lcdf, _normal_lccdf, _normal_sample,
          numpyro="Normal", pymc="Normal"),
    _dist("std_normal", _y(), (), _std_normal_lpdf, _std_normal_lcdf, _std_normal_lccdf,
          _std_normal_sample, numpyro="Normal", pymc="Normal"),
    _dist("student_t", _y(), (_r("nu", POSITIVE), _LOC, _SCALE), _student_t_lpdf, _student_t_lcdf,
          _student_t_lccdf, _student_t_sample, numpyro="StudentT", pymc="StudentT"),
    _dist("cauchy", _y(), (_LOC, _SCALE), _cauchy_lpdf, _cauchy_lcdf, _cauchy_lccdf, _cauchy_sample,
          numpyro="Cauchy", pymc="Cauchy"),
    _dist("double_exponential", _y(), (_LOC, _SCALE), _double_exponential_lpdf,
          _double_exponential_lcdf, _double_exponential_lccdf, _double_exponential_sample,
          numpyro="Laplace", pymc="Laplace"),
    _dist("logistic", _y(), (_LOC, _SCALE), _logistic_lpdf, _logistic_lcdf, _logistic_lccdf,
          _logistic_sample, numpyro="Logistic", pymc="Logistic"),
    _dist("lognormal", _y(POSITIVE), (_LOC, _SCALE), _lognormal_lpdf, _lognormal_lcdf,
          _lognormal_lccdf, _lognormal_sample, numpyro="LogNormal", pymc="LogNormal"),
    _dist("exponential", _y(NONNEGATIVE), (_r("beta", POSITIVE),), _exponential_lpdf,
          _exponential_lcdf, _exponential_lccdf, _exponential_sample,
          numpyro="Exponential", pymc="Exponential"),
    _dist("gamma", _y(POSITIVE), (_r("alpha", POSITIVE), _r("beta", POSITIVE)), _gamma_lpdf,
          _gamma_lcdf, _gamma_lccdf, _gamma_sample, numpyro="Gamma", pymc="Gamma"),
    _dist("inv_gamma", _y(POSITIVE), (_r("alpha", POSITIVE), _r("beta", POSITIVE)), _inv_gamma_lpdf,
          _inv_gamma_lcdf, _inv_gamma_lccdf, _inv_gamma_sample,
          numpyro="InverseGamma", pymc="InverseGamma"),
    _dist("weibull", _y(POSITIVE), (_r("alpha", POSITIVE), _r("sigma", POSITIVE)), _weibull_lpdf,
          _weibull_lcdf, _weibull_lccdf, _weibull_sample, numpyro="Weibull", pymc="Weibull"),
    _dist("beta", _y(UNIT_OPEN, "theta"), (_r("alpha", POSITIVE), _r("beta", POSITIVE)), _beta_lpdf,
          _beta_lcdf, _beta_lccdf, _beta_sample, numpyro="Beta", pymc="Beta"),
    _dist("uniform", _y(), (_r("alpha"), _r("beta")), _uniform_lpdf, _uniform_lcdf, _uniform_lccdf,
          _uniform_sample, numpyro="Uniform", pymc="Uniform"),
    _dist("gumbel", _y(), (_LOC, _r("beta", POSITIVE)), _gumbel_lpdf, _gumbel_lcdf, _gumbel_lccdf,
          _gumbel_sample, numpyro="Gumbel", pymc="Gumbel"),
    _dist("chi_square", _y(POSITIVE), (_r("nu", POSITIVE),), _chi_square_lpdf, _chi_square_lcdf,
          _chi_square_lccdf, _chi_square_sample, numpyro="Chi2", pymc="ChiSquared"),
    _dist("inv_chi_square", _y(POSITIVE), (_r("nu", POSITIVE),), _inv_chi_square_lpdf,
          _inv_chi_square_lcdf, _inv_chi_square_lccdf, _inv_chi_square_sample),
    _dist("scaled_inv_chi_square", _y(POSITIVE), (_r("nu", POSITIVE), _r("sigma", POSITIVE)),
          _scaled_inv_chi_square_lpdf, _scaled_inv_chi_square_lcdf, _scaled_inv_chi_square_lccdf,
          _scaled_inv_chi_square_sample),
    _dist("skew_normal", _y(), (_r("xi"), _r("omega", POSITIVE), _r("alpha")), _skew_normal_lpdf,
          _skew_normal_lcdf, _skew_normal_lccdf, _skew_normal_sample, pymc="SkewNormal"),
    _dist("exp_mod_normal", _y(), (_LOC, _SCALE, _r("lambda", POSITIVE)), _exp_mod_normal_lpdf,
          _exp_mod_normal_lcdf, _exp_mod_normal_lccdf, _exp_mod_normal_sample, pymc="ExGaussian"),
    # discrete
    _dist("bernoulli", _n(BINARY, "y"), (_r("theta", UNIT_CLOSED),), _bernoulli_lpmf,
          _bernoulli_lcdf, _bernoulli_lccdf, _bernoulli_sample,
          numpyro="BernoulliProbs", pymc="Bernoulli"),
    _dist("bernoulli_logit", _n(BINARY, "y"), (_r("alpha"),), _bernoulli_logit_lpmf,
          sample=_bernoulli_logit_sample, numpyro="BernoulliLogits", pymc="Bernoulli"),
    _dist("binomial", _n(), (_n(COUNTS, "N"), _r("theta", UNIT_CLOSED)), _binomial_lpmf,
          _binomial_lcdf, _binomial_lccdf, _binomial_sample, numpyro="BinomialProbs", pymc="Binomial"),
    _dist("binomial_logit", _n(), (_n(COUNTS, "N"), _r("alpha")), _binomial_logit_lpmf,
          sample=_binomial_logit_sample, numpyro="BinomialLogits", pymc="Binomial", rng=False),
    _dist("beta_binomial", _n(), (_n(COUNTS, "N"), _r("alpha", POSITIVE), _r("beta", POSITIVE)),
          _beta_binomial_lpmf, _beta_binomial_lcdf, _beta_binomial_lccdf, _beta_binomial_sample,
          numpyro="BetaBinomial", pymc="BetaBinomial"),
    _dist("poisson", _n(), (_r("lambda", NONNEGATIVE),), _poisson_lpmf, _poisson_lcdf, _poisson_lccdf,
          _poisson_sample, numpyro="Poisson", pymc="Poisson"),
    _dist("poisson_log", _n(), (_r("alpha"),), _poisson_log_lpmf, sample=_poisson_log_sample,
          numpyro="Poisson", pymc="Poisson"),
    _dist("neg_binomial", _n(), (_r("alpha", POSITIVE), _r("beta", POSITIVE)), _neg_binomial_lpmf,
          _neg_binomial_lcdf, _neg_binomial_lccdf, _neg_binomial_sample,
          numpyro="GammaPoisson", pymc="NegativeBinomial"),
    _dist("neg_binomial_2", _n(), (_r("mu", POSITIVE), _r("phi", POSITIVE)), _neg_binomial_2_lpmf,
          _neg_binomial_2_lcdf, _neg_binomial_2_lccdf, _neg_binomial_2_sample,
          numpyro="NegativeBinomial2", pymc="NegativeBinomial"),
    _dist("neg_binomial_2_log", _n(), (_r("eta"), _r("phi", POSITIVE)), _neg_binomial_2_log_lpmf,
          sample=_neg_binomial_2_log_sample, numpyro="NegativeBinomial2", pymc="NegativeBinomial"),
    _dist("categorical", _n(POSITIVE_INTS, "y"), (Arg("theta", "vector", _SIMPLEX),),
          _categorical_lpmf, sample=_categorical_sample, numpyro="CategoricalProbs", pymc="Categorical"),
    _dist("categorical_logit", _n(POSITIVE_INTS, "y"), (Arg("beta", "vector"),),
          _categorical_logit_lpmf, sample=_categorical_logit_sample,
          numpyro="CategoricalLogits", pymc="Categorical"),
    _dist("ordered_logistic", _n(POSITIVE_INTS, "k"), (Arg("eta", "real|vector"), _CUTS),
          _ordered_logistic_lpmf, sample=_ordered_sample("logistic"),
          numpyro="OrderedLogistic", pymc="OrderedLogistic",
          overloads=("int, real, vector", "array[] int, vector, vector|array[] vector"),
          rng_args=(Arg("eta", "real"), _CUTS_ONE)),
    _dist("ordered_probit", _n(POSITIVE_INTS, "k"), (Arg("eta", "real|vector"), _CUTS),
          _ordered_probit_lpmf, sample=_ordered_sample("normal"), pymc="OrderedProbit",
          overloads=("int, real, vector", "array[] int, real|vector, vector|array[] vector"),
          rng_args=(Arg("eta", "real"), _CUTS_ONE)),
    # multivariate
    _dist("dirichlet", Arg("theta", "vectors", _SIMPLEX), (Arg("alpha", "vectors", POSITIVE),),
          _dirichlet_lpdf, sample=_dirichlet_sample, multivariate=True,
          numpyro="Dirichlet", pymc="Dirichlet", rng_args=(Arg("alpha", "vector", POSITIVE),)),
    _dist("multi_normal", Arg("y", "vectors"),
          (Arg("mu", "vectors"), Arg("Sigma", "matrix", Structure("cov_matrix"))),
          _multi_normal_lpdf, sample=_multi_normal_sample, multivariate=True,
          numpyro="MultivariateNormal", pymc="MvNormal"),
    _dist("multi_normal_cholesky", Arg("y", "vectors"),
          (Arg("mu", "vectors"), Arg("L", "matrix", Structure("cholesky_factor_cov"))),
          _multi_normal_cholesky_lpdf, sample=_multi_normal_cholesky_sample, multivariate=True,
          numpyro="MultivariateNormal", pymc="MvNormal"),
    _dist("multi_student_t", Arg("y", "vectors"),
          (Arg("nu", "real", POSITIVE), Arg("mu", "vectors"),
           Arg("Sigma", "matrix", Structure("cov_matrix"))),
          _multi_student_t_lpdf, sample=_multi_student_t_sample, multivariate=True,
          numpyro="MultivariateStudentT", pymc="MvStudentT"),
    _dist("multi_student_t_cholesky", Arg("y", "vectors"),
          (Arg("nu", "real", POSITIVE), Arg("mu", "vectors"),
           Arg("L", "matrix", Structure("cholesky_factor_cov"))),
          _multi_student_t_cholesky_lpdf, sample=_multi_student_t_cholesky_sample, multivariate=True,
          numpyro="MultivariateStudentT", pymc="MvStudentT"),
    _dist("lkj_corr_cholesky", Arg("L", "matrix", Structure("cholesky_factor_corr")),
          (_ETA,), _lkj_corr_cholesky_lpdf, sample=_lkj_corr_cholesky_sample,
          multivariate=True, numpyro="LKJCholesky", rng_args=(_LKJ_SIZE, _ETA)),
    _dist("lkj_corr", Arg("y", "matrix", Structure("corr_matrix")), (_ETA,),
          _lkj_corr_lpdf, sample=_lkj_corr_sample, multivariate=True, numpyro="LKJ", pymc="LKJCorr",
          rng_args=(_LKJ_SIZE, _ETA)),
    _dist("multi_normal_prec", Arg("y", "vectors"),
          (Arg("mu", "vectors"), Arg("Omega", "matrix", Structure("cov_matrix"))),
          _multi_normal_prec_lpdf, sample=_multi_normal_prec_sample, multivariate=True, rng=False),
    _dist("wishart", Arg("W", "matrix", _COV), (Arg("nu", "real", POSITIVE), Arg("Sigma", "matrix", _COV)),
          _wishart_lpdf, sample=_wishart_sample, multivariate=True, numpyro="Wishart", pymc="Wishart"),
    _dist("inv_wishart", Arg("W", "matrix", _COV), (Arg("nu", "real", POSITIVE), Arg("Sigma", "matrix", _COV)),
          _inv_wishart_lpdf, sample=_inv_wishart_sample, multivariate=True),
    _dist("multinomial", Arg("y", "array[] int", COUNTS), (Arg("theta", "vector", _SIMPLEX),),
          _multinomial_lpmf, sample=_multinomial_sample, multivariate=True, numpyro="MultinomialProbs",
          pymc="Multinomial", rng_args=(Arg("theta", "vector", _SIMPLEX), _TRIALS), rng_returns="array[] int"),
    _dist("multinomial_logit", Arg("y", "array[] int", COUNTS), (Arg("gamma", "vector"),),
          _multinomial_logit_lpmf, sample=_multinomial_logit_sample, multivariate=True,
          numpyro="MultinomialLogits", rng_args=(Arg("gamma", "vector"), _TRIALS), rng_returns="array[] int"),
    _dist("gaussian_dlm_obs", Arg("y", "matrix"),
          (Arg("F", "matrix"), Arg("G", "matrix"), Arg("V", "vector|matrix"), Arg("W", "matrix", _COV),
           Arg("m0", "vector"), Arg("C0", "matrix", _COV)),
          _gaussian_dlm_obs_lpdf, multivariate=True),
    # Pareto families: the variate's lower end is an argument, so only its sign is stated here.
    _dist("pareto", _y(POSITIVE), (_r("y_min", POSITIVE), _r("alpha", POSITIVE)), _pareto_lpdf,
          _pareto_lcdf, _pareto_lccdf, _pareto_sample, numpyro="Pareto", pymc="Pareto"),
    _dist("pareto_type_2", _y(), (_LOC, _r("lambda", POSITIVE), _r("alpha", POSITIVE)), _pareto_type_2_lpdf,
          _pareto_type_2_lcdf, _pareto_type_2_lccdf, _pareto_type_2_sample),
    # regressions: one term per observation, with the linear predictor alpha + x * beta inside
    _dist("normal_id_glm", Arg("y", "real|vector"),
          (_GLM_X, _GLM_ALPHA, _GLM_BETA, Arg("sigma", "real|vector", POSITIVE)),
          _normal_id_glm_lpdf, sample=_normal_id_glm_sample, rng=False,
          overloads=("real, matrix, real|vector, vector, real|vector",
                     "vector, row_vector|matrix, real|vector, vector, real|vector")),
    _dist("bernoulli_logit_glm", _n(BINARY, "y"), (_GLM_X, _GLM_ALPHA, _GLM_BETA),
          _bernoulli_logit_glm_lpmf, sample=_bernoulli_logit_glm_sample, overloads=_GLM_COUNTS,
          rng_args=(_GLM_X, Arg("alpha", "vector"), _GLM_BETA), rng_returns="array[] int"),
    _dist("poisson_log_glm", _n(), (_GLM_X, _GLM_ALPHA, _GLM_BETA), _poisson_log_glm_lpmf,
          sample=_poisson_log_glm_sample, overloads=_GLM_COUNTS, rng=False),
    _dist("neg_binomial_2_log_glm", _n(), (_GLM_X, _GLM_ALPHA, _GLM_BETA, _r("phi", POSITIVE)),
          _neg_binomial_2_log_glm_lpmf, sample=_neg_binomial_2_log_glm_sample, rng=False,
          overloads=tuple(f"{o}, real" for o in _GLM_COUNTS)),
    _dist("binomial_logit_glm", _n(), (_n(COUNTS, "N"), _GLM_X, _GLM_ALPHA, _GLM_BETA),
          _binomial_logit_glm_lpmf, sample=_binomial_logit_glm_sample, rng=False,
          overloads=("int, int, matrix, real|vector, vector", "int, array[] int, matrix, real, vector",
                     "array[] int, int, matrix, real, vector",
                     "array[] int, array[] int, row_vector|matrix, real|vector, vector")),
    _dist("ordered_logistic_glm", _n(POSITIVE_INTS, "y"), (_GLM_X, _GLM_BETA, _CUTS_ONE),
          _ordered_logistic_glm_lpmf, sample=_ordered_logistic_glm_sample, rng=False,
          overloads=("ints, row_vector|matrix, vector, vector",)),
    _dist("categorical_logit_glm", _n(POSITIVE_INTS, "y"), (_GLM_X, Arg("alpha", "vector"),
                                                           Arg("beta", "matrix")),
          _categorical_logit_glm_lpmf, sample=_categorical_logit_glm_sample, rng=False,
          overloads=("ints, row_vector|matrix, vector, matrix",)),
)

DISTRIBUTIONS: dict[str, Distribution] = {d.name: d for d in _DISTRIBUTION_LIST}


# ---- interval maps for the support analysis ----------------------------------------------------


def _scalar(f):
    """`f` on one float, with overflow and log(0) giving infinities instead of exceptions."""
    def g(x: float) -> float:
        with np.errstate(all="ignore"):
            return float(f(np.float64(x)))
    return g


def _fit_lo(lo: float, closed: bool, image: Interval):
    if lo < image.lo:  # past the image's end: the image's own end is the honest bound
        return image.lo, image.lo_closed
    if lo == image.lo:  # sqrt of (0, inf) never reaches 0: an open end stays open
        return lo, closed and image.lo_closed
    if lo >= image.hi:  # rounding saturated a value that is really just inside the image
        return (image.hi, True) if image.hi_closed else (math.nextafter(image.hi, -INF), True)
    return lo, closed


def _fit_hi(hi: float, closed: bool, image: Interval):
    if hi > image.hi:
        return image.hi, image.hi_closed
    if hi == image.hi:
        return hi, closed and image.hi_closed
    if hi <= image.lo:
        return (image.lo, True) if image.lo_closed else (math.nextafter(image.lo, INF), True)
    return hi, closed


def _fit(lo: float, hi: float, lo_closed: bool, hi_closed: bool, image: Interval) -> Interval:
    """[lo, hi] (as mapped in floating point) made consistent with the function's exact image."""
    if math.isnan(lo) or math.isnan(hi) or lo > hi:
        return image
    lo, lo_closed = _fit_lo(lo, lo_closed, image)
    hi, hi_closed = _fit_hi(hi, hi_closed, image)
    return Interval(lo, hi, lo_closed and not math.isinf(lo), hi_closed and not math.isinf(hi))


def _exact(interval_map: Callable) -> Callable:
    """Mark an interval map as exact: the image of an interval is an interval whose ends the function
    reaches (a continuous function of one argument), so excess over a support is real."""
    interval_map.exact = True
    return interval_map


def monotone_increasing(f: Callable, image: Interval = REAL_LINE) -> Callable[..., Interval]:
    """The interval map of an increasing function: map both endpoints, then fit into `image`
    (the set of all values `f` takes, which fixes what floating-point rounding gets wrong)."""
    g = _scalar(f)

    def interval(a: Interval, *_: Interval) -> Interval:
        return _fit(g(a.lo), g(a.hi), a.lo_closed, a.hi_closed, image)
    return _exact(interval)


def monotone_decreasing(f: Callable, image: Interval = REAL_LINE) -> Callable[..., Interval]:
    """The interval map of a decreasing function (endpoints swap)."""
    g = _scalar(f)

    def interval(a: Interval, *_: Interval) -> Interval:
        return _fit(g(a.hi), g(a.lo), a.hi_closed, a.lo_closed, image)
    return _exact(interval)


def constant(result: Interval) -> Callable[..., Interval]:
    """The interval map of a function whose values always lie in `result`."""
    return lambda *_: result


def _first(a: Interval, *_: Interval) -> Interval:
    return a


def _hull_all(*args: Interval) -> Interval:
    out = args[0]
    for a in args[1:]:
        out = iv.hull(out, a)
    return out


def _is_positive(a: Interval) -> bool:
    return POSITIVE.contains(a)


def _is_negative(a: Interval) -> bool:
    return Interval(-INF, 0.0).contains(a)


@_exact
def _square_interval(a: Interval, *_: Interval) -> Interval:
    return monotone_increasing(np.square, NONNEGATIVE)(iv.abs_(a))


@_exact
def _abs_interval(a: Interval, *_: Interval) -> Interval:
    return iv.abs_(a)


def _inv_interval(a: Interval, *_: Interval) -> Interval:
    if _is_positive(a):
        return monotone_decreasing(lambda x: 1.0 / x, POSITIVE)(a)
    if _is_negative(a):
        return monotone_decreasing(lambda x: 1.0 / x, Interval(-INF, 0.0))(a)
    return REAL_LINE


def _inv_square_interval(a: Interval, *_: Interval) -> Interval:
    sq = _square_interval(a)
    return _inv_interval(sq) if _is_positive(sq) else POSITIVE


def _tgamma_interval(a: Interval, *_: Interval) -> Interval:
    return POSITIVE if _is_positive(a) else REAL_LINE


def _cosh_interval(a: Interval, *_: Interval) -> Interval:
    return monotone_increasing(np.cosh, Interval(1.0, INF, True))(iv.abs_(a))


def _min_interval(*args: Interval) -> Interval:
    if len(args) == 1:  # min of a container: an element
        return args[0]
    a, b = args[:2]
    lo = min((a.lo, not a.lo_closed), (b.lo, not b.lo_closed))
    hi = min((a.hi, not a.hi_closed), (b.hi, not b.hi_closed))
    return Interval(lo[0], hi[0], not lo[1], not hi[1], a.integer and b.integer)


def _max_interval(*args: Interval) -> Interval:
    if len(args) == 1:
        return args[0]
    a, b = args[:2]
    lo = max((a.lo, a.lo_closed), (b.lo, b.lo_closed))
    hi = max((a.hi, a.hi_closed), (b.hi, b.hi_closed))
    return Interval(lo[0], hi[0], lo[1], hi[1], a.integer and b.integer)


def _sum_interval(a: Interval, *_: Interval) -> Interval:
    # An empty container sums to 0, so strict signs of the elements only give weak signs.
    if a.lo >= 0:
        return Interval(0.0, INF, True, False, a.integer)
    if a.hi <= 0:
        return Interval(-INF, 0.0, False, True, a.integer)
    return Interval(integer=a.integer)


def _prod_interval(a: Interval, *_: Interval) -> Interval:
    if _is_positive(a):
        return POSITIVE
    return NONNEGATIVE if a.lo >= 0 else REAL_LINE


def _cumulative_sum_interval(a: Interval, *_: Interval) -> Interval:
    # Every partial sum of nonnegative elements is at least the first element.
    if a.lo >= 0:
        return Interval(a.lo, INF, a.lo_closed, False, a.integer)
    if a.hi <= 0:
        return Interval(-INF, a.hi, False, a.hi_closed, a.integer)
    return Interval(integer=a.integer)


def _log_sum_exp_interval(*args: Interval) -> Interval:
    if len(args) == 1:  # at least the smallest element; unbounded above without the length
        return Interval(args[0].lo, INF, args[0].lo_closed and not math.isinf(args[0].lo))
    a, b = args
    hi = max(a.hi, b.hi) + _LOG2
    return Interval(max(a.lo, b.lo), hi, False, not math.isinf(hi))


def _log_mix_interval(*args: Interval) -> Interval:
    hi = max(a.hi for a in args[1:])
    return Interval(-INF, hi, False, not math.isinf(hi))


def _log_diff_exp_interval(a: Interval, *_: Interval) -> Interval:
    return Interval(-INF, a.hi, False, False)


def _pow_interval(a: Interval, b: Interval) -> Interval:
    return iv.power(a, b)


def _fma_interval(a: Interval, b: Interval, c: Interval) -> Interval:
    return iv.add(iv.mul(a, b), c)


def _append_interval(*args: Interval) -> Interval:
    return _hull_all(*args)


def _diag_matrix_interval(a: Interval, *_: Interval) -> Interval:
    return iv.hull(a, iv.point(0.0))


def _linspaced_interval(n: Interval, lo: Interval, hi: Interval) -> Interval:
    return iv.hull(lo, hi)


def _expit_scalar(x):
    return 1.0 / (1.0 + np.exp(-x))


def _phi_scalar(x):
    return 0.5 * math.erfc(-float(x) / math.sqrt(2.0))


def _phi_approx_scalar(x):
    return _expit_scalar(0.07056 * x ** 3 + 1.5976 * x)


def _inv_phi_scalar(p):
    if p <= 0:
        return -INF
    if p >= 1:
        return INF
    return statistics.NormalDist().inv_cdf(float(p))


_NEGATIVE_REALS = Interval(-INF, 0.0)
_NONPOSITIVE = Interval(-INF, 0.0, False, True)
_SYMMETRIC_UNIT = Interval(-1.0, 1.0, True, True)


# ---- function implementations that need more than one line -----------------------------------


def _phi_approx(m, x):
    return m.expit(0.07056 * x * x * x + 1.5976 * x)


def _stan_round(m, x):
    # Stan rounds halves away from zero; numpy rounds them to even.
    return m.sign(x) * m.floor(m.abs(x) + 0.5)


def _log_inv_logit_diff(m, x, y):
    """log(inv_logit(x) - inv_logit(y)) for x > y, without cancellation."""
    return m.log_expit(x) + m.log_expit(-y) + _log1m_exp(m, y - x)


def _log_mix(m, theta, a, b=None):
    if b is None:  # sum over observations n of log sum_k theta_k exp(lambda[n, k])
        return m.sum(m.logsumexp(m.log(theta) + a, axis=-1))
    return m.logaddexp(m.log(theta) + a, m.log1p(-theta) + b)


def _min(m, a, b=None):
    return m.min(a) if b is None else m.minimum(a, b)


def _max(m, a, b=None):
    return m.max(a) if b is None else m.maximum(a, b)


def _log_sum_exp(m, a, b=None):
    return m.logsumexp(a) if b is None else m.logaddexp(a, b)


def _size(m, x):
    return m.shape(x)[0] if m.ndim(x) else 1


def _full(m, shape, x):
    return m.zeros(shape) + x  # float result whatever x is, as Stan's rep_vector(int) is a vector


def _rep_array(m, x, *dims):
    dims = tuple(int(d) for d in dims)
    return m.broadcast_to(x, dims + tuple(m.shape(x)))


def _col_major(m, x):
    """A matrix's elements in Stan's column-major order."""
    return m.reshape(m.transpose(x), (-1,))


def _to_vector(m, x):
    return m.reshape(x, (-1,)) * 1.0


def _to_matrix(m, x, *dims):
    """to_matrix(x) of 2-d values, or x's elements refilled into (rows, cols), column by column
    unless a third size argument col_major is 0 (then row by row, reading a matrix row-wise too)."""
    if not dims:
        return x * 1.0
    rows, cols = int(dims[0]), int(dims[1])
    col_major = int(dims[2]) != 0 if len(dims) > 2 else True
    if m.ndim(x) == 2:
        flat = _col_major(m, x) if col_major else m.reshape(x, (-1,))
    else:
        flat = m.reshape(x, (-1,))
    if col_major:
        return m.transpose(m.reshape(flat * 1.0, (cols, rows)))
    return m.reshape(flat * 1.0, (rows, cols))


def _segment(m, x, start, n):
    start = int(start) - 1
    return x[start:start + int(n)]


def _tail(m, x, n):
    return x[m.shape(x)[0] - int(n):]


def _sub_col(m, x, i, j, n):
    i, j = int(i) - 1, int(j) - 1
    return x[i:i + int(n), j]


def _sub_row(m, x, i, j, n):
    i, j = int(i) - 1, int(j) - 1
    return x[i, j:j + int(n)]


def _block(m, x, i, j, n_rows, n_cols):
    i, j = int(i) - 1, int(j) - 1
    return x[i:i + int(n_rows), j:j + int(n_cols)]


def _sort_indices(descending: bool):
    """1-based positions that sort x; ties keep their order, as Stan's stable sort does."""
    def impl(m, x):
        key = -x if descending else x
        order = m.argsort(key, stable=True) if m.is_jax else m.argsort(key, kind="stable")
        return _ints(m, order) + 1
    return impl


def _rank(m, x, s):
    """How many elements of x are below x[s]."""
    return _ints(m, m.sum(x < x[int(s) - 1]))


def _transpose(m, x):
    return m.transpose(x)  # vectors and row vectors are both 1-d: transposing them is a no-op


def _concat(axis: int):
    """append_row/append_col of two values that already have matching dimensions."""
    def impl(m, a, b):
        return m.concatenate([m.atleast_1d(a) * 1.0, m.atleast_1d(b) * 1.0], axis=axis)
    return impl


def _as_row(m, x):
    return m.reshape(x, (1, -1))


def _as_col(m, x):
    return m.reshape(x, (-1, 1))


def _squared_distances(m, x1, x2):
    """|x1_i - x2_j|^2 for points given as reals (N,) or vectors (N, D)."""
    if m.ndim(x1) == 1:
        d = x1[:, None] - x2[None, :]
        return d * d
    d = x1[:, None, :] - x2[None, :, :]
    return m.sum(d * d, axis=-1)


def _distances(m, x1, x2):
    # sqrt has an infinite derivative at 0 (the diagonal): keep the gradient finite there.
    d2 = _squared_distances(m, x1, x2)
    positive = d2 > 0
    return m.where(positive, m.sqrt(m.where(positive, d2, 1.0)), 0.0)


def _gp_kernel(shape_fn, needs_distance):
    """A Stan gp_*_cov function from its shape in r / length_scale; accepts (x, sigma, l) and
    (x1, x2, sigma, l)."""
    def impl(m, *args):
        x1, x2 = (args[0], args[0]) if len(args) == 3 else args[:2]
        sigma, length = args[-2], args[-1]
        if m.ndim(length) == 1:  # one length scale per input dimension: rescale the points
            x1, x2, length = x1 / length, x2 / length, 1.0
        if needs_distance:
            return sigma * sigma * shape_fn(m, _distances(m, x1, x2) / length)
        return sigma * sigma * shape_fn(m, _squared_distances(m, x1, x2) / (length * length))
    return impl


def _exp_quad_shape(m, d2):
    return m.exp(-0.5 * d2)


def _exponential_shape(m, r):
    return m.exp(-r)


def _matern32_shape(m, r):
    s = math.sqrt(3.0) * r
    return (1.0 + s) * m.exp(-s)


def _matern52_shape(m, r):
    s = math.sqrt(5.0) * r
    return (1.0 + s + s * s / 3.0) * m.exp(-s)


def _mdivide_left_tri_low(m, L, b):
    return m.solve_triangular(m.tril(L), b, lower=True)


def _mdivide_right_tri_low(m, b, L):
    return m.transpose(m.solve_triangular(m.transpose(m.tril(L)), m.transpose(b), lower=False))


def _mdivide_left_spd(m, A, b):
    L = m.cholesky(A)
    return m.solve_triangular(m.transpose(L), m.solve_triangular(L, b, lower=True), lower=False)


def _mdivide_right(m, b, A):
    return m.transpose(m.solve(m.transpose(A), m.transpose(b)))


def _hmm_marginal(m, log_omega, gamma, rho):
    """log p(y) of a hidden Markov model by the forward algorithm: log_omega[k, n] = log p(y_n | state
    k), gamma[i, j] = P(state j next | state i), rho the initial state probabilities."""
    log_gamma = m.log(gamma)
    alpha = m.log(rho) + log_omega[:, 0]
    for n in range(1, m.shape(log_omega)[1]):
        alpha = m.logsumexp(alpha[:, None] + log_gamma, axis=0) + log_omega[:, n]
    return m.logsumexp(alpha)


def _quad_form(m, A, B):
    return m.transpose(B) @ A @ B


def _choose(m, n, k):
    return _ints(m, m.round(m.exp(_lchoose(m, n, k))))


# ---- the function table --------------------------------------------------------------------------


def _sig(text: str, impl: Callable) -> tuple[Signature, ...]:
    """The signatures of "p1, p2 -> returns" computed by their own `impl`."""
    return expand(text, impl)


def _fn(name, sigs, impl, *, domain=None, interval=None, stan=None, numpyro="", pymc="") -> Function:
    """A table row; `sigs` holds shorthand strings and already expanded signatures."""
    signatures = tuple(s for entry in sigs for s in (expand(entry) if isinstance(entry, str) else entry))
    return Function(name=name, signatures=signatures, impl=impl, domain=domain, interval=interval,
                    stan=stan or name, numpyro=numpyro, pymc=pymc)


def _ew(name, impl, interval=None, domain=None, *, numpyro="", pymc="", keep_int=False):
    """A unary element-wise function (Stan vectorises these through seven array levels)."""
    return _fn(name, (elementwise(7, keep_int),), impl, domain=None if domain is None else (domain,),
               interval=interval, numpyro=numpyro, pymc=pymc)


def _ew2(name, impl, interval=None, domain=None, *, numpyro="", pymc=""):
    """A binary element-wise function (scalars, a scalar with a container, or matching containers;
    stanc takes arrays of scalars eight levels deep, of vectors and matrices seven)."""
    return _fn(name, (elementwise2(8, container_depth=7),), impl, domain=domain, interval=interval,
               numpyro=numpyro, pymc=pymc)


def _with_constant(interval: Callable[..., Interval], value: float) -> Callable[..., Interval]:
    """`interval`, plus the point `value` for the zero-argument overload."""
    return lambda *args: interval(*args) if args else iv.point(value)


def _fma_signatures() -> tuple[Signature, ...]:
    """fma over reals, or with vectors, row vectors or matrices (all containers of one type)."""
    out = list(expand("real, real, real -> real"))
    for kind in CONTAINER_KINDS:
        for combo in itertools.product(("real", kind), repeat=3):
            if kind in combo:
                out += expand(f"{', '.join(combo)} -> {kind}")
    return tuple(out)


_REAL_CONTAINERS = ("vector", "row_vector", "matrix", "array[] real")
_LOG_DOMAIN = NONNEGATIVE  # Stan's log(0) is -inf, so 0 is accepted (see the module docstring)
_ARRAYS_1_TO_7 = all_types(7, min_depth=1)
_SEQUENCES = (VECTOR, ROW_VECTOR) + all_types(3, min_depth=1)  # what head, tail and segment take

_ELEMENTWISE = (
    _ew("exp", lambda m, x: m.exp(x), monotone_increasing(np.exp, POSITIVE),
        numpyro="jnp.exp", pymc="pt.exp"),
    _ew("log", lambda m, x: m.log(x), monotone_increasing(np.log), _LOG_DOMAIN,
        numpyro="jnp.log", pymc="pt.log"),
    # log2() and log10() without an argument are Stan's constants: the natural logs of 2 and 10.
    _fn("log2", (" -> real", elementwise(7)), lambda m, *x: m.log2(x[0]) if x else _LOG2,
        domain=(_LOG_DOMAIN,), interval=_with_constant(monotone_increasing(np.log2), _LOG2)),
    _fn("log10", (" -> real", elementwise(7)), lambda m, *x: m.log10(x[0]) if x else math.log(10.0),
        domain=(_LOG_DOMAIN,), interval=_with_constant(monotone_increasing(np.log10), math.log(10.0))),
    _ew("exp2", lambda m, x: m.exp2(x), monotone_increasing(np.exp2, POSITIVE)),
    _ew("log1p", lambda m, x: m.log1p(x), monotone_increasing(np.log1p), Interval(-1.0, INF, True),
        numpyro="jnp.log1p", pymc="pt.log1p"),
    _ew("expm1", lambda m, x: m.expm1(x), monotone_increasing(np.expm1, Interval(-1.0, INF)),
        numpyro="jnp.expm1", pymc="pt.expm1"),
    _ew("inv_logit", lambda m, x: m.expit(x), monotone_increasing(_expit_scalar, UNIT_OPEN),
        numpyro="jax.nn.sigmoid", pymc="pm.math.invlogit"),
    _ew("logit", lambda m, x: m.logit(x), monotone_increasing(lambda p: np.log(p / (1.0 - p))),
        UNIT_CLOSED, numpyro="jax.scipy.special.logit", pymc="pm.math.logit"),
    _ew("log1p_exp", lambda m, x: _softplus(m, x),
        monotone_increasing(lambda x: np.logaddexp(0.0, x), POSITIVE),
        numpyro="jax.nn.softplus", pymc="pt.softplus"),
    _ew("log_inv_logit", lambda m, x: m.log_expit(x),
        monotone_increasing(lambda x: -np.logaddexp(0.0, -x), _NEGATIVE_REALS),
        numpyro="jax.nn.log_sigmoid"),
    _ew("log1m_inv_logit", lambda m, x: m.log_expit(-x),
        monotone_decreasing(lambda x: -np.logaddexp(0.0, x), _NEGATIVE_REALS)),
    _ew("log1m", lambda m, x: m.log1p(-x), monotone_decreasing(lambda x: np.log1p(-x)),
        Interval(-INF, 1.0, False, True)),
    _ew("log1m_exp", lambda m, x: _log1m_exp(m, x),
        monotone_decreasing(lambda x: np.log(-np.expm1(x)), _NEGATIVE_REALS), _NONPOSITIVE),
    _ew("inv_cloglog", lambda m, x: -m.expm1(-m.exp(x)),
        monotone_increasing(lambda x: -np.expm1(-np.exp(x)), UNIT_CLOSED)),
    _ew("sqrt", lambda m, x: m.sqrt(x), monotone_increasing(np.sqrt, NONNEGATIVE), NONNEGATIVE,
        numpyro="jnp.sqrt", pymc="pt.sqrt"),
    _ew("cbrt", lambda m, x: m.cbrt(x), monotone_increasing(np.cbrt)),
    _ew("square", lambda m, x: m.square(x), _square_interval, numpyro="jnp.square", pymc="pt.sqr"),
    _ew("abs", lambda m, x: m.abs(x), _abs_interval, keep_int=True, numpyro="jnp.abs", pymc="pt.abs"),
    _ew("inv", lambda m, x: 1.0 / x, _inv_interval),
    _ew("inv_sqrt", lambda m, x: 1.0 / m.sqrt(x), monotone_decreasing(lambda x: 1.0 / np.sqrt(x), POSITIVE),
        POSITIVE),
    _ew("inv_square", lambda m, x: 1.0 / m.square(x), _inv_square_interval),
    _ew("Phi", lambda m, x: m.ndtr(x), monotone_increasing(_phi_scalar, UNIT_CLOSED),
        numpyro="jax.scipy.special.ndtr", pymc="pm.math.invprobit"),
    _ew("Phi_approx", _phi_approx, monotone_increasing(_phi_approx_scalar, UNIT_CLOSED)),
    _ew("inv_Phi", lambda m, x: m.ndtri(x), monotone_increasing(_inv_phi_scalar), UNIT_CLOSED,
        numpyro="jax.scipy.special.ndtri", pymc="pm.math.probit"),
    _ew("erf", lambda m, x: m.erf(x), monotone_increasing(math.erf, _SYMMETRIC_UNIT)),
    _ew("erfc", lambda m, x: m.erfc(x), monotone_decreasing(math.erfc, Interval(0.0, 2.0, True, True))),
    _ew("lgamma", lambda m, x: m.gammaln(x), numpyro="jax.scipy.special.gammaln", pymc="pt.gammaln"),
    _ew("tgamma", lambda m, x: m.gamma(x), _tgamma_interval),
    _ew("digamma", lambda m, x: m.digamma(x)),
    _ew("trigamma", lambda m, x: m.polygamma(1, x), constant(POSITIVE)),
    _ew("sin", lambda m, x: m.sin(x), constant(_SYMMETRIC_UNIT)),
    _ew("cos", lambda m, x: m.cos(x), constant(_SYMMETRIC_UNIT)),
    _ew("tan", lambda m, x: m.tan(x)),
    _ew("asin", lambda m, x: m.arcsin(x), monotone_increasing(np.arcsin,
        Interval(-math.pi / 2, math.pi / 2, True, True)), _SYMMETRIC_UNIT),
    _ew("acos", lambda m, x: m.arccos(x), monotone_decreasing(np.arccos,
        Interval(0.0, math.pi, True, True)), _SYMMETRIC_UNIT),
    _ew("atan", lambda m, x: m.arctan(x), monotone_increasing(np.arctan,
        Interval(-math.pi / 2, math.pi / 2))),
    _ew("sinh", lambda m, x: m.sinh(x), monotone_increasing(np.sinh)),
    _ew("cosh", lambda m, x: m.cosh(x), _cosh_interval),
    _ew("tanh", lambda m, x: m.tanh(x), monotone_increasing(np.tanh, Interval(-1.0, 1.0)),
        numpyro="jnp.tanh", pymc="pt.tanh"),
    _ew("asinh", lambda m, x: m.arcsinh(x), monotone_increasing(np.arcsinh)),
    _ew("acosh", lambda m, x: m.arccosh(x), monotone_increasing(np.arccosh, NONNEGATIVE),
        Interval(1.0, INF, True)),
    _ew("atanh", lambda m, x: m.arctanh(x), monotone_increasing(np.arctanh), _SYMMETRIC_UNIT),
    _ew("floor", lambda m, x: m.floor(x), monotone_increasing(np.floor)),
    _ew("ceil", lambda m, x: m.ceil(x), monotone_increasing(np.ceil)),
    _ew("round", _stan_round, monotone_increasing(lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5))),
    _ew("trunc", lambda m, x: m.trunc(x), monotone_increasing(np.trunc)),
)

_LOG_MIX_SIGNATURES = tuple(f"{a}, {b} -> real" for a in ("vector", "row_vector", "array[] real")
                            for b in ("vector", "row_vector", "array[] real", "array[] vector",
                                      "array[] row_vector"))

_BINARY = (
    _ew2("pow", lambda m, x, y: m.power(x * 1.0, y), _pow_interval, numpyro="jnp.power", pymc="pt.pow"),
    _ew2("fmin", lambda m, x, y: m.fmin(x, y), _min_interval),
    _ew2("fmax", lambda m, x, y: m.fmax(x, y), _max_interval),
    _ew2("fdim", lambda m, x, y: m.maximum(x - y, 0.0), constant(NONNEGATIVE)),
    _ew2("hypot", lambda m, x, y: m.hypot(x, y), constant(NONNEGATIVE)),
    _ew2("atan2", lambda m, y, x: m.arctan2(y, x), constant(Interval(-math.pi, math.pi, True, True))),
    _ew2("lbeta", lambda m, a, b: m.betaln(a, b), domain=(NONNEGATIVE, NONNEGATIVE)),
    _ew2("lchoose", lambda m, n, k: _lchoose(m, n, k)),
    _fn("choose", (elementwise2(7, ("int",)),), _choose, domain=(COUNTS, COUNTS), interval=constant(COUNTS)),
    _ew2("lmultiply", lambda m, a, b: m.xlogy(a * 1.0, b), domain=(None, NONNEGATIVE)),
    _ew2("log_diff_exp", lambda m, a, b: _log_diff_exp(m, a, b), _log_diff_exp_interval),
    _ew2("log_inv_logit_diff", _log_inv_logit_diff, constant(_NEGATIVE_REALS)),
    _fn("fma", (_fma_signatures(),), lambda m, x, y, z: x * y + z, interval=_fma_interval),
    _fn("log_mix", ("real, real, real -> real",) + _LOG_MIX_SIGNATURES, _log_mix,
        domain=(UNIT_CLOSED, None, None), interval=_log_mix_interval),
    _fn("step", ("real -> real",), lambda m, x: m.where(x < 0, 0.0, 1.0), interval=constant(BINARY)),
    _fn("int_step", ("real -> int",), lambda m, x: _ints(m, x > 0), interval=constant(BINARY)),
    _fn("is_inf", ("real -> int",), lambda m, x: _ints(m, m.isinf(x)), interval=constant(BINARY)),
    _fn("is_nan", ("real -> int",), lambda m, x: _ints(m, m.isnan(x)), interval=constant(BINARY)),
)

_CONSTANTS = (
    _fn("pi", (" -> real",), lambda m: math.pi, interval=constant(iv.point(math.pi))),
    _fn("e", (" -> real",), lambda m: math.e, interval=constant(iv.point(math.e))),
    _fn("sqrt2", (" -> real",), lambda m: math.sqrt(2.0), interval=constant(iv.point(math.sqrt(2.0)))),
    _fn("not_a_number", (" -> real",), lambda m: math.nan),
    _fn("positive_infinity", (" -> real",), lambda m: INF),
    _fn("negative_infinity", (" -> real",), lambda m: -INF),
    _fn("machine_precision", (" -> real",), lambda m: float(np.finfo(float).eps),
        interval=constant(iv.point(float(np.finfo(float).eps)))),
)

_TO_REAL = tuple(f"{t} -> real" for t in _REAL_CONTAINERS)  # a reduction of any real container
_WHOLE = ("array[] int -> int",) + _TO_REAL  # ... where an int array keeps int

_REDUCTIONS = (
    _fn("sum", _WHOLE, lambda m, x: m.sum(x), interval=_sum_interval, numpyro="jnp.sum", pymc="pt.sum"),
    _fn("prod", _WHOLE, lambda m, x: m.prod(x), interval=_prod_interval),
    _fn("mean", _TO_REAL, lambda m, x: m.mean(x * 1.0), interval=_first, numpyro="jnp.mean",
        pymc="pt.mean"),
    _fn("sd", _TO_REAL, lambda m, x: m.std(x * 1.0, ddof=1), interval=constant(NONNEGATIVE)),
    _fn("variance", _TO_REAL, lambda m, x: m.var(x * 1.0, ddof=1), interval=constant(NONNEGATIVE)),
    _fn("min", _WHOLE + ("int, int -> int",), _min, interval=_min_interval),
    _fn("max", _WHOLE + ("int, int -> int",), _max, interval=_max_interval),
    _fn("log_sum_exp", _TO_REAL + (elementwise2(8, container_depth=7),), _log_sum_exp,
        interval=_log_sum_exp_interval, numpyro="jax.scipy.special.logsumexp", pymc="pm.math.logsumexp"),
    _fn("size", (over("T -> int", [t for t in all_types(7) if t != MATRIX]),
                 _sig("matrix -> int", lambda m, x: m.size(x))), _size, interval=constant(COUNTS)),
    _fn("num_elements", (over("T -> int", (VECTOR, ROW_VECTOR, MATRIX) + all_types(9, min_depth=1)),),
        lambda m, x: m.size(x), interval=constant(COUNTS)),
    _fn("rows", ("vector -> int", _sig("row_vector -> int", lambda m, x: 1), "matrix -> int"),
        lambda m, x: m.shape(x)[0], interval=constant(COUNTS)),
    _fn("cols", (_sig("vector -> int", lambda m, x: 1), "row_vector -> int",
                 _sig("matrix -> int", lambda m, x: m.shape(x)[1])),
        lambda m, x: m.shape(x)[-1], interval=constant(COUNTS)),
    _fn("dot_product", ("vector, vector -> real", "vector, row_vector -> real",
                        "row_vector, vector -> real", "row_vector, row_vector -> real",
                        "array[] real, array[] real -> real"),
        lambda m, a, b: m.sum(a * b, axis=-1), numpyro="jnp.dot", pymc="pt.dot"),
    _fn("dot_self", ("vector -> real", "row_vector -> real"), lambda m, x: m.sum(x * x, axis=-1),
        interval=constant(NONNEGATIVE)),
    _fn("columns_dot_product", ("matrix, matrix -> row_vector",
                                _sig("vector, vector -> row_vector", lambda m, a, b: m.sum(a * b)[None]),
                                _sig("row_vector, row_vector -> row_vector", lambda m, a, b: a * b)),
        lambda m, a, b: m.sum(a * b, axis=0)),
    _fn("rows_dot_product", ("matrix, matrix -> vector", "vector, vector -> vector",
                             _sig("row_vector, row_vector -> vector", lambda m, a, b: m.sum(a * b)[None])),
        lambda m, a, b: m.sum(a * b, axis=-1) if m.ndim(a) == 2 else a * b),
    _fn("rows_dot_self", ("matrix -> vector", "vector -> vector",
                          _sig("row_vector -> vector", lambda m, x: m.sum(x * x)[None])),
        lambda m, x: m.sum(x * x, axis=-1) if m.ndim(x) == 2 else x * x, interval=constant(NONNEGATIVE)),
    _fn("columns_dot_self", ("matrix -> row_vector", "row_vector -> row_vector",
                             _sig("vector -> row_vector", lambda m, x: m.sum(x * x)[None])),
        lambda m, x: m.sum(x * x, axis=0), interval=constant(NONNEGATIVE)),
)


def _to_matrix_signatures() -> tuple:
    """to_matrix of a matrix, vector, row vector, array of row vectors or 2-d array; or of any of
    the flat ones refilled to (rows, cols), optionally in row-major order."""
    flat = ("vector", "row_vector", "matrix", "array[] int", "array[] real")
    return (_sig("vector -> matrix", lambda m, x: _as_col(m, x) * 1.0),
            _sig("row_vector -> matrix", lambda m, x: _as_row(m, x) * 1.0),
            "matrix -> matrix", "array[] row_vector -> matrix", "array[,] int -> matrix",
            "array[,] real -> matrix") + tuple(f"{t}, int, int -> matrix" for t in flat) \
        + tuple(f"{t}, int, int, int -> matrix" for t in flat)


_CONSTRUCTORS = (
    _fn("rep_vector", ("real, int -> vector",), lambda m, x, n: _full(m, (int(n),), x),
        domain=(None, COUNTS), interval=_first),
    _fn("rep_row_vector", ("real, int -> row_vector",), lambda m, x, n: _full(m, (int(n),), x),
        domain=(None, COUNTS), interval=_first),
    _fn("rep_matrix", ("real, int, int -> matrix",
                       _sig("vector, int -> matrix", lambda m, v, n: _full(m, (m.shape(v)[0], int(n)),
                                                                           _as_col(m, v))),
                       _sig("row_vector, int -> matrix", lambda m, v, n: _full(m, (int(n), m.shape(v)[0]),
                                                                               _as_row(m, v)))),
        lambda m, x, r, c: _full(m, (int(r), int(c)), x), domain=(None, COUNTS, COUNTS), interval=_first),
    _fn("rep_array", (over("T, int -> T[]", all_types(2)), over("T, int, int -> T[,]", all_types(2)),
                      over("T, int, int, int -> T[,,]", all_types(2))),
        _rep_array, domain=(None, COUNTS, COUNTS, COUNTS), interval=_first),
    _fn("zeros_vector", ("int -> vector",), lambda m, n: m.zeros((int(n),)), domain=(COUNTS,),
        interval=constant(iv.point(0.0))),
    _fn("zeros_row_vector", ("int -> row_vector",), lambda m, n: m.zeros((int(n),)), domain=(COUNTS,),
        interval=constant(iv.point(0.0))),
    _fn("ones_vector", ("int -> vector",), lambda m, n: m.ones((int(n),)), domain=(COUNTS,),
        interval=constant(iv.point(1.0))),
    _fn("ones_row_vector", ("int -> row_vector",), lambda m, n: m.ones((int(n),)), domain=(COUNTS,),
        interval=constant(iv.point(1.0))),
    _fn("uniform_simplex", ("int -> vector",), lambda m, n: m.ones((int(n),)) / int(n),
        domain=(POSITIVE_INTS,), interval=constant(UNIT_CLOSED)),
    _fn("identity_matrix", ("int -> matrix",), lambda m, n: m.eye(int(n)), domain=(COUNTS,),
        interval=constant(UNIT_CLOSED)),
    _fn("linspaced_vector", ("int, real, real -> vector",), lambda m, n, a, b: m.linspace(a, b, int(n)),
        domain=(COUNTS, None, None), interval=_linspaced_interval),
    _fn("linspaced_row_vector", ("int, real, real -> row_vector",),
        lambda m, n, a, b: m.linspace(a, b, int(n)), domain=(COUNTS, None, None),
        interval=_linspaced_interval),
    _fn("linspaced_array", ("int, real, real -> array[] real",),
        lambda m, n, a, b: m.linspace(a, b, int(n)), domain=(COUNTS, None, None),
        interval=_linspaced_interval),
    _fn("diag_matrix", ("vector -> matrix",), lambda m, v: m.diag(v * 1.0),
        interval=_diag_matrix_interval),
    _fn("diagonal", ("matrix -> vector",), lambda m, x: m.diagonal(x), interval=_first),
    _fn("add_diag", ("matrix, real -> matrix", "matrix, vector -> matrix", "matrix, row_vector -> matrix"),
        lambda m, x, d: x + m.eye(m.shape(x)[-1]) * d),
    _fn("to_vector", ("vector -> vector", "row_vector -> vector",
                      _sig("matrix -> vector", lambda m, x: _col_major(m, x)),
                      "array[] int -> vector", "array[] real -> vector"),
        _to_vector, interval=_first),
    _fn("to_row_vector", ("vector -> row_vector", "row_vector -> row_vector",
                          _sig("matrix -> row_vector", lambda m, x: _col_major(m, x)),
                          "array[] int -> row_vector", "array[] real -> row_vector"),
        _to_vector, interval=_first),
    _fn("to_matrix", _to_matrix_signatures(), _to_matrix, domain=(None, COUNTS, COUNTS), interval=_first),
    _fn("to_array_1d", ("vector -> array[] real", "row_vector -> array[] real",
                        _sig("matrix -> array[] real", lambda m, x: _col_major(m, x)),
                        over("T -> array[] int", all_types(9, ("int",), min_depth=1)),
                        over("T -> array[] real", all_types(9, ("real",), min_depth=1))),
        lambda m, x: m.reshape(x, (-1,)), interval=_first),
    _fn("append_row", ("vector, vector -> vector", "real, vector -> vector", "vector, real -> vector",
                       _sig("row_vector, row_vector -> matrix", lambda m, a, b: m.stack([a, b]) * 1.0),
                       _sig("row_vector, matrix -> matrix", lambda m, a, b: _concat(0)(
                           m, _as_row(m, a), b)),
                       _sig("matrix, row_vector -> matrix", lambda m, a, b: _concat(0)(
                           m, a, _as_row(m, b))),
                       "matrix, matrix -> matrix"),
        _concat(0), interval=_append_interval),
    _fn("append_col", ("row_vector, row_vector -> row_vector", "real, row_vector -> row_vector",
                       "row_vector, real -> row_vector",
                       _sig("vector, vector -> matrix", lambda m, a, b: m.stack([a, b], axis=1) * 1.0),
                       _sig("vector, matrix -> matrix", lambda m, a, b: _concat(1)(
                           m, _as_col(m, a), b)),
                       _sig("matrix, vector -> matrix", lambda m, a, b: _concat(1)(
                           m, a, _as_col(m, b))),
                       _sig("matrix, matrix -> matrix", lambda m, a, b: _concat(1)(m, a, b))),
        _concat(0), interval=_append_interval),
    _fn("append_array", (over("T, T -> T", _ARRAYS_1_TO_7),),
        lambda m, a, b: m.concatenate([a, b], axis=0), interval=_append_interval),
    _fn("dims", (over("T -> array[] int", all_types(8)),), lambda m, x: m.asarray(m.shape(x), dtype=int),
        interval=constant(COUNTS)),
)

_SORTABLE = ("vector", "row_vector", "array[] int", "array[] real")

_SLICES = (
    _fn("segment", (over("T, int, int -> T", _SEQUENCES),), _segment, domain=(None, POSITIVE_INTS, COUNTS),
        interval=_first),
    _fn("head", (over("T, int -> T", _SEQUENCES),), lambda m, x, n: x[:int(n)], domain=(None, COUNTS),
        interval=_first),
    _fn("tail", (over("T, int -> T", _SEQUENCES),), _tail, domain=(None, COUNTS), interval=_first),
    _fn("reverse", (over("T -> T", (VECTOR, ROW_VECTOR) + _ARRAYS_1_TO_7),), lambda m, x: m.flip(x, axis=0),
        interval=_first),
    _fn("sort_asc", tuple(f"{t} -> {t}" for t in _SORTABLE), lambda m, x: m.sort(x), interval=_first),
    _fn("sort_desc", tuple(f"{t} -> {t}" for t in _SORTABLE), lambda m, x: m.flip(m.sort(x), axis=0),
        interval=_first),
    _fn("sort_indices_asc", tuple(f"{t} -> array[] int" for t in _SORTABLE), _sort_indices(False),
        interval=constant(POSITIVE_INTS)),
    _fn("sort_indices_desc", tuple(f"{t} -> array[] int" for t in _SORTABLE), _sort_indices(True),
        interval=constant(POSITIVE_INTS)),
    _fn("rank", tuple(f"{t}, int -> int" for t in _SORTABLE), _rank, domain=(None, POSITIVE_INTS),
        interval=constant(COUNTS)),
    _fn("cumulative_sum", tuple(f"{t} -> {t}" for t in _SORTABLE), lambda m, x: m.cumsum(x, axis=0),
        interval=_cumulative_sum_interval, numpyro="jnp.cumsum", pymc="pt.cumsum"),
    _fn("softmax", ("vector -> vector",), lambda m, x: m.softmax(x, axis=-1),
        interval=constant(UNIT_CLOSED), numpyro="jax.nn.softmax", pymc="pm.math.softmax"),
    _fn("log_softmax", ("vector -> vector",), lambda m, x: m.log_softmax(x, axis=-1),
        interval=constant(_NONPOSITIVE), numpyro="jax.nn.log_softmax", pymc="pm.math.log_softmax"),
    _fn("col", ("matrix, int -> vector",), lambda m, x, j: x[:, int(j) - 1], domain=(None, POSITIVE_INTS),
        interval=_first),
    _fn("row", ("matrix, int -> row_vector",), lambda m, x, i: x[int(i) - 1], domain=(None, POSITIVE_INTS),
        interval=_first),
    _fn("sub_col", ("matrix, int, int, int -> vector",), _sub_col,
        domain=(None, POSITIVE_INTS, POSITIVE_INTS, COUNTS), interval=_first),
    _fn("sub_row", ("matrix, int, int, int -> row_vector",), _sub_row,
        domain=(None, POSITIVE_INTS, POSITIVE_INTS, COUNTS), interval=_first),
    _fn("block", ("matrix, int, int, int, int -> matrix",), _block,
        domain=(None, POSITIVE_INTS, POSITIVE_INTS, COUNTS, COUNTS), interval=_first),
    _fn("transpose", ("vector -> row_vector", "row_vector -> vector", "matrix -> matrix"), _transpose,
        interval=_first),
)

_GP_SIGNATURES = ("array[] real, real, real -> matrix", "array[] real, array[] real, real, real -> matrix",
                  "array[] vector, real, real -> matrix", "array[] vector, real, array[] real -> matrix",
                  "array[] vector, array[] vector, real, real -> matrix",
                  "array[] vector, array[] vector, real, array[] real -> matrix")

_MATRIX = (
    _fn("cholesky_decompose", ("matrix -> matrix",), lambda m, x: m.cholesky(x),
        numpyro="jnp.linalg.cholesky", pymc="pt.linalg.cholesky"),
    # The domains of the gp functions are left to their distributions: the 3- and 4-argument
    # overloads put the positive arguments at different positions.
    _fn("gp_exp_quad_cov", _GP_SIGNATURES, _gp_kernel(_exp_quad_shape, False), interval=constant(NONNEGATIVE)),
    _fn("gp_exponential_cov", _GP_SIGNATURES, _gp_kernel(_exponential_shape, True),
        interval=constant(NONNEGATIVE)),
    _fn("gp_matern32_cov", _GP_SIGNATURES, _gp_kernel(_matern32_shape, True), interval=constant(NONNEGATIVE)),
    _fn("gp_matern52_cov", _GP_SIGNATURES, _gp_kernel(_matern52_shape, True), interval=constant(NONNEGATIVE)),
    _fn("diag_pre_multiply", ("vector, matrix -> matrix", "row_vector, matrix -> matrix"),
        lambda m, v, x: _as_col(m, v) * x),
    _fn("diag_post_multiply", ("matrix, vector -> matrix", "matrix, row_vector -> matrix"),
        lambda m, x, v: x * _as_row(m, v)),
    _fn("quad_form_diag", ("matrix, vector -> matrix", "matrix, row_vector -> matrix"),
        lambda m, x, v: _as_col(m, v) * x * _as_row(m, v)),
    _fn("quad_form", ("matrix, matrix -> matrix", "matrix, vector -> real"), _quad_form),
    _fn("quad_form_sym", ("matrix, matrix -> matrix", "matrix, vector -> real"), _quad_form),
    _fn("tcrossprod", ("matrix -> matrix",), lambda m, x: x @ m.transpose(x)),
    _fn("crossprod", ("matrix -> matrix",), lambda m, x: m.transpose(x) @ x),
    _fn("multiply_lower_tri_self_transpose", ("matrix -> matrix",),
        lambda m, x: m.tril(x) @ m.transpose(m.tril(x))),
    _fn("symmetrize_from_lower_tri", ("matrix -> matrix",),
        lambda m, x: m.tril(x) + m.transpose(m.tril(x, -1))),
    _fn("mdivide_left_tri_low", ("matrix, vector -> vector", "matrix, matrix -> matrix"),
        _mdivide_left_tri_low),
    _fn("mdivide_right_tri_low", ("row_vector, matrix -> row_vector", "matrix, matrix -> matrix"),
        _mdivide_right_tri_low),
    _fn("mdivide_left_spd", ("matrix, vector -> vector", "matrix, matrix -> matrix"), _mdivide_left_spd),
    _fn("mdivide_left", ("matrix, vector -> vector", "matrix, matrix -> matrix"),
        lambda m, a, b: m.solve(a, b)),
    _fn("mdivide_right", ("row_vector, matrix -> row_vector", "matrix, matrix -> matrix"), _mdivide_right),
    _fn("inverse", ("matrix -> matrix",), lambda m, x: m.inv(x)),
    _fn("inverse_spd", ("matrix -> matrix",), lambda m, x: m.inv(x)),
    _fn("log_determinant", ("matrix -> real",), lambda m, x: m.slogdet(x)[1]),
    _fn("determinant", ("matrix -> real",), lambda m, x: m.det(x)),
    _fn("trace", ("matrix -> real",), lambda m, x: m.trace(x)),
    _fn("eigenvalues_sym", ("matrix -> vector",), lambda m, x: m.eigh(x)[0]),
    _fn("eigenvectors_sym", ("matrix -> matrix",), lambda m, x: m.eigh(x)[1]),
    _fn("hmm_marginal", ("matrix, matrix, vector -> real",), _hmm_marginal),
)

_FUNCTION_LIST = _ELEMENTWISE + _BINARY + _CONSTANTS + _REDUCTIONS + _CONSTRUCTORS + _SLICES + _MATRIX

FUNCTIONS: dict[str, Function] = {f.name: f for f in _FUNCTION_LIST}


# ---- lookups ---------------------------------------------------------------------------------------


def distribution(name: str) -> Distribution | None:
    """The distribution called `name` (no suffix), or None."""
    return DISTRIBUTIONS.get(name)


def function(name: str) -> Function | None:
    """The function called `name`, or None. Distributions' `_lpdf`-style forms are not functions
    here: see `resolve_suffixed`."""
    return FUNCTIONS.get(name)


_DENSITY_SUFFIXES = {"lpdf": "lpdf", "lupdf": "lpdf", "lpmf": "lpmf", "lupmf": "lpmf"}
_SUFFIXES = ("lupdf", "lupmf", "lpdf", "lpmf", "lccdf", "lcdf", "cdf", "rng")


def _split_suffix(name: str) -> tuple[str, str] | None:
    for suffix in _SUFFIXES:
        if name.endswith("_" + suffix) and len(name) > len(suffix) + 1:
            return name[: -len(suffix) - 1], suffix
    return None


def _suffix_ok(dist: Distribution, suffix: str) -> bool:
    if suffix in _DENSITY_SUFFIXES:
        return _DENSITY_SUFFIXES[suffix] == ("lpmf" if dist.discrete else "lpdf")
    if suffix == "rng":
        return dist.rng
    return {"lcdf": dist.lcdf, "lccdf": dist.lccdf, "cdf": dist.lcdf}[suffix] is not None


def resolve_suffixed(name: str) -> tuple[Distribution, str] | None:
    """`normal_lpdf` -> (normal, "lpdf"); also `_lpmf`, `_lcdf`, `_lccdf`, `_cdf`, `_rng`.

    `_lupdf`/`_lupmf` resolve to "lpdf"/"lpmf": boxloop always keeps the constants. Returns None when
    `name` is not such a form, or when the suffix does not fit the distribution (`normal_lpmf`,
    `poisson_lpdf`, a cdf or rng Stan lacks); `suggest(name, "function")` then names the fix.
    """
    parts = _split_suffix(name)
    if parts is None or parts[0] not in DISTRIBUTIONS:
        return None
    dist, suffix = DISTRIBUTIONS[parts[0]], parts[1]
    if not _suffix_ok(dist, suffix):
        return None
    return dist, _DENSITY_SUFFIXES.get(suffix, suffix)


def _product(params, returns: ValueType) -> tuple[Signature, ...]:
    return tuple(Signature(combo, returns) for combo in itertools.product(*(choices(p.shape) for p in params)))


@functools.cache
def density_overloads(name: str) -> Overloads:
    """The signatures of `name_lpdf` (and its cdfs), variate first: every combination of the
    variate's and the arguments' shapes, or the table's own list where Stan allows fewer."""
    spec = DISTRIBUTIONS[name]
    return Overloads(spec.overloads or _product((spec.variate, *spec.args), REAL))


def _rng_return(spec: Distribution, params, types) -> ValueType:
    if spec.rng_returns is not None:
        return parse_type(spec.rng_returns)
    if spec.multivariate:  # the variate's type, once per location vector when given an array of them
        base = {"vectors": VECTOR}.get(spec.variate.shape) or parse_type(spec.variate.shape)
        arrays = any(p.shape == "vectors" and t.array_dims for p, t in zip(params, types))
        return ValueType(base.kind, base.array_dims + arrays)
    # one draw per element when a vectorised argument is a container
    kind = "int" if spec.discrete else "real"
    vectorised = any(p.shape in ("reals", "ints") and not t.is_scalar for p, t in zip(params, types))
    return ValueType(kind, int(vectorised))


@functools.cache
def rng_overloads(name: str) -> Overloads:
    """The signatures of `name_rng`."""
    spec = DISTRIBUTIONS[name]
    params = rng_params(spec)
    combos = itertools.product(*(choices(p.shape) for p in params))
    return Overloads(Signature(c, _rng_return(spec, params, c)) for c in combos)


def rng_params(spec: Distribution) -> tuple[Arg, ...]:
    """The parameters of `spec`'s `_rng` function."""
    return spec.rng_args if spec.rng_args is not None else spec.args


def implementation(spec: Function, types) -> Callable:
    """The implementation of the overload of `spec` that a call with argument `types` binds to.

    Overloads that a value's array shape cannot tell apart (vector vs row_vector) carry their own.
    """
    sig = spec.overloads.resolve(types)
    return spec.impl if sig is None or sig.impl is None else sig.impl


# Stan's reserved words (identifiers may not use them; names ending in "__" are reserved too).
_RESERVED = frozenset("""
    for in while repeat until if then else true false target functions model data parameters quantities
    transformed generated int real complex vector row_vector matrix complex_vector complex_row_vector
    complex_matrix array tuple simplex unit_vector sum_to_zero_vector sum_to_zero_matrix ordered
    positive_ordered cholesky_factor_corr cholesky_factor_cov corr_matrix cov_matrix
    column_stochastic_matrix row_stochastic_matrix lower upper offset multiplier print reject
    fatal_error return break continue void profile jacobian struct typedef export auto extern var static
""".split())


def is_reserved(name: str) -> bool:
    """True when `name` cannot name a variable in Stan. Library names are not reserved: Stan lets
    `beta` or `gamma` name a parameter, and programs often do."""
    return name in _RESERVED or name.endswith("__")


# ---- suggestions -------------------------------------------------------------------------------------

# Names other languages and habits use, keyed by lower case without separators.
_DISTRIBUTION_ALIASES = {
    "gaussian": "normal", "norm": "normal", "halfnormal": "normal", "truncatednormal": "normal",
    "standardnormal": "std_normal", "t": "student_t", "studentt": "student_t",
    "halfstudentt": "student_t", "halft": "student_t", "halfcauchy": "cauchy",
    "laplace": "double_exponential", "doubleexponential": "double_exponential",
    "lognorm": "lognormal", "expon": "exponential", "exp": "exponential",
    "invgamma": "inv_gamma", "inversegamma": "inv_gamma", "binom": "binomial",
    "bern": "bernoulli", "negbinomial": "neg_binomial_2", "negativebinomial": "neg_binomial_2",
    "nbinom": "neg_binomial_2", "negbin": "neg_binomial_2", "nb": "neg_binomial_2",
    "gammapoisson": "neg_binomial", "betabinom": "beta_binomial", "unif": "uniform",
    "chi2": "chi_square", "chisquared": "chi_square", "mvnormal": "multi_normal",
    "mvn": "multi_normal", "multivariatenormal": "multi_normal", "mvstudentt": "multi_student_t",
    "multivariatestudentt": "multi_student_t", "lkj": "lkj_corr_cholesky",
    "lkjcholesky": "lkj_corr_cholesky", "lkjcorr": "lkj_corr", "cat": "categorical",
    "orderedlogit": "ordered_logistic", "orderedprobit": "ordered_probit",
    "skewnorm": "skew_normal", "exgaussian": "exp_mod_normal", "exponnorm": "exp_mod_normal",
    "gumbelr": "gumbel", "weibullmin": "weibull"
}
_FUNCTION_ALIASES = {
    "ln": "log", "sigmoid": "inv_logit", "expit": "inv_logit", "logistic": "inv_logit",
    "invlogit": "inv_logit", "gammaln": "lgamma", "loggamma": "lgamma", "gamma": "tgamma",
    "logsumexp": "log_sum_exp", "logaddexp": "log_sum_exp", "power": "pow", "cholesky": "cholesky_decompose",
    "pnorm": "Phi", "normcdf": "Phi", "ndtr": "Phi", "qnorm": "inv_Phi", "ndtri": "inv_Phi",
    "probit": "inv_Phi", "dot": "dot_product", "length": "size", "len": "size", "concat": "append_row",
    "rep": "rep_vector", "cumsum": "cumulative_sum", "diag": "diag_matrix", "eye": "identity_matrix",
    "linspace": "linspaced_vector", "std": "sd", "var": "variance", "absolute": "abs",
    "betaln": "lbeta", "logbeta": "lbeta", "log1pexp": "log1p_exp", "xlogy": "lmultiply",
    "logsigmoid": "log_inv_logit", "reciprocal": "inv", "rsqrt": "inv_sqrt", "sqr": "square",
    "invcloglog": "inv_cloglog", "expquadcov": "gp_exp_quad_cov", "softmaxlog": "log_softmax",
}


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "").replace(".", "")


def _foreign_names() -> dict[str, str]:
    """NumPyro and PyMC class names of the distributions (first table entry wins)."""
    out: dict[str, str] = {}
    for d in DISTRIBUTIONS.values():
        for foreign in (d.numpyro, d.pymc):
            if foreign:
                out.setdefault(_key(foreign), d.name)
    return out


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance with adjacent transpositions counted as one edit."""
    prev2, prev = None, list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if prev2 is not None and i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def nearest(name: str, candidates, limit: int = 3) -> list[str]:
    """The candidates within a few edits of `name` (about a third of its length), closest first."""
    budget = max(1, len(name) // 3)
    scored = sorted((edit_distance(name.lower(), c.lower()), c) for c in set(candidates))
    return [c for d, c in scored if d <= budget][:limit]


# What other libraries call Stan's argument names; language models trained on them write these.
_ARGUMENT_ALIASES = {
    "sd": "sigma", "std": "sigma", "stddev": "sigma", "scale": "sigma", "sigma2": "sigma",
    "mean": "mu", "loc": "mu", "location": "mu", "m": "mu", "df": "nu", "dof": "nu",
    "rate": "beta", "shape": "alpha", "concentration": "alpha", "p": "theta", "prob": "theta",
    "probs": "theta", "lam": "lambda", "logits": "alpha", "cov": "Sigma", "covariance": "Sigma",
    "scale_tril": "L", "low": "alpha", "high": "beta", "trials": "N", "n": "N", "total_count": "N",
}


def nearest_argument(name: str, arg_names) -> str | None:
    """The argument a misnamed keyword most likely meant (`sd` -> `sigma` for normal)."""
    alias = _ARGUMENT_ALIASES.get(name.lower())
    if alias in arg_names:
        return alias
    hits = nearest(name, arg_names, limit=1)
    return hits[0] if hits else None


def _ranked(name: str, pool, aliases: dict[str, str]) -> list[str]:
    key = _key(name)
    first = [aliases[key]] if aliases.get(key) in pool else []
    first += [p for p in pool if _key(p) == key]
    return list(dict.fromkeys(first + nearest(name, pool)))


def _suggest_names(name: str, kind: str) -> list[str]:
    if kind == "distribution":
        return _ranked(name, DISTRIBUTIONS, {**_foreign_names(), **_DISTRIBUTION_ALIASES})
    if kind == "function":
        return _ranked(name, FUNCTIONS, _FUNCTION_ALIASES)
    return list(dict.fromkeys(_suggest_names(name, "distribution") + _suggest_names(name, "function")))


def _fitting_suffix(dist: Distribution, suffix: str) -> str | None:
    if suffix in _DENSITY_SUFFIXES:
        density = "lpmf" if dist.discrete else "lpdf"
        return "lu" + density[1:] if suffix.startswith("lu") else density
    return suffix if _suffix_ok(dist, suffix) else None


def _suggest_suffixed(name: str) -> list[str]:
    parts = _split_suffix(name)
    if parts is None:
        return []
    out = []
    for base in _suggest_names(parts[0], "distribution"):
        suffix = _fitting_suffix(DISTRIBUTIONS[base], parts[1])
        if suffix is not None:
            out.append(f"{base}_{suffix}")
    return out


def suggest(name: str, kind: str = "any", limit: int = 3) -> list[str]:
    """Names the user probably meant, best first: known aliases (`gaussian` -> `normal`, NumPyro and
    PyMC class names), then names a few edits away. `kind` is "distribution", "function" or "any".

    For functions, `_lpdf`-style forms are repaired too: `gaussian_lpdf` -> `normal_lpdf`,
    `poisson_lpdf` -> `poisson_lpmf`.
    """
    if kind not in ("distribution", "function", "any"):
        raise LibraryError(f"suggest: kind must be distribution, function or any; got {kind!r}",
                           code="library.kind")
    names = _suggest_names(name, kind)
    if kind != "distribution":
        names = _suggest_suffixed(name) + names
    return list(dict.fromkeys(n for n in names if n != name))[:limit]
