"""`RayExecutor`: the executor interface on a Ray cluster (`--executor ray[:address]`).

Ray is an optional extra (`pip install boxloop[ray]`). Each job is a Ray task with `num_cpus`
cores. A fit that fails in Python is a result, never retried; a fit whose worker process dies
under it (killed, crashed, its node lost) is run again, up to `worker_deaths` times in all (3 by
default: one retry lost half the time to a soak that killed a worker every minute), and only then
recorded as `fit.worker_lost`: a failure of the cluster, not of the fit, which the run store
does not reuse (the same command rerun fits it again); `retried` counts the reruns. Its workers get the XLA host device count
through `runtime_env`, so the variable is set before JAX starts in them; `max_calls` recycles a
worker process after that many fits, freeing JIT caches. Each fit runs under RLIMIT_DATA (private
memory; Ray's shared object store is mapped into every worker, so an address-space cap would not
do), restored when the fit ends.

Timeouts count from submission; at most `slots` tasks are submitted at once, so a task starts
(almost) when it is submitted: the first task on a fresh worker also pays the worker's start-up.
An overdue or cancelled task is stopped with `ray.cancel(force=True)`, which kills its worker.
When this executor starts Ray itself, its workers run at niceness 0 (Ray's default is 15).
"""

from __future__ import annotations

import os
import resource
import time

from ..infer.worker import default_memory_bytes
from ..infer.xla_env import xla_flags
from .executor import Done, FitFailure, QueueingExecutor
from .store import WORKER_LOST

_WAIT_SLICE_S = 0.5  # ray.wait is not interrupted by Ctrl-C: block in short slices


def _call(fn, args, memory_bytes):
    soft, hard = resource.getrlimit(resource.RLIMIT_DATA)
    cap = memory_bytes or default_memory_bytes(max(1, os.cpu_count() or 1))
    if cap is not None:
        resource.setrlimit(resource.RLIMIT_DATA, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
    try:
        return fn(*args)
    finally:
        resource.setrlimit(resource.RLIMIT_DATA, (soft, hard))


class RayExecutor(QueueingExecutor):
    def __init__(self, address: str | None = None, *, slots: int | None = None, num_cpus: float = 1,
                 host_devices: int = 4, max_calls: int = 25, init_kwargs: dict | None = None,
                 memory_bytes: int | None = None, worker_deaths: int = 3):
        import ray

        self._ray = ray
        self._started_ray = not ray.is_initialized()
        if self._started_ray:
            # Ray's raylet runs workers at nice 15 unless told otherwise: on a shared machine fits
            # would then crawl (10x slower XLA compiles were seen). Workers of a Ray we start run at 0.
            os.environ.setdefault("RAY_worker_niceness", "0")
            ray.init(address=address, include_dashboard=False, log_to_driver=False, **(init_kwargs or {}))
        cpus = ray.cluster_resources().get("CPU", 1)
        self.slots = max(1, int(slots or cpus // num_cpus))
        env = {"XLA_FLAGS": xla_flags(host_devices), "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
        self._memory_bytes, self._worker_deaths = memory_bytes, max(1, worker_deaths)
        task = ray.remote(num_cpus=num_cpus, max_retries=0, max_calls=max_calls)(_call)
        self._remote = task.options(runtime_env={"env_vars": env})
        super().__init__()
        self._running: dict = {}  # ObjectRef -> (job, started)
        self._deaths: dict[str, int] = {}  # job key -> worker deaths so far
        self.retried = 0

    def pending(self) -> int:
        return len(self._queue) + len(self._running)

    def close(self) -> None:
        self._queue.clear()
        for ref in list(self._running):
            self._kill(ref)
        if self._started_ray:
            self._ray.shutdown()

    # -- internals ------------------------------------------------------------------------------

    def _block(self, seconds: float | None) -> None:
        seconds = _WAIT_SLICE_S if seconds is None else min(seconds, _WAIT_SLICE_S)
        ready, _ = self._ray.wait(list(self._running), num_returns=1, timeout=seconds)
        for ref in ready:
            self._collect(ref)

    def _stop_running(self, key: str) -> bool:
        for ref, (job, _) in list(self._running.items()):
            if job.key == key:
                self._kill(ref)
                return True
        return False

    def _dispatch(self) -> None:
        while self._queue and len(self._running) < self.slots:
            job = self._queue.popleft()
            self._running[self._remote.remote(job.fn, job.args, self._memory_bytes)] = (job, time.monotonic())

    def _collect(self, ref) -> None:
        job, started = self._running.pop(ref)
        elapsed = time.monotonic() - started
        try:
            value = self._ray.get(ref)
        except Exception as err:  # noqa: BLE001 - every failure becomes a recorded FitFailure
            value = _failure(err, elapsed)
            if _worker_died(err) and self._deaths.get(job.key, 0) + 1 < self._worker_deaths:
                self._deaths[job.key] = self._deaths.get(job.key, 0) + 1
                self.retried += 1
                self._queue.appendleft(job)  # the fit itself did nothing wrong: run it again first
                return
        self._deaths.pop(job.key, None)
        self._done.append(Done(job.key, value, elapsed))

    def _expire(self) -> None:
        now = time.monotonic()
        for ref, (job, started) in list(self._running.items()):
            if job.timeout_s is not None and now - started >= job.timeout_s:
                self._kill(ref)
                reason = (f"the fit did not finish within {job.timeout_s:g} s and its Ray task was cancelled; "
                          "raise the timeout or shrink the model, data or draws")
                self._done.append(Done(job.key, FitFailure("fit.timeout", reason, "", now - started), now - started))

    def _kill(self, ref) -> None:
        self._running.pop(ref, None)
        try:
            self._ray.cancel(ref, force=True)
        except Exception:  # noqa: BLE001 - already finished or gone
            pass

    def _next_deadline(self) -> float | None:
        return min((s + j.timeout_s for j, s in self._running.values() if j.timeout_s), default=None)


def _worker_died(err: Exception) -> bool:
    from ray import exceptions as rex

    return isinstance(err, (rex.WorkerCrashedError, rex.NodeDiedError, rex.ObjectLostError))


def _failure(err: Exception, elapsed: float) -> FitFailure:
    from ray import exceptions as rex

    if isinstance(err, rex.RayTaskError):
        cause = err.cause if getattr(err, "cause", None) is not None else err
        if isinstance(cause, MemoryError):
            return FitFailure("fit.out_of_memory", "the fit ran past its memory cap", str(err)[-4000:], elapsed)
        return FitFailure("fit.error", f"{type(cause).__name__}: {cause}", str(err)[-4000:], elapsed)
    if _worker_died(err):
        return FitFailure(WORKER_LOST, f"the Ray worker died under the fit ({type(err).__name__}) each time it "
                          "ran; rerun the command to fit it again", str(err)[-4000:], elapsed)
    if isinstance(err, rex.OutOfMemoryError):
        return FitFailure("fit.out_of_memory", "Ray killed the task for memory", str(err)[-4000:], elapsed)
    return FitFailure("fit.crashed", f"{type(err).__name__}: {err}", str(err)[-4000:], elapsed)
