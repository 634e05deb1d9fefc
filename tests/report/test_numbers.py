"""The numbers behind the figures: LOO-PIT, rank counts, the effective number of models, ticks."""

import numpy as np
import pytest
from scipy import stats

from boxloop.diagnose import psis_loo_log_weights
from boxloop.report import numbers
from boxloop.report.svg import nice_ticks


def _pit(scale_model: float, discrete: bool = False, n: int = 300, seed: int = 0):
    """Data from N(0, 1); a 'posterior' whose predictive is N(0, scale_model) (no parameters, so
    the LOO weights are uniform and the PIT is the predictive CDF at y)."""
    rng = np.random.default_rng(seed)
    y = rng.normal(size=n)
    yrep = rng.normal(scale=scale_model, size=(2000, n))
    if discrete:
        y, yrep = np.round(y * 2), np.round(yrep * 2)
    log_lik = stats.norm.logpdf(y[None, :], scale=scale_model) * np.ones((2000, 1))
    return numbers.loo_pit(y, yrep, psis_loo_log_weights(log_lik), discrete=discrete)


@pytest.mark.parametrize("discrete", [False, True])
def test_loo_pit_of_a_calibrated_model_is_uniform(discrete):
    pit = _pit(1.0, discrete)
    assert stats.kstest(pit, "uniform").pvalue > 0.01


def test_loo_pit_of_a_too_narrow_model_piles_up_at_the_ends():
    pit = _pit(0.5)
    assert np.mean((pit < 0.1) | (pit > 0.9)) > 0.35
    grid = np.linspace(0, 1, 101)
    assert np.any(np.abs(numbers.ecdf_difference(pit, grid)) > numbers.uniform_band(pit.size, grid))


def test_loo_weights_leave_the_observation_out():
    """Draws that fit observation i badly get more weight when i is left out."""
    log_lik = np.log(np.linspace(0.1, 1.0, 400))[:, None] * np.ones((1, 3))
    w = np.exp(psis_loo_log_weights(log_lik))
    assert w.shape == (400, 3) and np.allclose(w.sum(axis=0), 1.0)
    assert w[0, 0] > w[-1, 0]


def test_rank_counts_are_flat_for_mixed_chains_and_split_for_a_stuck_one():
    rng = np.random.default_rng(1)
    mixed = numbers.rank_counts(rng.normal(size=(4, 1000)), 20)
    assert mixed.shape == (4, 20) and mixed.sum() == 4000
    assert stats.chisquare(mixed.ravel()).pvalue > 0.001
    stuck = rng.normal(size=(4, 1000))
    stuck[0] += 3.0
    counts = numbers.rank_counts(stuck, 20)
    assert counts[0, -5:].sum() > 0.8 * 1000 and counts[0, :5].sum() < 10



def test_predictive_intervals_cover_the_quantiles():
    yrep = np.arange(1, 101, dtype=float)[:, None] * np.ones((1, 2))
    q = numbers.predictive_intervals(yrep)
    assert q.median == pytest.approx([50.5, 50.5]) and q.lo90[0] < q.lo50[0] < q.hi50[0] < q.hi90[0]


@pytest.mark.parametrize("lo, hi, expected", [(0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]), (-31.5, -29.1, [-31.5, -31, -30.5, -30, -29.5]),
                                              (3, 97, [20, 40, 60, 80])])
def test_ticks_are_round_and_inside_the_range(lo, hi, expected):
    assert nice_ticks(lo, hi) == pytest.approx(expected)
