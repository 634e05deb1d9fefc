"""The run store: one SQLite file (WAL) per run directory, written row by row as things finish.

Layout of a run directory:
    run.sqlite          runs, proposals, fits (this module)
    run.lock            held (flock) by the one process writing the run; says who it is
    fits/<key>.nc       the draws of each successful fit (ArviZ DataTree, netCDF), checksummed

One writer per directory: a second process that opens a directory in use is refused at once
(`store.locked`, naming the holder) rather than fitting everything twice; a reader that only
looks (`RunStore(dir, read_only=True)`) takes no lock. The lock dies with its process, so a run
killed with SIGKILL leaves no stale lock, and the next open marks that run `killed`.
A store that is empty (0 bytes), not SQLite, damaged, or not a boxloop run is refused with an
error naming the file and how to recover (`store.empty`, `store.corrupt`): it is never silently
replaced by a fresh run. A fit whose draws file is missing or fails its checksum is not reused,
nor one that failed only because its worker was lost (`fit.worker_lost`): it is fitted again.

Every insert commits on its own (autocommit), so a run killed at any moment, even with SIGKILL,
loses at most the fits that were still running. Rerunning the same command replays proposals by
their slot and finds finished fits by their key: nothing that finished is fitted again.
NetCDF files are written to a temporary name and renamed before their row is inserted, so a row
never points at a half-written file.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

from ..errors import BoxloopError
from ..redact import redact, redact_all
from .codec import diagnostics_from_json, diagnostics_to_json
from .records import FitRecord, ProposalRecord

DB_NAME = "run.sqlite"
LOCK_NAME = "run.lock"
FITS_DIR = "fits"
_TABLES = ("runs", "proposals", "fits")
# A fit that failed because the machinery under it did (its Ray worker kept dying), not because of
# the program: kept as the run's record, never reused on resume (fitted again instead).
WORKER_LOST = "fit.worker_lost"


class StoreError(BoxloopError):
    """A run directory cannot be used: in use by another process, empty, damaged or foreign."""

    code = "store.invalid"


FITS_TABLE = """
CREATE TABLE IF NOT EXISTS fits (
    key TEXT PRIMARY KEY, structural_hash TEXT NOT NULL, data_hash TEXT NOT NULL,
    settings_hash TEXT NOT NULL, program TEXT NOT NULL, status TEXT NOT NULL, code TEXT,
    reason TEXT, detail TEXT, diagnostics_json TEXT, score INTEGER, elpd_loo REAL,
    elpd_loo_se REAL, log_evidence REAL, evidence_json TEXT, timing_json TEXT,
    warnings_json TEXT, netcdf TEXT, source TEXT NOT NULL, run_id INTEGER, elapsed_s REAL,
    created REAL NOT NULL, netcdf_sha256 TEXT, fidelity TEXT)
"""

# What the screening rule decided for each screened structure of a run (`screen.Decision`).
SCREENING_TABLE = """
CREATE TABLE IF NOT EXISTS screening (
    run_id INTEGER NOT NULL, structural_hash TEXT NOT NULL, decision TEXT NOT NULL, reason TEXT,
    weight_bound REAL, screen_key TEXT, created REAL NOT NULL, PRIMARY KEY (run_id, structural_hash))
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
    SCREENING_TABLE,
)

