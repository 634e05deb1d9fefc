"""Where a fit is: reported to whoever listens, like an effect handler.

The fit code calls `report(stage, done, total)` at its milestones; `listening(handler)` installs a
handler for the duration of a `with` block (handlers nest; the innermost sees events first). With
no handler installed, reporting costs nothing and NUTS runs its iterations in one call; with one,
NUTS runs them in `CHUNKS` calls of the same compiled loop, so the progress is real and the draws
are identical (the loop bounds are arguments, not constants).

Stages: "compile" (before anything is traced), "warmup" and "sampling" (done/total are NUTS
iterations over all of warmup + draws), "diagnose".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["FitProgress", "ProgressBar", "report", "listening", "is_listening", "CHUNKS"]

CHUNKS = 20  # calls NUTS makes when someone listens: a progress step is 5 % of the iterations


@dataclass(frozen=True)
class FitProgress:
    stage: str
    done: int = 0
    total: int = 0


_HANDLERS: list[Callable[[FitProgress], None]] = []


def report(stage: str, done: int = 0, total: int = 0) -> None:
    event = FitProgress(stage, done, total)
    for handler in reversed(_HANDLERS):
        handler(event)


def is_listening() -> bool:
    return bool(_HANDLERS)


@contextmanager
def listening(handler: Callable[[FitProgress], None]) -> Iterator[None]:
    _HANDLERS.append(handler)
    try:
        yield
    finally:
        _HANDLERS.remove(handler)


class ProgressBar:
    """A handler that draws the fit on a stream: redrawn in place on a terminal; elsewhere (a log,
    CI) one line per stage and per quarter of the iterations, so the log stays readable."""

    WIDTH = 30

    def __init__(self, stream, label: str = "fit"):
        self.stream, self.label = stream, label
        self.live = bool(getattr(stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last = None

    def __call__(self, event: FitProgress) -> None:
        text = self.render(event, time.perf_counter() - self.started)
        if self.live:
            self.stream.write("\r\033[K" + text)
        else:
            mark = (event.stage, 4 * event.done // event.total if event.total else 0)
            if mark == self._last:
                return
            self._last = mark
            self.stream.write(text + "\n")
        self.stream.flush()

    def render(self, event: FitProgress, elapsed: float) -> str:
        if not event.total:
            return f"{self.label}: {event.stage}... [{elapsed:.1f}s]"
        filled = round(self.WIDTH * event.done / event.total)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        return (f"{self.label}: {event.stage:8} [{bar}] {event.done}/{event.total} iterations "
                f"[{elapsed:.1f}s]")

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()
