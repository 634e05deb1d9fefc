"""From a fresh process to a finished `boxloop fit`: eight schools, cold and warm, beside its floors.

Run: python benchmarks/fresh_fit.py [--repeats 5] [--pystan] [--baseline-src DIR] [--json out.json]

Each row is the wall time of a new process, median of --repeats, all in one run (so they see the
same machine; check `uptime`):
- `boxloop fit, cold`: an empty compilation cache (a structure never seen).
- `boxloop fit, warm`: the same command again (JAX's compiled programs come from the cache).
- `import jax` and `import numpyro.infer.hmc` in a new Python: the floor every fitting process pays.
- with --pystan, pystan 3 in a new Python with the model already built (httpstan's cache warm).
- with --baseline-src DIR (the `src` folder of another checkout, e.g. a `git worktree` of an older
  commit), `baseline fit`: the same command running that code (PYTHONPATH=DIR), interleaved.
The fit is the README's example: 4 chains x (1000 warmup + 1000 draws), --json output.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAM, DATA = ROOT / "examples" / "eight_schools.stan", ROOT / "examples" / "eight_schools.json"
BOXLOOP = str(Path(sys.executable).parent / "boxloop")

PYSTAN = """
import json, stan
model = stan.build(open({program!r}).read(), data=json.load(open({data!r})), random_seed=0)
model.sample(num_chains=4, num_warmup=1000, num_samples=1000)
"""


def _wall(cmd: list[str], env: dict | None = None) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, capture_output=True)
    return time.perf_counter() - start


def _timing(cache: str) -> dict:
    out = subprocess.run([BOXLOOP, "fit", str(PROGRAM), str(DATA), "--json", "--cache-dir", cache],
                         check=True, capture_output=True, text=True).stdout
    return json.loads(out)["timing"]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--pystan", action="store_true")
    p.add_argument("--baseline-src")
    p.add_argument("--json")
    args = p.parse_args(argv)
    baseline_env = {**os.environ, "PYTHONPATH": args.baseline_src} if args.baseline_src else None
    rows: dict[str, list[float]] = {}
    stan_cache = tempfile.mkdtemp(prefix="boxloop-httpstan-")
    stan_env = {**os.environ, "XDG_CACHE_HOME": stan_cache}
    stan_cmd = [sys.executable, "-c", PYSTAN.format(program=str(PROGRAM), data=str(DATA))]
    if args.pystan:
        _wall(stan_cmd, stan_env)  # build the model once: the rows below use the built one
    warm_timing = None
    for _ in range(args.repeats):
        cache = tempfile.mkdtemp(prefix="boxloop-jax-")
        fit = [BOXLOOP, "fit", str(PROGRAM), str(DATA), "--json", "--cache-dir", cache]
        rows.setdefault("boxloop fit, cold", []).append(_wall(fit))
        rows.setdefault("boxloop fit, warm", []).append(_wall(fit))
        warm_timing = _timing(cache)
        if baseline_env:
            rows.setdefault("baseline fit", []).append(_wall([BOXLOOP, "fit", str(PROGRAM), str(DATA), "--json"],
                                                             baseline_env))
        rows.setdefault("python -c 'import jax'", []).append(_wall([sys.executable, "-c", "import jax"]))
        rows.setdefault("python -c 'import numpyro.infer.hmc'", []).append(
            _wall([sys.executable, "-c", "import numpyro.infer.hmc"]))
        if args.pystan:
            rows.setdefault("pystan 3, model built", []).append(_wall(stan_cmd, stan_env))
    table = {name: {"median_s": statistics.median(v), "min_s": min(v)} for name, v in rows.items()}
    print("| process | median s | min s |\n|---|---:|---:|")
    for name, row in table.items():
        print(f"| {name} | {row['median_s']:.2f} | {row['min_s']:.2f} |")
    print(f"\nwarm fit's own timing (s): {warm_timing}")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": table, "warm_timing": warm_timing}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
