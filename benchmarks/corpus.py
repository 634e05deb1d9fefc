"""Every program in ../shared/corpus checked by boxloop and by stanc; the disagreements, grouped.

    python benchmarks/corpus.py [--corpus ../shared/corpus] [--json out.json] [--show 3]
    python benchmarks/corpus.py --fit [--only SUBSTRING] [--reference-only] [--timeout 1200]
                                [--chains 4 --warmup 1000 --draws 1000]

stanc (from httpstan) is the oracle: the corpus is made of programs it accepts. A disagreement is
a program one of the two accepts and the other rejects. Rejections by boxloop are grouped by the
code of their first error diagnostic, so the table says what to build next.

With --fit, every posteriordb posterior whose program boxloop accepts and whose data is in the
corpus is fitted (each in a worker, via benchmarks/posteriordb.py); those with reference draws in
../shared/benchmarks/posteriordb are compared there (every mean and sd within 4 combined MCSE),
and the table gives the worst |z| of the means per posterior.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from boxloop.lang import check
from boxloop.lang.stanc import stanc_verdict

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


def corpus_programs(corpus: Path) -> list[Path]:
    if not corpus.is_dir():
        sys.exit(f"corpus folder {corpus} not found; pass --corpus PATH")
    return sorted(corpus.rglob("*.stan"))


def first_error(result) -> str:
    errors = [d for d in result.diagnostics if d.severity == "error"]
    if not errors:
        return "-"
    d = errors[0]
    return f"{d.code}: {d.message[:90]}"


def run(corpus: Path) -> list[dict]:
    rows = []
    for path in corpus_programs(corpus):
        text = path.read_text(errors="replace")
        started = time.perf_counter()
        result = check(text)
        seconds = time.perf_counter() - started
        verdict = stanc_verdict(text, include_paths=(str(path.parent),))
        rows.append({"program": str(path.relative_to(corpus)), "boxloop": result.valid, "stanc": verdict.ok,
                     "reason": first_error(result), "stanc_message": verdict.message[:300],
                     "check_s": round(seconds, 4)})
    return rows


def report(rows: list[dict], show: int) -> str:
    by_source = defaultdict(Counter)
    for r in rows:
        source = r["program"].split("/", 1)[0]
        by_source[source]["programs"] += 1
        by_source[source]["stanc accepts"] += r["stanc"]
        by_source[source]["boxloop accepts"] += r["boxloop"]
        by_source[source]["both accept"] += r["stanc"] and r["boxloop"]
    lines = ["| source | programs | stanc accepts | boxloop accepts | both accept |", "|---|---:|---:|---:|---:|"]
    for source, c in sorted(by_source.items()):
        lines.append(f"| {source} | {c['programs']} | {c['stanc accepts']} | {c['boxloop accepts']} | {c['both accept']} |")
    refused = defaultdict(list)
    for r in rows:
        if r["stanc"] and not r["boxloop"]:
            refused[r["reason"].split(":", 1)[0]].append(r)
    lines += ["", "boxloop rejects, stanc accepts (by first error code):", "",
              "| code | programs | examples |", "|---|---:|---|"]
    for code, group in sorted(refused.items(), key=lambda kv: -len(kv[1])):
        examples = "; ".join(f"{Path(r['program']).name} ({r['reason'].split(': ', 1)[-1]})" for r in group[:show])
        lines.append(f"| {code} | {len(group)} | {examples} |")
    accepted_wrongly = [r for r in rows if r["boxloop"] and not r["stanc"]]
    lines += ["", f"boxloop accepts, stanc rejects: {len(accepted_wrongly)}"]
    lines += [f"- {r['program']}: {r['stanc_message'][:160]}" for r in accepted_wrongly[:show * 5]]
    return "\n".join(lines)


def _posteriordb_bench():
    import importlib.util

    if "boxloop_bench_posteriordb" in sys.modules:
        return sys.modules["boxloop_bench_posteriordb"]
    spec = importlib.util.spec_from_file_location("boxloop_bench_posteriordb", ROOT / "benchmarks" / "posteriordb.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def _fit_job(name, chains, warmup, draws, seed):
    # Runs in the worker, which imports this script by name (not the benchmark module, which is
    # loaded from its file path).
    return _posteriordb_bench().run_posterior(name, chains, warmup, draws, seed)


def fit_rows(corpus: Path, only: str | None, chains: int, warmup: int, draws: int,
             reference_only: bool = False, timeout_s: float = 1200.0) -> list[dict]:
    bench = _posteriordb_bench()
    rows = []
    for info_path in sorted((corpus / "posteriordb" / "posteriors").glob("*.json")):
        name = info_path.stem
        if only and only not in name:
            continue
        p = bench.corpus_posterior(name)
        if reference_only and not bench.has_reference(p):
            continue
        model = corpus / "posteriordb" / "models" / f"{p.program}.stan"
        if not model.exists() or not (corpus / "posteriordb" / "data" / f"{p.data}.json").exists():
            continue
        if not check(model.read_text()).valid:
            rows.append({"posterior": name, "ok": False, "error": "boxloop rejects the program"})
            continue
        result = bench.run_in_subprocess(p, chains, warmup, draws, timeout_s=timeout_s, job=_fit_job)
        reference = bench.has_reference(p)
        if reference and isinstance(result, dict):
            rows.append({**bench.row(p, result), "reference": True})
        elif isinstance(result, dict):
            rows.append({"posterior": name, "ok": True, "reference": False, "divergences": result["divergences"],
                         "fit_s": result["timing"]["total_s"]})
        else:
            rows.append({"posterior": name, "ok": False, "reference": reference,
                         "error": f"{result.code}: {result.reason}"})
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "checks"}), flush=True)
    return rows


def fit_report(rows: list[dict]) -> str:
    lines = ["| posterior | reference | worst abs z (means) | divergences | fit s | result |",
             "|---|---|---:|---:|---:|---|"]
    for r in rows:
        z = f"{r['max_abs_z']:.2f}" if "max_abs_z" in r else ""
        ref = "yes" if r.get("reference") else "no"
        result = "pass" if r["ok"] else r.get("error") or "; ".join(r.get("failures", []))[:120]
        lines.append(f"| {r['posterior']} | {ref} | {z} | {r.get('divergences', '')} | "
                     f"{r.get('fit_s', 0):.0f} | {result} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", type=Path, help="write every row here")
    parser.add_argument("--show", type=int, default=3, help="examples per group")
    parser.add_argument("--fit", action="store_true", help="fit the posteriordb posteriors")
    parser.add_argument("--only", help="with --fit: posteriors whose name contains this")
    parser.add_argument("--chains", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=1000)
    parser.add_argument("--draws", type=int, default=1000)
    parser.add_argument("--reference-only", action="store_true", help="with --fit: only posteriors with "
                        "reference draws")
    parser.add_argument("--timeout", type=float, default=1200.0, help="with --fit: seconds per fit")
    args = parser.parse_args(argv)
    if args.fit:
        rows = fit_rows(args.corpus, args.only, args.chains, args.warmup, args.draws, args.reference_only,
                        args.timeout)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        print(fit_report(rows))
        return 0
    rows = run(args.corpus)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(report(rows, args.show))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
