"""Large Language Bayes problems: do averaged models predict held-out data better than one model?

Problems (descriptions in our own words; the data of rain, coin and city temperature are from
../shared/benchmarks/llb/, polling and gold are simulated here from a known truth, fixed seeds):
    rain          21 days of rain (1) or not (0); the last 5 days are held out
    coin-fair     20 tosses, 14 heads (in a fixed shuffled order); 5 tosses held out. Three texts:
    coin-rough    surely fair, roughly fair, bent. (The grammar proposer reads no text, so the
    coin-bent     three runs propose the same programs; a text-reading proposer would not.)
    city          5 cities x 10 (day, next day) temperature pairs; 2 pairs per city held out
    polling       3 pollsters x 365 days, 1050 polls of a drifting approval; 20 % of polls held out
    gold-30       gold (1) or not (0) at positions along a rod, 30 training points
    gold-150      the same rod, 150 training points; both score 100 test positions

Each problem: `discover --strategy average` on the training rows with N proposals (budget and
proposal cap both N: repeats add multiplicity, never a fit), then for each reliable model of the
run, the held-out log predictive density of the held-out rows,

    log p(y_test | y_train, M) = log p(y_train, y_test | M) - log p(y_train | M),

the ratio of two bridge-sampling evidences: the run's, and one of the same program fitted to the
training and held-out rows together. This is exact for every program, including those with a
latent value per row, a Gaussian process over the inputs or an autoregression, where plugging the
posterior draws into new rows is not possible. (A program that standardises its covariates in
`transformed data` uses the moments of all inputs in the second fit: covariates of the held-out
rows are known when predicting, their outcomes are not used.) The mixture's held-out density is
log sum_m w_m p(y_test | y_train, M_m) (the joint density of the held-out rows, BMA-style) under
each weighting the run stored: evidence (with multiplicity), stacking, pseudo-BMA+ and flat, and
the single best model by elpd_loo. Models whose second fit fails are left out and the weights of
the others renormalised; `coverage` is the weight share that could be scored.

    python benchmarks/llb.py [--proposals 16] [--only rain,city] [--out benchmarks/out/llb] [--eval-draws D]
                             [--proposer grammar|spfn]

Each problem's run directory is OUT/<problem> whatever N is: a larger N after a smaller one
resumes that run (its proposals are replayed, its fits reused), so its discover time covers only
the new proposals' fits.

Results go to OUT/results.json (one entry per problem, written as each finishes, so a rerun skips
what is done) and a Markdown table on stdout for docs/benchmarks.md. Timing: the discover run's
wall time for N proposals (the fit cache is off), and the evaluation fits separately.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "llb"


@dataclass(frozen=True)
class Problem:
    name: str
    description: str
    target: str
    columns: tuple[str, ...]
    train: np.ndarray  # rows x columns
    test: np.ndarray
    factors: tuple[str, ...] = ()
    oracle: float | None = None  # held-out log density under the process that made the data (simulated only)


# ---- the problems -------------------------------------------------------------------------------


def rain() -> Problem:
    days = json.loads((SHARED / "rain.json").read_text())["data"]["rain"]
    rows = np.array([[i + 1, r] for i, r in enumerate(days)], dtype=float)
    return Problem("rain", "Each day I noted whether it rained (1) or stayed dry (0). Wet days seem to come in "
                   "spells. How likely is rain on the days that follow?", "rain", ("day", "rain"),
                   rows[:-5], rows[-5:])


COIN_TEXTS = {
    "fair": "A coin handed to me at the bank in a fresh roll from the mint. I am all but certain it is an "
            "ordinary, evenly balanced coin. I tossed it over and over (1 = heads). What is its bias?",
    "rough": "A coin from a jar of old change. It looks ordinary, so it is probably close to even, but I "
             "would not swear to it. I tossed it over and over (1 = heads). What is its bias?",
    "bent": "A coin that was run over by a tram and is visibly bent; it may favour one side strongly, "
            "I cannot tell which. I tossed it over and over (1 = heads). What is its bias?",
}


def coin(variant: str) -> Problem:
    counts = json.loads((SHARED / "coin.json").read_text())["data"]
    tosses = np.array([1] * counts["num_heads"] + [0] * (counts["num_flips"] - counts["num_heads"]), dtype=float)
    tosses = np.random.default_rng(16).permutation(tosses)[:, None]
    return Problem(f"coin-{variant}", COIN_TEXTS[variant], "heads", ("heads",), tosses[:15], tosses[15:])


def city() -> Problem:
    data = json.loads((SHARED / "city_temperature.json").read_text())["data"]
    rows = np.array([[c + 1, d1, d2] for c, (day1, day2) in enumerate(zip(data["day1_temp_train"],
                                                                        data["day2_temp_train"]))
                     for d1, d2 in zip(day1, day2)], dtype=float)
    held = np.zeros(len(rows), bool)
    rng = np.random.default_rng(16)
    for c in range(5):
        held[c * 10 + rng.choice(10, size=2, replace=False)] = True
    return Problem("city", "Temperatures (degrees F) in five cities on random days, each with the temperature of "
                   "the following day. Cities have their own climates, and one day's weather is usually much "
                   "like the next. Predict the next day's temperature.", "day2_temp",
                   ("city", "day1_temp", "day2_temp"), rows[~held], rows[held], factors=("city",))


def polling(seed: int = 2016) -> Problem:
    """A true approval (percent) drifting over 365 days; three pollsters with their own lean and
    noise, polling on 360, 350 and 340 of the days."""
    rng = np.random.default_rng(seed)
    truth = 48 + np.cumsum(rng.normal(0, 0.35, size=365))
    lean, noise = (1.5, -2.0, 0.0), (2.0, 3.0, 1.5)
    rows = [[d + 1, p + 1, truth[d] + lean[p] + rng.normal(0, noise[p])]
            for p, n in enumerate((360, 350, 340)) for d in np.sort(rng.choice(365, size=n, replace=False))]
    rows = np.array(rows)
    held = rng.random(len(rows)) < 0.2
    days, firms = rows[held, 0].astype(int) - 1, rows[held, 1].astype(int) - 1
    mean, sd = truth[days] + np.take(lean, firms), np.take(noise, firms)
    oracle = float(np.sum(-0.5 * ((rows[held, 2] - mean) / sd) ** 2 - np.log(sd) - 0.5 * math.log(2 * math.pi)))
    return Problem("polling", "Three polling firms asked voters on many days of one year whether they approve of a "
                   "politician; each poll is a percentage. Approval drifts slowly from day to day, and each firm "
                   "may lean one way. Estimate the approval on each day.", "approval",
                   ("day", "pollster", "approval"), rows[~held], rows[held], factors=("pollster",), oracle=oracle)


def gold_probability(x: np.ndarray) -> np.ndarray:
    """The truth: two gold-bearing stretches on a 100 cm rod over a low background."""
    return 0.03 + 0.85 * np.exp(-0.5 * ((x - 62) / 6) ** 2) + 0.5 * np.exp(-0.5 * ((x - 22) / 4) ** 2)


def gold(n_train: int, seed: int = 1849) -> Problem:
    rng = np.random.default_rng(seed)
    x_train = np.sort(rng.uniform(0, 100, size=n_train)).round(2)
    x_test = np.linspace(0.5, 99.5, 100).round(2)
    y_train = rng.random(n_train) < gold_probability(x_train)
    y_test = np.random.default_rng(seed + 1).random(100) < gold_probability(x_test)
    p_test = gold_probability(x_test)
    oracle = float(np.sum(np.where(y_test, np.log(p_test), np.log1p(-p_test))))
    return Problem(f"gold-{n_train}", "Samples taken at positions (cm) along a metal rod, each recorded as gold "
                   "found (1) or not (0). Gold is concentrated in a few stretches of the rod. Predict where gold "
                   "will be found.", "gold", ("location", "gold"),
                   np.column_stack([x_train, y_train]), np.column_stack([x_test, y_test]), oracle=oracle)


def problems() -> list[Problem]:
    # the cheap ones first; the coin texts the grammar proposer cannot read come last
    return [rain(), coin("fair"), city(), gold(30), gold(150), polling(), coin("rough"), coin("bent")]


# ---- one problem --------------------------------------------------------------------------------


def _csv(path: Path, problem: Problem, rows: np.ndarray) -> Path:
    ints = {c for c in problem.columns if np.all(np.mod(np.concatenate([problem.train, problem.test])[
        :, problem.columns.index(c)], 1) == 0)}
    lines = [",".join(problem.columns)]
    lines += [",".join(str(int(v)) if c in ints else f"{v:.6g}" for c, v in zip(problem.columns, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def _values(path: Path, problem: Problem) -> dict:
    from boxloop.data import make_task
    from boxloop.data.table import Overrides

    task = make_task(str(path), target=problem.target, overrides=Overrides(factor=problem.factors))
    return {k: np.asarray(v) for k, v in task.dataset.values.items()}


def _full_data(folder: Path, problem: Problem, train_csv: Path) -> dict:
    """Training and held-out rows encoded together, checked to encode the training rows as the run did."""
    full = _values(_csv(folder / "full.csv", problem, np.concatenate([problem.train, problem.test])), problem)
    train = _values(train_csv, problem)
    n = len(problem.train)
    for name, value in train.items():
        if name == "N":  # the row count, the one value that must differ
            continue
        head = full[name][:n] if np.ndim(value) and len(value) == n else full[name]
        if not np.array_equal(np.asarray(head, dtype=float), np.asarray(value, dtype=float)):
            raise SystemExit(f"{problem.name}: {name} is encoded differently with the held-out rows")
    return full


def _discover(problem: Problem, folder: Path, n: int, args):
    import boxloop
    from boxloop.infer.nuts import NutsSettings

    train_csv = _csv(folder / "train.csv", problem, problem.train)
    settings = NutsSettings(chains=args.chains, warmup=args.warmup, draws=args.draws)
    started = time.perf_counter()
    result = boxloop.discover(str(train_csv), target=problem.target, describe=problem.description,
                              proposer=args.proposer, factor=problem.factors, strategy="average", budget=n, max_proposals=n,
                              seed=args.seed, out=folder / "run", settings=settings, workers=args.workers,
                              cache=False, report=False, timeout_s=args.timeout)
    return result, time.perf_counter() - started, train_csv, settings


def _second_fits(result, full: dict, settings, args) -> dict:
    """log p(y_train, y_test | M) for each weighted model, by refitting it to all rows (bridge)."""
    from boxloop.search import FitJob, Job, as_completed, make_executor, run_fit

    pool = set().union(*(w for k, w in result.weights.items() if k in SCHEMES.values()))
    if args.eval_draws:  # longer second fits: the bridge se falls with the draws
        settings = replace(settings, draws=args.eval_draws)
    programs = {c.hash: c.program for c in result.candidates if c.hash in pool}
    out = {}
    with make_executor("local", host_devices=settings.chains, workers=args.workers) as executor:
        for h, text in programs.items():
            executor.submit(Job(h, run_fit, (FitJob(text, full, settings, args.seed, "bridge"),), args.eval_timeout))
        for done in as_completed(executor):
            out[done.key] = _second_evidence(done)
    return out


def _second_evidence(done) -> dict:
    """The second fit's evidence, or {"failed": why} (a crash or timeout, a failed fit, no evidence)."""
    value = done.value
    if done.failed:
        return {"failed": f"[{value.code}] {value.reason}"}
    if value.status != "ok":
        return {"failed": f"[{value.code}] {value.reason}"}
    if value.evidence is None:
        return {"failed": "; ".join(value.warnings) or "no evidence"}
    return value.evidence


