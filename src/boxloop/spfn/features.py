"""What the data encoder sees: one feature vector per data variable, with its role slot.

Each variable's features are summaries of its values (standardised quantiles, moments, share of
zeros and of distinct values, dispersion), its kind from the data layer, its role slot
(`vocab.role_names`), and how it relates to the outcome (correlation on the outcome's link scale,
the share of the outcome's variance between the levels of a group). All of these are symmetric
functions of the rows, so they do not change when the rows are shuffled — except the two order
statistics in `ORDER_FEATURES` (lag-1 autocorrelation, the largest standardised shift in mean
at one split point), which exist because for a series the row order is the information an AR(1)
or a change point leaves. Values are squashed (signed log, clipping), so data of any scale (1e12)
give finite features.
"""

from __future__ import annotations

import numpy as np

from .vocab import ROLE_KINDS, SLOT_ROLES, SLOTS, role_names

KINDS = ("real", "positive_real", "proportion", "binary", "count", "categorical", "size", "time_index")
_QUANTILES = np.linspace(0.05, 0.95, 7)
N_STATS = 21 + len(_QUANTILES)
N_FEATURES = N_STATS + len(KINDS) + len(ROLE_KINDS) + 2
ORDER_FEATURES = (N_STATS - 2, N_STATS - 1)  # indices of the row-order statistics
MAX_COLUMNS = 24  # variables beyond this are left out of the encoder's view (the decoder still sees them)


def _slog(x):
    return np.sign(x) * np.log1p(np.abs(x))


def _link(y: np.ndarray, kind: str) -> np.ndarray:
    if kind in ("count", "size"):
        return np.log(y + 0.5)
    return y


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = a.std(), b.std()
    if a.size != b.size or sa < 1e-12 or sb < 1e-12:
        return 0.0
    return float(np.clip(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb), -1, 1))


def _between_share(y: np.ndarray, codes: np.ndarray) -> float:
    """Share of the outcome's variance between the levels of `codes` (eta squared)."""
    if y.size != codes.size or y.std() < 1e-12:
        return 0.0
    _, inverse, counts = np.unique(codes, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y) / counts
    return float(np.sum(counts * (means - y.mean()) ** 2) / (y.size * y.var()))


def _order_stats(v: np.ndarray) -> tuple[float, float]:
    if v.size < 4 or v.std() < 1e-12:
        return 0.0, 0.0
    lag = _corr(v[:-1], v[1:])
    z = (v - v.mean()) / v.std()
    cums = np.cumsum(z)[:-1]
    k = np.arange(1, v.size)
    # the CUSUM statistic: |mean before - mean after| scaled by its standard error at each split
    shift = np.max(np.abs(cums) * np.sqrt(v.size / (k * (v.size - k))))
    return lag, float(np.log1p(shift))


def column_stats(v: np.ndarray, y_link: np.ndarray | None, is_group: bool) -> np.ndarray:
    """The N_STATS summaries of one variable's values (flattened)."""
    v = np.asarray(v, dtype=float).ravel()
    out = np.zeros(N_STATS)
    if v.size == 0 or not np.all(np.isfinite(v)):
        return out
    mean, sd = v.mean(), v.std()
    z = (v - mean) / sd if sd > 1e-12 else np.zeros_like(v)
    is_int = bool(np.all(v == np.round(v)))
    skew = float(np.mean(z ** 3)) if sd > 1e-12 else 0.0
    kurt = float(np.mean(z ** 4)) if sd > 1e-12 else 0.0
    pos = v[v > 0]
    disp = np.log((v.var() + 1e-9) / (mean + 1e-9)) if is_int and mean > 0 and v.min() >= 0 else 0.0
    zeros = float(np.mean(v == 0))
    excess_zeros = zeros - float(np.exp(-mean)) if is_int and v.min() >= 0 else 0.0
    related = _corr(v, y_link) if y_link is not None and not is_group else 0.0
    between = _between_share(y_link, v) if y_link is not None and is_group else 0.0
    stats = [np.log(v.size), float(v.size == 1), float(is_int), zeros, float(np.mean(v < 0)),
             len(np.unique(v)) / v.size, _slog(mean), np.log(sd + 1e-9) / 10, np.clip(skew, -10, 10) / 3,
             np.log(kurt + 1e-9), (skew ** 2 + 1) / (kurt + 1e-9), _slog(v.min()), _slog(v.max()),
             float(np.log(pos).std()) if pos.size > 1 else 0.0, np.clip(disp, -5, 10), excess_zeros,
             related, related ** 2, between, *_order_stats(z)]
    out[:len(stats) - 2] = stats[:-2]
    out[len(stats) - 2:len(stats) + len(_QUANTILES) - 2] = np.clip(np.quantile(z, _QUANTILES), -10, 10) / 3
    out[ORDER_FEATURES[0]], out[ORDER_FEATURES[1]] = stats[-2], stats[-1]
    return np.nan_to_num(out, nan=0.0, posinf=10.0, neginf=-10.0)


def encode_task(task, names: dict[str, str] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(features (C, N_FEATURES), slot index per column (C,)) for the task's variables, at most
    MAX_COLUMNS of them (the outcome and the named roles first)."""
    names = role_names(task) if names is None else names
    y_kind = task.variable(task.target).kind
    y_link = _link(np.asarray(task.dataset[task.target], dtype=float).ravel(), y_kind)
    chosen = sorted(task.variables, key=lambda v: (v.name != task.target, v.name not in names))[:MAX_COLUMNS]
    feats, slots = [], []
    for v in chosen:
        slot = names.get(v.name)
        role = SLOT_ROLES[slot] if slot else "other"
        values = np.asarray(task.dataset[v.name], dtype=float)
        target_link = y_link if v.name != task.target and values.size == y_link.size else None
        row = np.zeros(N_FEATURES)
        row[:N_STATS] = column_stats(values, target_link, role == "group")
        row[N_STATS + (KINDS.index(v.kind) if v.kind in KINDS else 0)] = 1.0
        row[N_STATS + len(KINDS) + ROLE_KINDS.index(role)] = 1.0
        row[-2] = float(v.name == task.target)
        row[-1] = float(v.is_int)
        feats.append(row)
        slots.append(SLOTS.index(slot) + 1 if slot else 0)  # 0: a variable without a slot
    return np.asarray(feats, dtype=np.float32), np.asarray(slots, dtype=np.int32)
