"""boxloop's checker against stanc on random small programs (boxloop.lang.differential).

    python benchmarks/differential.py [--n 2000] [--seed 1] [--workers 2] [--show 3] [--json out.json]

Prints how many programs each kind of statement produced, how many boxloop and stanc accepted,
and every disagreement grouped by kind and subject.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter, defaultdict
from pathlib import Path

from boxloop.lang import check
from boxloop.lang.differential import cases, disagreements


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="programs to generate")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2, help="stanc processes at a time")
    parser.add_argument("--show", type=int, default=3, help="examples per group")
    parser.add_argument("--json", type=Path, help="write every disagreement here")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    batch = cases(args.n, args.seed)
    found = disagreements(batch, workers=args.workers)
    seconds = time.perf_counter() - started
    kinds = Counter(c.kind for c in batch)
    accepted = Counter(c.kind for c in batch if check(c.program).valid)
    print(f"{args.n} programs, seed {args.seed}, {seconds:.0f} s; {len(found)} disagreements\n")
    print("| statement | programs | boxloop accepts | disagreements |\n|---|---:|---:|---:|")
    wrong = Counter(d.case.kind for d in found)
    for kind, n in kinds.most_common():
        print(f"| {kind} | {n} | {accepted[kind]} | {wrong[kind]} |")
    groups = defaultdict(list)
    for d in found:
        groups[(d.case.kind, d.case.subject, d.boxloop)].append(d)
    for (kind, subject, ours), group in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        side = "boxloop accepts, stanc rejects" if ours else "boxloop rejects, stanc accepts"
        print(f"\n{kind} {subject} ({side}, {len(group)}): {group[0].message}")
        for d in group[:args.show]:
            print("   " + d.case.program.replace("\n", " ")[:240])
    if args.json:
        args.json.write_text(json.dumps([{"kind": d.case.kind, "subject": d.case.subject, "boxloop": d.boxloop,
                                          "stanc": d.stanc, "message": d.message, "program": d.case.program}
                                         for d in found], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
