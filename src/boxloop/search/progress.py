"""A live progress line on stderr: candidates tried, reliable so far, best elpd_loo.

On a terminal the line is redrawn in place; otherwise (a log file, CI) one line is written per
finished fit, so the log reads as a history rather than a wall of carriage returns.
"""

from __future__ import annotations

import sys
import time

from .driver import SearchProgress


class ProgressLine:
    def __init__(self, stream=None):
        self.stream = stream if stream is not None else sys.stderr
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.perf_counter()
        self._last_done = -1

    def __call__(self, p: SearchProgress) -> None:
        text = render(p, time.perf_counter() - self.started)
        if self.live:
            self.stream.write("\r\033[K" + text)
            self.stream.flush()
        elif p.fits_done != self._last_done:
            self._last_done = p.fits_done
            self.stream.write(text + "\n")
            self.stream.flush()

    def close(self) -> None:
        if self.live:
            self.stream.write("\n")
            self.stream.flush()


def render(p: SearchProgress, elapsed: float) -> str:
    best = "-" if p.best_elpd is None else f"{p.best_elpd:.2f} ± {p.best_se:.2f}"
    out = f", {p.screened_out} screened out" if p.screened_out else ""
    return (f"[{elapsed:6.1f}s] candidates {p.fits_done}/{p.budget} ({p.running} running, {p.proposals} proposals{out})"
            f"  reliable {p.reliable}  best elpd_loo {best}  | {p.last}")
