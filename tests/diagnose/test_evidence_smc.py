"""Tempered SMC, the non-centred change of variables and auto's verdict, on densities whose
normaliser is known in closed form (numpy only: no compile, so fast)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from test_evidence import N_DRAWS, MODELS, normal_mean

from boxloop.diagnose import CentredGroup, Evidence, NonCentring, Prior, SmcSettings, log_evidence
from boxloop.diagnose.smc import ess_fraction, next_temperature, systematic_resample


def test_next_temperature_keeps_half_the_effective_sample_size():
    loglik = np.random.default_rng(0).normal(-50.0, 10.0, 2000)
    t = next_temperature(loglik, 0.0, 0.5)
    assert 0 < t < 1 and ess_fraction((t - 0.0) * loglik) == pytest.approx(0.5, abs=1e-3)
    assert next_temperature(np.zeros(100), 0.3, 0.5) == 1.0  # a flat likelihood is done in one step


def test_systematic_resampling_copies_in_proportion_to_the_weights():
    log_w = np.array([math.log(0.5), math.log(0.25), math.log(0.25), -np.inf])
    counts = np.bincount(systematic_resample(np.random.default_rng(1), log_w), minlength=4)
    assert counts.tolist() == [2, 1, 1, 0]


@pytest.mark.parametrize("model", list(MODELS))
def test_smc_from_a_broad_reference_matches_the_closed_form(model):
    case = MODELS[model](np.random.default_rng(11))
    ev = log_evidence(case.log_density, case.draws_u, method="smc", seed=2, smc=SmcSettings(particles=1000))
    assert ev.method == "smc" and ev.reliable and 0 < ev.se < 0.05
    assert abs(ev.log_evidence - case.log_evidence) < 0.05, ev


def test_smc_from_the_prior_matches_the_closed_form():
    # normal_mean's prior is mu ~ normal(1, 3): the path is pure likelihood tempering.
    case = normal_mean(np.random.default_rng(11))
    prior = Prior(lambda u: (stats.norm.logpdf(u[:, 0], 1, 3), case.log_density(u) - stats.norm.logpdf(u[:, 0], 1, 3)),
                  lambda rng, n: rng.normal(1, 3, (n, 1)))
    ev = log_evidence(case.log_density, None, method="smc", prior=prior, seed=4, smc=SmcSettings(particles=1000))
    assert abs(ev.log_evidence - case.log_evidence) < 0.05 and ev.se < 0.05, ev


def test_auto_falls_back_to_smc_when_the_draws_are_off():
    # Draws 2 posterior sd too far right, as from a sampler that missed part of the posterior:
    # bridge and IS lean on them and disagree; SMC does not use them and gets the closed form.
    case = normal_mean(np.random.default_rng(11))
    off = case.draws_u + 2 * np.std(case.draws_u)
    ev = log_evidence(case.log_density, off, method="auto", seed=5, smc=SmcSettings(particles=1000))
    assert ev.method == "smc" and ev.reliable
    assert any("disagree" in w or "Pareto k" in w or "standard error" in w for w in ev.warnings), ev.warnings
    assert any("tempered SMC" in w for w in ev.warnings)
    assert abs(ev.log_evidence - case.log_evidence) < 0.05
    bridge = log_evidence(case.log_density, off, method="bridge", seed=5)
    assert abs(bridge.log_evidence - case.log_evidence) > 0.1  # the fallback was needed


def test_divergences_make_auto_cross_check_and_bridge_alone_unreliable():
    case = normal_mean(np.random.default_rng(11))
    ev = log_evidence(case.log_density, case.draws_u, divergences=12, seed=6, smc=SmcSettings(particles=1000))
    assert ev.method == "bridge" and ev.reliable
    assert any("12 divergent transitions" in w for w in ev.warnings)
    assert any("agrees within" in w for w in ev.warnings)
    alone = log_evidence(case.log_density, case.draws_u, method="bridge", divergences=12)
    assert not alone.reliable and "12 divergent transitions" in alone.warnings[0]


# ---- the non-centred change of variables --------------------------------------------------------------------

GROUP = CentredGroup("theta", theta=(2, 3, 4), mu=0, log_tau=1)


def _hierarchy_density(u):
    """mu ~ N(0, 1), tau ~ half-normal(0, 1) as u = log tau (+ Jacobian), theta_j ~ N(mu, tau): the
    normaliser is exactly 1 (it is a prior), in centred coordinates."""
    mu, log_tau, theta = u[:, 0], u[:, 1], u[:, 2:]
    tau = np.exp(log_tau)
    return (stats.norm.logpdf(mu) + math.log(2) + stats.norm.logpdf(tau) + log_tau
            + stats.norm.logpdf(theta, mu[:, None], tau[:, None]).sum(axis=1))


def test_noncentring_round_trips_and_its_jacobian_is_the_determinant():
    nc = NonCentring((GROUP,))
    v = np.random.default_rng(7).normal(size=(5, 5))
    assert np.allclose(nc.to_noncentred(nc.to_centred(v)), v)
    eps = 1e-6
    for row in v:
        jac = np.stack([(nc.to_centred((row + eps * e)[None]) - nc.to_centred((row - eps * e)[None]))[0] / (2 * eps)
                        for e in np.eye(5)], axis=1)
        assert nc.log_jacobian(row[None])[0] == pytest.approx(np.linalg.slogdet(jac)[1], abs=1e-6)


def test_the_noncentred_density_has_the_same_normaliser():
    # In v the hierarchy is a product of standard normals (z) and the mu, tau priors: its log
    # normaliser is 0, as in u. Draws of v come exactly from that product.
    nc = NonCentring((GROUP,))
    rng = np.random.default_rng(8)
    v = np.column_stack([rng.normal(size=N_DRAWS), np.log(np.abs(rng.normal(size=N_DRAWS))),
                         rng.normal(size=(N_DRAWS, 3))])
    density_v = nc.density(_hierarchy_density)
    ev = log_evidence(density_v, v, method="bridge", seed=9)
    assert abs(ev.log_evidence) < 0.02, ev
    # and the same draws mapped back to u give the same answer on the centred density
    ev_u = log_evidence(_hierarchy_density, nc.to_centred(v), method="smc", noncentring=nc, seed=9,
                        smc=SmcSettings(particles=1000))
    assert abs(ev_u.log_evidence) < 0.05 and ev_u.method == "smc+noncentred", ev_u


# ---- stored verdicts ---------------------------------------------------------------------------------------

def test_a_stored_evidence_dict_from_before_the_verdict_still_loads():
    old = {"log_evidence": -31.3, "se": 0.04, "method": "bridge", "n_draws": 4000, "pareto_k": None}
    ev = Evidence.from_dict(old)
    assert ev.reliable and ev.warnings == () and ev.log_evidence == -31.3
    assert Evidence.from_dict({"log_evidence": -3.0, "method": "is", "pareto_k": 0.9}).reliable is False
    new = Evidence(-2.0, 0.3, "smc", 8000, warnings=("standard error 0.30 nats above 0.1",), trusted=False)
    assert Evidence.from_dict(new.to_dict()) == new
