"""Seconds per SPFN proposal (the `seconds` of `propose --json`) on the five RefineStat datasets.

    python benchmarks/spfn_propose_time.py [--repeats 3] [--batch 16]

Per dataset, in one process: the `seconds` figure of `boxloop propose DATA --proposer spfn -n 1
--json` (one program alone: decoding, checking and scoring; the checkpoint load is not counted),
that figure per program for `-n BATCH` (distinct programs, decoded side by side), and the seconds per
program of `discover`'s path (`propose_many`: one program for each of BATCH seeds, side by side);
whether the lone program was valid, which proposer wrote it (the grammar proposer stands in when
the network writes no valid program) and its log q.
"""

import argparse
import contextlib
import io
import json
import time
from pathlib import Path

from boxloop.cli import main
from boxloop.data import make_task
from boxloop.spfn.proposer import SPFNProposer

DATA = Path(__file__).parents[1] / "tests" / "propose" / "data"
DATASETS = ("eight_schools", "dugongs_data", "surgical_data", "GLM_Binomial_data", "gp_pois_regr")


def one(path: Path, seed: int, n: int = 1) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["propose", str(path), "--proposer", "spfn", "-n", str(n), "--seed", str(seed), "--json"])
    return json.loads(out.getvalue())


def many(proposer: SPFNProposer, path: Path, seed: int, batch: int) -> tuple[float, int]:
    task = make_task(path)
    started = time.perf_counter()
    out = proposer.propose_many(task, [seed * batch + k for k in range(batch)], n=1)
    return (time.perf_counter() - started) / batch, sum(p[0].proposer == "spfn" for p in out)


def run(repeats: int, batch: int) -> None:
    proposer = SPFNProposer()
    for name in DATASETS:
        path = DATA / f"{name}.json"
        for seed in range(repeats):
            alone, several = one(path, seed), one(path, seed, batch)
            per_seed, by_network = many(proposer, path, seed, batch)
            print(f"{name:18s} seed {seed}: alone {alone['tokens']['seconds']:.3f} s, -n {batch} "
                  f"{several['tokens']['seconds'] / len(several['programs']):.3f} s a program ({len(several['programs'])}), "
                  f"{batch} seeds {per_seed:.3f} s ({by_network} by the network); valid {alone['valid'][0]}, "
                  f"by {alone['proposers'][0]}, log q {alone.get('scores', [None])[0]}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    run(args.repeats, args.batch)
