"""NUTS runner: correct posterior on a known target, reproducible seeds, Stan-style init failures."""

import jax.numpy as jnp
import numpy as np
import pytest
from numpyro.diagnostics import effective_sample_size
from shared_data import shared

from boxloop.errors import FitError
from boxloop.infer.nuts import STAT_FIELDS, NutsSettings, run_nuts

PDB = shared("benchmarks", "posteriordb")

SDS = np.array([1.0, 2.0])
RHO = 0.8
COV = np.array([[SDS[0] ** 2, RHO * SDS[0] * SDS[1]], [RHO * SDS[0] * SDS[1], SDS[1] ** 2]])
PRECISION = jnp.asarray(np.linalg.inv(COV))
SMALL = NutsSettings(chains=2, warmup=500, draws=500)


def gaussian_potential(u):
    return 0.5 * u @ PRECISION @ u


@pytest.fixture(scope="module")
def gaussian_fit():
    return run_nuts(gaussian_potential, 2, SMALL, seed=11)


def test_correlated_gaussian_moments(gaussian_fit):
    draws = gaussian_fit.draws
    assert draws.shape == (2, 500, 2)
    ess = effective_sample_size(draws)
    mean, sd = draws.mean(axis=(0, 1)), draws.std(axis=(0, 1))
    mcse = sd / np.sqrt(ess)
    assert np.all(np.abs(mean) < 4 * mcse), (mean, mcse)
    np.testing.assert_allclose(sd, SDS, rtol=0.10)
    assert gaussian_fit.num_divergent == 0


def test_result_keeps_sample_stats_and_timing(gaussian_fit):
    for name in STAT_FIELDS:
        assert gaussian_fit.stats[name].shape == (2, 500)
    assert gaussian_fit.stats["diverging"].dtype == bool
    assert np.isfinite(gaussian_fit.stats["energy"]).all()
    assert gaussian_fit.step_size.shape == (2,) and gaussian_fit.inverse_mass_matrix.shape == (2, 2)
    t = gaussian_fit.timing
    assert t.compile_s > 0 and t.sample_s > 0
    assert gaussian_fit.init_u.shape == (2, 2) and np.all(np.abs(gaussian_fit.init_u) < 2)


def test_same_seed_gives_identical_draws(gaussian_fit):
    again = run_nuts(gaussian_potential, 2, SMALL, seed=11)
    np.testing.assert_array_equal(again.draws, gaussian_fit.draws)
    np.testing.assert_array_equal(again.stats["energy"], gaussian_fit.stats["energy"])


def test_different_seeds_start_differently():
    from boxloop.infer.nuts import _seed_streams

    rng_a, keys_a = _seed_streams(1, 4)
    rng_b, keys_b = _seed_streams(2, 4)
    assert not np.array_equal(keys_a, keys_b)
    assert len({tuple(k) for k in keys_a}) == 4  # every chain gets its own key


def test_always_nan_density_is_bad_init():
    with pytest.raises(FitError) as info:
        run_nuts(lambda u: jnp.nan * jnp.sum(u), 3, SMALL, seed=0)
    assert info.value.code == "fit.bad_init"
    assert "NaN/inf" in str(info.value) and "100 random initial points" in str(info.value)


def test_inits_are_retried_until_the_density_is_finite():
    # Finite only where u[0] > 1: each uniform(-2, 2) try succeeds with probability 1/4.
    from boxloop.infer.nuts import find_initial_points

    def potential(u):
        return jnp.where(u[0] > 1.0, jnp.sum(u**2), jnp.inf)

    points = find_initial_points(potential, 2, NutsSettings(chains=8), np.random.default_rng(0))
    assert points.shape == (8, 2) and np.all(points[:, 0] > 1.0) and np.all(np.abs(points) < 2)


def test_bad_explicit_inits_are_rejected():
    with pytest.raises(FitError) as info:
        run_nuts(gaussian_potential, np.array([np.nan, 0.0]), SMALL, seed=0)
    assert info.value.code == "fit.bad_init" and "[0, 1]" in str(info.value)


def test_invalid_settings_name_the_problem():
    with pytest.raises(FitError) as info:
        NutsSettings(chains=0, target_accept=1.5, chain_method="threads")
    message = str(info.value)
    assert info.value.code == "fit.bad_settings"
    assert "chains" in message and "target_accept" in message and "chain_method" in message


