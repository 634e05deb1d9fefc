"""Runs to report on, built once per session: a finished eight-schools run at CI size (real
fits, with rewrites), and copies of it as a person finds them after other endings."""

import shutil
import sqlite3
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EIGHT_SCHOOLS = REPO / "examples" / "eight_schools.json"


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory) -> Path:
    """`boxloop.discover` on eight schools: 3 structures, the later ones rewrites of the first."""
    import boxloop
    from boxloop.infer.nuts import NutsSettings

    out = tmp_path_factory.mktemp("runs") / "eight_schools"
    boxloop.discover(str(EIGHT_SCHOOLS), budget=3, beta=None, out=out, workers=2, cache=False,
                     settings=NutsSettings(chains=2, warmup=200, draws=200))
    return out


def copy_run(finished: Path, to: Path) -> Path:
    target = to / finished.name
    shutil.copytree(finished, target, ignore=shutil.ignore_patterns("report.html", "run.lock", "logs"))
    return target


def edit_store(run_dir: Path, *statements) -> None:
    db = sqlite3.connect(run_dir / "run.sqlite", isolation_level=None)
    try:
        for sql, args in statements:
            db.execute(sql, args)
    finally:
        db.close()
