"""Ctrl-C in the middle of `boxloop discover`: exit 130 within seconds, workers gone, the run
marked interrupted, nothing recorded as a fit result that was not one."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import search_helpers as h
from processes import alive, live_children


def _rows(db_path, query):
    try:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
        try:
            return db.execute(query).fetchall()
        finally:
            db.close()
    except sqlite3.Error:
        return []


def test_ctrl_c_stops_discover_and_its_workers_and_keeps_the_store(tmp_path):
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps({"y": h.TINY_DATA["y"].tolist()}))
    db = tmp_path / "run" / "run.sqlite"
    command = [sys.executable, "-m", "boxloop.cli_discover", str(data), "--json", "--budget", "2", "--chains", "2",
               "--warmup", "200000", "--draws", "10", "--workers", "1", "--out", str(tmp_path / "run"), "--no-cache"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and proc.poll() is None and \
                not _rows(db, "SELECT slot FROM proposals"):
            time.sleep(0.3)
        workers = live_children(proc.pid)
        assert proc.poll() is None and workers, "the run never got to fitting"
        time.sleep(2.0)
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, err[-2000:]
    assert json.loads(out)["error"]["code"] == "interrupted"
    time.sleep(0.5)
    assert not [pid for pid in workers if alive(pid)]
    assert [r[0] for r in _rows(db, "SELECT status FROM runs")] == ["interrupted"]
    assert _rows(db, "SELECT slot FROM proposals") and _rows(db, "SELECT key FROM fits") == []
    page = (tmp_path / "run" / "report.html").read_text()  # the report is written however the run ends
    assert "This run was stopped half-way (interrupted)" in page and "No candidate was fitted" in page