def test_batched_fit_recovers_each_datasets_posterior():
    from boxloop.infer.nuts import run_nuts_batched

    # y_b ~ N(mu_b, s_b) with flat priors: the posterior of mu_b is N(m_b, s_b) per dataset.
    data = {"m": np.array([[-3.0, 0.0], [0.0, 5.0], [10.0, 1.0]]), "s": np.array([[1.0], [0.5], [3.0]])}

    def potential(u, d):
        return 0.5 * jnp.sum(((u - d["m"]) / d["s"]) ** 2)

    results = run_nuts_batched(potential, 2, data, NutsSettings(chains=2, warmup=300, draws=300), seed=5)
    assert len(results) == 3
    for res, m, s in zip(results, data["m"], data["s"]):
        assert res.draws.shape == (2, 300, 2) and res.chain_method == "batched"
        mean, sd = res.draws.mean(axis=(0, 1)), res.draws.std(axis=(0, 1))
        mcse = sd / np.sqrt(effective_sample_size(res.draws))
        assert np.all(np.abs(mean - m) < 4 * mcse), (mean, m, mcse)
        np.testing.assert_allclose(sd, s[0], rtol=0.15)


# --- compiled once, data as arguments ---------------------------------------------------------------


def shifted_gaussian_potential(u, data):
    d = u - data["m"]
    return 0.5 * d @ PRECISION @ d


def test_refit_on_new_data_compiles_nothing_and_follows_the_data():
    settings = NutsSettings(chains=2, warmup=400, draws=400)
    first = run_nuts(shifted_gaussian_potential, 2, settings, seed=1, data={"m": np.array([3.0, -1.0])})
    second = run_nuts(shifted_gaussian_potential, 2, settings, seed=2, data={"m": np.array([-5.0, 2.0])})
    assert first.timing.compile_s > 0 and second.timing.compile_s == 0.0
    for res, m in ((first, [3.0, -1.0]), (second, [-5.0, 2.0])):
        mean, sd = res.draws.mean(axis=(0, 1)), res.draws.std(axis=(0, 1))
        mcse = sd / np.sqrt(effective_sample_size(res.draws))
        assert np.all(np.abs(mean - m) < 4 * mcse), (mean, m, mcse)
        np.testing.assert_allclose(sd, SDS, rtol=0.12)
    again = run_nuts(shifted_gaussian_potential, 2, settings, seed=2, data={"m": np.array([-5.0, 2.0])})
    np.testing.assert_array_equal(again.draws, second.draws)  # seeds reproduce on the cached path


def test_dense_mass_adapts_to_the_covariance():
    settings = NutsSettings(chains=2, warmup=600, draws=400, dense_mass=True)
    res = run_nuts(gaussian_potential, 2, settings, seed=4)
    assert res.inverse_mass_matrix.shape == (2, 2, 2)
    # Windowed adaptation estimates the posterior covariance (regularised towards 1e-3 * I).
    np.testing.assert_allclose(res.inverse_mass_matrix.mean(axis=0), COV, rtol=0.35, atol=0.35)
    np.testing.assert_allclose(res.draws.std(axis=(0, 1)), SDS, rtol=0.10)
    corr = np.corrcoef(res.draws.reshape(-1, 2).T)[0, 1]
    assert abs(corr - RHO) < 0.05


def test_compilation_cache_helper_writes_entries(tmp_path):
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    from boxloop.infer.nuts import enable_compilation_cache

    before = jax.config.jax_compilation_cache_dir
    try:
        enable_compilation_cache(str(tmp_path))
        jax.jit(lambda x: jnp.tanh(x) * 3.25)(jnp.ones(7)).block_until_ready()  # tiny: cached anyway
        assert any(tmp_path.iterdir())
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
        compilation_cache.reset_cache()


def test_program_refit_reuses_the_sampler_and_matches_posteriordb():
    import json
    from pathlib import Path

    from boxloop.infer.compile import fit
    from boxloop.lang import check

    root = Path(__file__).resolve().parents[1]
    source = (root / "programs" / "valid" / "eight_schools_noncentered.stan").read_text()
    pdb = PDB
    data = json.loads((pdb / "data" / "eight_schools.json").read_text())
    program = check(source, data=data).program
    settings = NutsSettings(chains=4, warmup=500, draws=500)
    first = fit(program, data, settings, seed=0)
    second = fit(program, dict(data), settings, seed=1)
    assert first.timing["compile_s"] > 0 and second.timing["compile_s"] == 0.0
    ref = json.loads((pdb / "reference_summaries" / "eight_schools-eight_schools_noncentered.mean_value.json").read_text())
    reference = dict(zip(ref["names"], ref["mean_value"]))
    for name in ("mu", "tau"):
        draws = np.concatenate([first.draws[name], second.draws[name]])
        mcse = draws.std() / np.sqrt(effective_sample_size(draws))
        assert abs(draws.mean() - reference[name]) < 4 * mcse + 0.05, (name, draws.mean(), reference[name])
