"""Every evidence method on models whose log p(x | M) is known: error, se, seconds, and SMC's cost
against the NUTS fit of the same model.

Run: python benchmarks/evidence.py [--cases coin,eight_centred,...] [--out benchmarks/out/evidence.json]

Cases: the conjugate programs of tests/diagnose/test_evidence_programs.py (exact by closed form
or 1-d quadrature), eight schools centred and non-centred (-31.311 by quadrature), and the same
hierarchy with 64 groups, both forms (quadrature over tau). Each program is fitted once with
NUTS at the CLI's defaults (4 chains x 1000 warmup + 1000 draws), then every method runs on that
fit, in float64 as `boxloop evidence` runs. `smc / NUTS` is the wall time of the SMC estimate
(its prior simulator's compile included) over the wall time of the fit (compiles included).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "diagnose")]

METHODS = ("bridge", "is", "smc", "auto")


def cases() -> dict:
    from references import EIGHT_DATA, hierarchical_data, hierarchical_log_evidence
    from test_evidence_programs import CASES, CENTERED, NONCENTERED

    out = {name: (source, data, exact) for name, (source, data, exact) in CASES.items()}
    wide = hierarchical_data(64)
    for label, data in (("eight", EIGHT_DATA), ("hier64", wide)):
        exact = hierarchical_log_evidence(tuple(data["y"]), tuple(data["sigma"]))
        out[f"{label}_centred"] = (CENTERED, data, lambda v=exact: v)
        out[f"{label}_noncentred"] = (NONCENTERED, data, lambda v=exact: v)
    return out


def run_case(name: str, source: str, data: dict, exact: float) -> list[dict]:
    from boxloop.infer.compile import fit
    from boxloop.infer.nuts import NutsSettings
    from boxloop.infer.pipeline import fit_evidence
    from boxloop.lang import check

    settings = NutsSettings(chains=4, warmup=1000, draws=1000, chain_method="sequential")
    started = time.perf_counter()
    fitted = fit(check(source, data).program, data, settings, seed=1)
    fit_s = time.perf_counter() - started
    divergences = int(fitted.stats["diverging"].sum())
    rows = []
    for method in METHODS:
        started = time.perf_counter()
        ev = fit_evidence(fitted, method, seed=0)
        seconds = time.perf_counter() - started
        rows.append({"case": name, "method": method, "used": ev.method, "log_evidence": ev.log_evidence,
                     "se": ev.se, "error": ev.log_evidence - exact, "exact": exact, "seconds": seconds,
                     "fit_s": fit_s, "cost_vs_nuts": seconds / fit_s, "divergences": divergences,
                     "reliable": ev.reliable, "warnings": list(ev.warnings)})
        print(f"{name:20s} {method:6s} {ev.method:15s} {ev.log_evidence:9.3f} err {rows[-1]['error']:+.3f} "
              f"se {ev.se:.3f} {seconds:6.1f} s ({seconds / fit_s:.2f}x NUTS {fit_s:.1f} s, "
              f"{divergences} div) {'reliable' if ev.reliable else 'NOT reliable'}", flush=True)
    return rows


def markdown(rows: list[dict]) -> str:
    lines = ["| case | method | used | error (nats) | se | seconds | / NUTS fit | reliable |",
             "|---|---|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['case']} | {r['method']} | {r['used']} | {r['error']:+.3f} | {r['se']:.3f} | "
                     f"{r['seconds']:.1f} | {r['cost_vs_nuts']:.2f} | {'yes' if r['reliable'] else 'no'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "out" / "evidence.json"))
    args = parser.parse_args()
    from boxloop.infer.pipeline import _double_precision

    _double_precision()
    table = cases()
    chosen = [c for c in args.cases.split(",") if c] or list(table)
    rows = []
    for name in chosen:
        source, data, exact = table[name]
        rows += run_case(name, source, data, exact())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(rows, indent=1))
    print(markdown(rows))


if __name__ == "__main__":
    main()
