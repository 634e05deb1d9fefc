"""PSIS and PSIS-LOO kernels against ArviZ 0.23, in blocks and with ties."""

import warnings

import numpy as np
import pytest
from references import normal_mean_elpd_loo

from boxloop.diagnose import psis

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import arviz as az


@pytest.mark.parametrize("draws", [20, 100, 1000, 4000])
@pytest.mark.parametrize("r_eff", [1.0, 0.4])
def test_smoothed_weights_and_k_match_arviz(draws, r_eff):
    rng = np.random.default_rng(draws)
    lw = rng.standard_t(df=rng.uniform(1, 10, size=(40, 1)), size=(40, draws)) * 3
    lw[0] = np.round(lw[0])  # ties at the cutoff: the row-by-row path
    lw[1] = 0.0  # all weights equal
    ours, k = psis.psis(lw, r_eff)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref, ref_k = az.psislw(lw.copy(), reff=r_eff)
    np.testing.assert_array_equal(np.isinf(k), np.isinf(ref_k))
    finite = np.isfinite(ref_k)
    np.testing.assert_allclose(k[finite], np.asarray(ref_k)[finite], atol=1e-12)
    np.testing.assert_allclose(ours, ref, atol=1e-12)


def test_loo_matches_arviz_and_blocks_do_not_change_it(monkeypatch):
    rng = np.random.default_rng(4)
    ll = rng.normal(-1.0, 0.5, size=(4, 500, 30))
    ll[..., 3] -= rng.exponential(5.0, size=(4, 500))  # one influential observation
    idata = az.from_dict(posterior={"mu": rng.normal(size=(4, 500))}, log_likelihood={"y": ll})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = az.loo(idata, pointwise=True, reff=0.7)
    ours = psis.loo(ll.reshape(-1, 30), 0.7)
    assert ours.elpd_loo == pytest.approx(float(ref["elpd_loo"]), abs=1e-10)
    assert ours.elpd_loo_se == pytest.approx(float(ref["se"]), abs=1e-10)
    assert ours.p_loo == pytest.approx(float(ref["p_loo"]), abs=1e-10)
    np.testing.assert_allclose(ours.pareto_k, ref["pareto_k"].values, atol=1e-12)
    assert ours.pareto_k[3] == ours.pareto_k.max()
    monkeypatch.setattr(psis, "_BLOCK_VALUES", 7 * 2000)  # 7 observations a block
    blocked = psis.loo(ll.reshape(-1, 30), 0.7)
    np.testing.assert_allclose(blocked.elpd_loo_i, ours.elpd_loo_i, atol=1e-12)
    assert blocked.elpd_loo == pytest.approx(ours.elpd_loo, abs=1e-10)


def test_tail_length_follows_the_rule():
    assert psis.tail_length(4000) == 190 and psis.tail_length(100) == 20
    assert psis.tail_length(4000, r_eff=0.25) == 380


def test_loo_from_weighted_proposal_draws_matches_the_closed_form():
    # Draws from a shifted, wider Student-t with weights p / q, as an approximation gives them.
    from scipy import stats

    rng = np.random.default_rng(3)
    y = rng.normal(1.0, 1.0, 30)
    exact = normal_mean_elpd_loo(y, 10.0)
    precision = 1 / 100 + y.size
    q = stats.t(5, loc=y.sum() / precision + 0.1, scale=1.3 / np.sqrt(precision))
    errors, naive = [], []
    for _ in range(10):
        theta = q.rvs(4000, random_state=rng)
        ll = stats.norm(theta[:, None], 1).logpdf(y)
        log_w = stats.norm(0, 10).logpdf(theta) + ll.sum(axis=1) - q.logpdf(theta)
        result = psis.loo(ll, 1.0, log_w)
        assert np.all(result.pareto_k < 0.5)
        errors.append(result.elpd_loo - exact)
        naive.append(psis.loo(ll).elpd_loo - exact)  # the proposal's draws taken as the posterior's
    assert abs(np.mean(errors)) < 4 * np.std(errors) / np.sqrt(len(errors)) + 0.01
    assert max(map(abs, errors)) < 0.1 and min(map(abs, naive)) > 0.5


def test_equal_weights_give_plain_loo_and_bad_weights_are_refused():
    rng = np.random.default_rng(5)
    ll = rng.normal(-1.0, 0.5, size=(800, 12))
    plain, weighted = psis.loo(ll), psis.loo(ll, 1.0, np.full(800, -3.7))
    np.testing.assert_allclose(weighted.elpd_loo_i, plain.elpd_loo_i, atol=1e-12)
    assert weighted.p_loo == pytest.approx(plain.p_loo, abs=1e-10)
    for bad in (np.full(799, 0.0), np.r_[np.zeros(799), np.nan]):
        with pytest.raises(ValueError, match="800 finite numbers"):
            psis.loo(ll, 1.0, bad)
