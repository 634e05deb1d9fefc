"""The run store: one SQLite file (WAL) per run directory, written row by row as things finish.

Layout of a run directory:
    run.sqlite          runs, proposals, fits (this module)
    fits/<key>.nc       the draws of each successful fit (InferenceData, NetCDF)

Every insert commits on its own (autocommit), so a run killed at any moment, even with SIGKILL,
loses at most the fits that were still running. Rerunning the same command replays proposals by
their slot and finds finished fits by their key: nothing that finished is fitted again.
NetCDF files are written to a temporary name and renamed before their row is inserted, so a row
never points at a half-written file.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
import time
from pathlib import Path

from .codec import diagnostics_from_json, diagnostics_to_json
from .records import FitRecord, ProposalRecord

DB_NAME = "run.sqlite"
FITS_DIR = "fits"

FITS_TABLE = """
CREATE TABLE IF NOT EXISTS fits (
    key TEXT PRIMARY KEY, structural_hash TEXT NOT NULL, data_hash TEXT NOT NULL,
    settings_hash TEXT NOT NULL, program TEXT NOT NULL, status TEXT NOT NULL, code TEXT,
    reason TEXT, detail TEXT, diagnostics_json TEXT, score INTEGER, elpd_loo REAL,
    elpd_loo_se REAL, log_evidence REAL, evidence_json TEXT, timing_json TEXT,
    warnings_json TEXT, netcdf TEXT, source TEXT NOT NULL, run_id INTEGER, elapsed_s REAL,
    created REAL NOT NULL)
"""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT, config_hash TEXT NOT NULL, command TEXT,
        strategy TEXT, proposer TEXT, seed INTEGER, data_hash TEXT, target TEXT,
        config_json TEXT, started REAL NOT NULL, finished REAL, status TEXT, summary_json TEXT)""",
    """CREATE TABLE IF NOT EXISTS proposals (
        id INTEGER PRIMARY KEY AUTOINCREMENT, run_id INTEGER, config_hash TEXT NOT NULL,
        slot TEXT NOT NULL, lineage INTEGER, depth INTEGER, block TEXT, attempt INTEGER,
        parent_hash TEXT, proposer TEXT, text TEXT, valid INTEGER, structural_hash TEXT,
        check_json TEXT, tokens_generated INTEGER, tokens_discarded INTEGER, tries INTEGER,
        seconds REAL, error TEXT, created REAL NOT NULL, UNIQUE (config_hash, slot))""",
    FITS_TABLE,
)

_FIT_COLUMNS = ("key", "structural_hash", "data_hash", "settings_hash", "program", "status", "code", "reason",
                "detail", "diagnostics_json", "score", "elpd_loo", "elpd_loo_se", "log_evidence", "evidence_json",
                "timing_json", "warnings_json", "netcdf", "source", "run_id", "elapsed_s", "created")


