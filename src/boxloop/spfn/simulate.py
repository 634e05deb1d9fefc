"""Prior-predictive (data, program) pairs, paid for per family and not per structure or dataset.

A structure's simulator (its family's shared one, or its own program with the priors' numbers
lifted into data: `corpus`, `simulators`) is compiled once by boxloop's own JAX compiler for one
data shape, 150 or 300 rows; other structures and fresh covariate designs reuse the compiled
kernel (the compiler caches by shape and passes the values as arguments), a shorter dataset is
the first rows of a longer simulation, and each design gets many datasets from one vectorised
prior-predictive call (`Model.simulate`, a `jax.vmap` over draws). Degenerate datasets (non-finite, constant, all
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
from functools import lru_cache
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .corpus import FAMILIES, OUTCOME, DataSpec, Structure, make_structure
from .simulators import REGRESSION_FAMILIES, regression_data

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


# Level counts of a grouping factor (a design uses those up to half its rows).
LEVEL_CHOICES = (3, 4, 6, 10, 20, 40)


def design(rng: np.random.Generator, spec: DataSpec, n: int) -> dict:
    """Covariates, groups, trials and standard errors for `n` rows, from varied generators, with
    a placeholder y. Raw covariates (`spec.raw`) get a location and scale far from 0 and 1."""
    data: dict = {"N": n}
    for j in range(1, spec.covariates + 1):
        data[f"x{j}"] = _positive_covariate(rng, n) if spec.family == "growth" else \
            _covariate(rng, n, raw=j in spec.raw)
    for k in range(1, spec.groups + 1):
        levels = int(rng.choice([j for j in LEVEL_CHOICES if j <= n // 2] or [2]))
        codes = np.concatenate([np.arange(1, levels + 1), rng.integers(1, levels + 1, n - levels)])
        data[f"J{k}"], data[f"g{k}"] = levels, rng.permutation(codes)
    if spec.trials:
        data["trials"] = rng.integers(int(rng.integers(1, 10)), int(rng.integers(10, 60)) + 1, n)
    if spec.se:
        data["se"] = np.round(rng.uniform(0.3, 10) * rng.lognormal(0, 0.35, n), 3)
    data["y"] = np.zeros(n) if OUTCOME[spec.family] in ("real", "positive") else np.zeros(n, dtype=int)
    return data


def _covariate(rng, n: int, raw: bool = False) -> np.ndarray:
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
    if raw:  # measured in its own units: a year, a weight, a dose
        x = rng.choice([-1, 1, 1]) * rng.uniform(2, 60) + rng.uniform(0.3, 20) * x
    return np.round(x, 4)


def _positive_covariate(rng, n: int) -> np.ndarray:
    top = rng.uniform(2, 40)
    return np.round(rng.uniform(0.02, 1, n) * top if rng.random() < 0.5 else np.sort(rng.uniform(0.5, top, n)), 3)


def degenerate(y: np.ndarray, kind: str) -> bool:
    """Data no analyst would bring: non-finite, huge, constant, (counts) all zeros, or
    (positive outcomes) a value that underflowed to 0."""
    y = np.asarray(y, dtype=float)
    if not np.all(np.isfinite(y)) or np.max(np.abs(y)) > _MAX_ABS or np.ptp(y) == 0:
        return True
    if kind == "positive":
        return bool(np.min(y) < 1e-6)
    return kind == "count" and np.mean(y == 0) > 0.95


# Simulators are compiled for these row counts only; a shorter dataset is the first rows of a
# longer simulation (rows are exchangeable given the design, and a series' start is a series).
SIM_ROWS = (150, 300)


def _pad(values, n: int):
    return np.resize(np.asarray(values), n)


def simulator_data(structure: Structure, data: dict, rows: int) -> dict:
    """What the structure's simulator reads for the design `data` (see `simulators`), padded to
    `rows` rows."""
    spec, constants = structure.spec, dict(structure.constants)
    padded = {k: (_pad(v, rows) if np.ndim(v) == 1 else v) for k, v in data.items()}
    padded["N"] = rows
    if structure.family == "change_point":
        n = data["N"]
        padded["tt"] = np.arange(rows) / max(n - 1, 1)
    if structure.family not in REGRESSION_FAMILIES:
        return {**padded, **constants}
    used = {}
    for j in spec.used_covariates:
        x = padded[f"x{j}"]
        used[f"x{j}"] = (x - np.mean(data[f"x{j}"])) / np.std(data[f"x{j}"], ddof=1) if j in spec.raw else x
    slope = next((p.split(":")[2] for p in structure.parts if p.startswith("slope:")), None)
    if slope:
        used["xs"] = used[slope]
    extra = {k: padded[k] for k in ("g1", "g2", "trials") if k in padded}
    return regression_data({"N": rows, "y": padded["y"], **used, **extra}, constants)


@lru_cache(maxsize=64)
def _parsed(text: str):
    from ..lang import parse

    return parse(text)


def simulate_structure(structure: Structure, rng: np.random.Generator, *, rows: int, designs: int,
                       draws: int) -> list[Pair]:
    """`designs` x `draws` prior-predictive datasets of `rows` rows, degenerate ones dropped."""
    import jax

    from ..infer.compile import compile_program

    program, pairs = _parsed(structure.simulator), []
    kind = OUTCOME[structure.family]
    sim_rows = next((r for r in SIM_ROWS if r >= rows), rows)
    for _ in range(designs):
        data = design(rng, structure.spec, rows)
        model = compile_program(program, simulator_data(structure, data, sim_rows))
        ys = model.simulate(jax.random.PRNGKey(int(rng.integers(2 ** 31))), "prior", draws)["y"]
        for y in np.asarray(ys)[:, :rows]:
            if not degenerate(y, kind):
                value = y.astype(int) if kind in ("count", "binary") else \
                    np.round(y.astype(float), 5) if kind == "real" else y.astype(np.float32).astype(float)
                pairs.append(Pair({**data, "y": value}, structure))
    return pairs


ROW_CHOICES = (8, 12, 24, 40, 64, 100, 150)
RANGE_ROW_CHOICES = (200, 300)


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


def cheap_compiles() -> None:
    """Ask XLA for its quickest compiles (effective only before JAX starts): a simulator runs for
    milliseconds once compiled, so its compile is what costs (measured: about 1.7x quicker)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_backend_optimization_level" not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} --xla_backend_optimization_level=0 --xla_llvm_disable_expensive_passes=true"


