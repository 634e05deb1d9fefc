"""Engine correctness against posteriordb reference posteriors.

Run: python benchmarks/posteriordb.py [--only NAME ...] [--chains 4 --warmup 1000 --draws 1000]
     [--seed 1] [--x64] [--json]

Each posterior is one of our programs (tests/programs/valid/*.stan, written to match the
posteriordb model described in ../shared/benchmarks/posteriordb/README.md) fitted by boxloop's
NUTS to the posteriordb data, in its own worker process (chains in parallel, one XLA device each).
Every parameter in the reference draws is compared:

* mean: |ours - ref| <= max(4 * hypot(mcse_ours, mcse_ref), 0.02 * sd_ref), both MCSEs from
  `boxloop.diagnose.summarize` (the reference's 10 chains x 1000 draws are summarised the same way);
* sd: |sd_ours - sd_ref| <= max(4 * hypot(mcse_sd_ours, mcse_sd_ref), 0.02 * sd_ref), with the
  Monte Carlo standard errors of the sds.
So a short fit gets a wide tolerance and a long one a narrow one, each what its draws can tell.

The table gives, per posterior, the largest |z| of the means (difference over the combined MCSE),
the largest difference as a share of its tolerance (means, then sds), the largest relative sd
error, divergences, pass/fail and the fit's wall time (compile + sample; from `Fit.timing`).

Precision: boxloop fits in JAX's default float32 unless a posterior needs float64. gp_pois_regr
does: its 1e-10 Cholesky jitter is far below float32 resolution, and its near-singular kernel
matrix makes float32 NUTS diverge (`--f32-only` shows that). `--x64` runs everything in float64.

The functions here are imported by tests/infer/test_posteriordb.py (a CI tier of four short fits
and a slow tier of all ten).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROGRAMS = ROOT / "tests" / "programs" / "valid"
PDB = ROOT.parent / "shared" / "benchmarks" / "posteriordb"
if not PDB.exists():  # a checkout elsewhere: the shared folder next to /work/main
    PDB = Path("/work/shared/benchmarks/posteriordb")

MCSE_TOL = 4.0  # tolerance in combined Monte Carlo standard errors (of the mean, of the sd)
FLOOR = 0.02  # ... or this share of the reference sd, whichever is larger


@dataclass(frozen=True)
class Posterior:
    name: str  # posteriordb posterior name (reference draws file stem)
    program: str  # file in tests/programs/valid, without .stan
    data: str  # file in posteriordb data/, without .json
    x64: bool = False  # needs float64 to be sampled correctly
    corpus: bool = False  # program and data are posteriordb's own, from ../shared/corpus/posteriordb


POSTERIORS = (
    Posterior("eight_schools-eight_schools_noncentered", "eight_schools_noncentered", "eight_schools"),
    Posterior("gp_pois_regr-gp_pois_regr", "gp_pois_regr", "gp_pois_regr", x64=True),
    Posterior("gp_pois_regr-gp_regr", "gp_regr", "gp_pois_regr"),
    Posterior("kidiq-kidscore_momhs", "kidiq_momhs", "kidiq"),
    Posterior("kidiq-kidscore_momiq", "kidiq_momiq", "kidiq"),
    Posterior("kidiq-kidscore_momhsiq", "kidiq_momhsiq", "kidiq"),
    Posterior("kidiq-kidscore_interaction", "kidiq_interaction", "kidiq"),
    Posterior("arK-arK", "arK", "arK"),
    Posterior("garch-garch11", "garch11", "garch"),
    Posterior("low_dim_gauss_mix-low_dim_gauss_mix", "low_dim_gauss_mix", "low_dim_gauss_mix"),
)
BY_NAME = {p.name: p for p in POSTERIORS}
CORPUS = ROOT.parent / "shared" / "corpus" / "posteriordb"
if not CORPUS.exists():
    CORPUS = Path("/work/shared/corpus/posteriordb")


def corpus_posterior(name: str) -> Posterior:
    """A posteriordb posterior as the corpus has it: posteriordb's own program and data."""
    info = json.loads((CORPUS / "posteriors" / f"{name}.json").read_text())
    x64 = BY_NAME[name].x64 if name in BY_NAME else False  # what the hand-written twin needs
    return Posterior(name, info["model_name"], info["data_name"], x64=x64, corpus=True)


def has_reference(posterior: Posterior) -> bool:
    return (PDB / "reference_draws" / f"{posterior.name}.json").exists()


