import os
import subprocess
import sys

from boxloop.infer.xla_env import device_count, xla_flags


def test_flags_set_devices_and_the_compile_flags():
    flags = xla_flags(4).split()
    assert "--xla_force_host_platform_device_count=4" in flags
    assert "--xla_cpu_use_fusion_emitters=false" in flags


def test_the_callers_flags_win_and_the_device_count_is_replaced():
    flags = xla_flags(2, "--xla_cpu_use_fusion_emitters=true --xla_force_host_platform_device_count=8 --x=1")
    assert flags.split() == ["--xla_cpu_use_fusion_emitters=true", "--x=1",
                             "--xla_force_host_platform_device_count=2"]
    assert device_count(flags) == 2
    assert device_count("--x=1") is None


def test_cli_and_api_keep_a_device_count_the_caller_set():
    script = ("import os; from boxloop.api import host_devices; host_devices(4); "
              "print(os.environ['XLA_FLAGS'])")
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["--xla_cpu_use_fusion_emitters=false", "--xla_force_host_platform_device_count=2"]


def test_a_fit_in_a_worker_runs_with_the_compile_flags():
    from boxloop.infer.worker import WorkerLimits, run_in_worker

    flags = run_in_worker(os.getenv, ("XLA_FLAGS",), limits=WorkerLimits(host_devices=2, timeout_s=60))
    assert "--xla_cpu_use_fusion_emitters=false" in flags.split()


def test_this_test_process_compiles_with_the_flags():
    assert "--xla_cpu_use_fusion_emitters=false" in os.environ["XLA_FLAGS"].split()