_FIT_COLUMNS = ("key", "structural_hash", "data_hash", "settings_hash", "program", "status", "code", "reason",
                "detail", "diagnostics_json", "score", "elpd_loo", "elpd_loo_se", "log_evidence", "evidence_json",
                "timing_json", "warnings_json", "netcdf", "source", "run_id", "elapsed_s", "created", "netcdf_sha256",
                "fidelity")


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Autocommit connection in WAL mode: each statement is durable when it returns, readers
    never block the writer, and several runs may share one cache file. An existing file is
    checked first (`check_integrity`); a new one is created whole under a temporary name, so a
    kill during creation never leaves an empty file behind."""
    if path.exists():
        check_integrity(path)
    elif read_only:
        raise StoreError(f"there is no run store at {path}", code="store.missing")
    else:
        _create(path)
    target = _read_only_uri(path) if read_only else str(path)
    db = sqlite3.connect(target, uri=read_only, isolation_level=None, timeout=30.0)
    db.row_factory = sqlite3.Row
    if not read_only:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a killed process
    db.execute("PRAGMA busy_timeout=30000")
    return db


def _create(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".new{os.getpid()}")
    db = sqlite3.connect(str(tmp), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("CREATE TABLE IF NOT EXISTS boxloop_meta (key TEXT PRIMARY KEY, value TEXT)")
    db.close()  # the last connection checkpoints the WAL into the main file
    try:
        os.link(tmp, path)  # never over a store another process created meanwhile
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)


def _read_only_uri(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"


def check_integrity(path: Path) -> None:
    """Raise StoreError naming the file and the way out when it is not a sound SQLite store."""
    recover = (f"nothing was changed; move it aside (mv {path} {path}.broken) to start afresh, or restore "
               "it from a backup")
    if path.stat().st_size == 0:
        raise StoreError(f"{path} is empty (0 bytes), so it holds no run; {recover}", code="store.empty")
    try:
        db = sqlite3.connect(_read_only_uri(path), uri=True, timeout=30.0)
        try:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        finally:
            db.close()
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path} is not a readable SQLite database ({exc}); {recover}",
                         code="store.corrupt") from None
    if verdict != "ok":
        raise StoreError(f"{path} is damaged (SQLite integrity check: {verdict[:200]}); try "
                         f"`sqlite3 {path} .recover | sqlite3 {path}.recovered`, or {recover}", code="store.corrupt")


def draws_sha256(payload: bytes) -> str:
    return hashlib.sha256(payload).hexdigest()


def draws_problem(directory: Path, rec: FitRecord) -> str | None:
    """Why the draws file of a successful fit cannot be used (None: it is fine, or there is none)."""
    if not rec.ok or not rec.netcdf:
        return None
    path = directory / rec.netcdf
    try:
        payload = path.read_bytes()
    except OSError:
        return f"its draws file {path} is missing"
    if rec.netcdf_sha256 is not None and draws_sha256(payload) != rec.netcdf_sha256:
        return f"its draws file {path} does not match its checksum"
    return None


ADDED_COLUMNS = {"fits": {"netcdf_sha256": "TEXT", "fidelity": "TEXT"}}  # columns newer than the first release


def add_missing_columns(db: sqlite3.Connection, table: str) -> None:
    """Stores written by older releases lack the newer columns: add them (NULL for old rows)."""
    have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
    for name, kind in ADDED_COLUMNS.get(table, {}).items():
        if name not in have:
            db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")


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
        "created": time.time(), "netcdf_sha256": rec.netcdf_sha256, "fidelity": rec.fidelity,
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
        netcdf=row["netcdf"], source=row["source"], elapsed_s=row["elapsed_s"] or 0.0,
        netcdf_sha256=row["netcdf_sha256"], fidelity=row["fidelity"] or "full")


def _real(value: float):
    return value if value == value else None  # NaN -> NULL


# ---- the run store ---------------------------------------------------------------------------------


class RunStore:
    """A run directory's database. Use as a context manager, or call `close()`.

    read_only: look without locking or writing (a report of a run still in progress)."""

    def __init__(self, directory: str | Path, *, read_only: bool = False):
        self.directory = Path(directory)
        self.path = self.directory / DB_NAME
        self.read_only = read_only
        self.repaired: list[tuple[str, str]] = []  # (fit key, why its stored fit was not reused)
        self.killed = 0  # runs found 'running' with no process behind them, marked 'killed' on open
        self._lock = None if read_only else _acquire_lock(self.directory)
        try:
            self.db = connect(self.path, read_only=read_only)
            self._check_tables()
            if not read_only:
                for statement in _SCHEMA:
                    self.db.execute(statement)
                add_missing_columns(self.db, "fits")
                self.killed = self._mark_killed()
        except BaseException:
            self._release()
            raise
        self.run_id: int | None = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if getattr(self, "db", None) is not None:
            self.db.close()
        self._release()

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.close()  # closing the descriptor drops the flock
            self._lock = None

    def _check_tables(self) -> None:
        names = {row[0] for row in self.db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if names and not names & {*_TABLES, "boxloop_meta"}:
            raise StoreError(f"{self.path} is an SQLite database but not a boxloop run store (tables: "
                             f"{', '.join(sorted(names))[:200]}); nothing was changed; point --out at another "
                             "directory", code="store.corrupt")

    def _mark_killed(self) -> int:
        """Runs still 'running' when their directory's lock is free belong to a process that died."""
        note = json.dumps({"error": "the process ended without closing the run (killed, crashed, or the machine "
                                    "stopped); what it had finished is kept"})
        cur = self.db.execute("UPDATE runs SET status = 'killed', summary_json = ? WHERE status = 'running'", (note,))
        return cur.rowcount

    # runs
    def begin_run(self, config_hash: str, *, command: str, strategy: str, proposer: str, seed: int,
                  data_hash: str, target: str, config: dict) -> int:
        cur = self.db.execute(
            "INSERT INTO runs (config_hash, command, strategy, proposer, seed, data_hash, target, config_json,"
            " started, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running')",
            (config_hash, redact(command), strategy, redact(proposer), seed, data_hash, target,
             json.dumps(redact_all(config), default=str), time.time()))
        self.run_id = cur.lastrowid
        return self.run_id

    def finish_run(self, status: str, summary: dict) -> None:
        self.db.execute("UPDATE runs SET finished = ?, status = ?, summary_json = ? WHERE id = ?",
                        (time.time(), status, redact(json.dumps(summary, default=str)), self.run_id))

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
             redact(rec.proposer), rec.text, int(rec.valid), rec.structural_hash, json.dumps(list(rec.check)),
             rec.tokens_generated, rec.tokens_discarded, rec.tries, rec.seconds, redact(rec.error), time.time()))

    def proposals(self, config_hash: str | None = None) -> list[ProposalRecord]:
        query, args = "SELECT * FROM proposals", ()
        if config_hash is not None:
            query, args = query + " WHERE config_hash = ?", (config_hash,)
        return [_proposal_from_row(row) for row in self.db.execute(query + " ORDER BY id", args)]

    # fits
    def find_fit(self, key: str) -> FitRecord | None:
        """The stored fit, or None, also when its draws are missing or damaged (refit it)."""
        row = self.db.execute("SELECT * FROM fits WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        rec = fit_from_row(row)
        problem = "its worker was lost the last time" if rec.code == WORKER_LOST else draws_problem(self.directory, rec)
        if problem is not None:
            self.repaired.append((key, problem))
            return None
        return rec

    def add_fit(self, rec: FitRecord, netcdf: bytes | None = None) -> FitRecord:
        """Write the draws (if any) then the row; returns the record with its NetCDF path."""
        if netcdf is not None:
            relative = f"{FITS_DIR}/{rec.key}.nc"
            write_atomic(self.directory / relative, netcdf)
            rec = dataclasses.replace(rec, netcdf=relative, netcdf_sha256=draws_sha256(netcdf))
        insert_fit(self.db, rec, self.run_id)
        return rec

    def fits(self) -> list[FitRecord]:
        return [fit_from_row(row) for row in self.db.execute("SELECT * FROM fits ORDER BY created")]

    def executed_count(self) -> int:
        """Fits this directory actually ran (not copied from a cache)."""
        return self.db.execute("SELECT count(*) FROM fits WHERE source = 'executed'").fetchone()[0]

    # screening decisions
    def add_screening(self, structural_hash: str, decision: dict, screen_key: str | None) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO screening (run_id, structural_hash, decision, reason, weight_bound, screen_key,"
            " created) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (self.run_id, structural_hash, decision["decision"], decision.get("reason"), decision.get("weight_bound"),
             screen_key, time.time()))

    def screening(self, run_id: int | None) -> dict[str, dict]:
        """structural hash -> {decision, reason, weight_bound, screen_key} of one run (none for a
        store written before screening existed)."""
        if not self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'screening'").fetchone():
            return {}
        rows = self.db.execute("SELECT * FROM screening WHERE run_id = ?", (run_id,))
        return {row["structural_hash"]: {k: row[k] for k in ("decision", "reason", "weight_bound", "screen_key")}
                for row in rows}

    def netcdf_path(self, rec: FitRecord) -> Path | None:
        return self.directory / rec.netcdf if rec.netcdf else None


def _acquire_lock(directory: Path):
    """Hold `run.lock` for this process, or raise StoreError naming the process that holds it."""
    directory.mkdir(parents=True, exist_ok=True)
    handle = open(directory / LOCK_NAME, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise StoreError(f"the run directory {directory} is in use by {holder}; wait for that run to finish (or "
                         "stop it), or give this one another --out", code="store.locked") from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} (since {time.strftime('%Y-%m-%d %H:%M:%S')})\n")
    handle.flush()
    return handle


def _proposal_from_row(row: sqlite3.Row) -> ProposalRecord:
    return ProposalRecord(
        slot=row["slot"], lineage=row["lineage"], depth=row["depth"], block=row["block"], attempt=row["attempt"],
        parent_hash=row["parent_hash"], proposer=row["proposer"], text=row["text"] or "", valid=bool(row["valid"]),
        structural_hash=row["structural_hash"], check=tuple(json.loads(row["check_json"] or "[]")),
        tokens_generated=row["tokens_generated"] or 0, tokens_discarded=row["tokens_discarded"] or 0,
        tries=row["tries"] or 0, seconds=row["seconds"] or 0.0, error=row["error"], replayed=True)
