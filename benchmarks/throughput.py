"""Throughput with multi-fidelity screening (issue 17): many proposals for one problem.

    python benchmarks/throughput.py [--data FILE --target VAR] [--proposals 1024] [--subset 128]
                                    [--workers 2] [--out benchmarks/out/throughput] [--skip-big]
                                    [--screen-method pathfinder|nuts] [--also-nuts] [--proposer spfn]

`discover --strategy average` with the `grammar` (default) or `spfn` proposer (budget and proposal cap both N, so
repeats add multiplicity and never a fit), in three runs, each with the fit cache off (every wall
time includes every compile; with --fresh-cache, an empty cache of the run's own, so its workers
share JAX's compiled programs as a first run with discover's defaults does) and the report not
written:
    1. the first SUBSET proposals with screening throughout (`screen="on"`: `auto` would stop
       screening where it does not pay, and this measures what it costs and saves), screens by
       --screen-method (with --also-nuts, a second such run screening by short NUTS runs);
    2. the same SUBSET proposals with full fits for all (`screen="off"`);
    3. all N proposals with screening, resuming run 1 (its proposals are replayed, its screens and
       fits reused), so the N-proposal wall time is run 1's plus run 3's; or, with --big-fresh,
       all N in a store of their own, screened as --big-screen says (default `auto`, as discover).
Compared between each screened run and 2: the chosen model, every weighting the run stores (max |w_screen -
w_full| over the models either weights), and the screening rule against the full fits: for each
candidate with a screen and a full fit (its own, or run 2's), the screen's error in elpd_loo and
log evidence, and for every screened-out candidate its evidence weight in run 2 beside the bound
the rule made from its screen.

Results: OUT/results.json and a Markdown block on stdout for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

DUGONGS = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "posteriordb" / "data" / \
    "dugongs_data.json"
SCHEMES = ("evidence", "stacking", "pseudo_bma_plus", "flat")


def _discover(args, out: Path, n: int, screen: str, log: Path, method: str | None = None):
    import boxloop
    from boxloop.infer.nuts import NutsSettings

    settings = NutsSettings(chains=args.chains, warmup=args.warmup, draws=args.draws)
    started = time.perf_counter()
    with open(log, "a") as f:
        def progress(p):  # one line per event with the time, so a run stopped early still says how far it got
            f.write(f"{time.perf_counter() - started:.1f}\t{p.proposals}\t{p.fits_started}\t{p.fits_done}\t"
                    f"{p.running}\t{p.last}\n")
            f.flush()

        result = boxloop.discover(args.data, target=args.target, proposer=args.proposer, strategy="average",
                                  budget=n, max_proposals=n,
                                  seed=args.seed, out=out, settings=settings, workers=args.workers,
                                  cache=_fresh_cache(out) if args.fresh_cache else False,
                                  report=False, timeout_s=args.timeout, evidence=args.evidence, screen=screen,
                                  screen_after=args.screen_after, screen_method=method or args.screen_method,
                                  progress=progress)
    return result, time.perf_counter() - started


def _fresh_cache(run_dir: Path) -> str:
    """An empty fit cache for the run, so its workers share JAX's compilation cache (as a first
    run with discover's defaults does) while nothing from an earlier run is reused."""
    import shutil

    cache = run_dir.with_name(run_dir.name + ".cache")
    if not run_dir.exists():
        shutil.rmtree(cache, ignore_errors=True)
    return str(cache)


def _screens(run_dir: Path) -> dict:
    """structural hash -> the run's screen fit."""
    from boxloop.search.store import RunStore

    with RunStore(run_dir, read_only=True) as store:
        return {r.structural_hash: r for r in store.fits() if r.fidelity == "screen"}


def compile_stats(run_dir: Path) -> dict:
    """Per fidelity: fits, seconds compiling in all, and fits that compiled (almost) nothing (a
    kernel already in their worker: same structure shape, or only the prior constants differ)."""
    from boxloop.search.store import RunStore

    out: dict = {}
    with RunStore(run_dir, read_only=True) as store:
        for r in store.fits():
            c = (r.timing or {}).get("compile_s")
            if c is None:
                continue
            row = out.setdefault(r.fidelity, {"fits": 0, "compile_s": 0.0, "reused": 0})
            row["fits"] += 1
            row["compile_s"] = round(row["compile_s"] + c, 1)
            row["reused"] += c < 0.1
    return out


def _max_weight_gap(a: dict, b: dict) -> float:
    keys = set(a) | set(b)
    return max((abs(a.get(k, 0.0) - b.get(k, 0.0)) for k in keys), default=0.0)


