"""The fit cache shared by all runs of a user: fits keyed by (structure, data, settings).

Default location `~/.cache/boxloop/` (or `$BOXLOOP_CACHE_DIR`): `fits.sqlite` plus `fits/<key>.nc`.
Only successful fits are shared: a failure may depend on the timeout or the machine, and a run's
own store already keeps its failures for resuming.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..userdirs import default_cache_dir
from .records import FitRecord
from .store import (FITS_DIR, FITS_TABLE, add_missing_columns, connect, draws_problem, draws_sha256, fit_from_row,
                    insert_fit, write_atomic)

class FitCache:
    """`find(key)` -> (record, NetCDF bytes) or None; `add(record, netcdf)` stores a success."""

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.db = connect(self.directory / "fits.sqlite")
        self.db.execute(FITS_TABLE)
        add_missing_columns(self.db, "fits")

    def close(self) -> None:
        self.db.close()

    def find(self, key: str) -> tuple[FitRecord, bytes | None] | None:
        row = self.db.execute("SELECT * FROM fits WHERE key = ? AND status = 'ok'", (key,)).fetchone()
        if row is None:
            return None
        rec = fit_from_row(row)
        if draws_problem(self.directory, rec) is not None:
            return None  # the draws were deleted or damaged: a miss, fitted again
        return rec, (self.directory / rec.netcdf).read_bytes() if rec.netcdf else None

    def add(self, rec: FitRecord, netcdf: bytes | None) -> None:
        if not rec.ok:
            return
        relative = checksum = None
        if netcdf is not None:
            relative, checksum = f"{FITS_DIR}/{rec.key}.nc", draws_sha256(netcdf)
            write_atomic(self.directory / relative, netcdf)
        insert_fit(self.db, dataclasses.replace(rec, netcdf=relative, netcdf_sha256=checksum), None)
