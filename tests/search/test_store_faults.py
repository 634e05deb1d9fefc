"""The run store under abuse: empty, corrupt or foreign files, two writers, kill -9, draws that
went missing or bad. Nothing is silently restarted, nothing finished is lost."""

import dataclasses
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
import search_helpers as h

from boxloop.data import make_task
from boxloop.search.config import SearchConfig
from boxloop.search.discover import discover_task
from boxloop.search.records import FitRecord
from boxloop.search.store import RunStore, StoreError


def _store_error(directory) -> StoreError:
    with pytest.raises(StoreError) as err:
        RunStore(directory)
    return err.value


@pytest.mark.parametrize("content,code", [(b"", "store.empty"), (b"\x00garbage" * 500, "store.corrupt")])
def test_an_empty_or_corrupt_store_is_refused_and_left_as_it_was(tmp_path, content, code):
    db = tmp_path / "run.sqlite"
    db.write_bytes(content)
    err = _store_error(tmp_path)
    assert err.code == code and str(db) in str(err) and f"mv {db} {db}.broken" in str(err)
    assert db.read_bytes() == content  # never replaced by a fresh run


def test_a_foreign_sqlite_file_is_not_taken_for_a_run(tmp_path):
    other = sqlite3.connect(tmp_path / "run.sqlite")
    other.execute("CREATE TABLE invoices (id INTEGER)")
    other.commit()
    other.close()
    err = _store_error(tmp_path)
    assert err.code == "store.corrupt" and "invoices" in str(err)


def test_a_second_writer_is_refused_with_the_holder_named(tmp_path):
    with RunStore(tmp_path):
        err = _store_error(tmp_path)
        assert err.code == "store.locked" and f"pid {os.getpid()}" in str(err) and "--out" in str(err)
        with RunStore(tmp_path, read_only=True) as reader:  # a reader may still look
            assert reader.runs() == []
    with RunStore(tmp_path):  # released on close
        pass


_KILL_ME = """
import os, signal, sys
from boxloop.search.store import RunStore
store = RunStore(sys.argv[1])
store.begin_run("cfg", command="boxloop discover", strategy="refine", proposer="grammar", seed=0,
                data_hash="d", target="y", config={})
print("running", flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_a_run_killed_with_sigkill_is_marked_killed_on_the_next_open(tmp_path):
    proc = subprocess.run([sys.executable, "-c", _KILL_ME, str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == -signal.SIGKILL and "running" in proc.stdout
    with RunStore(tmp_path) as store:  # the dead process's lock went with it
        assert store.killed == 1
        [run] = store.runs()
        assert run["status"] == "killed" and "killed" in json.loads(run["summary_json"])["error"]


def _fit(key: str) -> FitRecord:
    return FitRecord(key=key, structural_hash="h" + key, data_hash="d", settings_hash="s", program="p", status="ok")


def test_missing_or_damaged_draws_or_a_lost_worker_are_not_reused(tmp_path):
    with RunStore(tmp_path) as store:
        for key in ("gone", "bad", "fine"):
            store.add_fit(_fit(key), netcdf=f"draws of {key}".encode())
        lost = dataclasses.replace(_fit("lost"), status="failed", code="fit.worker_lost")
        crashed = dataclasses.replace(_fit("crashed"), status="failed", code="fit.crashed")
        store.add_fit(lost)
        store.add_fit(crashed)
        assert store.find_fit("lost") is None and store.find_fit("crashed").code == "fit.crashed"
        (tmp_path / "fits" / "gone.nc").unlink()
        (tmp_path / "fits" / "bad.nc").write_bytes(b"draws of bax")
        assert store.find_fit("gone") is None and store.find_fit("bad") is None
        assert store.find_fit("fine").netcdf == "fits/fine.nc"
        assert dict(store.repaired) == {"lost": "its worker was lost the last time",
                                        "gone": f"its draws file {tmp_path}/fits/gone.nc is missing",
                                        "bad": f"its draws file {tmp_path}/fits/bad.nc does not match its checksum"}


def _discover(tmp_path, **config):
    task = make_task(dict(h.TINY_DATA))
    programs = [h.tiny(10), h.tiny(11, "student_t(4, mu, sigma)"), h.tiny(12, "cauchy(mu, sigma)")]
    executor = h.InlineExecutor()
    result = discover_task(task, SearchConfig(strategy="best-of-n", budget=3, **config), out=tmp_path / "run",
                           executor=executor, cache=False, proposer=h.FixedProposer(programs), fit_fn=h.synthetic_fit)
    return result, executor


def test_a_resumed_run_refits_exactly_the_fits_whose_draws_went_bad(tmp_path):
    first, _ = _discover(tmp_path)
    assert first.counts["fits_executed"] == 3
    draws = sorted((tmp_path / "run" / "fits").glob("*.nc"))
    draws[0].unlink()
    draws[1].write_bytes(b"flipped")
    second, executor = _discover(tmp_path)
    assert second.counts["fits_repaired"] == 2 and second.counts["fits_executed"] == 2
    assert second.counts["fits_resumed"] == 1
    assert sorted(executor.ran) == sorted(p.stem for p in draws[:2])
    assert [c.hash for c in second.candidates] == [c.hash for c in first.candidates]
    assert all((tmp_path / "run" / c.netcdf).is_file() for c in second.candidates)


def test_a_store_from_an_older_release_gains_the_checksum_column(tmp_path):
    old = sqlite3.connect(tmp_path / "run.sqlite")
    old.execute("CREATE TABLE fits (key TEXT PRIMARY KEY, structural_hash TEXT NOT NULL, data_hash TEXT NOT NULL, "
                "settings_hash TEXT NOT NULL, program TEXT NOT NULL, status TEXT NOT NULL, code TEXT, reason TEXT, "
                "detail TEXT, diagnostics_json TEXT, score INTEGER, elpd_loo REAL, elpd_loo_se REAL, "
                "log_evidence REAL, evidence_json TEXT, timing_json TEXT, warnings_json TEXT, netcdf TEXT, "
                "source TEXT NOT NULL, run_id INTEGER, elapsed_s REAL, created REAL NOT NULL)")
    old.execute("INSERT INTO fits (key, structural_hash, data_hash, settings_hash, program, status, source, created)"
                " VALUES ('k', 'h', 'd', 's', 'p', 'failed', 'executed', 0)")
    old.commit()
    old.close()
    with RunStore(tmp_path) as store:
        assert store.find_fit("k").status == "failed"
        store.add_fit(_fit("new"), netcdf=b"x")
        assert store.find_fit("new").netcdf_sha256 is not None


def test_cli_discover_on_a_broken_or_busy_store_exits_2_with_one_json_object(tmp_path, capsys):
    from boxloop.cli_discover import main

    data = tmp_path / "tiny.json"
    data.write_text(json.dumps({"y": h.TINY_DATA["y"].tolist()}))
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.sqlite").write_bytes(b"")
    assert main([str(data), "--out", str(run), "--json", "--no-cache"]) == 2
    out = capsys.readouterr()
    assert json.loads(out.out)["error"]["code"] == "store.empty" and str(run / "run.sqlite") in out.err
    (run / "run.sqlite").unlink()
    with RunStore(run):
        started = time.monotonic()
        assert main([str(data), "--out", str(run), "--json", "--no-cache"]) == 2
        assert time.monotonic() - started < 10  # refused at once, before any worker starts
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["code"] == "store.locked" and f"pid {os.getpid()}" in error["message"]
