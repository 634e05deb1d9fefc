"""boxloop's checker against stanc on random small programs (boxloop.lang.differential).

    python benchmarks/differential.py [--n 2000] [--seed 1] [--workers 2] [--show 3] [--json OUT]
                                      [--save CASES] [--load CASES]

Prints how many programs each kind of statement produced, how many boxloop and stanc accepted,
and every disagreement grouped by kind and subject. `--save` also writes every program with
stanc's verdict; `--load` re-checks such a file with whatever boxloop is importable (another
version's, through PYTHONPATH), without running stanc again.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path


def _generate(n: int, seed: int, workers: int) -> list[dict]:
    from concurrent.futures import ThreadPoolExecutor

    from boxloop.lang.differential import cases, stanc_reason
    from boxloop.lang.stanc import stanc_verdict

    batch = cases(n, seed)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda c: stanc_verdict(c.program), batch))
    return [{"kind": c.kind, "subject": c.subject, "program": c.program, "stanc": v.ok,
             "stanc_message": stanc_reason(v.message)[:300]} for c, v in zip(batch, verdicts)]


def _first_error(result) -> str:  # here too, for --load with a boxloop that lacks lang.differential
    errors = [d for d in result.diagnostics if d.severity == "error"]
    return str(errors[0])[:300] if errors else ""


def report(rows: list[dict], show: int) -> str:
    from boxloop.lang import check

    for r in rows:
        result = check(r["program"])
        r["boxloop"], r["boxloop_message"] = result.valid, _first_error(result)
    found = [r for r in rows if r["boxloop"] != r["stanc"]]
    kinds, accepted = Counter(r["kind"] for r in rows), Counter(r["kind"] for r in rows if r["boxloop"])
    wrong = Counter(r["kind"] for r in found)
    lines = [f"{len(rows)} programs; {len(found)} disagreements\n",
             "| statement | programs | stanc accepts | boxloop accepts | disagreements |",
             "|---|---:|---:|---:|---:|"]
    for kind, n in kinds.most_common():
        stanc_ok = sum(r["stanc"] for r in rows if r["kind"] == kind)
        lines.append(f"| {kind} | {n} | {stanc_ok} | {accepted[kind]} | {wrong[kind]} |")
    groups = defaultdict(list)
    for r in found:
        groups[(r["kind"], r["subject"], r["boxloop"])].append(r)
    for (kind, subject, ours), group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        side = "boxloop accepts, stanc rejects" if ours else "boxloop rejects, stanc accepts"
        why = group[0]["stanc_message"] if ours else group[0]["boxloop_message"]
        lines.append(f"\n{kind} {subject} ({side}, {len(group)}): {why}")
        lines += ["   " + r["program"].replace("\n", " ")[:240] for r in group[:show]]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="programs to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="stanc processes at a time")
    parser.add_argument("--show", type=int, default=3, help="examples per group")
    parser.add_argument("--json", type=Path, help="write every disagreement here")
    parser.add_argument("--save", type=Path, help="write every program with stanc's verdict here")
    parser.add_argument("--load", type=Path, help="check the programs of a --save file instead")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    rows = json.loads(args.load.read_text()) if args.load else _generate(args.n, args.seed, args.workers)
    if args.save:
        args.save.write_text(json.dumps(rows, indent=1))
    text = report(rows, args.show)
    print(f"({time.perf_counter() - started:.0f} s{'' if args.load else f', seed {args.seed}'}) " + text)
    if args.json:
        args.json.write_text(json.dumps([r for r in rows if r["boxloop"] != r["stanc"]], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
