"""The worker turns every way a fit can go wrong into a FitFailure, and never hurts the caller.

The jobs are module-level functions (the spawned child imports this module to find them). Most
are pure Python/numpy so the child does not pay for JAX; one runs a real NUTS fit.
"""

import multiprocessing
import os
import time

import numpy as np
import pytest

from boxloop.errors import FitError
import dataclasses
import sys

from boxloop.infer.worker import FitFailure, Worker, WorkerLimits, run_in_worker

QUICK = WorkerLimits(timeout_s=60.0, memory_bytes=None)


def _add(a, b=0):
    return a + b


def _sleep_forever(pid_file):
    with open(pid_file, "w") as f:
        f.write(str(os.getpid()))
    time.sleep(60)


def _imported(name):
    return name in sys.modules


def _raise_value_error():
    raise ValueError("prior scale must be positive")


def _exit_3():
    os._exit(3)


def _segfault():
    import signal

    os.kill(os.getpid(), signal.SIGSEGV)


def _allocate(n_bytes):
    return np.ones(n_bytes // 8).sum()


def _arrays():
    rng = np.random.default_rng(0)
    return {"draws": rng.normal(size=(4, 100, 3)), "diverging": rng.random((4, 100)) < 0.1, "n": 7}


def _raise_fit_error():
    raise FitError("no finite initial point", code="fit.bad_init")


def _nuts_fit(chains):
    import jax.numpy as jnp

    from boxloop.infer.nuts import NutsSettings, run_nuts

    precision = jnp.linalg.inv(jnp.array([[1.0, 0.5], [0.5, 1.0]]))
    settings = NutsSettings(chains=chains, warmup=300, draws=300)
    return run_nuts(lambda u: 0.5 * u @ precision @ u, 2, settings, seed=3)


def _assert_healthy():
    assert run_in_worker(_add, (2,), {"b": 3}, QUICK) == 5
    assert multiprocessing.active_children() == []


def _gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_timeout_kills_and_reaps_the_child(tmp_path):
    pid_file = tmp_path / "pid"
    start = time.monotonic()
    limits = WorkerLimits(timeout_s=2.0, memory_bytes=None)
    out = run_in_worker(_sleep_forever, (str(pid_file),), limits=limits)
    assert time.monotonic() - start < 10
    assert isinstance(out, FitFailure) and out.code == "fit.timeout"
    assert 2.0 <= out.elapsed_s < 10
    assert _gone(int(pid_file.read_text()))  # reaped: not even a zombie answers kill(pid, 0)
    assert "_sleep_forever" in out.detail  # the child's stack just before the deadline
    _assert_healthy()


def test_exception_comes_back_with_type_message_and_traceback():
    out = run_in_worker(_raise_value_error, limits=QUICK)
    assert isinstance(out, FitFailure) and out.code == "fit.error"
    assert out.reason == "ValueError: prior scale must be positive"
    assert "Traceback" in out.detail and "_raise_value_error" in out.detail
    _assert_healthy()


def test_boxloop_errors_keep_their_code():
    out = run_in_worker(_raise_fit_error, limits=QUICK)
    assert out.code == "fit.bad_init" and "no finite initial point" in out.reason


def test_hard_exit_is_a_crash_with_its_exit_code():
    out = run_in_worker(_exit_3, limits=QUICK)
    assert isinstance(out, FitFailure) and out.code == "fit.crashed"
    assert "code 3" in out.reason
    _assert_healthy()


def test_fatal_signal_is_a_crash_naming_the_signal():
    out = run_in_worker(_segfault, limits=QUICK)
    assert out.code == "fit.crashed" and "SIGSEGV" in out.reason
    assert "Fatal Python error" in out.detail  # faulthandler's report from the child's stderr
    _assert_healthy()


def test_allocation_beyond_the_cap_is_out_of_memory():
    out = run_in_worker(_allocate, (4 * 2**30,), limits=WorkerLimits(timeout_s=60, memory_bytes=2**30))
    assert isinstance(out, FitFailure) and out.code == "fit.out_of_memory"
    assert "MemoryError" in out.reason
    # The same job fits under a larger cap: the cap, not the machine, stopped it.
    assert run_in_worker(_allocate, (2**20,), limits=WorkerLimits(timeout_s=60, memory_bytes=2**30)) == 2**17
    _assert_healthy()


def test_numpy_results_come_back_intact():
    out = run_in_worker(_arrays, limits=QUICK)
    expected = _arrays()
    assert out.keys() == expected.keys() and out["n"] == 7
    np.testing.assert_array_equal(out["draws"], expected["draws"])
    np.testing.assert_array_equal(out["diverging"], expected["diverging"])


def test_unpicklable_job_is_refused_in_the_parent():
    with pytest.raises(FitError) as info:
        run_in_worker(lambda: 1, limits=QUICK)
    assert info.value.code == "fit.not_picklable"


def test_real_nuts_fit_runs_parallel_chains_in_the_worker():
    limits = WorkerLimits(timeout_s=300, host_devices=2)
    result = run_in_worker(_nuts_fit, (2,), limits=limits)
    assert not isinstance(result, FitFailure), result
    assert result.chain_method == "parallel"  # the child got one XLA device per chain
    assert result.draws.shape == (2, 300, 2)
    assert np.all(np.abs(result.draws.mean(axis=(0, 1))) < 0.3)
    assert result.timing.compile_s > 0 and result.timing.sample_s > 0
    _assert_healthy()


def test_parent_does_not_import_jax_to_run_a_worker():
    import subprocess
    import sys

    script = (
        "import operator, sys\n"
        "from boxloop.infer.nuts import NutsSettings\n"
        "from boxloop.infer.worker import WorkerLimits, run_in_worker\n"
        "assert run_in_worker(operator.add, (1, 2), limits=WorkerLimits(memory_bytes=None)) == 3\n"
        "assert 'jax' not in sys.modules, 'the parent imported jax'\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_child_environment_sets_devices_and_keeps_other_xla_flags():
    from boxloop.infer.worker import _child_environment

    env = _child_environment(
        WorkerLimits(host_devices=3, enable_x64=True, env={"XLA_FLAGS": "--xla_cpu_foo=1"}),
        {"XLA_FLAGS": "--xla_force_host_platform_device_count=8 --ignored=1"},
    )
    assert env["XLA_FLAGS"] == ("--xla_cpu_foo=1 --xla_cpu_use_fusion_emitters=false "
                                "--xla_force_host_platform_device_count=3")
    assert env["JAX_ENABLE_X64"] == "1"
    inherited = _child_environment(
        WorkerLimits(host_devices=2), {"XLA_FLAGS": "--a=1 --xla_force_host_platform_device_count=8"}
    )
    assert inherited["XLA_FLAGS"] == ("--a=1 --xla_cpu_use_fusion_emitters=false "
                                      "--xla_force_host_platform_device_count=2")


def test_what_a_job_prints_never_reaches_the_callers_stdout(capfd):
    """--json owns stdout: a fit that prints (a Stan print statement, a library) must not corrupt it.
    (The job returns None, which is a result, not a timeout.)"""
    assert run_in_worker(print, ("printed by the job",), limits=QUICK) is None
    assert "printed by the job" not in capfd.readouterr().out


def test_a_started_worker_imports_first_and_takes_its_job_later():
    limits = dataclasses.replace(QUICK, warm_imports=("colorsys",))
    with Worker(limits) as worker:
        time.sleep(0.5)  # the caller reads and checks its input meanwhile
        assert worker.run(_imported, ("colorsys",)) is True  # imported before the job, not by it
    assert run_in_worker(_imported, ("colorsys",), limits=QUICK) is False


def test_a_worker_closed_before_any_job_leaves_nothing_behind():
    worker = Worker(QUICK)
    pid = worker._proc.pid
    worker.close()
    worker.close()  # closing twice is harmless
    assert _gone(pid)