def _screen_errors(screens: dict, full_by_hash: dict) -> dict:
    """The screens' error against full fits of the same structure, for the screens the rule trusts
    (its margins must cover these) and for those it does not (always promoted)."""
    from boxloop.search.screen import ScreenRule, trust_problem

    errors = {group: ([], []) for group in ("trusted", "untrusted")}
    why: dict[str, int] = {}  # why the untrusted were not trusted, by the reason's first words
    for h, s in screens.items():
        f = full_by_hash.get(h)
        if f is None or not s.ok or f.status != "ok":
            continue
        problem = trust_problem(s, True, ScreenRule())
        if problem is not None:
            why[problem.split(" (")[0]] = why.get(problem.split(" (")[0], 0) + 1
        d_elpd, d_lz = errors["trusted" if problem is None else "untrusted"]
        if math.isfinite(s.elpd_loo) and f.elpd_loo is not None and math.isfinite(f.elpd_loo):
            d_elpd.append(s.elpd_loo - f.elpd_loo)
        if math.isfinite(s.log_evidence) and f.log_evidence is not None and math.isfinite(f.log_evidence):
            d_lz.append(s.log_evidence - f.log_evidence)

    def stats(values):
        if not values:
            return None
        a = sorted(abs(v) for v in values)
        return {"n": len(a), "max_abs": a[-1], "q95_abs": a[min(len(a) - 1, int(0.95 * len(a)))],
                "mean": sum(values) / len(values)}

    out = {group: {"elpd_loo": stats(e), "log_evidence": stats(z)} for group, (e, z) in errors.items()}
    return {**out, "untrusted_because": why}


def compare(screened, full, screens: dict) -> dict:
    full_c = {c.hash: c for c in full.candidates}
    out_c = [c for c in screened.candidates if c.status == "screened_out"]
    evidence_full = full.weights.get("evidence", {})
    bound_check = []
    for c in out_c:
        bound = (c.screen or {}).get("weight_bound")
        bound_check.append({"hash": c.hash, "bound": bound, "full_weight": evidence_full.get(c.hash, 0.0),
                            "full_elpd": _num(full_c[c.hash].elpd_loo) if c.hash in full_c else None,
                            "screen_elpd": _num(c.elpd_loo)})
    violations = [b for b in bound_check if b["bound"] is not None and b["full_weight"] > b["bound"]]
    best_full = full.best.elpd_loo if full.best else math.nan
    within = [b for b in bound_check if b["full_elpd"] is not None and best_full - b["full_elpd"] <= 0.0]
    return {
        "same_choice": (screened.best.hash if screened.best else None) == (full.best.hash if full.best else None),
        "best_screened": screened.best.hash if screened.best else None,
        "best_full": full.best.hash if full.best else None,
        "weight_gap": {s: _max_weight_gap(screened.weights.get(s, {}), full.weights.get(s, {})) for s in SCHEMES},
        "screened_out": len(out_c),
        "screened_out_full_weight_max": max((b["full_weight"] for b in bound_check), default=None),
        "screened_out_full_weight_sum": sum(b["full_weight"] for b in bound_check),
        "bound_violations": violations,
        "screened_out_that_would_win": within,
        "screen_errors": _screen_errors(screens, {c.hash: _FitView(c) for c in full.candidates}),
    }


class _FitView:
    """A full-run candidate seen as the fit numbers `_screen_errors` reads."""

    def __init__(self, c):
        self.status, self.elpd_loo, self.log_evidence = c.status, c.elpd_loo, c.log_evidence


def _num(x):
    return x if x is not None and math.isfinite(x) else None


def _run_row(result, wall: float) -> dict:
    s = result.screening or {}
    return {"wall_s": round(wall, 1), "proposals": result.counts["proposals"],
            "distinct": result.counts["candidates"], "duplicates": result.counts["duplicates"],
            "screened": s.get("screened", 0), "screened_out": s.get("screened_out", 0),
            "full_fits": sum(c.status != "screened_out" for c in result.candidates),
            "reliable": result.counts["reliable"], "best": result.best.hash if result.best else None,
            "best_elpd": _num(result.best.elpd_loo) if result.best else None,
            "fit_s": result.timing.get("fit_s"), "screen_s": result.timing.get("screen_s"),
            "propose_s": result.timing.get("propose_s"), "compile": compile_stats(Path(result.store)),
            "excluded_weight_bound_sum": s.get("excluded_weight_bound_sum")}


def _reuse_full(previous: Path, out: Path, results: dict) -> None:
    """Start from another run's finished full-fits-for-all run (copied, so rerunning it replays
    its stored fits in seconds) and its measured row, to compare new screening settings with it."""
    import shutil

    if not (out / "subset_full").exists():
        shutil.copytree(previous / "subset_full", out / "subset_full")
    results["subset_full"] = json.loads((previous / "results.json").read_text())["subset_full"]
    results["subset_full"]["reused_from"] = str(previous)


def _load() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "?"


