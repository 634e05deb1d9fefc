"""The Ray executor against a real two-CPU cluster on loopback (the `ray_cluster` fixture)."""

import os
import time

import search_helpers as h

from boxloop.search.executor import FitFailure, Job, as_completed


def test_results_and_failures(ray_executor):
    ray_executor.submit(Job("sum", h.add, (1, 2)))
    ray_executor.submit(Job("raise", h.raise_value_error, ()))
    ray_executor.submit(Job("env", h.pid_and_jax_loaded, ()))
    ray_executor.submit(Job("crash", h.exit_now, (3,)))
    done = {d.key: d for d in as_completed(ray_executor)}
    assert done["sum"].value == 3
    assert isinstance(done["raise"].value, FitFailure) and "prior scale must be positive" in done["raise"].value.reason
    assert "--xla_force_host_platform_device_count=2" in done["env"].value[2]
    assert done["crash"].value.code == "fit.worker_lost"


def test_timeout_and_cancel(ray_executor):
    ray_executor.submit(Job("hang", h.sleep_then, (120, None), timeout_s=2.0))
    ray_executor.submit(Job("cancel-me", h.sleep_then, (120, None)))
    started = time.monotonic()
    first = ray_executor.wait(timeout=30)
    assert [d.key for d in first] == ["hang"] and first[0].value.code == "fit.timeout"
    assert ray_executor.cancel("cancel-me") and ray_executor.pending() == 0
    ray_executor.submit(Job("after", h.add, (2, 3)))
    assert [d.value for d in as_completed(ray_executor)] == [5]
    assert time.monotonic() - started < 60


def test_workers_are_not_deprioritised(ray_executor):
    ray_executor.submit(Job("nice", os.nice, (0,)))
    assert [d.value for d in as_completed(ray_executor)] == [0]


def test_a_fit_past_its_memory_cap_is_recorded_as_out_of_memory(ray_cluster):
    from boxloop.search.ray_executor import RayExecutor

    gib = 2**30
    capped = RayExecutor(address=ray_cluster.address, host_devices=2, memory_bytes=2 * gib)
    try:
        capped.submit(Job("big", h.allocate, (3 * gib,)))
        capped.submit(Job("small", h.allocate, (8 * 2**20,)))
        done = {d.key: d for d in as_completed(capped)}
    finally:
        capped.close()
    assert done["big"].value.code == "fit.out_of_memory"
    assert done["small"].value == 2**20
