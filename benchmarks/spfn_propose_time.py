"""Seconds per SPFN proposal (the `seconds` of `propose --json`) on the five RefineStat datasets.

    python benchmarks/spfn_propose_time.py [--repeats 3]

Prints one line per dataset: the `seconds` figure of `boxloop propose DATA --proposer spfn -n 1
--json` (decoding, checking and scoring; the checkpoint load is not counted), whether the program
was valid, which proposer wrote it (the grammar proposer stands in when the network writes no
valid program) and its log q.
"""

import argparse
import contextlib
import io
import json
from pathlib import Path

from boxloop.cli import main

DATA = Path(__file__).parents[1] / "tests" / "propose" / "data"
DATASETS = ("eight_schools", "dugongs_data", "surgical_data", "GLM_Binomial_data", "gp_pois_regr")


def one(path: Path, seed: int) -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["propose", str(path), "--proposer", "spfn", "-n", "1", "--seed", str(seed), "--json"])
    return json.loads(out.getvalue())


def run(repeats: int) -> None:
    for name in DATASETS:
        for seed in range(repeats):
            payload = one(DATA / f"{name}.json", seed)
            print(f"{name:18s} seed {seed}: {payload['tokens']['seconds']:.3f} s, valid {payload['valid'][0]}, "
                  f"by {payload['proposers'][0]}, log q {payload.get('scores', [None])[0]}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    run(parser.parse_args().repeats)
