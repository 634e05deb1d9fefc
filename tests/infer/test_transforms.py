"""Constraint transforms: round trips, exact log-Jacobians, and the constraints themselves.

The log-Jacobian check is the one a sampler depends on: for each transform, the returned log-det
must equal log|det d(free coordinates of the value)/du| computed by autodiff (float64, 1e-6).
"""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from boxloop.errors import FitError
from boxloop.infer import transforms as T


@pytest.fixture(autouse=True, scope="module")
def float64():
    with jax.enable_x64(True):
        yield


def _tril(offset):
    return lambda x: x[..., *np.tril_indices(x.shape[-2], offset, x.shape[-1])].ravel()


INF = np.inf
# name: (spec, shape, params, free coordinates of the value)
CASES = {
    "identity": (T.Identity(), (2, 3), (), jnp.ravel),
    "lower": (T.Lower(), (4,), (0.5,), jnp.ravel),
    "lower_array": (T.Lower(), (2, 3), (np.array([-1.0, 0.0, 2.0]),), jnp.ravel),
    "upper_array": (T.Upper(), (2, 3), (np.array([[1.0], [3.0]]),), jnp.ravel),
    "lower_upper": (T.LowerUpper(), (5,), (-1.0, 3.0), jnp.ravel),
    "lower_upper_mixed_inf": (
        T.LowerUpper(), (4,), (np.array([0.0, -INF, 1.0, -INF]), np.array([2.0, 5.0, INF, INF])), jnp.ravel
    ),
    "offset_multiplier": (T.OffsetMultiplier(), (3,), (np.array([1.0, 2.0, 3.0]), 2.5), jnp.ravel),
    "simplex": (T.Simplex(), (5,), (), lambda x: x[..., :-1].ravel()),
    "array_simplex": (T.Simplex(), (3, 4), (), lambda x: x[..., :-1].ravel()),
    "ordered": (T.Ordered(), (4,), (), jnp.ravel),
    "positive_ordered": (T.PositiveOrdered(), (2, 4), (), jnp.ravel),
    "cholesky_factor_corr": (T.CholeskyFactorCorr(), (4, 4), (), _tril(-1)),
    "array_cholesky_factor_corr": (T.CholeskyFactorCorr(), (2, 3, 3), (), _tril(-1)),
    "cholesky_factor_cov": (T.CholeskyFactorCov(), (5, 3), (), _tril(0)),
    "corr_matrix": (T.CorrMatrix(), (4, 4), (), _tril(-1)),
    "cov_matrix": (T.CovMatrix(), (3, 3), (), _tril(0)),
    "array_cov_matrix": (T.CovMatrix(), (2, 3, 3), (), _tril(0)),
}


def _random_u(spec, shape, seed):
    # Spread wide enough to reach the curved parts of each map, not so wide that float64 saturates.
    return np.random.default_rng(seed).normal(0.0, 1.2, spec.free_size(shape))


@pytest.mark.parametrize("name", CASES)
def test_log_det_matches_autodiff_jacobian(name):
    spec, shape, params, free = CASES[name]
    draws = np.stack([_random_u(spec, shape, seed) for seed in range(4)])

    def both(u):
        jac = jax.jacfwd(lambda v: free(spec.forward(v, shape, *params)[0]))(u)
        return spec.forward(u, shape, *params)[1], jac

    # One compile per case (eager jacfwd would compile op by op and take seconds).
    log_dets, jacs = jax.jit(jax.vmap(both))(draws)
    assert jacs.shape[1:] == (draws.shape[1], draws.shape[1])
    signs, expected = np.linalg.slogdet(np.asarray(jacs))
    assert (signs != 0).all()
    np.testing.assert_allclose(log_dets, expected, atol=1e-6)


@pytest.mark.parametrize("name", CASES)
def test_inverse_undoes_forward(name):
    spec, shape, params, _ = CASES[name]
    u = _random_u(spec, shape, 7)

    def round_trip(u):
        value = spec.forward(u, shape, *params)[0]
        back = spec.inverse(value, *params)
        return value, back, spec.forward(back, shape, *params)[0]

    value, back, again = jax.jit(round_trip)(u)
    assert value.shape == shape
    np.testing.assert_allclose(back, u, atol=1e-8)
    np.testing.assert_allclose(again, value, atol=1e-10)


@functools.cache
def _value(name):
    spec, shape, params, _ = CASES[name]
    return np.asarray(jax.jit(lambda u: spec.forward(u, shape, *params)[0])(_random_u(spec, shape, 3)))


def test_bounded_values_lie_inside_their_bounds():
    assert (_value("lower") > 0.5).all()
    assert (_value("lower_array") > np.array([-1.0, 0.0, 2.0])).all()
    assert (_value("upper_array") < np.array([[1.0], [3.0]])).all()
    x = _value("lower_upper")
    assert ((x > -1.0) & (x < 3.0)).all()
    mixed = _value("lower_upper_mixed_inf")
    assert 0 < mixed[0] < 2 and mixed[1] < 5 and mixed[2] > 1


