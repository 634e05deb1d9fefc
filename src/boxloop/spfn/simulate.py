"""Prior-predictive (data, program) pairs, paid for per structure and not per dataset.

A structure's simulator is compiled once by boxloop's own JAX compiler for one data shape; fresh
covariate designs of that shape reuse the compiled kernel (the compiler caches by shape and passes
the values as arguments), and each design gets many datasets from one vectorised prior-predictive
call (`Model.simulate`, a `jax.vmap` over draws). Degenerate datasets (non-finite, constant, all
zeros, absurdly large) are rejected.

Held-out splits, as the seed describes: by family (compositions never trained on: a negative
binomial with group effects, a robust regression with two or more covariates) and by parameter
range (sample sizes above `TRAIN_MAX_ROWS` never appear in training).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .corpus import OUTCOME, DataSpec, Structure, make_structure, FAMILIES

TRAIN_MAX_ROWS = 150
_SPLITS = ("train", "family", "range")
_MAX_ABS = 1e6


def held_out_family(spec: DataSpec) -> bool:
    """Compositions the training split never sees (each piece alone is trained on)."""
    return (spec.family == "neg_binomial" and spec.groups > 0) or \
        (spec.family == "student_t" and spec.covariates >= 2)


@dataclass(frozen=True)
class Pair:
    """One simulated dataset (Stan-JSON-ready arrays) and the program that generated it."""

    data: dict
    structure: Structure


def design(rng: np.random.Generator, spec: DataSpec, n: int) -> dict:
    """Covariates, groups and trials for `n` rows, from varied generators, with a placeholder y."""
    data: dict = {"N": n}
    for j in range(1, spec.covariates + 1):
        data[f"x{j}"] = _covariate(rng, n)
    for k in range(1, spec.groups + 1):
        levels = int(rng.choice([j for j in LEVEL_CHOICES if j <= n // 2] or [2]))
        codes = np.concatenate([np.arange(1, levels + 1), rng.integers(1, levels + 1, n - levels)])
        data[f"J{k}"], data[f"g{k}"] = levels, rng.permutation(codes)
    if spec.trials:
        data["trials"] = rng.integers(int(rng.integers(1, 10)), int(rng.integers(10, 60)) + 1, n)
    data["y"] = np.zeros(n) if OUTCOME[spec.family] == "real" else np.zeros(n, dtype=int)
    return data


def _covariate(rng, n: int) -> np.ndarray:
    kind = int(rng.integers(4))
    if kind == 0:
        x = rng.normal(size=n)
    elif kind == 1:
        x = rng.uniform(-2, 2, n)
    elif kind == 2:
        x = rng.lognormal(0, 0.7, n)
        x = (x - x.mean()) / x.std()
    else:
        x = rng.standard_t(4, n) / np.sqrt(2)
    return np.round(x, 4)


def degenerate(y: np.ndarray, kind: str) -> bool:
    """Data no analyst would bring: non-finite, huge, constant, or (counts) all zeros."""
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)) or np.max(np.abs(y)) > _MAX_ABS or np.ptp(y) == 0:
        return True
    return kind == "count" and np.mean(y == 0) > 0.95


def simulate_structure(structure: Structure, rng: np.random.Generator, *, rows: int, designs: int,
                       draws: int) -> list[Pair]:
    """`designs` x `draws` prior-predictive datasets of `rows` rows, degenerate ones dropped."""
    import jax

    from ..infer.compile import compile_program
    from ..lang import parse

    program, pairs, constants = parse(structure.simulator), [], dict(structure.constants)
    kind = OUTCOME[structure.family]
    for _ in range(designs):
        data = design(rng, structure.spec, rows)
        model = compile_program(program, {**data, **constants})
        ys = model.simulate(jax.random.PRNGKey(int(rng.integers(2 ** 31))), "prior", draws)["y"]
        for y in np.asarray(ys):
            if not degenerate(y, kind):
                value = y.astype(int) if kind != "real" else np.round(y.astype(float), 5)
                pairs.append(Pair({**data, "y": value}, structure))
    return pairs


# Few distinct shapes (sizes and level counts are compiled in), so kernels are reused across
# structures; the designs within a shape still vary freely.
ROW_CHOICES = (24, 40, 64, 100, 150)
RANGE_ROW_CHOICES = (200, 300)
LEVEL_CHOICES = (4, 6, 10)


def _rows(rng, split: str) -> int:
    return int(rng.choice(RANGE_ROW_CHOICES if split == "range" else ROW_CHOICES))


def structures_for(split: str, rng: np.random.Generator, count: int) -> Iterator[Structure]:
    """Structures of one split: "train" never holds a held-out composition, "family" holds only
    those, "range" is like train (its datasets are larger than any trained on)."""
    made, i = 0, 0
    while made < count:
        family = FAMILIES[i % len(FAMILIES)] if split != "family" else ("neg_binomial", "student_t")[i % 2]
        i += 1
        s = make_structure(rng, family)
        if held_out_family(s.spec) != (split == "family"):
            continue
        made += 1
        yield s


def write_split(root: Path, split: str, *, structures: int, designs: int, draws: int, seed: int,
                progress=None) -> dict:
    """Simulate one split into `root/split/shard-XXXX.npz` (one shard per structure) and
    `root/split/index.jsonl`; returns counts and pairs per second."""
    out = Path(root) / split
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([seed, _SPLITS.index(split)])
    start, n_pairs = time.perf_counter(), 0
    with open(out / "index.jsonl", "w") as index:
        for k, s in enumerate(structures_for(split, rng, structures)):
            pairs = simulate_structure(s, rng, rows=_rows(rng, split), designs=designs, draws=draws)
            _write_shard(out / f"shard-{k:04d}.npz", pairs)
            index.write(json.dumps({"shard": k, "family": s.family, "parts": list(s.parts), "text": s.text,
                                    "pairs": len(pairs)}) + "\n")
            index.flush()  # a reader (or a resumed run) sees every finished shard
            n_pairs += len(pairs)
            if progress:
                progress(k + 1, structures, n_pairs)
    seconds = time.perf_counter() - start
    return {"split": split, "structures": structures, "pairs": n_pairs, "seconds": round(seconds, 1),
            "pairs_per_second": round(n_pairs / max(seconds, 1e-9), 1)}


def _write_shard(path: Path, pairs: list[Pair]) -> None:
    arrays = {f"{i}/{name}": np.asarray(v) for i, p in enumerate(pairs) for name, v in p.data.items()}
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def read_split(root: Path, split: str) -> Iterator[tuple[dict, dict]]:
    """(data, index record) for every pair of a split, shard by shard."""
    folder = Path(root) / split
    with open(folder / "index.jsonl") as index:
        records = [json.loads(line) for line in index]
    for rec in records:
        with np.load(folder / f"shard-{rec['shard']:04d}.npz") as shard:
            grouped: dict = {}
            for key in shard.files:
                i, name = key.split("/", 1)
                grouped.setdefault(int(i), {})[name] = shard[key]
        for i in sorted(grouped):
            yield {k: (int(v) if v.ndim == 0 else v) for k, v in grouped[i].items()}, rec
