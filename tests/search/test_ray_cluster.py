"""Discovery across a real two-CPU Ray cluster on loopback: the same answer as the local pool,
nothing lost when a worker is killed mid-fit, and a killed driver resumed from the store."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import search_helpers as h
from search_helpers import CI_SETTINGS

from boxloop.data import make_task
from boxloop.search.config import SearchConfig
from boxloop.search.discover import discover_task
from boxloop.search.executor import Job, as_completed
from boxloop.search.fit_task import FitJob
from boxloop.search.local import LocalExecutor


def test_the_cluster_talks_over_loopback_only(ray_cluster, ray_executor):
    import ray

    alive = [n for n in ray.nodes() if n["Alive"]]
    assert [n["NodeManagerAddress"] for n in alive] == ["127.0.0.1"]
    assert ray.util.get_node_ip_address() == "127.0.0.1"
    assert ray.cluster_resources()["CPU"] == 2 and ray_executor.slots == 2


def test_discover_across_the_cluster_matches_the_local_executor(tmp_path, ray_executor, jax_cache):
    task = make_task(dict(h.TINY_DATA))
    programs = [h.tiny(10), h.tiny(10, "student_t(4, mu, sigma)")]
    config = SearchConfig(strategy="best-of-n", budget=2, settings=CI_SETTINGS, timeout_s=300.0)

    def run(name, executor):
        return discover_task(task, config, out=tmp_path / name, executor=executor, cache=False,
                             proposer=h.FixedProposer(programs))

    on_ray = run("ray", ray_executor)
    with LocalExecutor(2, host_devices=CI_SETTINGS.chains, compilation_cache_dir=jax_cache) as local:
        here = run("local", local)
    assert [(c.hash, c.status, c.score) for c in on_ray.candidates] == \
        [(c.hash, c.status, c.score) for c in here.candidates]
    assert all(c.status == "ok" for c in here.candidates) and on_ray.best.hash == here.best.hash
    for a, b in zip(on_ray.candidates, here.candidates):  # same seed, same program: the same draws
        assert a.elpd_loo == pytest.approx(b.elpd_loo, abs=1e-6)


def _wait_for(predicate, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_a_worker_killed_mid_fit_is_rerun_and_one_that_keeps_dying_is_recorded(tmp_path, ray_executor):
    marks, retried = tmp_path / "attempts", ray_executor.retried
    # A structure no other test fits: its worker cannot have it compiled already, so the fit takes
    # seconds and the kill lands inside it.
    job = FitJob(h.tiny(13), dict(make_task(dict(h.TINY_DATA)).dataset.values), CI_SETTINGS, seed=7)
    ray_executor.submit(Job("survivor", h.note_pid_then_fit, (str(marks), job), timeout_s=300.0))
    first = int(_wait_for(lambda: marks.exists() and marks.read_text().split(), 120, "the fit to start")[0])
    time.sleep(1.0)  # inside the fit: importing, compiling or sampling
    os.kill(first, signal.SIGKILL)
    ray_executor.submit(Job("doomed", h.exit_now, (9,)))
    done = {d.key: d for d in as_completed(ray_executor)}
    survivor = done["survivor"].value
    assert survivor.status == "ok", (survivor.code, survivor.reason, (survivor.detail or "")[-1500:])
    assert survivor.diagnostics.score >= 5 and survivor.netcdf
    attempts = [int(p) for p in marks.read_text().split()]
    assert len(attempts) == 2 and attempts[0] == first != attempts[1]
    assert done["doomed"].value.code == "fit.worker_lost" and "died under the fit" in done["doomed"].value.reason
    assert ray_executor.retried - retried == 1 + 2  # the survivor once; the doomed job until its third death


def _fits(run_dir) -> list[str]:
    try:
        db = sqlite3.connect(f"file:{run_dir / 'run.sqlite'}?mode=ro", uri=True)
        try:
            return [row[0] for row in db.execute("SELECT structural_hash FROM fits")]
        finally:
            db.close()
    except sqlite3.Error:
        return []


def test_a_killed_driver_resumes_from_the_store(tmp_path, ray_cluster):
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps({"y": h.TINY_DATA["y"].tolist()}))
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "boxloop.cli_discover", str(data), "--json", "--budget", "3", "--beta", "99",
               "--chains", "2", "--warmup", "200", "--draws", "200", "--executor", f"ray:{ray_cluster.address}",
               "--out", str(run_dir), "--no-cache"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_for(lambda: _fits(run_dir) or driver.poll() is not None, 300, "a first fit")
        assert driver.poll() is None, "the run finished before it could be killed"
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait()
    finally:
        if driver.poll() is None:
            driver.kill()
    before = set(_fits(run_dir))
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert rerun.returncode in (0, 1), rerun.stderr[-2000:]
    out = json.loads(rerun.stdout)
    assert out["counts"]["fits_resumed"] >= len(before) >= 1
    assert out["counts"]["fits_resumed"] + out["counts"]["fits_executed"] == len(out["candidates"]) == 3
    assert before <= {c["hash"] for c in out["candidates"]}
    db = sqlite3.connect(run_dir / "run.sqlite")
    assert [row[0] for row in db.execute("SELECT status FROM runs ORDER BY id")] == ["killed", "finished"]