def write_split(root: Path, split: str, *, structures: int, designs: int, draws: int, seed: int,
                progress=None) -> dict:
    """Simulate one split into `root/split/shard-XXXX.npz` (one shard per structure) and
    `root/split/index.jsonl`; returns counts and pairs per second."""
    cheap_compiles()
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


def save_npz(path: Path, **arrays) -> None:
    """Write a compressed npz atomically (a temporary file, then a rename): a reader or a
    resumed run never sees half a file."""
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    os.replace(tmp, path)


def _write_shard(path: Path, pairs: list[Pair]) -> None:
    arrays = {f"{i}/{name}": np.asarray(v) for i, p in enumerate(pairs) for name, v in p.data.items()}
    save_npz(path, **arrays)


def read_split(root: Path, split: str, part: tuple[int, int] = (0, 1)) -> Iterator[tuple[dict, dict]]:
    """(data, index record) for every pair of a split, shard by shard; `part` (k, parts) reads
    only every parts-th shard from the k-th (for preparing a split in several processes)."""
    folder = Path(root) / split
    with open(folder / "index.jsonl") as index:
        records = [json.loads(line) for line in index]
    for rec in records[part[0]::part[1]]:
        with np.load(folder / f"shard-{rec['shard']:04d}.npz") as shard:
            grouped: dict = {}
            for key in shard.files:
                i, name = key.split("/", 1)
                grouped.setdefault(int(i), {})[name] = shard[key]
        for i in sorted(grouped):
            yield {k: (int(v) if v.ndim == 0 else v) for k, v in grouped[i].items()}, rec
