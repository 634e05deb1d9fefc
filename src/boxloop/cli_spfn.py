"""`boxloop spfn simulate|train|evaluate`: build the SPFN's corpus, train it, judge it held-out.

    boxloop spfn simulate --cache DIR [--structures N] [--designs D] [--draws K] [--seed S]
    boxloop spfn train --cache DIR --out DIR [--steps N] [--batch B] [--config FILE.json]
    boxloop spfn evaluate --cache DIR [--checkpoint FILE] [--per-family K] [-n 5]

`simulate` writes the (data, program) pairs of the three splits (train, family, range) under
DIR/pairs; `train` prepares the train split once (DIR/train.npz), trains, and writes
OUT/checkpoint.npz (rerunning the same command resumes it) and OUT/spfn.npz, the parameters alone
(what ships as boxloop/spfn/weights/spfn.npz); `evaluate` prints, for each held-out
split and family, how often `spfn` and `grammar` put the generating structure first and among
the first five.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .cli_io import EXIT_OK, UsageError, emit

SPLITS = ("train", "family", "range")


def register(subparsers) -> None:
    p = subparsers.add_parser("spfn", help="simulate the corpus, train and evaluate the built-in proposer")
    sub = p.add_subparsers(dest="spfn_command")
    s = sub.add_parser("simulate", help="prior-predictive (data, program) pairs for the three splits")
    s.add_argument("--cache", required=True, help="folder for the pairs (DIR/pairs/<split>)")
    s.add_argument("--structures", type=int, default=5600, help="train structures (held-out splits get fewer)")
    s.add_argument("--designs", type=int, default=2, help="covariate designs per structure")
    s.add_argument("--draws", type=int, default=4, help="datasets per design")
    s.add_argument("--split", choices=SPLITS, action="append", help="only these splits (repeatable)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--json", action="store_true")
    s.set_defaults(run=run_simulate)
    t = sub.add_parser("train", help="train (or resume) the SPFN on the simulated train split")
    t.add_argument("--cache", required=True, help="the folder `spfn simulate` wrote")
    t.add_argument("--out", required=True, help="where checkpoint.npz goes (resumed when it exists)")
    t.add_argument("--config", help="a JSON file of TrainConfig fields (model fields under \"model\")")
    t.add_argument("--steps", type=int, help="total steps (overrides the config)")
    t.add_argument("--batch", type=int, help="batch size (overrides the config)")
    t.add_argument("--init", help="start a fresh run from this checkpoint's parameters (warm start)")
    t.add_argument("--workers", type=int, default=1, help="processes that prepare the simulated examples")
    t.add_argument("--json", action="store_true")
    t.set_defaults(run=run_train)
    e = sub.add_parser("evaluate", help="held-out first-proposal and top-5 rates, spfn beside grammar")
    e.add_argument("--cache", required=True)
    e.add_argument("--checkpoint", help="an SPFN checkpoint (default: the shipped one)")
    e.add_argument("--per-family", type=int, default=10, help="datasets per family and split")
    e.add_argument("-n", type=int, default=5, help="proposals per dataset")
    e.add_argument("--split", choices=("family", "range"), action="append", help="only these held-out splits")
    e.add_argument("--json", action="store_true")
    e.set_defaults(run=run_evaluate)
    p.set_defaults(run=_needs_subcommand)


def _needs_subcommand(args) -> int:
    raise UsageError("spfn needs a subcommand: simulate, train or evaluate (see `boxloop spfn --help`)")


def run_simulate(args) -> int:
    from .spfn.simulate import write_split

    counts = {"train": args.structures, "family": max(2, args.structures // 25), "range": max(2, args.structures // 16)}
    results = []
    for split in args.split or SPLITS:
        def show(k, total, pairs, split=split):
            print(f"\r{split}: structure {k}/{total}, {pairs} pairs", end="" if k < total else "\n",
                  file=sys.stderr, flush=True)
        results.append(write_split(Path(args.cache) / "pairs", split, structures=counts[split],
                                   designs=args.designs, draws=args.draws, seed=args.seed, progress=show))
    emit({"splits": results}, args.json, "\n".join(json.dumps(r) for r in results))
    return EXIT_OK


def _prepared(cache: Path, split: str, max_length: int, workers: int = 1) -> Path:
    from .spfn import examples

    path = cache / f"{split}.npz"
    if not path.exists():
        if not (cache / "pairs" / split / "index.jsonl").exists():
            raise UsageError(f"no simulated {split} split under {cache / 'pairs'}; run `boxloop spfn simulate "
                             f"--cache {cache}` first")
        print(f"preparing the {split} split into {path}", file=sys.stderr, flush=True)
        examples.prepare_split(cache / "pairs", split, path, max_length, workers)
    return path


def run_train(args) -> int:
    from .spfn import checkpoint, examples
    from .spfn.train import TrainConfig, progress_bar, train

    cfg = TrainConfig()
    if args.config:
        try:
            cfg = TrainConfig.from_dict(json.loads(Path(args.config).read_text()))
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"cannot read the training config {args.config}: {exc}") from None
    overrides = {k: v for k, v in (("steps", args.steps), ("batch", args.batch)) if v is not None}
    cfg = TrainConfig.from_dict({**cfg.to_dict(), **overrides})
    cache = Path(args.cache)
    data = examples.load(_prepared(cache, "train", cfg.model.max_length, args.workers))
    init_from = Path(args.init) if args.init else None
    try:
        result = train(cfg, data, Path(args.out), progress=None if args.json else progress_bar(), init_from=init_from)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    checkpoint.export(Path(args.out) / "checkpoint.npz", Path(args.out) / "spfn.npz")
    last = result["history"][-1][1] if result["history"] else None
    emit({"checkpoint": str(Path(args.out) / "checkpoint.npz"), "examples": len(data["forced"]), **result},
         args.json, f"step {result['step']}: loss {last}; {result['parameters']} parameters; "
                    f"{result['seconds']} s; checkpoint {Path(args.out) / 'checkpoint.npz'}")
    return EXIT_OK


def run_evaluate(args) -> int:
    from .propose.grammar import GrammarProposer
    from .spfn.evaluate import judge, table
    from .spfn.proposer import SPFNProposer

    spfn = SPFNProposer(args.checkpoint, fallback=False)  # judge the network alone
    proposers = {"spfn": spfn, "grammar": GrammarProposer()}
    report = {}
    for split in args.split or ("family", "range"):
        outcomes = {name: [] for name in proposers}
        for task, truth in _held_out(Path(args.cache), split, args.per_family):
            for name, proposer in proposers.items():
                outcomes[name].append(judge(proposer, task, truth, n=args.n))
            done = outcomes["spfn"][-1]
            print(f"{split}: {len(outcomes['spfn'])} datasets ({truth.family}: spfn first {done.first}, "
                  f"{done.seconds:.1f} s)", file=sys.stderr, flush=True)
        report[split] = {name: table(os) for name, os in outcomes.items()}
    emit({"checkpoint": str(spfn.path), "step": spfn.meta.get("step"), "report": report}, args.json,
         _human(report))
    return EXIT_OK


def _held_out(cache: Path, split: str, per_family: int):
    """Up to `per_family` datasets per family of a split, spread over its structures."""
    from .spfn.evaluate import generating_structure
    from .spfn.examples import task_of
    from .spfn.simulate import read_split

    if not (cache / "pairs" / split / "index.jsonl").exists():
        raise UsageError(f"no simulated {split} split under {cache / 'pairs'}; run `boxloop spfn simulate` first")
    taken: dict = {}
    for data, rec in read_split(cache / "pairs", split):
        key = (rec["family"], rec["shard"])
        per_shard = taken.setdefault(key, 0)
        family_total = sum(v for (f, _), v in taken.items() if f == rec["family"])
        if per_shard >= 2 or family_total >= per_family:
            continue
        taken[key] += 1
        yield task_of(data), generating_structure(rec["text"], rec["parts"])


def _human(report: dict) -> str:
    lines = []
    for split, by in report.items():
        lines.append(f"held-out by {split}: first / top-5 (spfn | grammar)")
        for family in by["spfn"]:
            s, g = by["spfn"][family], by["grammar"][family]
            lines.append(f"  {family:24s} n={s['n']:3d}  spfn {s['first']:.2f} / {s['top5']:.2f}   "
                         f"grammar {g['first']:.2f} / {g['top5']:.2f}")
    return "\n".join(lines)
