"""Posterior correctness against posteriordb reference draws, and eight schools' elpd_loo.

The programs, data and comparison live in benchmarks/posteriordb.py (also a script that prints the
table for docs/benchmarks.md); these tests assert on it. Every mean and sd must lie within 4
combined Monte Carlo standard errors (ours and the reference's) of the reference, so a short fit
gets the tolerance its draws earn, and a long one a tighter one.

CI tier: four posteriors with different machinery (a hierarchy with a non-centred transform, a
regression on 434 rows, an autoregression written as a loop, a two-component mixture through
log_sum_exp), 2 chains x (400 warmup + 400 draws) in this process. Slow tier: all ten posteriors,
4 chains x (1000 + 1000), each in a worker (float64 where the posterior needs it: gp_pois_regr).
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
from references import ELPD_MC_SD_REFERENCE, eight_schools_elpd_loo
from shared_data import shared

BENCH_FILE = Path(__file__).resolve().parents[2] / "benchmarks" / "posteriordb.py"
PDB = shared("benchmarks", "posteriordb")


def _load_bench():
    name = "boxloop_bench_posteriordb"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, BENCH_FILE)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the file runs
        spec.loader.exec_module(module)
    return sys.modules[name]


bench = _load_bench()
EIGHT = bench.BY_NAME["eight_schools-eight_schools_noncentered"]
CI_POSTERIORS = ("eight_schools-eight_schools_noncentered", "kidiq-kidscore_momhsiq", "arK-arK",
                 "low_dim_gauss_mix-low_dim_gauss_mix")
# PSIS-LOO's Monte Carlo sd for eight schools with 2 x 400 draws (20 seeds of 2 x 300 gave 0.065)
ELPD_MC_SD_800_DRAWS = 0.065 * math.sqrt(600 / 800)


def _job(name, chains, warmup, draws, seed):
    # The worker child imports this test module (not the benchmark, which is loaded from a file
    # path it could not find by name) and runs this.
    return bench.run_posterior(name, chains, warmup, draws, seed)


def test_the_benchmark_reads_the_shared_posteriordb():
    assert bench.PDB.resolve() == PDB.resolve()


# ---- fast (CI) ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_fits():
    """One in-process fit per CI posterior, made on first use (sequential chains compile fastest)."""
    fits = {}

    def get(name):
        if name not in fits:
            f = bench.fit_posterior(bench.BY_NAME[name], chains=2, warmup=400, draws=400, seed=3,
                                    chain_method="sequential")
            fits[name] = bench.summarize_fit(f)
        return fits[name]

    return get


@pytest.mark.parametrize("name", CI_POSTERIORS)
def test_small_fit_matches_posteriordb(name, small_fits):
    result = small_fits(name)
    rows = bench.compare(result["summary"], bench.reference_summary(bench.BY_NAME[name]))
    assert all(r.ok for r in rows), bench.failures(rows)
    assert result["divergences"] == 0


def test_eight_schools_elpd_loo_small_fit(small_fits):
    elpd = small_fits(EIGHT.name)["elpd_loo"]
    assert abs(elpd - eight_schools_elpd_loo()) <= 4 * math.hypot(ELPD_MC_SD_800_DRAWS, ELPD_MC_SD_REFERENCE), elpd


def test_compare_flags_a_shifted_mean_and_a_wrong_sd():
    ref = {"a": {"mean": 0.0, "sd": 1.0, "mcse_mean": 0.01, "mcse_sd": 0.01},
           "b": {"mean": 0.0, "sd": 1.0, "mcse_mean": 0.01, "mcse_sd": 0.01}}
    ours = {"a": {"mean": 0.1, "sd": 1.0, "mcse_mean": 0.01, "mcse_sd": 0.01},
            "b": {"mean": 0.0, "sd": 1.1, "mcse_mean": 0.01, "mcse_sd": 0.01}}
    rows = {r.name: r for r in bench.compare(ours, ref)}
    assert not rows["a"].ok and abs(rows["a"].z - 0.1 / 0.01 / 2**0.5) < 1e-9
    assert not rows["b"].ok and abs(rows["b"].sd_tol - 4 * 0.01 * 2**0.5) < 1e-9
    # the same errors pass when the fit is too short to tell (MCSEs ten times larger)
    loose = {k: {**v, "mcse_mean": 0.1, "mcse_sd": 0.1} for k, v in ours.items()}
    assert all(r.ok for r in bench.compare(loose, ref))
    # the 0.02-sd floor: a difference of 0.015 sd passes even with tiny MCSEs
    tiny = {"a": {"mean": 0.015, "sd": 1.0, "mcse_mean": 1e-4, "mcse_sd": 1e-4}}
    assert bench.compare(tiny, {"a": {"mean": 0.0, "sd": 1.0, "mcse_mean": 1e-4, "mcse_sd": 1e-4}})[0].ok


# ---- slow: every posterior, full length ------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("posterior", bench.POSTERIORS, ids=lambda p: p.name)
def test_posterior_matches_posteriordb(posterior):
    result = bench.run_in_subprocess(posterior, chains=4, warmup=1000, draws=1000, seed=1, job=_job)
    assert isinstance(result, dict), f"{result.code}: {result.reason}\n{result.detail[-2000:]}"
    rows = bench.compare(result["summary"], bench.reference_summary(posterior))
    assert all(r.ok for r in rows), bench.failures(rows)
    # The references have no divergences; a handful (gp_pois_regr's funnel-like latent f) is
    # tolerated, a broken sampler is not.
    assert result["divergences"] <= 40, result["divergences"]


@pytest.mark.slow
def test_eight_schools_elpd_loo_matches_the_reference():
    result = bench.run_in_subprocess(EIGHT, chains=4, warmup=1000, draws=1000, seed=2, job=_job)
    assert isinstance(result, dict), f"{result.code}: {result.reason}"
    sd_4000 = 0.065 * math.sqrt(600 / 4000)
    assert abs(result["elpd_loo"] - eight_schools_elpd_loo()) <= 4 * math.hypot(sd_4000, ELPD_MC_SD_REFERENCE)
    assert result["elpd_loo_se"] > 0
