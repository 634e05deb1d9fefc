"""boxloop's library table against stanc's signature dump (boxloop.lang.stanc.compare_signatures).

    python benchmarks/signatures.py [--show 5]

For functions, distributions' suffixed forms and the functions behind operators: how many names,
how many of stanc's concrete signatures they have, how many argument-type combinations were
tried, and every call the two type differently.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from boxloop.lang import library
from boxloop.lang.stanc import compare_signatures, operator_names, stanc_signature_table


def _group(name: str) -> str:
    if name in operator_names():
        return "operators"
    return "distributions" if library.resolve_suffixed(name) is not None else "functions"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show", type=int, default=5, help="differences to print")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    result = compare_signatures()
    seconds = time.perf_counter() - started
    table = stanc_signature_table()
    names, overloads = Counter(), Counter()
    for name in result.names:
        names[_group(name)] += 1
        overloads[_group(name)] += len(table.get(name, []))
    wrong = Counter(_group(d.name) for d in result.differences)
    print(f"compared in {seconds:.1f} s: {len(result.names)} names, {result.stanc_overloads} stanc signatures, "
          f"{result.calls} calls, {len(result.differences)} differences\n")
    print("| names | count | stanc signatures | names that differ |\n|---|---:|---:|---:|")
    for group in ("functions", "distributions", "operators"):
        differing = len({d.name for d in result.differences if _group(d.name) == group})
        print(f"| {group} | {names[group]} | {overloads[group]} | {differing} |")
    for d in result.differences[:args.show]:
        print(f"- {d}")
    return 1 if result.differences else 0


if __name__ == "__main__":
    raise SystemExit(main())