def test_simplexes_are_positive_and_sum_to_one():
    for name in ("simplex", "array_simplex"):
        x = _value(name)
        assert (x > 0).all()
        np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-12)


def test_ordered_vectors_increase():
    assert (np.diff(_value("ordered")) > 0).all()
    x = _value("positive_ordered")
    assert (x[..., 0] > 0).all() and (np.diff(x, axis=-1) > 0).all()


def test_cholesky_corr_rows_have_unit_norm():
    for name in ("cholesky_factor_corr", "array_cholesky_factor_corr"):
        chol = _value(name)
        np.testing.assert_allclose(np.linalg.norm(chol, axis=-1), 1.0, atol=1e-12)
        assert np.allclose(np.triu(chol, 1), 0.0) and (np.diagonal(chol, axis1=-2, axis2=-1) > 0).all()


def test_cholesky_cov_is_lower_triangular_with_positive_diagonal():
    chol = _value("cholesky_factor_cov")
    assert np.allclose(np.triu(chol, 1), 0.0) and (np.diag(chol) > 0).all()


def test_covariance_and_correlation_matrices_are_symmetric_positive_definite():
    for name in ("cov_matrix", "array_cov_matrix", "corr_matrix"):
        m = _value(name)
        np.testing.assert_array_equal(m, np.swapaxes(m, -1, -2))
        assert (np.linalg.eigvalsh(m) > 0).all()
    np.testing.assert_allclose(np.diag(_value("corr_matrix")), 1.0, atol=1e-15)


def test_unit_vector_has_unit_norm_and_round_trips():
    spec = T.UnitVector()
    u = _random_u(spec, (3, 4), 0)
    x, log_det = spec.forward(u, (3, 4))
    np.testing.assert_allclose(np.linalg.norm(x, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(log_det, -0.5 * np.sum(u**2), rtol=1e-12)
    np.testing.assert_allclose(spec.forward(spec.inverse(x), (3, 4))[0], x, atol=1e-12)


def test_works_under_jit_and_vmap_over_draws():
    spec, shape, _, _ = CASES["array_cholesky_factor_corr"]
    draws = np.random.default_rng(0).normal(size=(6, spec.free_size(shape)))
    values, log_dets = jax.jit(jax.vmap(lambda u: spec.forward(u, shape)))(draws)
    one = jax.jit(lambda u: spec.forward(u, shape))
    for d, v, ld in zip(draws, values, log_dets):
        v_ref, ld_ref = one(d)
        np.testing.assert_allclose(v, v_ref, atol=1e-12)
        np.testing.assert_allclose(ld, ld_ref, atol=1e-12)
    back = jax.jit(jax.vmap(spec.inverse))(values)
    np.testing.assert_allclose(back, draws, atol=1e-8)


def test_traced_bounds_with_infinite_elements_have_finite_gradients():
    # Bounds computed inside the density (data- or parameter-dependent) are tracers under jit.
    lower = jnp.array([0.0, -INF, 1.0, -INF])
    upper = jnp.array([2.0, 5.0, INF, INF])
    u = jnp.array([30.0, -0.3, 0.2, 2.0])  # a large u must not leak inf/NaN into the gradient

    def logp(u, lower, upper):
        x, log_det = T.LowerUpper().forward(u, (4,), lower, upper)
        return jnp.sum(x) + log_det

    x, _ = jax.jit(lambda u, a, b: T.LowerUpper().forward(u, (4,), a, b))(u, lower, upper)
    np.testing.assert_allclose(x[1:], [5.0 - np.exp(-0.3), 1.0 + np.exp(0.2), 2.0], rtol=1e-12)
    grads = jax.jit(jax.grad(logp, argnums=(0, 1, 2)))(u, lower, upper)
    assert all(np.isfinite(g).all() for g in grads)


def test_free_sizes_of_declared_types():
    assert T.Simplex().free_size((6,)) == 5
    assert T.Simplex().free_size((4, 6)) == 20
    assert T.CholeskyFactorCorr().free_size((5, 5)) == 10
    assert T.CorrMatrix().free_size((5, 5)) == 10
    assert T.CovMatrix().free_size((5, 5)) == 15
    assert T.CholeskyFactorCov().free_size((5, 3)) == 12
    assert T.LowerUpper().free_size((2, 3)) == 6
    with pytest.raises(FitError) as info:
        T.CholeskyFactorCov().free_size((2, 3))
    assert info.value.code == "fit.bad_shape"


def test_for_declaration_picks_the_transform():
    assert isinstance(T.for_declaration("real"), T.Identity)
    assert isinstance(T.for_declaration("vector", lower=True), T.Lower)
    assert isinstance(T.for_declaration("real", upper=True), T.Upper)
    assert isinstance(T.for_declaration("matrix", lower=True, upper=True), T.LowerUpper)
    assert isinstance(T.for_declaration("real", multiplier=True), T.OffsetMultiplier)
    assert isinstance(T.for_declaration("corr_matrix"), T.CorrMatrix)
    with pytest.raises(FitError):
        T.for_declaration("simplex", lower=True)
