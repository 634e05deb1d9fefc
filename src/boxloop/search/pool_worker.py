"""The child side of the local pool: one long-lived spawned process that runs many jobs.

Before anything can import JAX the worker sets its environment (XLA host device count = number
of chains, so chains run in parallel; no GPU memory preallocation, so workers can share a GPU),
pins itself to its cores, caps its memory, and arranges to die with its parent. Then it imports
and initialises JAX once (the "warm" step), says "ready", and serves jobs until told to stop or
until its parent goes away. Messages:
    parent -> child: pickled (key, fn, args), or b"" to stop
    child -> parent: ("ready", pid) | ("ok", key, value) | ("error", key, code, reason, detail)

This module is imported by a freshly spawned interpreter: it must not import JAX at top level.
"""

from __future__ import annotations

import faulthandler
import importlib
import os
import pickle
import signal
import sys
import traceback
from dataclasses import dataclass, field

from ..infer.worker import ignore_interrupts
from ..infer.xla_env import xla_flags

# A pool worker writes every fit as netCDF, so it loads ArviZ (seconds) once, before its first job.
DEFAULT_WARM = ("boxloop.search.fit_task", "boxloop.infer.compile", "boxloop.infer.pipeline", "boxloop.diagnose",
                "boxloop.diagnose._arviz")


@dataclass(frozen=True)
class WorkerConfig:
    host_devices: int = 4
    cpus: tuple[int, ...] | None = None
    memory_bytes: int | None = None
    warm_imports: tuple[str, ...] = DEFAULT_WARM
    compilation_cache_dir: str | None = None
    env: dict = field(default_factory=dict)


def environment(config: WorkerConfig, inherited: dict) -> dict:
    """The variables to set before JAX starts; inherited XLA_FLAGS are kept, with the device count
    replaced (`infer.xla_env.xla_flags`)."""
    env = dict(config.env)
    env["XLA_FLAGS"] = xla_flags(config.host_devices, env.get("XLA_FLAGS", inherited.get("XLA_FLAGS", "")))
    if "XLA_PYTHON_CLIENT_PREALLOCATE" not in inherited:
        env["XLA_PYTHON_CLIENT_PREALLOCATE"] = "false"
    return env


def serve(conn, config: WorkerConfig, log_path: str) -> None:
    """Entry point of a pool worker (the target of the spawned process)."""
    _prepare(config, log_path)
    _warm(config)
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv_bytes()
        except (EOFError, OSError):  # the parent is gone
            return
        if not message:
            return
        key, fn, args = pickle.loads(message)
        _reply(conn, key, fn, args)


def _prepare(config: WorkerConfig, log_path: str) -> None:
    ignore_interrupts()
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    os.dup2(fd, 2)
    os.dup2(fd, 1)  # nothing a job prints may reach the parent's stdout (--json owns it)
    os.close(fd)
    faulthandler.enable()
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # the parent asks where a slow job is
    _die_with_parent()
    os.environ.update(environment(config, dict(os.environ)))
    if config.cpus:
        os.sched_setaffinity(0, config.cpus)
    if config.memory_bytes:
        import resource

        resource.setrlimit(resource.RLIMIT_AS, (config.memory_bytes, resource.getrlimit(resource.RLIMIT_AS)[1]))


def _die_with_parent() -> None:
    """Linux: get SIGKILL when the parent dies (even by kill -9), so no worker is orphaned."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() == 1:  # the parent died before prctl took effect
        os._exit(0)


def _warm(config: WorkerConfig) -> None:
    for module in config.warm_imports:
        importlib.import_module(module)
    if "jax" in sys.modules:
        sys.modules["jax"].devices()  # start the backend now, not during the first timed job
    if config.compilation_cache_dir:
        from ..infer.nuts import enable_compilation_cache

        enable_compilation_cache(config.compilation_cache_dir)


def _reply(conn, key: str, fn, args: tuple) -> None:
    try:
        reply = ("ok", key, fn(*args))
    except BaseException as err:  # noqa: BLE001 - every failure must reach the parent as data
        reply = ("error", key, *_describe(err))
    try:
        conn.send(reply)
    except (BrokenPipeError, EOFError, OSError):
        os._exit(0)  # the parent is gone
    except Exception as err:  # noqa: BLE001 - the value did not pickle
        conn.send(("error", key, "fit.not_picklable", f"the job's result cannot be pickled: {err}", ""))


def _describe(err: BaseException) -> tuple[str, str, str]:
    from ..errors import BoxloopError

    detail = "".join(traceback.format_exception(err))[-4000:]
    if isinstance(err, MemoryError):
        return "fit.out_of_memory", "the job ran out of memory", detail
    if isinstance(err, BoxloopError):
        return err.code, str(err), detail
    return "fit.error", f"{type(err).__name__}: {err}", detail