SCHEMES = {"evidence": "evidence", "stacking": "stacking", "pseudo-BMA+": "pseudo_bma_plus", "flat": "flat"}


def _held_out(result, joint: dict) -> dict:
    """Per model, log p(y_test | y_train, M) from the two evidences, with the second one's se."""
    from boxloop.search.average import evidence_problem

    out = {}
    untrusted = result.weights.get("evidence_excluded", {})  # the training rows' estimate is unreliable
    for c in result.candidates:
        both = joint.get(c.hash)
        if both is None or "failed" in both or evidence_problem(both) is not None or not math.isfinite(c.log_evidence):
            continue
        if c.hash in untrusted:
            continue
        out[c.hash] = {"lpd": both["log_evidence"] - c.log_evidence, "second_se": both.get("se")}
    return out


def _unscored(joint: dict) -> dict:
    from boxloop.search.average import evidence_problem

    return {h: e["failed"] if "failed" in e else evidence_problem(e) for h, e in joint.items()
            if "failed" in e or evidence_problem(e) is not None}


def _mixture(weights: dict, lpd: dict) -> tuple[float | None, float]:
    scored = {m: w for m, w in weights.items() if m in lpd and w > 0}
    coverage = sum(scored.values())
    if not scored:
        return None, 0.0
    terms = np.array([math.log(w / coverage) + lpd[m]["lpd"] for m, w in scored.items()])
    top = terms.max()
    return float(top + math.log(np.exp(terms - top).sum())), coverage


