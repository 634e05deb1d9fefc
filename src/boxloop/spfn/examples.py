"""(data, program) pairs as training examples: the encoder's features and the token sequence.

The sequence is what the constrained decoder will see at proposal time: BOS, the task's data block
exactly as `propose.target.make_target` prints it (forced, so it weighs nothing in the loss), then
the canonical program after its data block, then EOS. Examples of a split are prepared once into
one npz (`prepare`), so training never rebuilds tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .features import MAX_COLUMNS, N_FEATURES, encode_task
from .simulate import read_split, save_npz
from .vocab import BOS, EOS, VOCAB, role_names


@dataclass(frozen=True)
class Example:
    features: np.ndarray  # (C, F)
    slots: np.ndarray  # (C,)
    tokens: np.ndarray  # (T,)
    forced: int  # how many leading tokens are forced (BOS + data block)


def task_of(data: dict):
    from ..data import make_task

    return make_task({k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in data.items()}, target="y")


def prefix_text(task) -> str:
    from ..propose.target import make_target

    return make_target(task.data_block(), "program", observed=task.target).prefix


def program_body(text: str) -> str:
    """A canonical program without its data block (what the decoder writes after the prefix)."""
    start = text.index("\n}\n") + 3 if text.startswith("data {") else 0
    return text[start:]


def make_example(data: dict, program_text: str) -> Example:
    task = task_of(data)
    names = role_names(task)
    features, slots = encode_task(task, names)
    prefix = [BOS, *VOCAB.encode(prefix_text(task), names)]
    body = VOCAB.encode(program_body(program_text), names)
    return Example(features, slots, np.asarray([*prefix, *body, EOS], np.int32), len(prefix))


def prepare(pairs, path: Path, max_length: int) -> int:
    """Encode (data, record) pairs into one npz at `path`; returns how many were kept (those that
    fit in `max_length` tokens)."""
    feats, slots, toks, forced, family, text = [], [], [], [], [], []
    for data, rec in pairs:
        ex = make_example(data, rec["text"])
        if len(ex.tokens) > max_length:
            continue
        c = len(ex.slots)
        feats.append(np.pad(ex.features, ((0, MAX_COLUMNS - c), (0, 0))))
        slots.append(np.pad(ex.slots, (0, MAX_COLUMNS - c), constant_values=-1))
        toks.append(np.pad(ex.tokens, (0, max_length - len(ex.tokens)), constant_values=-1))
        forced.append(ex.forced)
        family.append(rec["family"])
        text.append(rec["text"])
    path.parent.mkdir(parents=True, exist_ok=True)
    save_npz(path, features=np.asarray(feats, np.float32).reshape(-1, MAX_COLUMNS, N_FEATURES),
             slots=np.asarray(slots, np.int32).reshape(-1, MAX_COLUMNS),
             tokens=np.asarray(toks, np.int32).reshape(-1, max_length),
             forced=np.asarray(forced, np.int32), family=np.asarray(family), text=np.asarray(text))
    return len(forced)


def prepare_split(root: Path, split: str, path: Path, max_length: int, workers: int = 1) -> int:
    """`prepare` for a simulated split, its shards shared among `workers` processes (spawned:
    JAX may have started in this one); the parts are joined into one npz at `path`."""
    if workers <= 1:
        return _prepare_part(root, split, path, max_length, (0, 1))
    import multiprocessing

    parts = [path.with_name(f"{path.stem}.part{k}.npz") for k in range(workers)]
    with multiprocessing.get_context("spawn").Pool(workers) as pool:
        pool.starmap(_prepare_part, [(root, split, p, max_length, (k, workers)) for k, p in enumerate(parts)])
    loaded = [load(p) for p in parts]
    joined = {k: np.concatenate([part[k] for part in loaded]) for k in loaded[0]}
    save_npz(path, **joined)
    for p in parts:
        p.unlink()
    return len(joined["forced"])


def _prepare_part(root, split, path, max_length, part) -> int:
    return prepare(read_split(root, split, part), path, max_length)


def load(path: Path) -> dict:
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def batch_of(examples: dict, index: np.ndarray, bucket: int = 64) -> dict:
    """A padded batch: tokens cut to the longest sequence (rounded up to `bucket`, so only a few
    shapes are ever compiled), columns to the most any example has."""
    tokens = examples["tokens"][index]
    lengths = (tokens >= 0).sum(1)
    t = min(tokens.shape[1], int(-(-lengths.max() // bucket) * bucket))
    tokens = tokens[:, :t]
    position = np.arange(t)[None]
    weight = ((position >= examples["forced"][index][:, None]) & (tokens >= 0)).astype(np.float32)
    slots = examples["slots"][index]
    return {"tokens": np.maximum(tokens, 0), "weight": weight, "features": examples["features"][index],
            "slots": np.maximum(slots, 0), "columns": slots >= 0}
