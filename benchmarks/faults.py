"""How long each proposer failure takes to be named, with the default settings, against
misbehaving servers on 127.0.0.1; and what the run store's integrity check costs on open.

    python benchmarks/faults.py [--store DIR]

Each server case is timed `--repeat` times (median). The peer of each figure is the deadline that
bounds it (the probe's 5 s, the request's 120 s). `--store` times opening an existing run
directory with its checks (lock, integrity, killed runs) against a bare SQLite open of the same file.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))  # the scripted loopback server of the tests
from chat_server import ChatServer, free_port  # noqa: E402

SCHOOLS = {"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}
GOOD = """data { int<lower=0> J; vector[J] y; vector<lower=0>[J] sigma; }
parameters { real mu; real<lower=0> tau; vector[J] theta; }
model { mu ~ normal(0, 5); tau ~ normal(0, 5); theta ~ normal(mu, tau); y ~ normal(theta, sigma); }
"""


def time_failure(url: str, options: str = "") -> tuple[float, str]:
    from boxloop.data import make_task
    from boxloop.errors import ProposerError
    from boxloop.propose import get_proposer

    task = make_task(SCHOOLS, target="y")
    start = time.monotonic()
    try:
        get_proposer(f"openai:m@{url}{options}").propose(task)
        code = "ok"
    except ProposerError as err:
        code = err.code
    return time.monotonic() - start, code


def server_cases(repeat: int) -> list[dict]:
    cases = [("refused", None, ""), ("hung (accepts, never answers)", {"mode": "hang"}, ""),
             ("one byte every 2 s, #timeout=10", {"mode": "trickle", "programs": [GOOD], "gap_s": 2.0}, "#timeout=10"),
             ("HTTP 503 every time", {"mode": "status", "status": 503}, "")]
    rows = []
    for name, server_args, options in cases:
        times, code = [], None
        for _ in range(repeat):
            server = ChatServer(**server_args) if server_args else None
            url = server.url if server else f"http://127.0.0.1:{free_port()}/v1"
            try:
                seconds, code = time_failure(url, options)
            finally:
                if server:
                    server.close()
            times.append(seconds)
        rows.append({"case": name, "code": code, "seconds": round(statistics.median(times), 2)})
    return rows


def store_open(directory: Path, repeat: int) -> dict:
    from boxloop.search.store import RunStore

    def timed(open_once) -> float:
        samples = []
        for _ in range(repeat):
            start = time.perf_counter()
            open_once()
            samples.append(time.perf_counter() - start)
        return statistics.median(samples)

    def checked():
        with RunStore(directory) as store:
            store.fits()

    def bare():
        db = sqlite3.connect(directory / "run.sqlite")
        db.execute("SELECT * FROM fits").fetchall()
        db.close()

    with RunStore(directory, read_only=True) as store:
        fits = len(store.fits())
    checked_s, bare_s = timed(checked), timed(bare)
    return {"fits": fits, "checked_open_ms": round(1e3 * checked_s, 1), "bare_open_ms": round(1e3 * bare_s, 1),
            "ratio": round(checked_s / bare_s, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--store", help="a run directory to time opening")
    args = parser.parse_args()
    report = {"proposer_failures": server_cases(args.repeat)}
    if args.store:
        report["store_open"] = store_open(Path(args.store), max(args.repeat, 5))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
