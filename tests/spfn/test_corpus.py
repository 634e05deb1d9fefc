"""The corpus: every family's programs pass the checker, are their own canonical form, and say
which structure they are (the evaluation's rule agrees with what the generator built)."""

import numpy as np
import pytest

from boxloop.lang import canonical_text, check, parse
from boxloop.spfn.corpus import FAMILIES, DataSpec, data_declarations, lift_constants, make_structure
from boxloop.spfn.evaluate import generating_structure, structure_of


@pytest.fixture(scope="module")
def structures():
    rng = np.random.default_rng(11)
    return [make_structure(rng, FAMILIES[i % len(FAMILIES)]) for i in range(80)]


def test_programs_pass_the_checker_and_are_canonical(structures):
    for s in structures:
        assert check(s.text).valid, s.text
        assert canonical_text(parse(s.text)) == s.text
        assert check(s.simulator).valid, s.simulator


def test_every_family_and_covariate_count_appears(structures):
    assert {s.family for s in structures} == set(FAMILIES)
    regressions = [s for s in structures if s.family in ("normal", "poisson", "binomial", "bernoulli")]
    assert len({s.spec.covariates for s in regressions}) >= 4
    assert any(s.spec.groups == 2 for s in structures) and any("slope:g1:x1" in s.parts for s in structures)


def test_structure_is_read_back_from_the_text(structures):
    for s in structures:
        found = structure_of(s.text)
        assert found.family == s.family
        assert found == generating_structure(s.text, s.parts)


def test_lifted_constants_are_the_priors_numbers():
    text = ("data {\n  int<lower=0> N;\n  vector[N] y;\n}\nparameters {\n  real mu;\n  real<lower=0> sigma;\n}\n"
            "model {\n  mu ~ normal(0, 2.5);\n  sigma ~ exponential(1);\n  y ~ normal(mu, sigma);\n}\n")
    lifted, values = lift_constants(text)
    assert values == {"k1": 0.0, "k2": 2.5, "k3": 1.0}
    assert "mu ~ normal(k1, k2);" in lifted and "real k3;" in lifted and "y ~ normal(mu, sigma);" in lifted
    assert check(lifted).valid


def test_data_block_matches_what_the_data_layer_declares():
    from boxloop.data import make_task

    spec = DataSpec("binomial", covariates=2, groups=1, trials=True)
    rng = np.random.default_rng(0)
    data = {"N": 30, "J1": 4, "y": rng.integers(0, 5, 30).tolist(), "x1": rng.normal(size=30).tolist(),
            "x2": rng.normal(size=30).tolist(), "g1": (np.arange(30) % 4 + 1).tolist(), "trials": [5] * 30}
    block = make_task(data, target="y").data_block()
    assert all(line in block for line in data_declarations(spec))


def test_distractors_are_declared_but_unused_and_raw_covariates_standardised():
    rng = np.random.default_rng(3)
    spec = DataSpec("poisson", covariates=3, groups=0, used=(2,), raw=(2,))
    s = make_structure(rng, "poisson", spec)
    body = s.text.split("parameters {", 1)[1]
    assert "vector[N] x1;" in s.text and "vector[N] x3;" in s.text  # in the data block
    assert "x1" not in body and "x3" not in body and "(x2 - mean(x2)) / sd(x2)" in s.text
    assert s.parts == ("x2",) and structure_of(s.text) == generating_structure(s.text, s.parts)
