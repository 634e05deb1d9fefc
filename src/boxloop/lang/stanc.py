"""The real Stan compiler as an oracle: is this text a Stan program stanc accepts?

stanc3 ships as the binary `stanc` inside the PyPI package `httpstan` (an optional dependency, in
the test extra). boxloop never needs it to run; tests and benchmarks use it to hold the checker to
what Stan itself accepts, and `stanc_verdict` lets a user cross-check a program by hand.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import BoxloopError

_TIMEOUT_S = 60


class StancUnavailable(BoxloopError):
    code = "stanc.unavailable"


@dataclass(frozen=True)
class StancVerdict:
    """stanc's answer: `ok` when it compiled the program to C++; `message` is what it printed
    (its syntax or semantic error, with line and column) when it did not."""

    ok: bool
    message: str


@lru_cache(maxsize=1)
def stanc_path() -> Path:
    """The stanc binary: `$BOXLOOP_STANC` if set, else the one inside the installed httpstan."""
    override = os.environ.get("BOXLOOP_STANC")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("httpstan")
        if spec is None or not spec.submodule_search_locations:
            raise StancUnavailable("stanc is not available: install httpstan (`pip install httpstan`, "
                                   "in boxloop's test extra) or point BOXLOOP_STANC at a stanc binary")
        path = Path(next(iter(spec.submodule_search_locations))) / "stanc"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise StancUnavailable(f"stanc binary {path} is missing or not executable; reinstall httpstan "
                               "or set BOXLOOP_STANC to a working stanc")
    return path


def stanc_verdict(text: str, *, include_paths: tuple[str, ...] = ()) -> StancVerdict:
    """Compile `text` with stanc (to a throwaway .hpp) and report whether it was accepted."""
    with tempfile.TemporaryDirectory(prefix="boxloop-stanc-") as tmp:
        source = Path(tmp) / "program.stan"
        source.write_text(text)
        command = [str(stanc_path()), str(source), f"--o={Path(tmp) / 'program.hpp'}"]
        if include_paths:
            command.append("--include-paths=" + ",".join(include_paths))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return StancVerdict(False, f"stanc did not finish within {_TIMEOUT_S} s")
    message = (done.stderr or done.stdout).replace(str(source), "program.stan").strip()
    return StancVerdict(done.returncode == 0, message)


@lru_cache(maxsize=1)
def math_signatures() -> tuple[str, ...]:
    """Every signature of the Stan math library as stanc prints it (`name(argtypes) => return`)."""
    done = subprocess.run([str(stanc_path()), "--dump-stan-math-signatures"], capture_output=True,
                          text=True, timeout=_TIMEOUT_S, check=True)
    return tuple(line for line in done.stdout.splitlines() if line.strip())
