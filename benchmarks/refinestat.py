"""RefineStat's five datasets: boxloop discover beside the published numbers, plus an ablation.

For each dataset and seed, `boxloop.discover` runs with the default proposer:
- `refine` (RefineStat Algorithm 1, diagnostics choosing the block; alpha=2, beta=4, zeta=5), and
- `best-of-n` (the same fit budget, independent proposals, best reliable by elpd_loo), and
- `refine-full` (refine without the beta stop, so it spends the whole budget too).
Every run has a fresh fit cache and JAX compilation cache, so wall times include every compile.
Per dataset: run rate, best elpd_loo (mean ± sd over seeds of each seed's best, as RefineStat's
tables), the se of the best program, wall time, proposer tokens, fits used, next to the published
Expert / RefineStat / BoxLM / o3 numbers (research/refinestat_boxlm.md §1). It also times
"eight schools discovered end to end" with the default discover settings.

    python benchmarks/refinestat.py                       # everything (tens of minutes on 2 cores)
    python benchmarks/refinestat.py --datasets eight_schools --seeds 0 --budget 6
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

import boxloop.api
from boxloop.infer.nuts import NutsSettings

DATA = Path("/work/shared/benchmarks/posteriordb/data")

# name: (file, target, Expert, RefineStat (DQ-7B), BoxLM (GPT-4), o3) -- RefineStat Table 3.
DATASETS = {
    "eight_schools": ("eight_schools.json", "y", "−30.70", "−30.68 ± 0.11", "−30.42", "−30.74 ± 0.07"),
    "dugongs": ("dugongs_data.json", "Y", "22.43", "8.35 ± 0.06", "23.40", "22.83 ± 8.12"),
    "surgical": ("surgical_data.json", "r", "−39.73", "−46.51 ± 3.49", "−38.03", "−38.73 ± 0.51"),
    "peregrine": ("GLM_Binomial_data.json", "C", "−112.60", "−114.29 ± 2.76", "−173.11", "−133.29 ± 10.33"),
    # The expert's −26.53 is gp_regr, a GP for y; o3's −34.95 modelled the counts k instead (a
    # different target, so a different elpd scale: research/refinestat_boxlm.md §3).
    "gp": ("gp_pois_regr.json", "y", "−26.53", "−23.39 ± 1.14", "–", "−34.95 ± 13.28 (k)"),
}
# Variables the expert model sees, where the file holds more: gp_regr models y given x only (the
# counts k belong to the other GP posterior; as a covariate they would make elpd incomparable).
KEEP = {"gp": ("N", "x", "y")}


def data_file(name: str, work: Path) -> Path:
    path = DATA / DATASETS[name][0]
    if name not in KEEP:
        return path
    values = json.loads(path.read_text())
    kept = work / path.name
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_text(json.dumps({k: values[k] for k in KEEP[name]}))
    return kept


def run_one(name: str, strategy: str, seed: int, args, root: Path) -> dict:
    target = DATASETS[name][1]
    settings = NutsSettings(chains=args.chains, warmup=args.warmup, draws=args.draws)
    work = root / name / f"{strategy}-seed{seed}"
    file = data_file(name, work)
    started = time.perf_counter()
    # "refine-full" is refine without the beta stop: it spends the whole budget, like best-of-n.
    beta = None if strategy == "refine-full" else 4
    result = boxloop.api.discover(file, target=target, proposer=args.proposer,
                                  strategy=strategy.removesuffix("-full"), budget=args.budget, seed=seed,
                                  out=work / "run", settings=settings, workers=args.workers, cache=work / "cache",
                                  timeout_s=args.timeout, beta=beta)
    wall = time.perf_counter() - started
    best = result.best
    row = {"dataset": name, "strategy": strategy, "seed": seed, "run_rate": result.run_rate, "wall_s": wall,
           "tokens": result.tokens["generated"], "fits": len(result.candidates), "reliable": result.counts["reliable"],
           "proposals": result.counts["proposals"], "best_elpd": best.elpd_loo if best else None,
           "best_se": best.elpd_loo_se if best else None, "best_score": best.score if best else None,
           "best_program": best.program if best else None, "stopped_by": result.stopped_by}
    print(f"{name:14} {strategy:9} seed {seed}: best {_fmt(row['best_elpd'])} (se {_fmt(row['best_se'])}), "
          f"run rate {_fmt(row['run_rate'])}, {row['fits']} fits, {wall:.0f} s", file=sys.stderr, flush=True)
    return row


def stored_run_rate(run_dir: Path) -> float | None:
    """The run rate recomputed from a run's store (as `search.result.run_rate` defines it now)."""
    from boxloop.search.result import run_rate
    from boxloop.search.store import RunStore

    with RunStore(run_dir) as store:
        fits = {f.structural_hash: f for f in store.fits()}
        proposals = store.proposals()
    return run_rate(proposals, {p.structural_hash: fits.get(p.structural_hash) for p in proposals if p.structural_hash})


def time_eight_schools(root: Path, workers: int | None) -> dict:
    """Default discover settings (4 chains x 1000 + 1000, budget 24, beta 4), cold caches."""
    started = time.perf_counter()
    result = boxloop.api.discover(DATA / "eight_schools.json", out=root / "e2e" / "run", cache=root / "e2e" / "cache",
                                  workers=workers)
    wall = time.perf_counter() - started
    return {"wall_s": wall, "fits": len(result.candidates), "reliable": result.counts["reliable"],
            "best_elpd": result.best.elpd_loo if result.best else None,
            "best_se": result.best.elpd_loo_se if result.best else None}


