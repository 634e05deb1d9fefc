"""LOO comparison: ranking, differences, stacking and pseudo-BMA+ weights."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from boxloop.diagnose import CompareRow, DiagnoseError, compare, diagnose, to_inference_data
from boxloop.errors import DataError

CHAINS, DRAWS = 4, 1000


def fit(y, mu_mean, mu_sd, seed):
    """A normal(mu, 1) model for y with mu's draws centred where we say (a good or bad fit)."""
    rng = np.random.default_rng(seed)
    mu = rng.normal(mu_mean, mu_sd, size=(CHAINS, DRAWS))
    return {
        "posterior": {"mu": mu},
        "sample_stats": {
            "diverging": np.zeros((CHAINS, DRAWS), dtype=bool),
            "energy": rng.normal(size=(CHAINS, DRAWS)),
        },
        "log_likelihood": {"y": stats.norm.logpdf(y, mu[..., None], 1.0)},
    }


@pytest.fixture(scope="module")
def y():
    return np.random.default_rng(0).normal(0.0, 1.0, size=50)


def test_better_model_ranks_first_with_consistent_differences(y):
    good = diagnose(**fit(y, y.mean(), 50**-0.5, seed=1))
    bad = diagnose(**fit(y, 2.0, 0.1, seed=2))
    rows = compare({"bad": bad, "good": good})
    assert all(isinstance(row, CompareRow) for row in rows)
    assert [row.name for row in rows] == ["good", "bad"] and [row.rank for row in rows] == [0, 1]
    assert rows[0].d_loo == 0.0 and rows[0].dse == 0.0
    assert rows[1].d_loo == pytest.approx(good.elpd_loo - bad.elpd_loo, abs=1e-9)
    assert rows[1].d_loo > 50 and rows[1].dse > 0
    assert rows[0].elpd_loo == pytest.approx(good.elpd_loo)
    assert rows[0].elpd_loo_se == pytest.approx(good.elpd_loo_se)
    assert rows[0].weight_stacking > 0.95 and rows[0].weight_pseudo_bma_plus > 0.95
    for key in ("weight_stacking", "weight_pseudo_bma_plus"):
        assert sum(getattr(row, key) for row in rows) == pytest.approx(1.0, abs=1e-6)


def test_stacking_mixes_models_that_each_explain_part_of_the_data():
    # 60 % of the data near -2 and 40 % near +2: each model predicts one part well, so the best
    # predictive mixture is about 60/40 (stacking); pseudo-BMA+ instead weighs whole-model
    # elpd_loo, which favours the left model, so it leans further towards it.
    rng = np.random.default_rng(3)
    y = np.concatenate([rng.normal(-2, 1, 36), rng.normal(2, 1, 24)])
    left = diagnose(**fit(y, -2.0, 0.18, seed=4))
    right = diagnose(**fit(y, 2.0, 0.18, seed=5))
    rows = {row.name: row for row in compare({"left": left, "right": right})}
    assert 0.5 < rows["left"].weight_stacking < 0.7
    assert rows["left"].weight_pseudo_bma_plus > rows["left"].weight_stacking
    assert rows["left"].weight_stacking + rows["right"].weight_stacking == pytest.approx(1.0)


def test_inference_data_and_diagnostics_inputs_agree(y):
    parts = fit(y, y.mean(), 50**-0.5, seed=6)
    idata = to_inference_data(parts["posterior"], parts["sample_stats"], parts["log_likelihood"])
    (row,) = compare({"m": idata})
    assert row.elpd_loo == pytest.approx(diagnose(idata).elpd_loo, abs=1e-12)
    assert row.weight_stacking == pytest.approx(1.0)


def test_fits_of_different_data_or_without_loo_are_refused(y):
    full = diagnose(**fit(y, 0.0, 0.14, seed=7))
    half = diagnose(**fit(y[:25], 0.0, 0.2, seed=8))
    with pytest.raises(DataError, match="different numbers of observations"):
        compare({"full": full, "half": half})
    no_loo = fit(y, 0.0, 0.14, seed=9)
    no_loo["log_likelihood"] = None
    with pytest.raises(DiagnoseError, match="no PSIS-LOO"):
        compare({"full": full, "no_loo": diagnose(**no_loo)})
    with pytest.raises(DiagnoseError, match="at least one"):
        compare({})


def _three_models():
    rng = np.random.default_rng(11)
    y = np.concatenate([rng.normal(-3, 1, 25), rng.normal(0, 1, 20), rng.normal(3, 1, 15)])
    return {name: diagnose(**fit(y, centre, 0.2, seed=12 + i))
            for i, (name, centre) in enumerate({"left": -3.0, "middle": 0.0, "right": 3.0}.items())}


def test_weights_are_the_legacy_arviz_numbers():
    # The move from ArviZ 0.23 to arviz-stats must not change a number: stacking and the
    # differences exactly, pseudo-BMA+ within its Bayesian bootstrap's noise (the two versions
    # draw the bootstrap from different random streams).
    pytest.importorskip("arviz")
    from references import legacy_arviz_weights

    fits = _three_models()
    ours = compare(fits)
    legacy = legacy_arviz_weights({name: model.loo for name, model in fits.items()})
    assert [row.name for row in ours] == list(legacy)
    for row in ours:
        theirs = legacy[row.name]
        assert row.rank == theirs["rank"]
        assert row.weight_stacking == pytest.approx(theirs["weight_stacking"], abs=1e-6)
        assert row.d_loo == pytest.approx(theirs["d_loo"], abs=1e-9)
        assert row.dse == pytest.approx(theirs["dse"], abs=1e-9)
        assert row.weight_pseudo_bma_plus == pytest.approx(theirs["weight_pseudo_bma_plus"], abs=0.03)
    assert 0.05 < min(row.weight_stacking for row in ours)  # a real three-way mixture


def test_a_legacy_inference_data_is_read_like_a_data_tree(y, tmp_path):
    # What PyMC 5 returns, and what runs stored before the move to arviz-base, still work.
    az = pytest.importorskip("arviz")
    from boxloop.diagnose import load_netcdf

    parts = fit(y, y.mean(), 50**-0.5, seed=21)
    legacy = az.from_dict(posterior=parts["posterior"], sample_stats=parts["sample_stats"],
                          log_likelihood=parts["log_likelihood"])
    expected = diagnose(**parts).to_dict()
    assert diagnose(legacy).to_dict() == expected
    legacy.to_netcdf(str(tmp_path / "old.nc"), engine="h5netcdf")
    assert diagnose(load_netcdf(tmp_path / "old.nc")).to_dict() == expected
