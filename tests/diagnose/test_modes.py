"""Judging a mode the draws never visited, on a two-component Gaussian mixture whose component
masses are known exactly: draws from one component, the other's mass from its Laplace
importance estimate, and what that does to the evidence verdict."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special, stats

from boxloop.diagnose import Evidence, log_evidence
from boxloop.diagnose.modes import apart_from, heavier, hessian, other_mode, with_other_modes

LOCATIONS = (np.array([0.0, 0.0]), np.array([8.0, -6.0]))
SCALES = (np.array([1.0, 0.5]), np.array([0.7, 2.0]))


def mixture(log_mass_second: float):
    """log density of mass (1 - m) in the first Gaussian and m in the second, total mass 1."""
    weights = np.array([math.log1p(-math.exp(log_mass_second)), log_mass_second])

    def component(x, i):
        return stats.norm.logpdf(x, LOCATIONS[i], SCALES[i]).sum(axis=-1)

    def log_density(x):
        x = np.atleast_2d(x)
        return special.logsumexp(np.stack([weights[i] + component(x, i) for i in (0, 1)]), axis=0)

    def gradient(u):
        # d/du log sum_i w_i N_i = sum_i r_i * (-(u - m_i) / s_i^2), r_i the responsibilities
        parts = np.array([weights[i] + component(u, i) for i in (0, 1)])
        r = np.exp(parts - special.logsumexp(parts))
        return sum(r[i] * -(u - LOCATIONS[i]) / SCALES[i] ** 2 for i in (0, 1))

    return log_density, gradient


def first_component_draws(n=2000, seed=0):
    return np.random.default_rng(seed).normal(LOCATIONS[0], SCALES[0], size=(n, 2))


def test_bridge_sampling_on_the_draws_sees_only_their_own_component():
    log_density, _ = mixture(math.log(0.9))
    ev = log_evidence(log_density, first_component_draws(), method="bridge")
    assert ev.reliable  # nothing in the draws says a mode is missing
    assert abs(ev.log_evidence - math.log(0.1)) < 0.05


def test_an_unvisited_mode_is_found_apart_and_weighed():
    log_density, gradient = mixture(math.log(0.9))
    draws = first_component_draws()
    u = LOCATIONS[1]
    assert apart_from(u, draws)
    assert not apart_from(LOCATIONS[0], draws)
    mode = other_mode(log_density, u, -hessian(gradient, u), float(log_density(draws).max()),
                      np.random.default_rng(1), 2000)
    assert abs(mode.mass.log_evidence - math.log(0.9)) < 0.05
    assert mode.mass.se < 0.01  # the proposal is that component exactly
    np.testing.assert_allclose(np.abs(np.diag(mode.chol)), SCALES[1], rtol=1e-3)


def _estimate_and_mode(log_mass_second: float):
    log_density, gradient = mixture(log_mass_second)
    draws = first_component_draws()
    ev = log_evidence(log_density, draws, method="bridge")
    u = LOCATIONS[1]
    mode = other_mode(log_density, u, -hessian(gradient, u), float(log_density(draws).max()),
                      np.random.default_rng(1), 2000)
    return ev, mode


def test_a_heavier_unvisited_mode_makes_the_estimate_untrusted_and_says_by_how_much():
    ev, mode = _estimate_and_mode(math.log(0.9))
    judged = with_other_modes(ev, (mode,))
    assert not judged.reliable
    assert judged.log_evidence == ev.log_evidence  # flagged, not silently replaced
    # log(0.1 + 0.9) - log(0.1) = 2.30 nats missing
    assert "at least 2.3" in judged.warnings[-1] and "lesser mode" in judged.warnings[-1]
    assert heavier(ev, (mode,)) is mode


def test_a_lighter_mode_that_still_moves_the_estimate_is_flagged_but_not_heavier():
    ev, mode = _estimate_and_mode(math.log(0.3))  # log(1 / 0.7) = 0.36 nats missing
    judged = with_other_modes(ev, (mode,))
    assert not judged.reliable and "lesser mode" not in judged.warnings[-1]
    assert heavier(ev, (mode,)) is None


def test_a_negligible_mode_changes_nothing():
    ev, mode = _estimate_and_mode(math.log(1e-4))
    assert with_other_modes(ev, (mode,)) == ev


def test_a_saddle_is_not_a_mode():
    log_density, _ = mixture(math.log(0.5))
    saddle = -np.diag([1.0, -1.0])  # -H with a negative eigenvalue
    assert other_mode(log_density, np.zeros(2), saddle, 0.0, np.random.default_rng(0), 100) is None


def test_an_estimate_that_is_not_finite_is_left_to_its_own_verdict():
    ev, mode = _estimate_and_mode(math.log(0.9))
    nan = Evidence(float("nan"), float("nan"), "bridge", 10)
    assert with_other_modes(nan, (mode,)) == nan


@pytest.mark.parametrize("u", [np.array([0.3, -0.2]), np.array([5.0, 1.0])])
def test_the_finite_difference_hessian_matches_the_closed_form(u):
    _, gradient = mixture(math.log(1e-12))  # effectively the first Gaussian alone
    np.testing.assert_allclose(hessian(gradient, u), -np.diag(1 / SCALES[0] ** 2), rtol=1e-5, atol=1e-8)
