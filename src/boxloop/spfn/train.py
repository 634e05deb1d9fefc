"""Training: next-token cross-entropy of canonical programs given their prior-predictive data.

`train(config, examples, out_dir)` runs AdamW (warmup, cosine decay, clipped gradients) on random
batches, writes `out_dir/checkpoint.npz` atomically every `checkpoint_every` steps and at the end,
and resumes from it when it exists: the step count, the optimiser state and the loss history go
on where they stopped (the batch stream is a function of (seed, step), so a resumed run draws the
same batches as an uninterrupted one).
"""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import jax
import numpy as np

from . import checkpoint
from .examples import batch_of
from .model import ModelConfig, count_parameters, init, loss


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 3000
    batch: int = 16
    learning_rate: float = 1e-3
    warmup: int = 100
    weight_decay: float = 0.01
    seed: int = 0
    checkpoint_every: int = 100
    log_every: int = 25
    model: ModelConfig = field(default_factory=ModelConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        d = dict(d)
        return cls(model=ModelConfig(**d.pop("model", {})), **d)


def optimizer(cfg: TrainConfig):
    import optax

    schedule = optax.warmup_cosine_decay_schedule(0.0, cfg.learning_rate, cfg.warmup, max(cfg.steps, cfg.warmup + 1),
                                                  cfg.learning_rate * 0.05)
    return optax.chain(optax.clip_by_global_norm(1.0), optax.adamw(schedule, weight_decay=cfg.weight_decay))


def _step_fn(cfg: TrainConfig, opt):
    import optax

    def step(params, opt_state, batch):
        value, grads = jax.value_and_grad(loss)(params, batch, cfg.model)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value
    return jax.jit(step)


def train(cfg: TrainConfig, examples: dict, out_dir: Path, *, progress=None, init_from: Path | None = None) -> dict:
    """Train (or resume) into `out_dir`; returns the final meta (step, history, seconds). A fresh
    run starts from the parameters of the checkpoint `init_from` when given (warm start: the
    step count and the optimiser start afresh; the model configs must agree)."""
    out_dir = Path(out_dir)
    path = out_dir / "checkpoint.npz"
    opt = optimizer(cfg)
    params = init(jax.random.PRNGKey(cfg.seed), cfg.model)
    opt_state = opt.init(params)
    start, history, seconds = 0, [], 0.0
    if init_from is not None and not path.exists():
        params, meta, _ = checkpoint.load(init_from)
        if meta["config"] != cfg.model:
            raise ValueError(f"{init_from} has model config {meta['config']}, the training config asks for {cfg.model}")
    if path.exists():
        params, meta, stored = checkpoint.load(path, opt_state)
        if stored is not None:
            opt_state = stored
        start, history, seconds = meta["step"], meta["history"], meta.get("seconds", 0.0)
    step = _step_fn(cfg, opt)
    n = len(examples["forced"])
    began, recent = time.perf_counter(), []
    for k in range(start, cfg.steps):
        index = np.random.default_rng([cfg.seed, k]).integers(n, size=cfg.batch)
        params, opt_state, value = step(params, opt_state, batch_of(examples, index))
        recent.append(float(value))
        if (k + 1) % cfg.log_every == 0 or k + 1 == cfg.steps:
            history.append([k + 1, round(float(np.mean(recent)), 4)])
            recent = []
        if progress:
            progress(k + 1, cfg.steps, history[-1][1] if history else float(value))
        if (k + 1) % cfg.checkpoint_every == 0 or k + 1 == cfg.steps:
            elapsed = seconds + time.perf_counter() - began
            checkpoint.save(path, params, config=cfg.model, step=k + 1, history=history, opt_state=opt_state,
                            extra={"train": cfg.to_dict(), "seconds": round(elapsed, 1),
                                   "parameters": count_parameters(params)})
    return {"step": max(start, cfg.steps), "history": history, "parameters": count_parameters(params),
            "seconds": round(seconds + time.perf_counter() - began, 1)}


def progress_bar(stream=sys.stderr):
    """A one-line progress bar: step, loss, steps per second."""
    began = time.perf_counter()

    def show(done: int, total: int, value: float) -> None:
        width = 30
        filled = int(width * done / max(total, 1))
        rate = done / max(time.perf_counter() - began, 1e-9)
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] step {done}/{total} loss {value:.3f} "
                     f"({rate:.1f} steps/s)")
        if done == total:
            stream.write("\n")
        stream.flush()
    return show
