"""Where boxloop keeps what it reuses between runs of one user: the fit cache and JAX's compiled
programs, under `$BOXLOOP_CACHE_DIR`, else `$XDG_CACHE_HOME/boxloop`, else `~/.cache/boxloop`."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "BOXLOOP_CACHE_DIR"


def default_cache_dir() -> Path:
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "boxloop"


def compilation_cache_dir(cache: bool | str | Path | None) -> str | None:
    """The directory of JAX's persistent compilation cache for `cache` (True: the default cache
    directory; a path: that directory; False/None: no cache), created private to the user: its
    entries are executables that the next process loads and runs."""
    if cache is False or cache is None:
        return None
    base = default_cache_dir() if cache is True else Path(cache).expanduser()
    path = base / "jax"
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError:
        return None  # a read-only home only costs compile time, never the fit
    return str(path)
