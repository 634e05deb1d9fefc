"""A family's shared simulator draws the same data as the structure's own program would.

The corpus simulates every regression structure with its family's one compiled program and a
dict of switches and constants; these tests hold that the data it draws follow the prior
predictive of the label program itself (compiled and simulated on its own), for a structure that
uses a raw covariate (standardised in transformed data), a group effect, a varying slope and a
distractor column."""

import jax
import numpy as np
import pytest

from boxloop.infer.compile import compile_program
from boxloop.lang import parse
from boxloop.spfn.corpus import DataSpec, make_structure
from boxloop.spfn.simulate import design, simulator_data
from boxloop.spfn.simulators import regression_defaults, regression_program

DRAWS = 3000


def _summaries(y: np.ndarray) -> np.ndarray:
    """Per draw: the mean and the log sd of the dataset."""
    y = np.asarray(y, float)
    return np.stack([y.mean(1), np.log(y.std(1) + 1e-9)], 1)


def _both(structure, rows: int, seed: int):
    rng = np.random.default_rng(seed)
    data = design(rng, structure.spec, rows)
    own = compile_program(parse(structure.text), data).simulate(jax.random.PRNGKey(seed), "prior", DRAWS)["y"]
    shared_model = compile_program(parse(structure.simulator), simulator_data(structure, data, 150))
    shared = shared_model.simulate(jax.random.PRNGKey(seed + 1), "prior", DRAWS)["y"][:, :rows]
    return _summaries(own), _summaries(shared)


def _assert_same_distribution(a: np.ndarray, b: np.ndarray) -> None:
    # medians of each summary within 4 Monte Carlo standard errors (summaries are heavy-tailed
    # under vague priors, so compare medians by their bootstrap-free asymptotic error)
    for k in range(a.shape[1]):
        x, z = a[:, k][np.isfinite(a[:, k])], b[:, k][np.isfinite(b[:, k])]
        iqr = np.subtract(*np.percentile(np.r_[x, z], [75, 25]))
        se = 1.253 * iqr / 1.349 * np.sqrt(1 / x.size + 1 / z.size)
        assert abs(np.median(x) - np.median(z)) < 4 * se + 1e-9, (k, np.median(x), np.median(z), se)


def test_normal_structure_with_groups_slopes_and_a_raw_covariate():
    spec = DataSpec("normal", covariates=3, groups=1, used=(1, 3), raw=(3,))
    rng = np.random.default_rng(2)
    structure = next(s for s in (make_structure(rng, "normal", spec) for _ in range(50))
                     if any(p.startswith("slope:") for p in s.parts))
    assert "sd(x3)" in structure.text and "x2" not in structure.text.split("parameters {")[1]
    own, shared = _both(structure, 60, 7)
    _assert_same_distribution(own, shared)


@pytest.mark.slow
@pytest.mark.parametrize("family", ["poisson", "student_t", "gamma", "binomial"])
def test_other_regression_families(family):
    rng = np.random.default_rng(5)
    spec = DataSpec(family, covariates=2, groups=1, trials=family == "binomial")
    own, shared = _both(make_structure(rng, family, spec), 40, 3)
    _assert_same_distribution(own, shared)


def test_defaults_switch_everything_off():
    values = regression_defaults("poisson")
    assert values["on_a1"] == values["on_a2"] == values["on_c1"] == 0.0
    assert "y ~ poisson_log(eta);" in regression_program("poisson", "count")
