"""Centred <-> non-centred: the same model, written for the other geometry."""

from pathlib import Path

import numpy as np
import pytest

from boxloop.lang import check, structural_hash
from boxloop.propose.reparameterise import reparameterise

PROGRAMS = Path(__file__).resolve().parents[1] / "programs" / "valid"
CENTRED = (PROGRAMS / "eight_schools_centered.stan").read_text()


def test_a_centred_group_gets_the_affine_transform_and_back():
    noncentred = reparameterise(CENTRED, "noncentre")
    assert "vector<offset=mu, multiplier=tau>[J] theta;" in noncentred
    assert check(noncentred).valid
    assert structural_hash(check(noncentred).program) != structural_hash(check(CENTRED).program)
    assert reparameterise(noncentred, "noncentre") is None  # nothing left to switch
    centred = reparameterise(noncentred, "centre")
    assert structural_hash(check(centred).program) == structural_hash(check(CENTRED).program)
    assert reparameterise(CENTRED, "centre") is None


def test_fixed_scales_and_explicit_non_centring_are_left_alone():
    radon = (PROGRAMS / "radon_hierarchical_intercept.stan").read_text()  # alpha_raw ~ normal(0, 1)
    assert reparameterise(radon, "noncentre") is None
    later = CENTRED.replace("real mu;\n  real<lower=0> tau;\n  vector[J] theta;", "vector[J] theta;\n  real mu;\n  real<lower=0> tau;")
    assert later != CENTRED and reparameterise(later, "noncentre") is None  # mu, tau declared after theta
    with pytest.raises(ValueError):
        reparameterise(CENTRED, "sideways")


@pytest.mark.slow
def test_both_forms_give_the_same_posterior():
    from boxloop.infer.nuts import NutsSettings
    from boxloop.infer.pipeline import fit_program

    data = {"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}
    settings = NutsSettings(chains=2, warmup=1000, draws=2000, target_accept=0.95, chain_method="sequential")
    fits = [fit_program(text, data, settings) for text in (CENTRED, reparameterise(CENTRED, "noncentre"))]
    means = [float(np.mean(f.draws["mu"])) for f in fits]
    mcse = [f.summary()["mu"]["mcse_mean"] for f in fits]
    assert abs(means[0] - means[1]) < 4 * np.hypot(*mcse)
    assert fits[1].diagnostics.divergences <= fits[0].diagnostics.divergences
