"""The shape checks the grammar proposer leans on, on simulated data with a known answer and on
the RefineStat datasets, and the lean itself showing up in what gets proposed."""


import numpy as np
import pytest
from shared_data import shared

from boxloop.data import load_data, make_task
from boxloop.propose import eda
from boxloop.propose.grammar import GrammarProposer
from boxloop.propose.grammar_parts import Weights, analyse

DATA = shared("benchmarks", "posteriordb", "data")
RNG = np.random.default_rng(0)
X = np.linspace(1.0, 30.0, 40)


def test_empirical_logit_is_the_trials_link_scale():
    z = eda.link_scale(np.array([0, 5, 10]), "count", trials=np.array([10, 10, 10]))
    np.testing.assert_allclose(z, np.log(np.array([0.5, 5.5, 10.5]) / np.array([10.5, 5.5, 0.5])))


def test_log_scale_is_found_when_the_effect_is_logarithmic_and_not_otherwise():
    assert eda.log_fits_better(X, 2.0 + 1.5 * np.log(X) + RNG.normal(0, 0.1, X.size))
    assert not eda.log_fits_better(X, 2.0 + 0.3 * X + RNG.normal(0, 0.1, X.size))
    assert not eda.log_fits_better(X - 10.0, np.log(X))  # not positive: log is not an option


def test_a_curve_is_found_when_it_is_there_and_not_in_a_straight_line():
    assert eda.curved(X, (X - 15.0) ** 2 + RNG.normal(0, 5.0, X.size))
    assert not eda.curved(X, 0.5 * X + RNG.normal(0, 1.0, X.size))


def test_dispersion_is_about_one_for_binomial_data_and_large_for_beta_binomial():
    n = np.full(400, 50)
    binomial = RNG.binomial(n, 0.3)
    beta_binomial = RNG.binomial(n, RNG.beta(3.0, 7.0, n.size))
    assert eda.dispersion(binomial, "count", n) == pytest.approx(1.0, abs=0.2)
    assert eda.dispersion(beta_binomial, "count", n) > 3.0
    assert eda.dispersion(RNG.poisson(4.0, 400), "count") == pytest.approx(1.0, abs=0.2)
    assert eda.dispersion(RNG.normal(size=400), "real") is None


@pytest.mark.parametrize("file, target, check", [
    ("dugongs_data.json", "Y", lambda r: r.covariates[0].log_better),  # length grows like log(age)
    ("GLM_Binomial_data.json", "C", lambda r: r.covariates[0].curved),  # logit quadratic in year
    ("surgical_data.json", "r", lambda r: r.dispersion > 1.5),  # hospitals differ
])
def test_the_refinestat_datasets_show_what_their_expert_models_assume(file, target, check):
    assert check(analyse(make_task(load_data(DATA / file), target=target)))


def test_the_proposer_leans_towards_the_scale_the_data_point_at():
    task = make_task(load_data(DATA / "dugongs_data.json"), target="Y")
    def share(weights):
        texts = [p.text for p in GrammarProposer(weights).propose(task, n=200, seed=5)]
        return sum("log(x)" in t for t in texts) / len(texts)
    leaning, blind = share(Weights()), share(Weights(log_when_better=Weights().log_positive))
    assert leaning > blind + 0.15


def test_a_covariate_is_related_when_it_explains_the_target_on_some_scale():
    assert eda.related(X, 0.5 * X + RNG.normal(0, 1.0, X.size))
    assert eda.related(X, (X - 15.0) ** 2 + RNG.normal(0, 5.0, X.size))  # a bend, no straight trend
    assert not eda.related(X, RNG.normal(0, 1.0, X.size))
