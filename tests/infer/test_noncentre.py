"""Which compiled programs have centred normal groups the evidence can non-centre."""

from __future__ import annotations

import numpy as np
import pytest
from references import EIGHT_DATA

from boxloop.infer.compile import compile_program
from boxloop.infer.noncentre import noncentred_potential, noncentring
from boxloop.lang import check

HEAD = "data { int<lower=0> J; vector[J] y; vector<lower=0>[J] sigma; }\n"


def _model(parameters: str, model: str, extra: str = ""):
    source = HEAD + extra + f"parameters {{ {parameters} }}\nmodel {{ {model} y ~ normal(theta, sigma); }}\n"
    result = check(source, EIGHT_DATA)
    assert result.valid, result.errors
    return compile_program(result.program, EIGHT_DATA)


def test_the_centred_eight_schools_has_one_group_over_theta():
    m = _model("real mu; real<lower=0> tau; vector[J] theta;",
               "mu ~ normal(0, 5); tau ~ cauchy(0, 5); theta ~ normal(mu, tau);")
    (g,) = noncentring(m).groups
    layout = {p.name: p for p in m.param_layout}
    assert g.name == "theta" and g.theta == tuple(range(layout["theta"].offset, layout["theta"].offset + 8))
    assert (g.mu, g.log_tau) == (layout["mu"].offset, layout["tau"].offset)
    # the map's tau is the model's: u holds log tau under <lower=0>
    u = np.random.default_rng(0).normal(size=(1, m.dim))
    assert float(np.asarray(m.constrain(u[0])["tau"])) == pytest.approx(np.exp(u[0, g.log_tau]))


def test_a_constant_location_counts_and_a_constant_scale_with_it_does_not():
    m = _model("real<lower=0> tau; vector[J] theta;", "tau ~ normal(0, 5); theta ~ normal(0, tau);")
    (g,) = noncentring(m).groups
    assert g.mu is None and g.mu_value == 0.0
    fixed = _model("vector[J] theta;", "theta ~ normal(1, 5);")
    assert noncentring(fixed) is None  # independent normals: no funnel to remove


@pytest.mark.parametrize("parameters, model", [
    ("real mu; real<lower=0> tau; vector[J] eta;",  # already non-centred
     "mu ~ normal(0, 5); tau ~ cauchy(0, 5); eta ~ std_normal(); vector[J] theta = mu + tau * eta;"),
    ("real mu; real<lower=0> tau; vector<lower=0>[J] theta;",  # bounded effects: u is log theta
     "mu ~ normal(0, 5); tau ~ cauchy(0, 5); theta ~ normal(mu, tau);"),
    ("real mu; real<lower=1> tau; vector[J] theta;",  # u is log(tau - 1), not log tau
     "mu ~ normal(0, 5); tau ~ cauchy(0, 5); theta ~ normal(mu, tau);"),
    ("real mu; real<lower=0> tau; vector[J] theta;",  # a Student-t group is not this change of variables
     "mu ~ normal(0, 5); tau ~ cauchy(0, 5); theta ~ student_t(4, mu, tau);"),
])
def test_programs_the_map_does_not_fit_have_no_groups(parameters, model):
    assert noncentring(_model(parameters, model)) is None


def test_the_noncentred_potential_is_the_same_posterior_in_the_other_coordinates():
    # NUTS runs on this potential after a centred fit diverged; the bridge then reads its draws with
    # the numpy density over v, so the two must agree at every point, Jacobian included.
    m = _model("real mu; real<lower=0> tau; vector[J] theta;",
               "mu ~ normal(0, 5); tau ~ cauchy(0, 5); theta ~ normal(mu, tau);")
    groups = noncentring(m)
    v = np.random.default_rng(1).normal(size=(5, m.dim))
    potential = noncentred_potential(m.kernel, groups)
    ours = np.array([-float(potential(row, m.dyn)) for row in v])
    expected = groups.density(lambda u: np.asarray(m.log_density_batch(u)))(v)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)
    assert noncentred_potential(m.kernel, groups) is potential  # one sampler compile per kernel