def posterior_named(name: str) -> Posterior:
    return BY_NAME[name] if name in BY_NAME else corpus_posterior(name)


# ---- inputs ----------------------------------------------------------------------------------------


def program_text(posterior: Posterior) -> str:
    if posterior.corpus:
        return (CORPUS / "models" / f"{posterior.program}.stan").read_text()
    return (PROGRAMS / f"{posterior.program}.stan").read_text()


def load_data(posterior: Posterior) -> dict:
    folder = CORPUS / "data" if posterior.corpus else PDB / "data"
    return json.loads((folder / f"{posterior.data}.json").read_text())


def reference_draws(posterior: Posterior) -> dict:
    """Stan name -> (10 chains, 1000 draws) numpy array."""
    import numpy as np

    chains = json.loads((PDB / "reference_draws" / f"{posterior.name}.json").read_text())
    return {key: np.array([chain[key] for chain in chains], dtype=float) for key in chains[0]}


def reference_summary(posterior: Posterior) -> dict:
    """Stan name -> {mean, sd, mcse_mean, ess_bulk, rhat} of the reference draws."""
    from boxloop.diagnose import summarize

    return summarize(reference_draws(posterior))


# ---- fitting (runs in a worker, or in-process from tests) --------------------------------------------


def fit_posterior(posterior: Posterior, chains=4, warmup=1000, draws=1000, seed=1,
                  target_accept=0.8, chain_method="auto"):
    """Check the program against the data and fit it; returns the boxloop Fit."""
    from boxloop.infer.compile import fit
    from boxloop.infer.nuts import NutsSettings
    from boxloop.lang import check

    data = load_data(posterior)
    result = check(program_text(posterior), data)
    result.raise_for_errors()
    settings = NutsSettings(chains=chains, warmup=warmup, draws=draws, target_accept=target_accept,
                            chain_method=chain_method)
    return fit(result.program, data, settings, seed=seed)


def summarize_fit(f) -> dict:
    """What a worker sends back: small, picklable, JAX-free."""
    import jax.numpy as jnp
    import numpy as np

    from boxloop.diagnose import diagnose, summarize

    diag = diagnose(f.draws, f.stats, f.log_lik)
    return {
        "summary": summarize(f.draws),
        "elpd_loo": float(diag.elpd_loo),
        "elpd_loo_se": float(diag.elpd_loo_se),
        "score": int(diag.score),
        "divergences": int(np.sum(f.stats["diverging"])),
        "timing": {k: float(v) for k, v in f.timing.items()},
        "precision": str(jnp.result_type(float)),
        "chain_method": getattr(f.nuts, "chain_method", None),
    }


def run_posterior(name: str, chains=4, warmup=1000, draws=1000, seed=1) -> dict:
    """Fit one posterior and summarise it (a module-level function, so a worker can run it)."""
    return summarize_fit(fit_posterior(posterior_named(name), chains, warmup, draws, seed))


def run_in_subprocess(posterior: Posterior, chains=4, warmup=1000, draws=1000, seed=1,
                      x64: bool | None = None, timeout_s=1200.0, job=None):
    """`run_posterior` in a boxloop worker (float64 if the posterior needs it, or `x64`).
    Returns the summary dict or a FitFailure. `job` replaces `run_posterior` (same signature) for
    callers whose module must be the one the child imports."""
    from boxloop.infer.worker import WorkerLimits, run_in_worker

    limits = WorkerLimits(timeout_s=timeout_s, memory_bytes=None, host_devices=chains,
                          enable_x64=posterior.x64 if x64 is None else x64)
    return run_in_worker(job or run_posterior, (posterior.name, chains, warmup, draws, seed),
                         limits=limits)


# ---- comparison ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamCheck:
    name: str
    mean: float
    ref_mean: float
    sd: float
    ref_sd: float
    z: float  # (mean - ref_mean) / hypot(mcse, ref_mcse)
    mean_tol: float
    sd_err: float  # sd / ref_sd - 1
    sd_tol: float  # allowed |sd - ref_sd|
    ok: bool