def connect(path: Path) -> sqlite3.Connection:
    """Autocommit connection in WAL mode: each statement is durable when it returns, readers
    never block the writer, and several runs may share one cache file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(str(path), isolation_level=None, timeout=30.0)
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
    db.execute("PRAGMA busy_timeout=30000")
    return db


def write_atomic(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


# ---- fit rows (shared with the cache) ------------------------------------------------------------


def fit_row(rec: FitRecord, run_id: int | None) -> tuple:
    d = rec.diagnostics
    values = {
        "key": rec.key, "structural_hash": rec.structural_hash, "data_hash": rec.data_hash,
        "settings_hash": rec.settings_hash, "program": rec.program, "status": rec.status, "code": rec.code,
        "reason": rec.reason, "detail": rec.detail,
        "diagnostics_json": diagnostics_to_json(d) if d is not None else None,
        "score": rec.score if d is not None else None, "elpd_loo": _real(rec.elpd_loo),
        "elpd_loo_se": _real(rec.elpd_loo_se), "log_evidence": _real(rec.log_evidence),
        "evidence_json": json.dumps(rec.evidence) if rec.evidence is not None else None,
        "timing_json": json.dumps(rec.timing), "warnings_json": json.dumps(list(rec.warnings)),
        "netcdf": rec.netcdf, "source": rec.source, "run_id": run_id, "elapsed_s": rec.elapsed_s,
        "created": time.time(),
    }
    return tuple(values[c] for c in _FIT_COLUMNS)


def insert_fit(db: sqlite3.Connection, rec: FitRecord, run_id: int | None) -> None:
    marks = ", ".join("?" * len(_FIT_COLUMNS))
    db.execute(f"INSERT OR REPLACE INTO fits ({', '.join(_FIT_COLUMNS)}) VALUES ({marks})", fit_row(rec, run_id))


def fit_from_row(row: sqlite3.Row) -> FitRecord:
    return FitRecord(
        key=row["key"], structural_hash=row["structural_hash"], data_hash=row["data_hash"],
        settings_hash=row["settings_hash"], program=row["program"], status=row["status"], code=row["code"],
        reason=row["reason"], detail=row["detail"], diagnostics=diagnostics_from_json(row["diagnostics_json"]),
        evidence=json.loads(row["evidence_json"]) if row["evidence_json"] else None,
        timing=json.loads(row["timing_json"] or "{}"), warnings=tuple(json.loads(row["warnings_json"] or "[]")),
        netcdf=row["netcdf"], source=row["source"], elapsed_s=row["elapsed_s"] or 0.0)


def _real(value: float):
    return value if value == value else None  # NaN -> NULL


# ---- the run store ---------------------------------------------------------------------------------


class RunStore:
    """A run directory's database. Use as a context manager, or call `close()`."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.db = connect(self.path)
        for statement in _SCHEMA:
            self.db.execute(statement)
        self.run_id: int | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        self.db.close()

    # runs
    def begin_run(self, config_hash: str, *, command: str, strategy: str, proposer: str, seed: int,
                  data_hash: str, target: str, config: dict) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (config_hash, command, strategy, proposer, seed, data_hash, target, config_json,"
            " started, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
            (config_hash, command, strategy, proposer, seed, data_hash, target, json.dumps(config, default=str),
             time.time()))
        self.run_id = cur.lastrowid
        return self.run_id

    def finish_run(self, status: str, summary: dict) -> None:
        self.db.execute("UPDATE runs SET finished = ?, status = ?, summary_json = ? WHERE id = ?",
                        (time.time(), status, json.dumps(summary, default=str), self.run_id))

    def runs(self) -> list[dict]:
        return [dict(row) for row in self.db.execute("SELECT * FROM runs ORDER BY id")]

    # proposals
    def find_proposal(self, config_hash: str, slot: str) -> ProposalRecord | None:
        row = self.db.execute("SELECT * FROM proposals WHERE config_hash = ? AND slot = ?",
                              (config_hash, slot)).fetchone()
        return _proposal_from_row(row) if row is not None else None

    def add_proposal(self, config_hash: str, rec: ProposalRecord) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO proposals (run_id, config_hash, slot, lineage, depth, block, attempt,"
            " parent_hash, proposer, text, valid, structural_hash, check_json, tokens_generated,"
            " tokens_discarded, tries, seconds, error, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,"
            " ?, ?, ?, ?)",
            (self.run_id, config_hash, rec.slot, rec.lineage, rec.depth, rec.block, rec.attempt, rec.parent_hash,
             rec.proposer, rec.text, int(rec.valid), rec.structural_hash, json.dumps(list(rec.check)),
             rec.tokens_generated, rec.tokens_discarded, rec.tries, rec.seconds, rec.error, time.time()))

    def proposals(self, config_hash: str | None = None) -> list[ProposalRecord]:
        query, args = "SELECT * FROM proposals", ()
        if config_hash is not None:
            query, args = query + " WHERE config_hash = ?", (config_hash,)
        return [_proposal_from_row(row) for row in self.db.execute(query + " ORDER BY id", args)]

    # fits
    def find_fit(self, key: str) -> FitRecord | None:
        row = self.db.execute("SELECT * FROM fits WHERE key = ?", (key,)).fetchone()
        return fit_from_row(row) if row is not None else None

    def add_fit(self, rec: FitRecord, netcdf: bytes | None = None) -> FitRecord:
        """Write the draws (if any) then the row; returns the record with its NetCDF path."""
        if netcdf is not None:
            relative = f"{FITS_DIR}/{rec.key}.nc"
            write_atomic(self.directory / relative, netcdf)
            rec = dataclasses.replace(rec, netcdf=relative)
        insert_fit(self.db, rec, self.run_id)
        return rec

    def fits(self) -> list[FitRecord]:
        return [fit_from_row(row) for row in self.db.execute("SELECT * FROM fits ORDER BY created")]

    def executed_count(self) -> int:
        """Fits this directory actually ran (not copied from a cache)."""
        return self.db.execute("SELECT count(*) FROM fits WHERE source = 'executed'").fetchone()[0]

    def netcdf_path(self, rec: FitRecord) -> Path | None:
        return self.directory / rec.netcdf if rec.netcdf else None


def _proposal_from_row(row: sqlite3.Row) -> ProposalRecord:
    return ProposalRecord(
        slot=row["slot"], lineage=row["lineage"], depth=row["depth"], block=row["block"], attempt=row["attempt"],
        parent_hash=row["parent_hash"], proposer=row["proposer"], text=row["text"] or "", valid=bool(row["valid"]),
        structural_hash=row["structural_hash"], check=tuple(json.loads(row["check_json"] or "[]")),
        tokens_generated=row["tokens_generated"] or 0, tokens_discarded=row["tokens_discarded"] or 0,
        tries=row["tries"] or 0, seconds=row["seconds"] or 0.0, error=row["error"], replayed=True)
