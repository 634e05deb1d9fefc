"""Discovery end to end, at CI size (2 chains x 200 warmup + 200 draws)."""

import json

import pytest
import search_helpers as h
from search_helpers import CI_SETTINGS
from shared_data import shared

import boxloop.api
from boxloop.cli_discover import main
from boxloop.data import make_task
from boxloop.search.config import SearchConfig
from boxloop.search.discover import discover_task
from boxloop.search.local import LocalExecutor
from boxloop.search.store import RunStore

EIGHT_SCHOOLS = str(shared("benchmarks", "posteriordb", "data", "eight_schools.json"))


@pytest.fixture(scope="module")
def pool(jax_cache):
    """One warm pool for the module, as a long-lived service would use (runs may share one)."""
    with LocalExecutor(2, host_devices=CI_SETTINGS.chains, compilation_cache_dir=jax_cache) as executor:
        yield executor


@pytest.fixture(scope="module")
def shared_fit_cache(tmp_path_factory):
    """Eight-schools fits made by one test are reused by the next (as across real runs)."""
    return tmp_path_factory.mktemp("fit-cache")


def _run(tmp_path, programs, pool, **config):
    task = make_task(dict(h.TINY_DATA))
    settings = dict(strategy="best-of-n", budget=3, settings=CI_SETTINGS, timeout_s=20.0) | config
    return discover_task(task, SearchConfig(**settings), out=tmp_path / "run", executor=pool,
                         cache=tmp_path / "cache", proposer=h.FixedProposer(programs), fit_fn=h.faulty_fit)


def test_eight_schools_discovered(tmp_path, shared_fit_cache, pool):
    result = boxloop.api.discover(EIGHT_SCHOOLS, budget=4, out=tmp_path / "run", settings=CI_SETTINGS,
                                  executor=pool, cache=shared_fit_cache, beta=1)
    assert result.best is not None and result.best.reliable and result.best.score >= 5
    assert "y ~" in result.program and result.run_rate > 0
    assert -40 < result.best.elpd_loo < -28 and result.best.elpd_loo_se > 0
    assert result.comparison and result.comparison[0].name == result.best.hash
    idata = result.inference_data()
    assert idata.posterior.sizes["chain"] == 2 and idata.posterior.sizes["draw"] == 200
    payload = result.to_dict()
    assert set(payload) >= {"best", "candidates", "run_rate", "weights", "timing", "store"}
    assert set(payload["best"]) == {"program", "hash", "elpd_loo", "elpd_loo_se", "score"}
    json.dumps(payload)  # JSON-ready


def test_cli_discover_json(tmp_path, shared_fit_cache, capsys):
    argv = [EIGHT_SCHOOLS, "--json", "--budget", "4", "--beta", "1", "--chains", "2", "--warmup", "200", "--draws",
            "200", "--workers", "2", "--out", str(tmp_path / "run"), "--cache-dir", str(shared_fit_cache)]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["best"]["score"] >= 5 and out["candidates"] and out["store"] == str(tmp_path / "run")
    assert out["report"] == str(tmp_path / "run" / "report.html")
    assert out["best"]["hash"][:8] in (tmp_path / "run" / "report.html").read_text()
    assert main([str(tmp_path / "missing.json"), "--json"]) == 2
    assert main([EIGHT_SCHOOLS, "--budget", "0"]) == 2


def test_crash_timeout_and_duplicates_are_recorded_and_the_run_goes_on(tmp_path, pool):
    # The hanging job starts first so that its timeout overlaps the real fit.
    programs = [h.tiny(12, marker="HANG"), h.tiny(10), h.TINY_RENAMED, h.tiny(11, marker="CRASH")]
    result = _run(tmp_path, programs, pool)
    by_code = {c.code: c for c in result.candidates}
    assert by_code["fit.crashed"].status == "failed" and by_code["fit.timeout"].status == "failed"
    with RunStore(tmp_path / "run", read_only=True) as store:
        assert "faulty_fit" in store.find_fit(_key(tmp_path, by_code["fit.timeout"].hash)).detail
    ok = [c for c in result.candidates if c.status == "ok"]
    assert len(ok) == 1 and result.best is not None and result.best.hash == ok[0].hash
    assert ok[0].multiplicity == 2  # the renamed copy counted, not fitted
    assert result.counts["duplicates"] == 1 and result.counts["fits_executed"] == 3
    assert result.run_rate == pytest.approx(2 / 4)
    with RunStore(tmp_path / "run") as store:
        assert len(store.fits()) == 3 and len(store.proposals()) == 4


def _key(tmp_path, digest):
    with RunStore(tmp_path / "run", read_only=True) as store:
        return next(f.key for f in store.fits() if f.structural_hash == digest)


def test_resume_refits_nothing(tmp_path, pool):
    """A run stopped by its budget, rerun with a bigger one, continues without refitting
    (the shared cache is off: the run's own store must be enough)."""
    task = make_task(dict(h.TINY_DATA))

    def run(budget):
        config = SearchConfig(budget=budget, beta=None, settings=CI_SETTINGS, timeout_s=120.0)
        return discover_task(task, config, out=tmp_path / "run", executor=pool, cache=False)

    first = run(1)
    assert first.counts["fits_executed"] == 1 and len(first.candidates) == 1
    second = run(2)
    assert second.counts["fits_resumed"] == 1 and second.counts["fits_executed"] == 1
    assert second.counts["replayed"] == 1
    assert first.candidates[0].hash == second.candidates[0].hash
    with RunStore(tmp_path / "run") as store:
        assert len(store.fits()) == 2 and [r["status"] for r in store.runs()] == ["finished", "finished"]


def test_average_weights_by_evidence_and_multiplicity(tmp_path, pool):
    programs = [h.tiny(10), h.TINY_RENAMED, h.tiny(10, "student_t(4, mu, sigma)")]
    result = _run(tmp_path, programs, pool, strategy="average", budget=2, timeout_s=120.0)
    assert result.counts["fits_executed"] == 2 and result.counts["duplicates"] == 1
    w = result.weights
    assert set(w) >= {"evidence", "flat", "stacking", "pseudo_bma_plus", "mixture_elpd_loo"}
    assert sum(w["evidence"].values()) == pytest.approx(1.0) and len(w["evidence"]) == 2
    plain = next(c.hash for c in result.candidates if "normal(mu, sigma)" in c.program)
    assert w["flat"][plain] == pytest.approx(2 / 3)
    assert all(c.log_evidence < 0 for c in result.candidates)
    assert all(v is not None for v in w["mixture_elpd_loo"].values())