def summarise(rows: list[dict], name: str, strategy: str) -> dict:
    mine = [r for r in rows if r["dataset"] == name and r["strategy"] == strategy]
    bests = [r["best_elpd"] for r in mine if r["best_elpd"] is not None]
    rates = [r["run_rate"] for r in mine if r["run_rate"] is not None]
    return {
        "elpd": (f"{statistics.mean(bests):.2f} ± {statistics.stdev(bests):.2f}" if len(bests) > 1
                 else (f"{bests[0]:.2f}" if bests else "none reliable")),
        "se": statistics.mean(r["best_se"] for r in mine if r["best_se"] is not None) if bests else math.nan,
        "found": f"{len(bests)}/{len(mine)}",
        "run_rate": statistics.mean(rates) if rates else math.nan,
        "wall": statistics.mean(r["wall_s"] for r in mine),
        "tokens": statistics.mean(r["tokens"] for r in mine),
        "fits": statistics.mean(r["fits"] for r in mine),
    }


def table(rows: list[dict], args) -> str:
    lines = main_table(rows, args) if "refine" in args.strategies else []
    if args.strategies != ["refine"]:
        lines += ["", f"Ablation, same fit budget ({args.budget}): best elpd_loo mean ± sd over seeds "
                      "(mean fits used, mean wall s)", ""] + ablation_table(rows, args)
    return "\n".join(lines)


def main_table(rows: list[dict], args) -> list[str]:
    lines = ["| dataset | Expert | RefineStat (7B) | BoxLM | o3 | boxloop refine: best elpd_loo (mean ± sd over "
             "seeds) | se of best | reliable found | run rate | fits | wall s | tokens |", "|" + "---|" * 12]
    for name in args.datasets:
        expert, refinestat, boxlm, o3 = DATASETS[name][2:]
        s = summarise(rows, name, "refine")
        lines.append(f"| {name} | {expert} | {refinestat} | {boxlm} | {o3} | {s['elpd']} | {s['se']:.2f} | "
                     f"{s['found']} | {s['run_rate']:.2f} | {s['fits']:.1f} | {s['wall']:.0f} | {s['tokens']:.0f} |")
    return lines


def ablation_table(rows: list[dict], args) -> list[str]:
    lines = ["| dataset | " + " | ".join(args.strategies) + " |", "|" + "---|" * (1 + len(args.strategies))]
    for name in args.datasets:
        cells = [summarise(rows, name, s) for s in args.strategies]
        lines.append(f"| {name} | " + " | ".join(f"{c['elpd']} ({c['fits']:.1f}, {c['wall']:.0f} s)"
                                                 for c in cells) + " |")
    return lines


def _fmt(x) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.2f}"


def _earlier(root: Path, args) -> dict:
    """Results of an earlier invocation with the same --out are kept, except the rows redone now."""
    path = root / "results.json"
    if not path.is_file():
        return {"rows": []}
    earlier = json.loads(path.read_text())
    redo = {(d, s, seed) for d in args.datasets for s in args.strategies for seed in args.seeds}
    earlier["rows"] = [r for r in earlier["rows"] if (r["dataset"], r["strategy"], r["seed"]) not in redo]
    return earlier


def report(root: Path, args) -> int:
    results = json.loads((root / "results.json").read_text())
    for row in results["rows"]:
        row["run_rate"] = stored_run_rate(root / row["dataset"] / f"{row['strategy']}-seed{row['seed']}" / "run")
    args.datasets = [d for d in args.datasets if any(r["dataset"] == d for r in results["rows"])]
    args.strategies = list(dict.fromkeys(r["strategy"] for r in results["rows"]))
    args.budget = results["settings"]["budget"]
    print(table(results["rows"], args))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="*", default=list(DATASETS), help="names: " + ", ".join(DATASETS))
    p.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    p.add_argument("--strategies", nargs="*", default=["refine", "best-of-n"],
                   help="refine, best-of-n, refine-full (refine without the beta stop), average")
    p.add_argument("--proposer", default="grammar")
    p.add_argument("--budget", type=int, default=12)
    p.add_argument("--chains", type=int, default=4)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--workers", type=int)
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--out", help="where runs and results.json go (default: a temporary directory)")
    p.add_argument("--no-e2e", action="store_true", help="skip timing eight schools with default settings")
    p.add_argument("--report", action="store_true", help="only print the tables of the results in --out")
    args = p.parse_args(argv)
    if args.report:
        return report(Path(args.out), args)
    root = Path(args.out or tempfile.mkdtemp(prefix="boxloop-bench-"))
    results = _earlier(root, args) | {"settings": vars(args)}
    if not args.no_e2e:
        results["eight_schools_e2e"] = time_eight_schools(root, args.workers)
        print(f"eight schools end to end: {results['eight_schools_e2e']}", file=sys.stderr, flush=True)
    for name in args.datasets:
        for seed in args.seeds:
            for strategy in args.strategies:
                results["rows"].append(run_one(name, strategy, seed, args, root))
                (root / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(table(results["rows"], args))
    if "eight_schools_e2e" in results:
        e = results["eight_schools_e2e"]
        print(f"\nEight schools end to end (default settings: 4 chains x 1000+1000, budget 24, beta 4): "
              f"{e['wall_s']:.1f} s, {e['fits']} fits, {e['reliable']} reliable, best elpd_loo {_fmt(e['best_elpd'])} "
              f"± {_fmt(e['best_se'])}")
    print(f"\nresults: {root / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
