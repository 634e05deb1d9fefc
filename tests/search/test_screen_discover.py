"""Screening end to end at CI size: the same choice as full fits for all, the screened-out
candidates recorded with their reasons (run store, report view), and a resumed run refits nothing."""

import json

import pytest
import search_helpers as h
from search_helpers import CI_SETTINGS

from boxloop.cli import main
from boxloop.data import make_task
from boxloop.report import write_report
from boxloop.report.run import load_run
from boxloop.search.config import SearchConfig
from boxloop.search.discover import discover_task
from boxloop.search.local import LocalExecutor
from boxloop.search.store import RunStore

pytestmark = pytest.mark.slow

# Two good models first (fully fitted: screen_after=2), then one close to them and two whose
# likelihood scale is fixed far too large for data with sd 2 (tens of nats worse). (Fixed far
# too small, every observation is an outlier whose Pareto k fails: the rule rightly promotes
# a screen it cannot trust, so those would not test the exclusion.)
HOPELESS = ("normal(mu, 20)", "normal(mu, 30)")
PROGRAMS = [h.tiny(10), h.tiny(10, "student_t(4, mu, sigma)"), h.tiny(5), h.tiny(10, HOPELESS[0]),
            h.tiny(3, HOPELESS[1])]


@pytest.fixture(scope="module")
def pool(jax_cache):
    with LocalExecutor(2, host_devices=CI_SETTINGS.chains, compilation_cache_dir=jax_cache) as executor:
        yield executor


def _run(out, pool, screen, method="pathfinder"):
    config = SearchConfig(strategy="average", budget=len(PROGRAMS), max_proposals=len(PROGRAMS), evidence="bridge",
                          settings=CI_SETTINGS, timeout_s=120.0, screen=screen, screen_after=2, screen_method=method)
    return discover_task(make_task(dict(h.TINY_DATA)), config, out=out, executor=pool, cache=False,
                         proposer=h.FixedProposer(PROGRAMS))


@pytest.mark.parametrize("method", ["pathfinder", "nuts"])
def test_screening_keeps_the_choice_and_records_what_it_left_out(tmp_path, pool, capsys, method):
    full = _run(tmp_path / "full", pool, "off")
    screened = _run(tmp_path / "screened", pool, "auto", method)
    assert full.screening is None and screened.screening is not None
    assert screened.best is not None and screened.best.hash == full.best.hash
    out = {c.hash: c for c in screened.candidates if c.status == "screened_out"}
    bad = {c.hash for c in full.candidates if any(family in c.program for family in HOPELESS)}
    assert set(out) == bad  # the two hopeless likelihoods, and only they
    assert all("below the best full fit" in c.screen["reason"] and c.screen["weight_bound"] < 0.01
               for c in out.values())
    assert screened.counts["fits_executed"] == 3 and screened.counts["screens_executed"] == 3
    # The evidence weights agree: what was left out had (next to) none in the full run.
    for name, w in full.weights["evidence"].items():
        assert screened.weights["evidence"].get(name, 0.0) == pytest.approx(w, abs=0.01)
    assert not any(name in out for name in screened.weights["evidence"])

    with RunStore(tmp_path / "screened", read_only=True) as store:
        decisions = store.screening(store.runs()[-1]["id"])
        assert {h_ for h_, d in decisions.items() if d["decision"] == "screened_out"} == bad
        assert sum(r.fidelity == "screen" for r in store.fits()) == 3
    view = load_run(tmp_path / "screened")
    shown = {c.hash: c for c in view.candidates}
    assert all(shown[x].status == "screened_out" and shown[x].fit is None for x in bad)
    assert view.best.hash == full.best.hash
    html = write_report(tmp_path / "screened").path.read_text()
    assert html.count("screened out") >= len(bad)

    capsys.readouterr()
    assert main(["average", str(tmp_path / "screened"), "--json"]) == 0
    averaged = json.loads(capsys.readouterr().out)
    assert set(averaged["screened_out"]) == bad
    assert {m["hash"] for m in averaged["models"]}.isdisjoint(bad)

    again = _run(tmp_path / "screened", pool, "auto", method)  # resumed: nothing is fitted or screened again
    assert again.counts["fits_executed"] == 0 and again.counts["screens_executed"] == 0
    assert again.best.hash == full.best.hash
    assert {c.hash for c in again.candidates if c.status == "screened_out"} == bad
