"""Reading and describing a 10-million-cell CSV: wall time and peak memory of `boxloop describe`,
beside plain `pandas.read_csv` of the same file in the same run (the peer).

    python benchmarks/table_read.py [--rows 1000000] [--repeats 3] [--out benchmarks/out]

The file has 10 columns (six reals, two counts, a text factor with 20 levels, a yes/no column)
and is written once. Each reader runs in a fresh process, `--repeats` times; the best wall time and
the largest peak resident set (ru_maxrss of the child) are reported.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

PEER = "import sys, pandas; pandas.read_csv(sys.argv[1])"
# runs its arguments as a child and prints that child's peak RSS (KiB): one fresh count per run
_PEAK = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
         "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")


def write_table(path: Path, rows: int) -> None:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows).round(4) for i in range(6)})
    frame["visits"] = rng.poisson(3, rows)
    frame["cases"] = rng.poisson(12, rows)
    frame["region"] = rng.choice([f"region_{k}" for k in range(20)], rows)
    frame["smoker"] = rng.choice(["yes", "no"], rows)
    frame.to_csv(path, index=False)


def measure(argv: list[str], repeats: int = 3) -> tuple[float, float]:
    """(best wall seconds, peak RSS in MiB) of running `argv` in a child process."""
    best, peak = float("inf"), 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", _PEAK, *argv], check=True, capture_output=True, text=True)
        best = min(best, time.perf_counter() - started)
        peak = max(peak, int(out.stdout.strip()) / 1024)
    return best, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--out", default="benchmarks/out")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    path = Path(args.out) / f"table_{args.rows}x10.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        write_table(path, args.rows)
    peer_s, peer_mib = measure([sys.executable, "-c", PEER, str(path)], args.repeats)
    ours_s, ours_mib = measure(["boxloop", "describe", str(path), "--json"], args.repeats)
    cells = args.rows * 10
    size_mib = path.stat().st_size / 2**20
    print(f"| {cells:,} cells ({size_mib:.0f} MiB) | boxloop describe | {ours_s:.2f} | {ours_mib:.0f} | "
          f"{ours_s / peer_s:.2f} |")
    print(f"| | pandas.read_csv (peer) | {peer_s:.2f} | {peer_mib:.0f} | 1.00 |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
