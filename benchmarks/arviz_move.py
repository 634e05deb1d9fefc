"""The move from the legacy `arviz` 0.23 to `arviz-base` / `arviz-stats`: import time, and the same numbers.

Run: python benchmarks/arviz_move.py [RUN_DIR ...] [--repeats 5] [--json out.json]
(needs the test extra, which keeps the legacy arviz as the reference.)

- Import time: each import in a new Python, alternating so both see the same machine; median and
  minimum of --repeats.
- For every finished run directory given: the run's comparable pool weighted by boxloop (now
  arviz-stats) and by the legacy `az.compare` on the same pointwise PSIS-LOO; the largest
  differences in stacking weight, pseudo-BMA+ weight, elpd difference and its se. And every fit's
  netCDF read by both libraries: the largest difference over every array of every group.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the legacy reference

IMPORTS = {
    "import arviz (legacy 0.23)": "import warnings; warnings.simplefilter('ignore'); import arviz",
    "import arviz_base, arviz_stats": "import arviz_base, arviz_stats",
    "boxloop's ArviZ adapter": "import boxloop.diagnose._arviz",
}


def import_times(repeats: int) -> dict:
    walls: dict[str, list[float]] = {name: [] for name in IMPORTS}
    for _ in range(repeats):
        for name, code in IMPORTS.items():
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
            walls[name].append(time.perf_counter() - start)
    return {name: {"median_s": statistics.median(v), "min_s": min(v)} for name, v in walls.items()}


def weights_against_legacy(view) -> dict:
    from references import legacy_arviz_weights

    from boxloop.search.recombine import comparable_pool, loo_comparison

    records = {c.hash: c.fit for c in view.candidates if c.fit is not None}
    pool = comparable_pool(records, view.zeta)
    ours = {row.name: row for row in loo_comparison(pool, records)}
    legacy = legacy_arviz_weights({h: records[h].diagnostics.loo for h in pool}) if pool else {}
    keys = ("weight_stacking", "weight_pseudo_bma_plus", "d_loo", "dse")
    worst = {key: max((abs(getattr(ours[h], key) - legacy[h][key]) for h in pool), default=0.0) for key in keys}
    same_order = list(ours) == list(legacy)
    return {"models": len(pool), "same_ranking": same_order, **{f"max_abs_diff_{k}": v for k, v in worst.items()}}


def files_against_legacy(directory: Path) -> dict:
    import numpy as np

    from boxloop.diagnose import group_arrays, load_netcdf

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import arviz as az
    worst, files = 0.0, 0
    for path in sorted((directory / "fits").glob("*.nc")):
        ours, theirs = load_netcdf(path), az.from_netcdf(str(path), engine="h5netcdf")
        for group in theirs.groups():
            a, b = group_arrays(ours, group), {k: v.values for k, v in theirs[group].items()}
            if set(a) != set(b):
                raise SystemExit(f"{path}: group {group} holds {sorted(a)} here and {sorted(b)} in arviz 0.23")
            for name in a:
                if np.issubdtype(a[name].dtype, np.number):
                    worst = max(worst, float(np.nanmax(np.abs(a[name].astype(float) - b[name].astype(float)),
                                                       initial=0.0)))
        files += 1
    return {"fit_files": files, "max_abs_diff_arrays": worst}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", help="finished run directories (from discover --out)")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--json")
    args = p.parse_args(argv)
    from boxloop.report.run import load_run

    out = {"imports": import_times(args.repeats), "runs": {}}
    for run in args.runs:
        view = load_run(run)
        out["runs"][run] = {**weights_against_legacy(view), **files_against_legacy(Path(run))}
    for name, row in out["imports"].items():
        print(f"{name:34s} median {row['median_s']:.2f} s  min {row['min_s']:.2f} s")
    for run, row in out["runs"].items():
        print(run, json.dumps(row))
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
