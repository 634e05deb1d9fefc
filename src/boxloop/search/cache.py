"""The fit cache shared by all runs of a user: fits keyed by (structure, data, settings).

Default location `~/.cache/boxloop/` (or `$BOXLOOP_CACHE_DIR`): `fits.sqlite` plus `fits/<key>.nc`.
Only successful fits are shared: a failure may depend on the timeout or the machine, and a run's
own store already keeps its failures for resuming.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .records import FitRecord
from .store import FITS_DIR, FITS_TABLE, connect, fit_from_row, insert_fit, write_atomic

ENV_VAR = "BOXLOOP_CACHE_DIR"


def default_cache_dir() -> Path:
    explicit = os.environ.get(ENV_VAR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "boxloop"


class FitCache:
    """`find(key)` -> (record, NetCDF bytes) or None; `add(record, netcdf)` stores a success."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.db = connect(self.directory / "fits.sqlite")
        self.db.execute(FITS_TABLE)

    def close(self) -> None:
        self.db.close()

    def find(self, key: str) -> tuple[FitRecord, bytes | None] | None:
        row = self.db.execute("SELECT * FROM fits WHERE key = ? AND status = 'ok'", (key,)).fetchone()
        if row is None:
            return None
        rec = fit_from_row(row)
        path = self.directory / rec.netcdf if rec.netcdf else None
        if path is not None and not path.is_file():
            return None  # the draws were deleted: treat as a miss and fit again
        return rec, path.read_bytes() if path is not None else None

    def add(self, rec: FitRecord, netcdf: bytes | None) -> None:
        if not rec.ok:
            return
        relative = None
        if netcdf is not None:
            relative = f"{FITS_DIR}/{rec.key}.nc"
            write_atomic(self.directory / relative, netcdf)
        insert_fit(self.db, dataclasses.replace(rec, netcdf=relative), None)
