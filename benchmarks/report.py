"""Time `write_report` on a finished run directory and give the size of the HTML.

    python benchmarks/report.py RUN_DIR [--repeat 5]

Prints the first (cold: imports and netCDF reads) and the median of the later builds, in seconds,
and the size of the page in KiB.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    from boxloop.report import load_run, write_report

    out = Path(tempfile.mkdtemp()) / "report.html"
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        summary = write_report(args.run_dir, out)
        times.append(time.perf_counter() - t0)
    cold = time.perf_counter() - started - sum(times[1:])
    view = load_run(args.run_dir)
    print(f"candidates {len(view.candidates)}, verdict {summary.verdict}; first build (with imports) {cold:.2f} s, "
          f"later builds median {statistics.median(times[1:] or times):.2f} s; page {summary.bytes / 1024:.1f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
