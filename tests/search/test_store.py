"""The run store and the fit cache round-trip every field, and survive reopening."""

import math
import sqlite3

import numpy as np
import pytest

from boxloop.diagnose import diagnose
from boxloop.search.cache import FitCache, default_cache_dir
from boxloop.search.codec import diagnostics_from_json, diagnostics_to_json
from boxloop.search.config import SearchConfig, SearchError, fit_key, fit_seed
from boxloop.search.records import FitRecord, ProposalRecord, Request
from boxloop.search.store import RunStore


def _diagnostics(seed=0):
    rng = np.random.default_rng(seed)
    posterior = {"mu": rng.normal(size=(2, 200)), "theta": rng.normal(size=(2, 200, 3))}
    stats = {"diverging": np.zeros((2, 200), bool), "energy": rng.normal(size=(2, 200))}
    log_lik = {"y": rng.normal(-1.0, 0.1, size=(2, 200, 5))}
    return diagnose(posterior, stats, log_lik)


def _fit(key="k1", status="ok", **extra):
    d = _diagnostics() if status == "ok" else None
    return FitRecord(key=key, structural_hash="h" + key, data_hash="d", settings_hash="s", program="prog", status=status,
                     diagnostics=d, evidence={"log_evidence": -3.5, "se": 0.1, "method": "bridge"} if d else None,
                     timing={"compile_s": 1.0}, warnings=("w",), **extra)


def test_diagnostics_codec_keeps_pointwise_loo():
    d = _diagnostics()
    back = diagnostics_from_json(diagnostics_to_json(d))
    assert back.score == d.score and back.failed == d.failed and back.checks == d.checks
    assert back.elpd_loo == pytest.approx(d.elpd_loo)
    np.testing.assert_allclose(back.loo.elpd_loo_i, d.loo.elpd_loo_i)
    np.testing.assert_allclose(back.loo.pareto_k, d.loo.pareto_k)
    assert back.loo.rows is None


def test_diagnostics_codec_keeps_which_rows_a_subsampled_loo_used():
    rng = np.random.default_rng(3)
    posterior = {"mu": rng.normal(size=(2, 200))}
    stats = {"diverging": np.zeros((2, 200), bool), "energy": rng.normal(size=(2, 200))}
    rows = np.array([1, 4, 7, 8, 11, 15, 20, 30])
    all_rows = rng.normal(-1.0, 0.1, size=(400, 40))
    subsample = (rows, all_rows.mean(axis=0), all_rows.var(axis=0, ddof=1))
    d = diagnose(posterior, stats, {"y": all_rows[:, rows].reshape(2, 200, -1)}, loo_subsample=subsample)
    back = diagnostics_from_json(diagnostics_to_json(d))
    assert d.loo.n_obs == 40 and back.loo.n_obs == 40
    np.testing.assert_array_equal(back.loo.rows, rows)
    assert back.loo.subsampling_se == pytest.approx(d.loo.subsampling_se) and d.loo.subsampling_se > 0


def test_store_round_trips_proposals_and_fits(tmp_path):
    req = Request(lineage=2, depth=1, block="prior", attempt=0, context="ctx", parent_hash="abc")
    prop = ProposalRecord(slot=req.slot, lineage=2, depth=1, block="prior", attempt=0, parent_hash="abc",
                          proposer="grammar", text="program text", valid=True, structural_hash="h1",
                          check=({"code": "x", "message": "m"},), tokens_generated=12, tokens_discarded=3, tries=2,
                          seconds=0.5)
    with RunStore(tmp_path / "run") as store:
        store.begin_run("cfg", command="boxloop discover x", strategy="refine", proposer="grammar", seed=0,
                        data_hash="d", target="y", config={"budget": 3})
        store.add_proposal("cfg", prop)
        ok = store.add_fit(_fit("k1"), netcdf=b"netcdf-bytes")
        store.add_fit(_fit("k2", status="failed", code="fit.timeout", reason="too slow"))
        store.finish_run("finished", {"best": None})
    with RunStore(tmp_path / "run") as store:  # reopened: everything is still there
        back = store.find_proposal("cfg", req.slot)
        assert back.text == "program text" and back.replayed and back.tokens_discarded == 3
        assert back.check == ({"code": "x", "message": "m"},)
        assert store.find_proposal("other-config", req.slot) is None
        fit = store.find_fit("k1")
        assert fit.ok and fit.score == ok.score and fit.evidence["log_evidence"] == -3.5
        # stored before evidence had a verdict: it loads as reliable, with no warnings
        assert fit.evidence_estimate.reliable and fit.evidence_estimate.warnings == ()
        assert fit.warnings == ("w",) and fit.timing == {"compile_s": 1.0}
        assert store.netcdf_path(fit).read_bytes() == b"netcdf-bytes"
        failed = store.find_fit("k2")
        assert failed.status == "failed" and failed.code == "fit.timeout" and math.isnan(failed.elpd_loo)
        assert [r["status"] for r in store.runs()] == ["finished"]
        assert store.executed_count() == 2
    mode = sqlite3.connect(tmp_path / "run" / "run.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_cache_keeps_successes_only_and_honours_env(tmp_path, monkeypatch):
    monkeypatch.setenv("BOXLOOP_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    cache = FitCache()
    cache.add(_fit("k1"), b"draws")
    cache.add(_fit("k2", status="failed", code="fit.crashed"), None)
    rec, netcdf = cache.find("k1")
    assert rec.ok and netcdf == b"draws" and (tmp_path / "c" / "fits.sqlite").is_file()
    assert cache.find("k2") is None
    (tmp_path / "c" / rec.netcdf).unlink()
    assert cache.find("k1") is None  # draws gone: a miss, not a broken hit


def test_keys_separate_settings_but_not_budgets():
    a = SearchConfig(budget=5)
    b = SearchConfig(budget=50, beta=None)
    assert a.config_hash("d", "y", None) == b.config_hash("d", "y", None)
    assert a.config_hash("d", "y", None) != SearchConfig(seed=1).config_hash("d", "y", None)
    assert a.settings_hash() != SearchConfig(strategy="average").settings_hash()  # evidence fits differ
    assert SearchConfig(strategy="average").fit_evidence == "auto" and a.fit_evidence is None
    with pytest.raises(SearchError, match="auto, bridge, is, smc"):
        SearchConfig(evidence="laplace")
    assert fit_key("h", "d", "s") != fit_key("h", "d2", "s")
    assert fit_seed("abc") == fit_seed("abc") >= 0