def markdown(results: dict) -> str:
    rows = ["| run | proposals | distinct | screened | screened out | full fits | reliable | wall s | fit s | "
            "screen s | load before / after |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in ("subset_screened", "subset_screened_nuts", "subset_full", "big_screened", "big_fresh_auto",
                 "big_fresh_on", "big_fresh_off"):
        r = results.get(name)
        if r is None:
            continue
        rows.append(f"| {name} | {r['proposals']} | {r['distinct']} | {r['screened']} | {r['screened_out']} | "
                    f"{r['full_fits']} | {r['reliable']} | {r['wall_s']} | {r.get('fit_s')} | {r.get('screen_s')} | "
                    f"{r.get('load_before')} → {r.get('load_after')} |")
    for key in ("comparison", "comparison_nuts"):
        rows += _comparison_lines(key, results.get(key))
    return "\n".join(rows)


def _comparison_lines(key: str, c: dict | None) -> list[str]:
    rows = []
    if c:
        gaps = ", ".join(f"{s} {g:.4f}" for s, g in c["weight_gap"].items())
        rows += ["", f"{key}: same choice: {c['same_choice']} ({c['best_screened']} vs {c['best_full']}); "
                     f"max |w_screen - w_full|: {gaps}",
                 f"screened out: {c['screened_out']}; their evidence weight in the full run: max "
                 f"{c['screened_out_full_weight_max']}, sum {c['screened_out_full_weight_sum']:.4g}; "
                 f"bound violations: {len(c['bound_violations'])}; screened out yet best in the full run: "
                 f"{len(c['screened_out_that_would_win'])}",
                 f"screen - full error: {json.dumps(c['screen_errors'])}"]
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default=str(DUGONGS))
    p.add_argument("--target", default="Y")
    p.add_argument("--proposer", default="grammar", help="grammar or spfn (repeats of a structure add multiplicity)")
    p.add_argument("--proposals", type=int, default=1024)
    p.add_argument("--subset", type=int, default=128)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--chains", type=int, default=2)
    p.add_argument("--warmup", type=int, default=500)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument("--evidence", default="bridge")
    p.add_argument("--screen-after", type=int, default=16)
    p.add_argument("--screen-method", choices=("pathfinder", "nuts"), default="pathfinder")
    p.add_argument("--also-nuts", action="store_true", help="also screen the subset with short NUTS runs")
    p.add_argument("--reuse-full", metavar="OUT", help="take the full-fits-for-all run from this earlier --out")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("--fresh-cache", action="store_true",
                   help="each run starts with an empty fit and compilation cache of its own (default: none)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="benchmarks/out/throughput")
    p.add_argument("--skip-big", action="store_true", help="only the subset pair")
    p.add_argument("--only-big", action="store_true", help="only the N-proposal run (after the subset pair)")
    p.add_argument("--big-fresh", action="store_true",
                   help="the N-proposal run from nothing (its own store, --big-screen), not resuming the subset's")
    p.add_argument("--big-screen", choices=("auto", "on", "off"), default="auto", help="with --big-fresh")
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    results["settings"] = {k: v for k, v in vars(args).items()}

    def save():
        path.write_text(json.dumps(results, indent=1, default=str))

    if not args.only_big:
        runs = {}
        plan = [("subset_screened", "on", args.screen_method), ("subset_full", "off", None)]
        if args.also_nuts and args.screen_method != "nuts":
            plan.append(("subset_screened_nuts", "on", "nuts"))
        if args.reuse_full:
            _reuse_full(Path(args.reuse_full), out, results)
        for name, screen, method in plan:
            before = _load()
            result, wall = _discover(args, out / name, args.subset, screen, out / f"{name}.log", method)
            runs[name] = result
            if name == "subset_full" and args.reuse_full:  # replayed from the store: keep the measured row
                continue
            results[name] = {**_run_row(result, wall), "screen_method": method, "load_before": before,
                             "load_after": _load()}
            print(name, json.dumps(results[name]), flush=True)
            save()
        for name in runs:
            if name.startswith("subset_screened"):
                key = name.replace("subset_screened", "comparison")
                results[key] = compare(runs[name], runs["subset_full"], _screens(out / name))
        save()
    if not args.skip_big and args.big_fresh:
        before = _load()
        name = f"big_fresh_{args.big_screen}"
        result, wall = _discover(args, out / name, args.proposals, args.big_screen, out / f"{name}.log",
                                 args.screen_method)
        results[name] = {**_run_row(result, wall), "load_before": before, "load_after": _load()}
        print(name, json.dumps(results[name]), flush=True)
        save()
    elif not args.skip_big:
        before = _load()
        # Resumes the screened subset run: same command, larger budget (the budget is not in the
        # run's config hash), so the first SUBSET proposals' screens and fits are reused.
        result, wall = _discover(args, out / "subset_screened", args.proposals, "on", out / "big_screened.log",
                                 args.screen_method)
        previous = results.get("subset_screened", {}).get("wall_s", 0.0)
        results["big_screened"] = {**_run_row(result, wall), "wall_s_this_run": round(wall, 1),
                                   "wall_s": round(wall + previous, 1), "load_before": before, "load_after": _load()}
        print("big_screened", json.dumps(results["big_screened"]), flush=True)
        save()
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
