"""Run one fit in a child process with a wall-clock timeout and a memory cap.

`run_in_worker(fn, args, kwargs, limits)` returns `fn(*args, **kwargs)` computed in a fresh
process, or a `FitFailure` saying why there is no result. Whatever the child does (hang, raise,
exhaust memory, segfault, exit), the caller gets a value back and keeps running.

What callers must know:

* `fn` must be a picklable top-level callable (a module-level function, or an instance of a
  module-level class with `__call__`), and `args`/`kwargs`/the return value must be picklable
  (numpy arrays, dataclasses, plain containers). Lambdas, closures and functions defined in an
  interactive `__main__` are not. Return numpy arrays, not JAX arrays.
* The child is started with the "spawn" method (never fork: JAX is multithreaded), so it re-imports
  `fn`'s module; a script that calls `run_in_worker` at top level needs an
  `if __name__ == "__main__":` guard.
* Before the job is unpickled (and so before `fn`'s module can import JAX) the child sets its
  environment: XLA's host device count (so chains can run in parallel with pmap), x64 and the
  persistent compilation cache if asked, CPU affinity, and RLIMIT_AS. The parent never imports JAX.
* Memory is capped with RLIMIT_AS (virtual address space, Linux). A CPU JAX process reserves about
  2 GiB of address space before doing anything, so keep the cap well above that; on GPU set
  `memory_bytes=None` (CUDA reserves far more address space than it uses).
* The child's stderr goes to a temporary file; its tail is put in `FitFailure.detail` for crashes
  and timeouts: Python's faulthandler prints the child's stacks there on fatal signals and just
  before the timeout, so a timed-out fit says where it was stuck.
"""

from __future__ import annotations

import contextlib
import importlib
import multiprocessing
import multiprocessing.connection
import os
import pickle
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from boxloop.errors import BoxloopError, FitError
from boxloop.infer.xla_env import xla_flags

__all__ = ["FitFailure", "Worker", "WorkerLimits", "run_in_worker", "default_memory_bytes", "GiB"]

GiB = 2**30
_ADDRESS_SLACK = 2 * GiB  # a CPU JAX process reserves about this much address space before any work
_STDERR_TAIL = 4000
_DUMP_LEAD_S = 0.3  # how long before the timeout the child dumps its stacks
_OOM_MARKERS = ("MemoryError", "bad_alloc", "out of memory", "Out of memory", "RESOURCE_EXHAUSTED",
                "Cannot allocate memory")


@dataclass(frozen=True)
class FitFailure:
    """Why a worker produced no result.

    code: "fit.timeout", "fit.crashed" (the child died: exit code or signal), "fit.out_of_memory",
    "fit.error" (fn raised; reason is "Type: message", detail the traceback), or the code of a
    BoxloopError fn raised on purpose (e.g. "fit.bad_init").
    """

    code: str
    reason: str
    detail: str
    elapsed_s: float


@dataclass(frozen=True)
class WorkerLimits:
    """Limits and environment of the child process.

    timeout_s: wall-clock seconds from start (spawn and imports included) to result.
    memory_bytes: RLIMIT_AS cap, None for no cap.
    host_devices: XLA CPU devices in the child; NUTS pmaps its chains when there are at least as
        many devices as chains (the default 4 matches NutsSettings' 4 chains).
    cpus: cores the child may run on (sched_setaffinity; XLA ignores OMP_NUM_THREADS).
    compilation_cache_dir: JAX persistent compilation cache directory, shared between workers.
    enable_x64: run JAX in float64.
    env: extra environment variables, set before the job is unpickled.
    grace_s: after SIGTERM, how long to wait before SIGKILL.
    warm_imports: modules the child imports before it waits for its job (see `Worker`).
    """

    timeout_s: float = 600.0
    memory_bytes: int | None = 8 * GiB
    host_devices: int = 4
    cpus: tuple[int, ...] | None = None
    compilation_cache_dir: str | None = None
    enable_x64: bool = False
    env: Mapping[str, str] = field(default_factory=dict)
    grace_s: float = 2.0
    warm_imports: tuple[str, ...] = ()


