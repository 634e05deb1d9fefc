"""kill -9 in the middle of `boxloop discover`, then the same command again: nothing refitted.

In the fast suite: a budget of 3 tiny fits, killed once the first is stored."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import search_helpers as h



def _fits(run_dir):
    try:
        db = sqlite3.connect(run_dir / "run.sqlite")
        return [row[0] for row in db.execute("SELECT structural_hash FROM fits")]
    except sqlite3.OperationalError:
        return []


def _children(pid):
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                        out.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return out


def test_killed_run_resumes_without_refitting(tmp_path):
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps({"y": h.TINY_DATA["y"].tolist()}))
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "boxloop.cli_discover", str(data), "--json", "--budget", "3", "--beta", "99",
               "--chains", "2", "--warmup", "200", "--draws", "200", "--workers", "1", "--out", str(run_dir),
               "--no-cache"]
    env = {**os.environ, "BOXLOOP_CACHE_DIR": str(tmp_path / "cache")}
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not _fits(run_dir) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.5)
        assert proc.poll() is None, "the run finished before it could be interrupted"
        workers = _children(proc.pid)
        os.kill(proc.pid, signal.SIGKILL)  # the parent only: its workers must not outlive it
        proc.wait()
        time.sleep(2)
        assert not [pid for pid in workers if os.path.exists(f"/proc/{pid}") and
                    open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"]
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    before = set(_fits(run_dir))
    assert len(before) >= 1
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode in (0, 1), rerun.stderr
    out = json.loads(rerun.stdout)
    assert out["counts"]["fits_resumed"] >= len(before)
    assert out["counts"]["fits_resumed"] + out["counts"]["fits_executed"] == len(out["candidates"]) == 3
    assert before <= {c["hash"] for c in out["candidates"]}
