"""Where fits run: the executor interface shared by the local pool and Ray.

A job is a picklable module-level function with its arguments, a key, a timeout and a priority.
Executors start queued jobs highest priority first (in submission order among equals) and hand
back `Done` values as they complete; whatever goes wrong in a job
(an exception, a crash of the worker, a timeout) comes back as a `FitFailure` value, never as an
exception in the caller. A cancelled job produces no `Done`.
"""

from __future__ import annotations

import heapq
import itertools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..infer.worker import FitFailure

__all__ = ["Job", "JobQueue", "Done", "Executor", "QueueingExecutor", "FitFailure", "as_completed"]


@dataclass(frozen=True)
class Job:
    key: str
    fn: Callable = field(repr=False)
    args: tuple = field(default=(), repr=False)
    timeout_s: float | None = None
    priority: float = 0.0  # higher starts first: the search's estimate of what the fit is worth


class JobQueue:
    """Jobs waiting for a slot: `popleft` gives the highest priority, the earliest submitted among
    equals; `appendleft` puts a job before every other (a job to run again at once)."""

    def __init__(self):
        self._heap: list = []
        self._later = itertools.count()
        self._sooner = itertools.count(-1, -1)

    def append(self, job: Job) -> None:
        heapq.heappush(self._heap, (-job.priority, next(self._later), job))

    def appendleft(self, job: Job) -> None:
        heapq.heappush(self._heap, (-float("inf"), next(self._sooner), job))

    def popleft(self) -> Job:
        return heapq.heappop(self._heap)[2]

    def remove(self, job: Job) -> None:
        self._heap = [entry for entry in self._heap if entry[2] is not job]
        heapq.heapify(self._heap)

    def clear(self) -> None:
        self._heap.clear()

    def __len__(self) -> int:
        return len(self._heap)

    def __iter__(self) -> Iterator[Job]:
        return iter([entry[2] for entry in sorted(self._heap, key=lambda e: e[:2])])


@dataclass(frozen=True)
class Done:
    key: str
    value: Any = field(repr=False)  # fn's return value, or a FitFailure
    elapsed_s: float = 0.0

    @property
    def failed(self) -> bool:
        return isinstance(self.value, FitFailure)


@runtime_checkable
class Executor(Protocol):
    slots: int  # how many jobs run at once

    def submit(self, job: Job) -> None:
        """Queue a job; it starts when a slot is free. Keys must be unique among pending jobs."""

    def wait(self, timeout: float | None = None) -> list[Done]:
        """Block until at least one job completes (or `timeout` seconds pass, or nothing is
        pending); return every job completed since the last call."""

    def cancel(self, key: str) -> bool:
        """Drop a queued job or stop a running one; True when there was such a job."""

    def pending(self) -> int:
        """Jobs queued or running."""

    def close(self) -> None:
        """Stop every worker; pending jobs are dropped."""


class QueueingExecutor:
    """What the local pool and Ray share: a queue of jobs waiting for a slot, results collected
    as they complete, and the wait loop that wakes for the caller's timeout or the next job
    deadline. A subclass says how to start queued jobs (`_dispatch`), what is pending, how to
    block until something happens (`_block`), how to stop a running job (`_stop_running`), when
    the next deadline falls (`_next_deadline`) and what to do once it passes (`_expire`)."""

    slots: int

    def __init__(self):
        self._queue = JobQueue()
        self._done: list[Done] = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def submit(self, job: Job) -> None:
        self._queue.append(job)
        self._dispatch()

    def wait(self, timeout: float | None = None) -> list[Done]:
        until = None if timeout is None else time.monotonic() + timeout
        while True:
            self._dispatch()
            if self._done or not self.pending():
                return self._take_done()
            now = time.monotonic()
            if until is not None and now >= until:
                return []
            wake = min([t for t in (until, self._next_deadline()) if t is not None], default=None)
            self._block(None if wake is None else max(0.0, wake - now))
            self._expire()

    def cancel(self, key: str) -> bool:
        for job in self._queue:
            if job.key == key:
                self._queue.remove(job)
                return True
        return self._stop_running(key)

    def _take_done(self) -> list[Done]:
        done, self._done = self._done, []
        return done


def as_completed(executor: Executor) -> Iterator[Done]:
    """Every result, as it completes, until nothing is pending."""
    while executor.pending():
        yield from executor.wait()
