"""Run rate of the grammar proposer: the share of its programs that NUTS runs through without a
compile or initialisation failure (RefineStat's "run rate"), on the five RefineStat datasets.

    python benchmarks/grammar_runrate.py [--per-dataset 8] [--workers 2] [--seed 0] [--timeout 300]
                                         [--datasets NAME ...] [--json OUT]

Each program is fitted in its own worker process (spawned, with a timeout) with short NUTS
(2 chains, 300 warmup, 300 draws): the point is whether it runs, not how well it mixes; the
divergence count is reported beside it.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "benchmarks/posteriordb/data"
DATASETS = ("eight_schools", "dugongs_data", "surgical_data", "GLM_Binomial_data", "gp_pois_regr")
SETTINGS = {"chains": 2, "warmup": 300, "draws": 300, "chain_method": "sequential"}


def fit_one(text: str, values: dict, seed: int) -> dict:
    """Runs in the worker: compile, initialise and sample; numbers only come back."""
    import numpy as np

    from boxloop.infer.compile import fit
    from boxloop.infer.nuts import NutsSettings
    from boxloop.lang import parse

    result = fit(parse(text), values, NutsSettings(**SETTINGS), seed=seed)
    finite = bool(np.all(np.isfinite(result.u)))
    return {"divergent": int(np.sum(result.stats["diverging"])), "finite": finite,
            "compile_s": round(result.timing["compile_s"], 2), "sample_s": round(result.timing["sample_s"], 2)}


def run(per_dataset: int, workers: int, seed: int, timeout_s: float, datasets=DATASETS) -> dict:
    from boxloop.data import make_task
    from boxloop.infer.worker import FitFailure, WorkerLimits, run_in_worker
    from boxloop.propose.grammar import GrammarProposer

    jobs = []
    for name in datasets:
        task = make_task(DATA / f"{name}.json")
        values = {k: v for k, v in task.dataset.values.items()}
        for p in GrammarProposer().propose(task, n=per_dataset, seed=seed):
            jobs.append((name, p.text, values))
    limits = WorkerLimits(timeout_s=timeout_s, enable_x64=True)

    def one(job):
        name, text, values = job
        out = run_in_worker(fit_one, (text, values, seed), limits=limits)
        if isinstance(out, FitFailure):
            return name, text, {"ok": False, "failure": out.code, "reason": out.reason[:200]}
        return name, text, {"ok": out["finite"], **out}

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(one, jobs))
    return _summary(results, time.perf_counter() - start)


def _summary(results, seconds: float) -> dict:
    per = {}
    for name, text, r in results:
        row = per.setdefault(name, {"programs": 0, "ran": 0, "divergence_free": 0, "failures": []})
        row["programs"] += 1
        row["ran"] += bool(r["ok"])
        row["divergence_free"] += bool(r["ok"] and r.get("divergent", 1) == 0)
        if not r["ok"]:
            row["failures"].append({"code": r.get("failure", "fit.nonfinite"), "reason": r.get("reason", ""),
                                    "program": text})
    total = sum(r["programs"] for r in per.values())
    ran = sum(r["ran"] for r in per.values())
    fits = [{"dataset": name, **{k: v for k, v in r.items() if k != "reason"}} for name, _, r in results]
    return {"run_rate": ran / total if total else None, "programs": total, "seconds": round(seconds, 1),
            "settings": SETTINGS, "per_dataset": per, "fits": fits}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-dataset", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--json", help="write the full result here")
    args = parser.parse_args()
    summary = run(args.per_dataset, args.workers, args.seed, args.timeout, tuple(args.datasets))
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2))
    print(f"run rate {summary['run_rate']:.2f} over {summary['programs']} programs ({summary['seconds']} s)")
    for name, row in summary["per_dataset"].items():
        print(f"  {name}: ran {row['ran']}/{row['programs']}, divergence-free {row['divergence_free']}; "
              f"failures: {[f['code'] + ': ' + f['reason'][:80] for f in row['failures']]}")


if __name__ == "__main__":
    main()
