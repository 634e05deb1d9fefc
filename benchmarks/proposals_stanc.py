"""The grammar proposer's programs, and their prior and likelihood rewrites, on every benchmark
dataset, each compiled by stanc (the real Stan compiler).

    python benchmarks/proposals_stanc.py [--per-dataset 6] [--seed 3] [--workers 2]

Prints the programs written and rewritten per dataset and every one stanc rejects.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared" / "benchmarks"


def datasets() -> list[Path]:
    return sorted((SHARED / "posteriordb" / "data").glob("*.json")) + sorted((SHARED / "llb").glob("*.json")) \
        + [SHARED / "llb" / "rain.csv"]


def proposals(per_dataset: int, seed: int) -> list[tuple[str, str, str]]:
    from boxloop.data import make_task
    from boxloop.errors import ProposerError
    from boxloop.propose.grammar import GrammarProposer

    proposer, out = GrammarProposer(), []
    for path in datasets():
        task = make_task(path)
        for p in proposer.propose(task, n=per_dataset, seed=seed):
            out.append((path.name, "program", p.text))
            for block in ("prior", "likelihood"):
                try:
                    out.append((path.name, block, proposer.propose(task, context=p.text, block=block,
                                                                  seed=seed + 1)[0].text))
                except ProposerError:  # no family change fits (a categorical target)
                    pass
    return out


def main(argv=None) -> int:
    from boxloop.lang.stanc import stanc_verdict

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-dataset", type=int, default=6)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    written = proposals(args.per_dataset, args.seed)
    with ThreadPoolExecutor(args.workers) as pool:
        verdicts = list(pool.map(lambda w: stanc_verdict(w[2]), written))
    rejected = [(w, v) for w, v in zip(written, verdicts) if not v.ok]
    kinds = {k: sum(1 for w in written if w[1] == k) for k in ("program", "prior", "likelihood")}
    print(f"{len(datasets())} datasets, {len(written)} programs ({kinds['program']} written, "
          f"{kinds['prior']} prior and {kinds['likelihood']} likelihood rewrites), "
          f"{time.perf_counter() - started:.0f} s: stanc rejects {len(rejected)}")
    for (name, block, text), v in rejected:
        print(f"\n{name} ({block}):\n{text}\n{v.message}")
    return 1 if rejected else 0


if __name__ == "__main__":
    raise SystemExit(main())
