"""`LocalExecutor`: a pool of persistent spawned worker processes on this machine.

Why persistent: a fresh process per fit pays the JAX import and backend start every time, and
loses the in-process compile cache. Each worker here starts once (see `pool_worker`) and runs
many fits. A job that overruns its timeout has its worker killed (after a stack dump to the
worker's log) and replaced; a worker that dies mid-job turns the job into a `FitFailure`; the
pool goes on. Workers are recycled after `max_jobs_per_worker` jobs to bound memory growth.

Everything runs in the caller's thread: `wait` dispatches queued jobs, waits on the workers'
pipes and process sentinels, and enforces deadlines. No fork ever happens (spawn only).
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
import os
import pickle
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, replace

from .executor import Done, FitFailure, Job, QueueingExecutor
from .pool_worker import DEFAULT_WARM, WorkerConfig, serve

_LOG_TAIL = 4000
_START_FAILURES_MAX = 3  # consecutive workers dying before "ready": give up on queued jobs
_OOM_MARKERS = ("MemoryError", "bad_alloc", "out of memory", "RESOURCE_EXHAUSTED", "Cannot allocate memory")


@dataclass(eq=False)
class _Worker:
    """Parent-side handle of one worker process (mutable, private to the pool)."""

    index: int
    proc: multiprocessing.process.BaseProcess
    conn: multiprocessing.connection.Connection
    log_path: str
    born: float
    ready: bool = False
    job: Job | None = None
    started: float = 0.0
    log_offset: int = 0
    jobs_done: int = 0


class LocalExecutor(QueueingExecutor):
    """Run jobs on `workers` persistent processes; see the module docstring.

    host_devices: XLA CPU devices per worker (set it to the number of chains).
    cpus: optional per-worker core sets (worker i gets cpus[i % len(cpus)]).
    memory_bytes: RLIMIT_AS per worker (None: no cap).
    compilation_cache_dir: JAX persistent compilation cache shared by the workers.
    log_dir: where worker logs go (default: a temporary directory removed on close).
    start_timeout_s: a worker that is not ready by then is killed and replaced.
    """

    def __init__(self, workers: int = 2, *, host_devices: int = 4, cpus=None, memory_bytes: int | None = None,
                 warm_imports: tuple[str, ...] = DEFAULT_WARM, compilation_cache_dir: str | None = None,
                 log_dir: str | None = None, max_jobs_per_worker: int = 200, start_timeout_s: float = 180.0,
                 env: dict | None = None):
        self.slots = max(1, int(workers))
        self._config = WorkerConfig(host_devices=host_devices, memory_bytes=memory_bytes,
                                    warm_imports=tuple(warm_imports), compilation_cache_dir=compilation_cache_dir,
                                    env=dict(env or {}))
        self._cpus = [tuple(c) for c in cpus] if cpus else None
        self._own_logs = log_dir is None
        self._log_dir = tempfile.mkdtemp(prefix="boxloop-pool-") if log_dir is None else log_dir
        os.makedirs(self._log_dir, exist_ok=True)
        self._max_jobs = max_jobs_per_worker
        self._start_timeout = start_timeout_s
        self._ctx = multiprocessing.get_context("spawn")
        super().__init__()
        self._start_failures = 0
        self._closed = False
        self._workers = [self._spawn(i) for i in range(self.slots)]

    # -- public -------------------------------------------------------------------------------

    def submit(self, job: Job) -> None:
        if self._closed:
            raise RuntimeError("the executor is closed")
        super().submit(job)

    def pending(self) -> int:
        return len(self._queue) + sum(w.job is not None for w in self._workers)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.clear()
        for worker in self._workers:
            if worker.ready and worker.job is None:
                try:
                    worker.conn.send_bytes(b"")  # an idle worker exits cleanly
                    continue
                except OSError:
                    pass
            worker.proc.kill()  # busy or still starting: nothing to save
        deadline = time.monotonic() + 2.0
        for worker in self._workers:
            self._stop(worker, grace_s=max(0.0, deadline - time.monotonic()))
        if self._own_logs:
            shutil.rmtree(self._log_dir, ignore_errors=True)

    def worker_pids(self) -> list[int]:
        return [w.proc.pid for w in self._workers]

    # -- waiting ------------------------------------------------------------------------------

    def _block(self, seconds: float | None) -> None:
        objects = [w.conn for w in self._workers] + [w.proc.sentinel for w in self._workers]
        ready = multiprocessing.connection.wait(objects, seconds)
        for worker in list(self._workers):
            self._service(worker, ready)

    def _stop_running(self, key: str) -> bool:
        for worker in self._workers:
            if worker.job is not None and worker.job.key == key:
                self._replace(worker)
                return True
        return False

    # -- workers ------------------------------------------------------------------------------

    def _spawn(self, index: int) -> _Worker:
        parent_end, child_end = self._ctx.Pipe(duplex=True)
        config = self._config
        if self._cpus:
            config = replace(config, cpus=self._cpus[index % len(self._cpus)])
        log_path = os.path.join(self._log_dir, f"worker-{index}.log")
        proc = self._ctx.Process(target=serve, args=(child_end, config, log_path), daemon=True,
                                 name=f"boxloop-worker-{index}")
        proc.start()
        child_end.close()  # the child holds the only other end: its death reads as EOF here
        return _Worker(index, proc, parent_end, log_path, born=time.monotonic())

    def _stop(self, worker: _Worker, grace_s: float) -> None:
        worker.proc.join(grace_s)
        if worker.proc.is_alive():
            worker.proc.kill()
            worker.proc.join()
        worker.conn.close()

    def _replace(self, worker: _Worker) -> None:
        if worker.proc.is_alive():
            worker.proc.kill()
        self._stop(worker, grace_s=0.0)
        self._workers[self._workers.index(worker)] = self._spawn(worker.index)

    def _dispatch(self) -> None:
        for worker in self._workers:
            if not self._queue:
                return
            if not worker.ready or worker.job is not None:
                continue
            if worker.jobs_done >= self._max_jobs:
                self._replace(worker)  # recycle: JIT caches and leaks go with the process
                continue
            self._send(worker, self._queue.popleft())

    def _send(self, worker: _Worker, job: Job) -> None:
        try:
            payload = pickle.dumps((job.key, job.fn, job.args), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as err:  # noqa: BLE001
            self._finish(job, FitFailure("fit.not_picklable", f"the job cannot be pickled: {err}", "", 0.0), 0.0)
            return
        worker.log_offset = _size(worker.log_path)
        try:
            worker.conn.send_bytes(payload)
        except OSError:  # it died while idle: give the job to another worker
            self._queue.appendleft(job)
            self._replace(worker)
            return
        worker.job, worker.started = job, time.monotonic()

    # -- events -------------------------------------------------------------------------------

    def _service(self, worker: _Worker, ready: list) -> None:
        if worker not in self._workers:
            return
        if worker.conn in ready:
            try:
                message = worker.conn.recv()
            except (EOFError, OSError):
                self._died(worker)
                return
            self._message(worker, message)
        elif worker.proc.sentinel in ready:
            self._died(worker)

    def _message(self, worker: _Worker, message: tuple) -> None:
        kind = message[0]
        if kind == "ready":
            worker.ready = True
            self._start_failures = 0
            return
        job, elapsed = worker.job, time.monotonic() - worker.started
        worker.job, worker.jobs_done = None, worker.jobs_done + 1
        if job is None or job.key != message[1]:
            return  # a reply to a cancelled job
        value = message[2] if kind == "ok" else FitFailure(message[2], message[3], message[4], elapsed)
        self._finish(job, value, elapsed)

    def _died(self, worker: _Worker) -> None:
        worker.proc.join()
        job = worker.job
        if job is not None:
            elapsed = time.monotonic() - worker.started
            self._finish(job, _crash(worker.proc.exitcode, self._log_tail(worker), elapsed), elapsed)
        elif not worker.ready:
            self._start_failures += 1
        self._replace(worker)
        if self._start_failures >= _START_FAILURES_MAX:
            self._fail_queue(f"{self._start_failures} workers in a row died while starting: "
                             f"{self._log_tail(worker)[-500:]}")

    def _expire(self) -> None:
        now = time.monotonic()
        for worker in list(self._workers):
            job = worker.job
            if job is not None and job.timeout_s is not None and now - worker.started >= job.timeout_s:
                self._timeout(worker, job, now - worker.started)
            elif not worker.ready and now - worker.born >= self._start_timeout:
                self._start_failures += 1
                self._replace(worker)

    def _timeout(self, worker: _Worker, job: Job, elapsed: float) -> None:
        try:
            os.kill(worker.proc.pid, signal.SIGUSR1)  # faulthandler: dump where it is stuck
            time.sleep(0.2)
        except OSError:
            pass
        detail = self._log_tail(worker)
        self._replace(worker)
        reason = (f"the fit did not finish within {job.timeout_s:g} s and its worker was stopped; "
                  "raise the timeout or shrink the model, data or draws")
        self._finish(job, FitFailure("fit.timeout", reason, detail, elapsed), elapsed)

    def _fail_queue(self, reason: str) -> None:
        while self._queue:
            job = self._queue.popleft()
            self._finish(job, FitFailure("fit.worker_start_failed", reason, "", 0.0), 0.0)

    def _finish(self, job: Job, value, elapsed: float) -> None:
        self._done.append(Done(job.key, value, elapsed))

    def _next_deadline(self) -> float | None:
        times = [w.started + w.job.timeout_s for w in self._workers if w.job is not None and w.job.timeout_s]
        times += [w.born + self._start_timeout for w in self._workers if not w.ready]
        return min(times, default=None)

    def _log_tail(self, worker: _Worker) -> str:
        try:
            with open(worker.log_path, "rb") as f:
                f.seek(max(worker.log_offset, _size(worker.log_path) - _LOG_TAIL))
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def _crash(exitcode: int | None, log: str, elapsed: float) -> FitFailure:
    if exitcode is not None and exitcode < 0:
        reason = f"the worker was killed by {signal.Signals(-exitcode).name}"
        if -exitcode == signal.SIGKILL:
            reason += " (most likely the kernel's out-of-memory killer)"
    else:
        reason = f"the worker exited with code {exitcode} in the middle of the fit"
    oom = exitcode == -signal.SIGKILL or any(marker in log for marker in _OOM_MARKERS)
    return FitFailure("fit.out_of_memory" if oom else "fit.crashed", reason, log, elapsed)
