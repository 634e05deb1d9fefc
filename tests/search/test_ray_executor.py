"""The Ray executor against a local Ray instance started here (skipped without Ray)."""

import os
import time

import pytest

ray = pytest.importorskip("ray")

import search_helpers as h  # noqa: E402

from boxloop.search.executor import FitFailure, Job, as_completed  # noqa: E402
from boxloop.search.ray_executor import RayExecutor  # noqa: E402


@pytest.fixture(scope="module")
def executor():
    helpers = os.path.dirname(h.__file__)
    ex = RayExecutor(slots=2, host_devices=3, init_kwargs={
        "num_cpus": 2, "runtime_env": {"env_vars": {"PYTHONPATH": helpers}}})
    yield ex
    ex.close()
    assert not ray.is_initialized()


def test_results_and_failures(executor):
    executor.submit(Job("sum", h.add, (1, 2)))
    executor.submit(Job("raise", h.raise_value_error, ()))
    executor.submit(Job("env", h.pid_and_jax_loaded, ()))
    executor.submit(Job("crash", h.exit_now, (3,)))
    done = {d.key: d for d in as_completed(executor)}
    assert done["sum"].value == 3
    assert isinstance(done["raise"].value, FitFailure) and "prior scale must be positive" in done["raise"].value.reason
    assert "--xla_force_host_platform_device_count=3" in done["env"].value[2]
    assert done["crash"].value.code == "fit.crashed"


def test_timeout_and_cancel(executor):
    executor.submit(Job("hang", h.sleep_then, (120, None), timeout_s=2.0))
    executor.submit(Job("cancel-me", h.sleep_then, (120, None)))
    started = time.monotonic()
    first = executor.wait(timeout=30)
    assert [d.key for d in first] == ["hang"] and first[0].value.code == "fit.timeout"
    assert executor.cancel("cancel-me") and executor.pending() == 0
    executor.submit(Job("after", h.add, (2, 3)))
    assert [d.value for d in as_completed(executor)] == [5]
    assert time.monotonic() - started < 60


def test_workers_are_not_deprioritised(executor):
    executor.submit(Job("nice", os.nice, (0,)))
    assert [d.value for d in as_completed(executor)] == [0]
