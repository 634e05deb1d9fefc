"""Token choice: llguidance bitmask -> allowed ids, then temperature / top-p sampling (numpy only)."""

from __future__ import annotations

import numpy as np


def allowed_ids(bitmask_row: np.ndarray, n_vocab: int) -> np.ndarray:
    """Ids whose bit is set in one llguidance bitmask row (int32 words, bit i of word j = token
    32j+i), limited to the model's `n_vocab` logits."""
    bits = np.unpackbits(bitmask_row.view(np.uint8), bitorder="little")
    return np.flatnonzero(bits[:n_vocab])


def sample(logits: np.ndarray, allowed: np.ndarray, *, temperature: float, top_p: float,
           rng: np.random.Generator) -> int:
    """One token among `allowed` from `logits` (temperature 0: the most likely one)."""
    scores = np.asarray(logits, dtype=np.float64)[allowed]
    scores = np.where(np.isfinite(scores), scores, -np.inf)
    if not np.isfinite(scores).any():
        # The model gives no allowed token any weight (or NaN): fall back to uniform over them.
        scores = np.zeros(len(allowed))
    if temperature <= 0:
        return int(allowed[int(np.argmax(scores))])
    probs = _softmax(scores / temperature)
    if top_p < 1.0:
        probs = _nucleus(probs, top_p)
    return int(allowed[_draw(probs, rng)])


def _draw(probs: np.ndarray, rng: np.random.Generator) -> int:
    # Inverse CDF: one uniform per token (Generator.choice re-validates p, which costs more here).
    cdf = np.cumsum(probs)
    return min(int(np.searchsorted(cdf, rng.random() * cdf[-1], side="right")), len(probs) - 1)


def _softmax(z: np.ndarray) -> np.ndarray:
    z = np.exp(z - z.max())
    return z / z.sum()


def _nucleus(probs: np.ndarray, top_p: float) -> np.ndarray:
    """Keep the smallest set of most likely tokens whose mass reaches top_p."""
    order = np.argsort(-probs, kind="stable")
    cut = int(np.searchsorted(np.cumsum(probs[order]), top_p)) + 1
    kept = np.zeros_like(probs)
    kept[order[:cut]] = probs[order[:cut]]
    return kept / kept.sum()
