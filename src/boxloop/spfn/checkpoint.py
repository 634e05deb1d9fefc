"""Checkpoints: parameters (and, for training, the optimiser state) in one npz, written atomically.

Leaves are stored in the pytree's flattening order with the model config beside them, so a load
rebuilds the tree from the config and checks every shape. A missing, truncated or foreign file is
a `ProposerError` naming the file and how to make a new one.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import jax
import numpy as np

from ..errors import ProposerError
from .model import ModelConfig, init

FORMAT = "boxloop-spfn-1"
RETRAIN = "retrain it with `boxloop spfn train --out DIR` (or reinstall boxloop for the shipped one)"


def save(path: Path, params, *, config: ModelConfig, step: int, history: list, opt_state=None,
         extra: dict | None = None, dtype=np.float32) -> None:
    """Write the checkpoint to `path` atomically (a temporary file, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {f"param/{i:04d}": np.asarray(x, dtype) for i, x in enumerate(jax.tree_util.tree_leaves(params))}
    if opt_state is not None:
        arrays.update({f"opt/{i:04d}": np.asarray(x) for i, x in enumerate(jax.tree_util.tree_leaves(opt_state))})
    meta = {"format": FORMAT, "config": config.to_dict(), "step": step, "history": history, **(extra or {})}
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez(f, meta=np.asarray(json.dumps(meta)), **arrays)
    os.replace(tmp, path)


def load(path: Path, opt_template=None) -> tuple[dict, dict, object]:
    """(params, meta, opt_state or None) from `path`; `opt_template` is a fresh optimiser state
    whose structure the stored one fills."""
    path = Path(path)
    if not path.is_file():
        raise ProposerError(f"no SPFN checkpoint at {path}; {RETRAIN}", code="spfn.checkpoint_missing")
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            stored = {k: z[k] for k in z.files if k != "meta"}
        if meta.get("format") != FORMAT:
            raise ValueError(f"format {meta.get('format')!r}, expected {FORMAT!r}")
        config = ModelConfig(**meta["config"])
        params = _fill(jax.eval_shape(lambda: init(jax.random.PRNGKey(0), config)), stored, "param")
        opt = _fill(opt_template, stored, "opt") if opt_template is not None and any(
            k.startswith("opt/") for k in stored) else None
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile, json.JSONDecodeError, EOFError) as exc:
        raise ProposerError(f"the SPFN checkpoint {path} is damaged or not a boxloop SPFN checkpoint ({exc}); "
                            f"{RETRAIN}", code="spfn.checkpoint_corrupt") from None
    return params, {**meta, "config": config}, opt


def _fill(template, stored: dict, prefix: str):
    leaves, tree = jax.tree_util.tree_flatten(template)
    keys = sorted(k for k in stored if k.startswith(prefix + "/"))
    if len(keys) != len(leaves):
        raise ValueError(f"{len(keys)} {prefix} arrays stored, the model needs {len(leaves)}")
    filled = []
    for key, leaf in zip(keys, leaves):
        value = stored[key]
        if tuple(value.shape) != tuple(np.shape(leaf)):
            raise ValueError(f"{key} has shape {value.shape}, the model needs {np.shape(leaf)}")
        filled.append(value.astype(np.float32) if prefix == "param" else value)
    return jax.tree_util.tree_unflatten(tree, filled)


def export(source: Path, target: Path) -> dict:
    """Write the parameters of a training checkpoint, without the optimiser state, to `target`
    (what ships with the package); returns the meta."""
    params, meta, _ = load(source)
    config = meta.pop("config")
    save(target, params, config=config, step=meta.pop("step"), history=meta.pop("history"),
         extra={k: v for k, v in meta.items() if k != "format"})
    return meta
