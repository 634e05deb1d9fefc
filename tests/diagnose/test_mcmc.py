"""The numpy convergence kernels give ArviZ 0.23's numbers: same estimator, same conventions."""

import warnings

import numpy as np
import pytest

from boxloop.diagnose import mcmc

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import arviz as az

az.Numba.disable_numba()


def _ar1(rng, chains, draws, phi, k=3):
    x = np.zeros((chains, draws, k))
    noise = rng.normal(size=(chains, draws, k))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def _cases():
    rng = np.random.default_rng(1)
    for chains in (1, 2, 4):
        for draws in (4, 5, 10, 201, 1000):
            for phi in (0.0, 0.6, 0.97, -0.4):
                yield f"ar1-{chains}x{draws}-{phi}", _ar1(rng, chains, draws, phi)
    yield "ties", rng.poisson(1.0, size=(4, 100, 2)).astype(float)
    yield "constant", np.ones((4, 100, 1))
    stuck = rng.normal(size=(4, 100, 2))
    stuck[:2] += 3.0
    yield "stuck-chains", stuck
    with_nan = rng.normal(size=(4, 50, 2))
    with_nan[0, 3, 1] = np.nan
    yield "nan", with_nan


CASES = dict(_cases())
KERNELS = {
    "rhat": (mcmc.rhat, lambda a: az.rhat(a, method="rank")),
    "ess_bulk": (mcmc.ess_bulk, lambda a: az.ess(a, method="bulk")),
    "ess_tail": (mcmc.ess_tail, lambda a: az.ess(a, method="tail")),
    "ess_mean": (mcmc.ess_mean, lambda a: az.ess(a, method="mean")),
    "mcse_mean": (mcmc.mcse_mean, lambda a: az.mcse(a, method="mean")),
    "mcse_sd": (mcmc.mcse_sd, lambda a: az.mcse(a, method="sd")),
}


@pytest.mark.parametrize("kernel", sorted(KERNELS))
def test_kernel_matches_arviz_on_every_case(kernel):
    ours_fn, arviz_fn = KERNELS[kernel]
    for name, draws in CASES.items():
        ours = ours_fn(draws)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = np.array([float(arviz_fn(draws[:, :, j])) for j in range(draws.shape[2])])
        assert ours.shape == draws.shape[2:], name
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref), err_msg=f"{kernel} on {name}")
        np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-12, err_msg=f"{kernel} on {name}")


def test_kernels_keep_the_parameter_shape_and_bfmi_matches():
    rng = np.random.default_rng(2)
    draws = rng.normal(size=(4, 200, 2, 3))
    assert mcmc.rhat(draws).shape == (2, 3) and mcmc.ess_bulk(draws[..., 0, 0]).shape == ()
    energy = np.cumsum(rng.normal(size=(4, 300)), axis=1)
    np.testing.assert_allclose(mcmc.bfmi(energy), az.bfmi(energy), rtol=1e-12)
    assert np.all(mcmc.bfmi(energy) < 0.3)  # a random walk in energy is what low E-BFMI means


def test_independent_draws_have_full_ess_and_rhat_one():
    draws = np.random.default_rng(3).normal(size=(4, 1000, 5))
    assert np.all(np.abs(mcmc.rhat(draws) - 1.0) < 0.01)
    assert np.all(mcmc.ess_bulk(draws) > 3000)