def compare(ours: dict, reference: dict, *, mcse_tol=MCSE_TOL, floor=FLOOR) -> list[ParamCheck]:
    """Check every reference quantity; both arguments are `summarize` outputs (Stan names)."""
    rows = []
    for name, ref in reference.items():
        if name not in ours:
            raise KeyError(f"the fit has no quantity {name!r} (it has {sorted(ours)})")
        mine = {k: math.nan if v is None else v for k, v in ours[name].items()}  # None: undefined (stuck chains)
        se = math.hypot(mine["mcse_mean"], ref["mcse_mean"])
        diff = mine["mean"] - ref["mean"]
        tol = max(mcse_tol * se, floor * ref["sd"])
        sd_tol = max(mcse_tol * math.hypot(mine["mcse_sd"], ref["mcse_sd"]), floor * ref["sd"])
        sd_ok = abs(mine["sd"] - ref["sd"]) <= sd_tol
        rows.append(ParamCheck(name, mine["mean"], ref["mean"], mine["sd"], ref["sd"], diff / se,
                               tol, mine["sd"] / ref["sd"] - 1.0, sd_tol, abs(diff) <= tol and sd_ok))
    return rows


def failures(rows: list[ParamCheck]) -> list[str]:
    return [f"{r.name}: mean {r.mean:.4g} vs {r.ref_mean:.4g} (z {r.z:+.2f}, tolerance "
            f"{r.mean_tol:.3g}); sd {r.sd:.4g} vs {r.ref_sd:.4g} ({r.sd_err:+.1%}, tolerance {r.sd_tol:.3g})"
            for r in rows if not r.ok]


def row(posterior: Posterior, result) -> dict:
    """One table row from a `run_posterior` result (or a FitFailure)."""
    if not isinstance(result, dict):
        return {"posterior": posterior.name, "ok": False, "error": f"{result.code}: {result.reason}"}
    checks = compare(result["summary"], reference_summary(posterior))
    return {
        "posterior": posterior.name,
        "params": len(checks),
        "max_abs_z": max(abs(r.z) for r in checks),
        "max_err_over_tol": max(abs(r.mean - r.ref_mean) / r.mean_tol for r in checks),
        "max_sd_err_over_tol": max(abs(r.sd - r.ref_sd) / r.sd_tol for r in checks),
        "max_sd_err": max(abs(r.sd_err) for r in checks),
        "divergences": result["divergences"],
        "ok": all(r.ok for r in checks),
        "fit_s": result["timing"]["total_s"],
        "compile_s": result["timing"]["compile_s"],
        "precision": result["precision"],
        "failures": failures(checks),
        "checks": [asdict(r) for r in checks],
    }


def table(rows: list[dict]) -> str:
    head = ("| posterior | params | max abs z (mean) | max err/tol (mean) | max err/tol (sd) | max sd err | "
            "div. | pass | fit s (compile) | dtype |\n|---|---:|---:|---:|---:|---:|---:|---|---:|---|")
    lines = [head]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['posterior']} | | | | | | | FAIL ({r['error'][:60]}) | | |")
            continue
        lines.append(
            f"| {r['posterior']} | {r['params']} | {r['max_abs_z']:.2f} | {r['max_err_over_tol']:.2f} | "
            f"{r['max_sd_err_over_tol']:.2f} | {r['max_sd_err']:.1%} | {r['divergences']} | {'pass' if r['ok'] else 'FAIL'} | "
            f"{r['fit_s']:.1f} ({r['compile_s']:.1f}) | {r['precision']} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", help="posterior names (or substrings) to run")
    ap.add_argument("--chains", type=int, default=4)
    ap.add_argument("--warmup", type=int, default=1000)
    ap.add_argument("--draws", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    precision = ap.add_mutually_exclusive_group()
    precision.add_argument("--x64", action="store_true", help="fit every posterior in float64")
    precision.add_argument("--f32-only", action="store_true", help="fit every posterior in float32")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = ap.parse_args(argv)
    chosen = [p for p in POSTERIORS if not args.only or any(s in p.name for s in args.only)]
    if not chosen:
        ap.error(f"no posterior matches {args.only}; names: {[p.name for p in POSTERIORS]}")
    x64 = True if args.x64 else False if args.f32_only else None
    rows, start = [], time.perf_counter()
    for p in chosen:
        result = run_in_subprocess(p, args.chains, args.warmup, args.draws, args.seed, x64=x64)
        rows.append(row(p, result))
        if not args.json:
            print(f"{p.name}: {'pass' if rows[-1]['ok'] else 'FAIL'}", file=sys.stderr, flush=True)
    settings = f"{args.chains} chains x ({args.warmup} warmup + {args.draws} draws), seed {args.seed}"
    if args.json:
        print(json.dumps({"settings": settings, "rows": rows}))
    else:
        print(f"\n{settings}; total {time.perf_counter() - start:.0f} s\n")
        print(table(rows))
        for r in rows:
            for line in r.get("failures", []):
                print(f"  {r['posterior']}: {line}")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
