"""Large data: a hierarchical regression on 100,000 and 1,000,000 rows, boxloop beside pystan.

Run: python benchmarks/large_data.py [--rows 100000,1000000] [--groups 50] [--pystan]
     [--chains 4] [--warmup 1000] [--draws 1000] [--timeout 3600] [--json out.json]

The model is what a statistician writes for data-rich groups (centred group intercepts):
    a ~ normal(mu, tau); y ~ normal(a[g] + beta * x, sigma)
with data simulated from it (seeded). Each fit runs in a fresh `boxloop fit --json` process (and,
with --pystan, a fresh Python process running pystan 3 with the same chains, warmup and draws), one
after the other so both see the same machine. Peak memory is the largest resident set of the
process or any process it waited for (GNU time's %M: the fit's worker included). Check `uptime`
before and after: other work on the machine skews every number.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

PROGRAM = """
data { int<lower=1> N; int<lower=1> J; array[N] int<lower=1, upper=J> g; vector[N] x; vector[N] y; }
parameters { real mu; real<lower=0> tau; vector[J] a; real beta; real<lower=0> sigma; }
model {
  mu ~ normal(0, 5); tau ~ normal(0, 2); a ~ normal(mu, tau);
  beta ~ normal(0, 2); sigma ~ normal(0, 2);
  y ~ normal(a[g] + beta * x, sigma);
}
"""

PYSTAN = """
import json, sys, time
import stan
program, data_path, chains, warmup, draws = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
data = json.load(open(data_path))
t0 = time.perf_counter()
model = stan.build(open(program).read(), data=data, random_seed=1)
t1 = time.perf_counter()
fit = model.sample(num_chains=chains, num_warmup=warmup, num_samples=draws)
t2 = time.perf_counter()
print(json.dumps({"build_s": t1 - t0, "sample_s": t2 - t1, "beta": float(fit["beta"].mean())}))
"""


def simulate(n: int, groups: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    a = rng.normal(1.0, 0.5, size=groups)
    g = rng.integers(1, groups + 1, size=n)
    x = rng.normal(size=n)
    y = a[g - 1] + 0.3 * x + rng.normal(0, 1.0, size=n)
    return {"N": n, "J": groups, "g": g.tolist(), "x": x.tolist(), "y": y.tolist()}


def _timed(cmd: list[str], timeout: float) -> tuple[dict, float, int, str]:
    """(parsed JSON stdout or {}, wall seconds, peak RSS in MB, stderr tail)."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(["/usr/bin/time", "-f", "%M", *cmd], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout:g} s"}, time.perf_counter() - start, -1, ""
    wall = time.perf_counter() - start
    lines = proc.stderr.strip().splitlines()
    peak = int(lines[-1]) // 1024 if lines and lines[-1].isdigit() else -1
    try:  # the last line: pystan writes its progress to stdout before it
        out = json.loads((proc.stdout.strip().splitlines() or [""])[-1])
    except json.JSONDecodeError:
        out = {"error": f"exit {proc.returncode}"}
    return out, wall, peak, "\n".join(lines[-6:-1])


def run_boxloop(program: Path, data: Path, args) -> dict:
    cmd = [str(Path(sys.executable).parent / "boxloop"), "fit", str(program), str(data), "--json", "--chains", str(args.chains),
           "--warmup", str(args.warmup), "--draws", str(args.draws), "--timeout", str(args.timeout), "--no-cache"]
    out, wall, peak, tail = _timed(cmd, args.timeout + 60)
    d = out.get("diagnostics") or {}
    return {"tool": "boxloop", "wall_s": round(wall, 1), "peak_mb": peak, "timing": out.get("timing"),
            "score": d.get("score"), "elpd_loo": d.get("elpd_loo"), "rhat_max": d.get("rhat_max"),
            "ess_bulk_min": d.get("ess_bulk_min"), "beta": (out.get("summary") or {}).get("beta", {}).get("mean"),
            "warnings": out.get("warnings"), "error": out.get("error"), "stderr": tail if out.get("error") else None}


def run_pystan(program: Path, data: Path, args) -> dict:
    script = Path(tempfile.mkdtemp()) / "run_pystan.py"
    script.write_text(PYSTAN)
    cmd = [sys.executable, str(script), str(program), str(data), str(args.chains), str(args.warmup), str(args.draws)]
    out, wall, peak, tail = _timed(cmd, args.timeout + 600)
    return {"tool": "pystan", "wall_s": round(wall, 1), "peak_mb": peak, **out,
            "stderr": tail if "error" in out else None}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", default="100000,1000000")
    p.add_argument("--groups", type=int, default=50)
    p.add_argument("--pystan", action="store_true")
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=1000)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--json")
    args = p.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="boxloop-large-"))
    program = work / "hier.stan"
    program.write_text(PROGRAM)
    results = []
    for n in (int(r) for r in args.rows.split(",")):
        data = work / f"data_{n}.json"
        data.write_text(json.dumps(simulate(n, args.groups)))
        runs = [run_boxloop(program, data, args)] + ([run_pystan(program, data, args)] if args.pystan else [])
        for r in runs:
            r["rows"] = n
            print(json.dumps(r), flush=True)
            results.append(r)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