def run_problem(problem: Problem, n: int, args) -> dict:
    from boxloop.search.average import effective_models

    folder = args.out / problem.name
    folder.mkdir(parents=True, exist_ok=True)
    result, wall, train_csv, settings = _discover(problem, folder, n, args)
    print(f"{problem.name}: discover with {n} proposals took {wall:.0f} s ({result.counts['candidates']} fits); "
          "now the evaluation fits", flush=True)
    full = _full_data(folder, problem, train_csv)
    started = time.perf_counter()
    joint = _second_fits(result, full, settings, args)
    lpd = _held_out(result, joint)
    entry = {"problem": problem.name, "proposals": result.counts["proposals"], "fits": result.counts["candidates"],
             "reliable": result.counts["reliable"], "duplicates": result.counts["duplicates"],
             "discover_s": round(wall, 1), "evaluate_s": round(time.perf_counter() - started, 1),
             "n_test": len(problem.test), "oracle": problem.oracle, "scores": {}}
    for label, key in SCHEMES.items():
        w = result.weights.get(key) or {}
        value, coverage = _mixture(w, lpd)
        entry["scores"][label] = {"lpd": value, "coverage": round(coverage, 3),
                                  "neff": effective_models(w.values()) if w else None}
    best = result.best.hash if result.best is not None else None
    entry["scores"]["single best"] = {"lpd": lpd[best]["lpd"] if best in lpd else None,
                                      "coverage": 1.0 if best in lpd else 0.0, "neff": 1.0}
    entry["excluded_evidence"] = result.weights.get("evidence_excluded", {})
    entry["unscored"] = {h: str(why)[:300] for h, why in _unscored(joint).items()}
    entry["per_model"] = {h: {**v, "weights": {k: result.weights.get(s, {}).get(h) for k, s in SCHEMES.items()}}
                          for h, v in lpd.items()}
    return entry


