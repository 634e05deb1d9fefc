"""What a statistician reads off a plot before writing a model: which scale makes a covariate's
effect linear, whether the effect is curved, whether counts vary more than the family allows.

The `grammar` proposer leans towards what these say (never all the way: the other choices stay
possible, the fits decide). Everything works on the target's empirical link scale, the scale the
linear predictor lives on:

* with a trials variable: the empirical logit log((y + 1/2) / (n - y + 1/2));
* counts and positive reals: log(y + 1/2) and log(y);
* anything else: y itself.

Least squares throughout; the thresholds are the usual ones (an F statistic above 4 is about
p < 0.05 for the sample sizes these data sets have).
"""

from __future__ import annotations

import numpy as np

__all__ = ["link_scale", "r_squared", "related", "log_fits_better", "curved", "dispersion"]

F_THRESHOLD = 4.0  # partial F for one extra term: about the 5 % point for n >= 10
MIN_POINTS = 6  # fewer points than this say nothing about shape
LOG_MARGIN = 0.02  # R^2 gained by log(x) before log counts as the better scale
RELATED_R2 = 0.2  # a covariate that explains this share of the target's variation is worth a slope


def link_scale(y: np.ndarray, kind: str, trials: np.ndarray | None = None) -> np.ndarray:
    """The target on the scale a linear predictor models it (see the module docstring)."""
    y = np.asarray(y, dtype=float)
    if trials is not None:
        n = np.asarray(trials, dtype=float)
        return np.log((y + 0.5) / (n - y + 0.5))
    if kind == "count" and np.all(y >= 0):
        return np.log(y + 0.5)
    if kind == "positive_real" and np.all(y > 0):
        return np.log(y)
    return y


def _rss(columns: list[np.ndarray], z: np.ndarray) -> float:
    design = np.column_stack([np.ones_like(z), *columns])
    coef, *_ = np.linalg.lstsq(design, z, rcond=None)
    return float(np.sum((z - design @ coef) ** 2))


def r_squared(x: np.ndarray, z: np.ndarray, *more: np.ndarray) -> float:
    """Share of z's variation a least-squares fit on x (and any `more` columns) explains."""
    total = float(np.sum((z - z.mean()) ** 2))
    return 1.0 - _rss([x, *more], z) / total if total > 0 else 0.0


def _usable(x: np.ndarray, z: np.ndarray) -> bool:
    return x.shape == z.shape and x.ndim == 1 and x.size >= MIN_POINTS and np.all(np.isfinite(x)) \
        and np.all(np.isfinite(z)) and np.std(x) > 0 and np.std(z) > 0


def related(x: np.ndarray, z: np.ndarray) -> bool:
    """The covariate explains a fair share of z on some scale: straight, logged or with a bend."""
    x, z = np.asarray(x, dtype=float), np.asarray(z, dtype=float)
    if not _usable(x, z):
        return False
    u = (x - x.mean()) / x.std()
    best = max(r_squared(x, z), r_squared(u, z, u ** 2), r_squared(np.log(x), z) if np.all(x > 0) else 0.0)
    return best > RELATED_R2


def log_fits_better(x: np.ndarray, z: np.ndarray) -> bool:
    """A positive covariate whose logarithm is the clearly better straight-line scale for z."""
    x, z = np.asarray(x, dtype=float), np.asarray(z, dtype=float)
    if not _usable(x, z) or np.any(x <= 0):
        return False
    return r_squared(np.log(x), z) > r_squared(x, z) + LOG_MARGIN


def curved(x: np.ndarray, z: np.ndarray) -> bool:
    """A square term in x earns its place: its partial F statistic exceeds F_THRESHOLD."""
    x, z = np.asarray(x, dtype=float), np.asarray(z, dtype=float)
    if not _usable(x, z) or np.unique(x).size < 3:
        return False
    u = (x - x.mean()) / x.std()
    line, bend = _rss([u], z), _rss([u, u ** 2], z)
    residual_df = x.size - 3
    if bend <= 1e-12 * max(line, 1e-300):
        return line > 0
    return (line - bend) / (bend / residual_df) > F_THRESHOLD


def dispersion(y: np.ndarray, kind: str, trials: np.ndarray | None = None) -> float | None:
    """Pearson dispersion of the target around one common rate: about 1 when a binomial (with
    trials) or Poisson (counts) holds, well above 1 when units differ more than that. None when
    the statistic means nothing here (other kinds, too few points, a rate at 0 or 1)."""
    y = np.asarray(y, dtype=float).ravel()
    if y.size < MIN_POINTS:
        return None
    if trials is not None:
        n = np.asarray(trials, dtype=float).ravel()
        p = y.sum() / max(n.sum(), 1.0)
        if not 0 < p < 1:
            return None
        expected_var = n * p * (1 - p)
        keep = expected_var > 0
        return float(np.sum((y[keep] - n[keep] * p) ** 2 / expected_var[keep]) / (keep.sum() - 1))
    if kind == "count":
        mean = y.mean()
        return float(np.var(y, ddof=1) / mean) if mean > 0 else None
    return None