def default_memory_bytes(workers: int = 1) -> int | None:
    """The address-space cap of one of `workers` fit processes: 80 % of physical memory shared
    among them, plus the slack JAX reserves, never under 4 GiB. None where memory is unknown."""
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return max(4 * GiB, int(0.8 * physical / max(1, workers))) + _ADDRESS_SLACK


def ignore_interrupts() -> None:
    """A fit process leaves Ctrl-C to its parent, which stops it: an interrupt must never come
    back as a fit's result (it would be stored as a failure and not refitted on resume)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- child side ---------------------------------------------------------------------------------


def _child_environment(limits: WorkerLimits, environ: Mapping[str, str]) -> dict[str, str]:
    """Environment variables the child needs, given its inherited environment.

    XLA_FLAGS from `limits.env` (else inherited) are kept, with the host device count replaced.
    """
    env = dict(limits.env)
    if limits.enable_x64:
        env["JAX_ENABLE_X64"] = "1"
    env["XLA_FLAGS"] = xla_flags(limits.host_devices, env.get("XLA_FLAGS", environ.get("XLA_FLAGS", "")))
    return env


def _configure_loaded_jax(limits: WorkerLimits) -> None:
    """JAX reads its env vars at import; if the package import already pulled it in, set them now.
    The persistent compilation cache is switched on here (importing JAX, after XLA_FLAGS is set)."""
    jax = sys.modules.get("jax")
    if jax is not None and limits.enable_x64:
        jax.config.update("jax_enable_x64", True)
    if limits.compilation_cache_dir:
        from boxloop.infer.nuts import enable_compilation_cache

        enable_compilation_cache(limits.compilation_cache_dir)


def _set_memory_cap(memory_bytes: int | None) -> None:
    if memory_bytes is None:
        return
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _prepare_child(limits: WorkerLimits, stderr_path: str, deadline: float) -> None:
    import faulthandler

    ignore_interrupts()
    fd = os.open(stderr_path, os.O_WRONLY | os.O_APPEND)
    os.dup2(fd, 2)
    os.dup2(fd, 1)  # nothing the fit prints may reach the caller's stdout (--json owns it)
    os.close(fd)
    faulthandler.enable()
    # Dump every thread's stack shortly before the parent gives up (wall-clock deadline).
    faulthandler.dump_traceback_later(max(0.05, deadline - time.time() - _DUMP_LEAD_S))
    os.environ.update(_child_environment(limits, os.environ))
    _configure_loaded_jax(limits)
    if limits.cpus is not None:
        os.sched_setaffinity(0, limits.cpus)
    _set_memory_cap(limits.memory_bytes)


def _describe_error(err: BaseException) -> tuple[str, str, str]:
    """(code, reason, traceback) in plain strings: the exception itself may not pickle."""
    reason = f"{type(err).__name__}: {err}"
    detail = "".join(traceback.format_exception(err))
    out_of_memory = isinstance(err, MemoryError) or isinstance(err.__cause__, MemoryError)
    if out_of_memory or "RESOURCE_EXHAUSTED" in reason:
        return "fit.out_of_memory", reason, detail
    if isinstance(err, BoxloopError):
        return err.code, str(err), detail
    return "fit.error", reason, detail


def _child_main(conn, jobs, limits: WorkerLimits, stderr_path: str, deadline: float,
                forward_progress: bool = False) -> None:
    """Entry point of the worker process. `deadline` is the parent's timeout, in time.time(). The
    job comes through `jobs` once the parent has it, so the imports in `limits.warm_imports` run
    while the parent still reads and checks its input."""
    from boxloop.infer import progress

    try:
        _prepare_child(limits, stderr_path, deadline)
        for module in limits.warm_imports:
            importlib.import_module(module)
        try:
            payload = jobs.recv_bytes()
        except EOFError:  # the parent gave up before sending a job (e.g. the program did not check)
            return
        fn, args, kwargs = pickle.loads(payload)
        forward = progress.listening(lambda event: conn.send(("progress", event))) if forward_progress \
            else contextlib.nullcontext()
        with forward:
            value = fn(*args, **kwargs)
        conn.send(("ok", value))  # pickles fully before writing, so a bad value raises here
    except BaseException as err:  # noqa: BLE001 - everything must reach the parent as data
        try:
            conn.send(("error", _describe_error(err)))
        except BaseException:  # noqa: BLE001 - e.g. out of memory again: exit; parent sees a crash
            os._exit(70)
    finally:
        conn.close()


# --- parent side --------------------------------------------------------------------------------


def _pickle_job(fn: Callable, args: tuple, kwargs: Mapping[str, Any]) -> bytes:
    try:
        return pickle.dumps((fn, tuple(args), dict(kwargs)), protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as err:
        raise FitError(
            f"the worker job cannot be pickled ({type(err).__name__}: {err}); pass a module-level "
            "function and picklable arguments (no lambdas, closures or open resources)",
            code="fit.not_picklable",
        ) from err


def _stderr_tail(path: str) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - _STDERR_TAIL))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _stop(proc, grace_s: float) -> None:
    """Terminate, then kill, and always reap: no zombie, no orphan."""
    if proc.is_alive():
        proc.terminate()
        proc.join(grace_s)
    if proc.is_alive():
        proc.kill()
    proc.join()


# The exit status of a child that, re-importing the caller's script (spawn does), reached a fit at
# the script's top level and would have started a process of its own.
_UNGUARDED_MAIN_EXIT = 86


def _crash_failure(exitcode: int | None, stderr: str, elapsed: float) -> FitFailure:
    if exitcode == _UNGUARDED_MAIN_EXIT:
        return FitFailure("fit.main_not_guarded", "the fit's worker process re-ran your script, which started "
                          "another fit at import: put the calls to boxloop.fit / boxloop.discover under "
                          "`if __name__ == \"__main__\":` (fits run in spawned processes)", stderr, elapsed)
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        reason = f"the worker was killed by {name}"
        oom = -exitcode == signal.SIGKILL or any(m in stderr for m in _OOM_MARKERS)
        if -exitcode == signal.SIGKILL:
            reason += " (most likely the kernel's out-of-memory killer)"
    else:
        reason = f"the worker exited with code {exitcode} without returning a result"
        oom = any(m in stderr for m in _OOM_MARKERS)
    code = "fit.out_of_memory" if oom else "fit.crashed"
    return FitFailure(code, reason, stderr, elapsed)


def _collect(proc, conn, deadline: float, start: float, stderr_path: str, on_progress=None):
    """Wait for the result or the child's exit, whichever comes first, up to the deadline; progress
    messages on the way go to `on_progress`."""
    while True:
        remaining = max(0.0, deadline - time.monotonic())
        ready = multiprocessing.connection.wait([conn, proc.sentinel], timeout=remaining)
        if not (conn in ready or (ready and conn.poll())):
            break
        try:
            status, body = conn.recv()
        except (EOFError, OSError):  # died mid-message or closed without sending
            proc.join()
            return _crash_failure(proc.exitcode, _stderr_tail(stderr_path), time.monotonic() - start)
        if status == "progress":
            if on_progress is not None:
                on_progress(body)
            continue
        if status == "ok":
            return body
        code, reason, detail = body
        return FitFailure(code, reason, detail, time.monotonic() - start)
    if ready:
        proc.join()
        return _crash_failure(proc.exitcode, _stderr_tail(stderr_path), time.monotonic() - start)
    return _TIMED_OUT


_TIMED_OUT = object()  # not None: a job may return None


class Worker:
    """A spawned child under `limits` that runs one job: `Worker(limits)` starts it (it sets its
    environment and imports `limits.warm_imports` at once), `run(fn, args, kwargs)` sends the job
    and waits for the result or a FitFailure, `close()` stops it. Starting the worker before the
    job is known lets its imports (seconds, for JAX) overlap whatever the caller does meanwhile.

    Raises FitError "fit.not_picklable" from `run` (before sending anything) when the job cannot
    be pickled; every failure inside the child comes back as a FitFailure.
    """

    def __init__(self, limits: WorkerLimits = WorkerLimits(), forward_progress: bool = False):
        self.limits = limits
        ctx = multiprocessing.get_context("spawn")
        self._results, sender = ctx.Pipe(duplex=False)
        job_reader, self._jobs = ctx.Pipe(duplex=False)
        fd, self._stderr = tempfile.mkstemp(prefix="boxloop-worker-", suffix=".stderr")
        os.close(fd)
        # daemon: if the parent exits normally, multiprocessing kills the child too.
        self._start = time.monotonic()
        deadline = time.time() + limits.timeout_s
        self._proc = ctx.Process(target=_child_main, daemon=True,
                                 args=(sender, job_reader, limits, self._stderr, deadline, forward_progress))
        try:
            self._proc.start()
        except BaseException as exc:
            self._results.close()
            self._jobs.close()
            os.unlink(self._stderr)
            # `_inheriting` is the flag spawn itself checks: we are a child still importing the script
            if isinstance(exc, RuntimeError) and getattr(multiprocessing.current_process(), "_inheriting", False):
                sys.exit(_UNGUARDED_MAIN_EXIT)  # the parent's FitFailure explains it
            raise
        finally:
            sender.close()  # the child holds the only writer now, so its death reads as EOF here
            job_reader.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, fn: Callable, args: tuple = (), kwargs: Mapping[str, Any] | None = None,
            on_progress: Callable | None = None) -> Any | FitFailure:
        return self._run(_pickle_job(fn, args, kwargs or {}), on_progress)

    def _run(self, payload: bytes, on_progress: Callable | None) -> Any | FitFailure:
        try:
            self._jobs.send_bytes(payload)
        except (BrokenPipeError, OSError):
            pass  # the child is already gone; _collect reports how it ended
        limits, proc = self.limits, self._proc
        outcome = _collect(proc, self._results, self._start + limits.timeout_s, self._start, self._stderr, on_progress)
        if outcome is _TIMED_OUT:
            _stop(proc, limits.grace_s)
            return FitFailure(
                "fit.timeout",
                f"the fit did not finish within {limits.timeout_s:g} s and was stopped; "
                "raise the timeout or shrink the model, data or draws",
                _stderr_tail(self._stderr),
                time.monotonic() - self._start,
            )
        proc.join(limits.grace_s)  # it is exiting on its own after sending; let it
        return outcome

    def close(self) -> None:
        if self._proc is None:
            return
        self._jobs.close()  # a child still waiting for a job reads EOF and exits
        _stop(self._proc, self.limits.grace_s)
        self._proc.close()
        self._results.close()
        os.unlink(self._stderr)
        self._proc = None


def run_in_worker(
    fn: Callable,
    args: tuple = (),
    kwargs: Mapping[str, Any] | None = None,
    limits: WorkerLimits = WorkerLimits(),
    on_progress: Callable | None = None,
) -> Any | FitFailure:
    """`fn(*args, **kwargs)` in a spawned child under `limits`, or a FitFailure. With
    `on_progress`, the child's `progress.report` events are passed to it as they happen.

    Raises FitError "fit.not_picklable" (in the parent, before starting anything) when the job
    cannot be pickled; every failure inside the child comes back as a FitFailure.
    """
    payload = _pickle_job(fn, args, kwargs or {})  # fails before a process starts
    with Worker(limits, forward_progress=on_progress is not None) as worker:
        return worker._run(payload, on_progress)