# ---- the table ----------------------------------------------------------------------------------


def table(results: list[dict]) -> str:
    head = ["problem", "proposals", "fits", "reliable", "n_test"] + [f"{k} lpd (Neff)" for k in SCHEMES] + \
           ["single best lpd", "truth lpd", "discover s", "256 proposals, min (extrapolated)", "evaluation s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["problem"], str(r["proposals"]), str(r["fits"]), str(r["reliable"]), str(r["n_test"])]
        for k in SCHEMES:
            s = r["scores"][k]
            cells.append(_cell(s))
        best = r["scores"]["single best"]["lpd"]
        oracle = r.get("oracle")
        cells += ["– (not scored)" if best is None else f"{best:.2f}", "" if oracle is None else f"{oracle:.2f}",
                  f"{r['discover_s']:.0f}",
                  f"{r['discover_s'] * 256 / r['proposals'] / 60:.0f}", f"{r['evaluate_s']:.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


MIN_COVERAGE = 0.5  # below this share of a weighting's weight scored, its held-out density says little


def _cell(s: dict) -> str:
    scored = f"{100 * s['coverage']:.0f}% of the weight scored"
    if s["lpd"] is None or s["coverage"] < MIN_COVERAGE:
        return f"– ({scored})"
    return f"{s['lpd']:.2f} ({s['neff']:.1f}" + ("" if s["coverage"] >= 0.995 else f"; {scored}") + ")"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proposals", type=int, default=16, help="proposals per problem (budget and cap)")
    parser.add_argument("--only", help="comma-separated problem names")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out/llb"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chains", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=500)
    parser.add_argument("--draws", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per fit")
    parser.add_argument("--eval-timeout", type=float, default=300.0, help="seconds per second (evaluation) fit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--proposer", default="grammar", help="grammar (default), spfn, or any discover proposer")
    parser.add_argument("--eval-draws", type=int, help="draws of each evaluation fit (default: --draws)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    store = args.out / "results.json"
    done = json.loads(store.read_text()) if store.exists() else {}
    chosen = [p for p in problems() if not args.only or p.name in args.only.split(",")]
    for problem in chosen:
        key = _key(problem, args)
        if key not in done:
            print(f"{problem.name}: {args.proposals} proposals ...", flush=True)
            done[key] = run_problem(problem, args.proposals, args)
            store.write_text(json.dumps(done, indent=1))
        done[key]["oracle"] = problem.oracle  # entries written before the oracle was recorded
    print(table([done[_key(p, args)] for p in chosen]))


def _key(problem: Problem, args) -> str:
    return f"{problem.name}@{args.proposals}" + (f"+eval{args.eval_draws}" if args.eval_draws else "") + \
        ("" if args.proposer == "grammar" else f"+{args.proposer}")


if __name__ == "__main__":
    main()
