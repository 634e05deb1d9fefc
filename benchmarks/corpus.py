"""Every program in ../shared/corpus checked by boxloop and by stanc; the disagreements, grouped.

    python benchmarks/corpus.py [--corpus ../shared/corpus] [--json out.json] [--show 3]

stanc (from httpstan) is the oracle: the corpus is made of programs it accepts. A disagreement is
a program one of the two accepts and the other rejects. Rejections by boxloop are grouped by the
code of their first error diagnostic, so the table says what to build next.
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--json", type=Path, help="write every row here")
    parser.add_argument("--show", type=int, default=3, help="examples per group")
    args = parser.parse_args(argv)
    rows = run(args.corpus)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    print(report(rows, args.show))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
