"""The persistent local pool: results as they complete, failures as values, workers replaced."""

import os
import time

import pytest
import search_helpers as h

from boxloop.search.backends import make_executor, parse_executor_spec
from boxloop.search.executor import FitFailure, Job, JobQueue, as_completed
from boxloop.search.local import LocalExecutor


@pytest.fixture
def pool():
    # The helpers are imported while the workers start, so a job's timeout never covers that import.
    with LocalExecutor(2, warm_imports=("search_helpers",), host_devices=3) as executor:
        yield executor


def _collect(executor):
    return {done.key: done for done in as_completed(executor)}


def test_results_failures_and_environment(pool):
    pool.submit(Job("sum", h.add, (1, 2)))
    pool.submit(Job("raise", h.raise_value_error, ()))
    pool.submit(Job("env", h.pid_and_jax_loaded, ()))
    done = _collect(pool)
    assert done["sum"].value == 3
    assert isinstance(done["raise"].value, FitFailure) and done["raise"].value.code == "fit.error"
    assert "prior scale must be positive" in done["raise"].value.reason
    pid, jax_loaded, flags = done["env"].value
    assert pid in pool.worker_pids() and not jax_loaded
    assert "--xla_force_host_platform_device_count=3" in flags


def test_workers_are_reused(pool):
    for i in range(6):
        pool.submit(Job(f"pid{i}", h.pid_and_jax_loaded, ()))
    pids = {done.value[0] for done in _collect(pool).values()}
    assert len(pids) <= 2  # six jobs, two long-lived processes


def test_crash_and_timeout_are_recorded_and_the_pool_goes_on(pool):
    before = set(pool.worker_pids())
    pool.submit(Job("crash", h.exit_now, (3,)))
    pool.submit(Job("hang", h.sleep_then, (60, None), timeout_s=1.0))
    pool.submit(Job("after", h.add, (2, 2)))
    started = time.monotonic()
    done = _collect(pool)
    assert done["crash"].value.code == "fit.crashed"
    assert done["hang"].value.code == "fit.timeout" and "sleep_then" in done["hang"].value.detail
    assert done["after"].value == 4
    assert time.monotonic() - started < 30
    assert not before & set(pool.worker_pids())  # both workers were replaced
    pool.submit(Job("still", h.add, (1, 1)))
    assert _collect(pool)["still"].value == 2


def test_the_queue_starts_the_highest_priority_first_and_equals_in_order():
    queue = JobQueue()
    for key, priority in (("a", 0.0), ("b", 0.9), ("c", 0.0), ("d", 0.5), ("e", 0.9)):
        queue.append(Job(key, h.add, (), priority=priority))
    queue.appendleft(Job("again", h.add, ()))  # a job to run again goes first, whatever its priority
    assert [job.key for job in queue] == ["again", "b", "e", "d", "a", "c"]
    queue.remove(next(job for job in queue if job.key == "d"))
    assert [queue.popleft().key for _ in range(len(queue))] == ["again", "b", "e", "a", "c"]


def test_the_pool_starts_queued_jobs_by_priority():
    with LocalExecutor(1, warm_imports=("search_helpers",), host_devices=1) as one:
        one.submit(Job("start", h.add, (0, 0)))
        assert [done.key for done in as_completed(one)] == ["start"]  # the worker is up
        one.submit(Job("busy", h.sleep_then, (1.0, 0)))  # holds the only worker while the rest queue
        for key, priority in (("low", 0.1), ("high", 0.9), ("mid", 0.5)):
            one.submit(Job(key, h.add, (0, 0), priority=priority))
        assert [done.key for done in as_completed(one)] == ["busy", "high", "mid", "low"]


def test_cancel_queued_and_running(pool):
    pool.submit(Job("slow1", h.sleep_then, (60, 1)))
    pool.submit(Job("slow2", h.sleep_then, (60, 2)))
    pool.submit(Job("queued", h.add, (1, 1)))
    assert pool.cancel("queued")
    assert pool.wait(timeout=0.5) == []
    assert pool.cancel("slow1") and pool.cancel("slow2") and not pool.cancel("nothing")
    assert pool.pending() == 0
    pool.submit(Job("next", h.add, (5, 5)))
    assert _collect(pool)["next"].value == 10


def test_close_leaves_no_process():
    executor = LocalExecutor(2, warm_imports=())
    executor.submit(Job("hang", h.sleep_then, (60, None)))
    executor.wait(timeout=0.5)
    pids = executor.worker_pids()
    executor.close()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_executor_specs():
    assert parse_executor_spec("local") == ("local", None)
    assert parse_executor_spec("ray:auto") == ("ray", "auto")
    assert parse_executor_spec("ray:ray://head:10001") == ("ray", "ray://head:10001")
    from boxloop.search.config import SearchError

    with pytest.raises(SearchError):
        make_executor("dask")


def test_a_job_past_its_memory_cap_is_recorded_and_the_pool_goes_on():
    gib = 2**30
    with LocalExecutor(1, warm_imports=(), memory_bytes=1 * gib) as pool:
        pool.submit(Job("big", h.allocate, (2 * gib,)))
        pool.submit(Job("small", h.allocate, (8 * 2**20,)))
        done = _collect(pool)
    assert done["big"].value.code == "fit.out_of_memory"
    assert done["small"].value == 2**20


def test_every_local_fit_is_memory_capped_by_default():
    from boxloop.infer.worker import default_memory_bytes

    with make_executor("local", workers=2, host_devices=2) as pool:
        assert pool._config.memory_bytes == default_memory_bytes(2) >= 4 * 2**30
