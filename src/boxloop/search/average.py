"""Model weights (Large Language Bayes and LOO-based) and the predictive score of each mixture.

LLB treats the proposer as the prior over models: with N proposals drawn from q(M) = p(M | text),
self-normalised importance sampling over models gives each *proposal* weight ∝ p(x | M), so a
structure proposed k times gets k · p(x | M). "Flat" is the same average without the evidence:
each proposal counts once, i.e. weight ∝ multiplicity. Stacking and pseudo-BMA+ come from LOO.

`mixture_elpd` scores any weighting on the same footing: the PSIS-LOO predictive density of the
mixture, sum_i log sum_m w_m p(y_i | y_-i, M_m), from each model's pointwise elpd_loo_i.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.special import logsumexp


def evidence_weights(log_evidence: Mapping[str, float], multiplicity: Mapping[str, int]) -> dict[str, float]:
    """w_m ∝ multiplicity_m · exp(log p(x | M_m)), self-normalised; non-finite evidence gets 0."""
    names = [m for m, v in log_evidence.items() if np.isfinite(v) and multiplicity.get(m, 0) > 0]
    if not names:
        return {}
    log_w = np.array([np.log(multiplicity[m]) + log_evidence[m] for m in names])
    return dict(zip(names, np.exp(log_w - logsumexp(log_w)).tolist()))


def flat_weights(multiplicity: Mapping[str, int]) -> dict[str, float]:
    total = sum(multiplicity.values())
    return {m: k / total for m, k in multiplicity.items()} if total else {}


def mixture_elpd(weights: Mapping[str, float], pointwise: Mapping[str, np.ndarray]) -> float | None:
    """LOO elpd of the weighted mixture; None when no weighted model has pointwise values."""
    names = [m for m, w in weights.items() if w > 0 and m in pointwise]
    if not names:
        return None
    log_w = np.log(np.array([weights[m] for m in names]))
    log_w -= logsumexp(log_w)
    terms = np.stack([np.asarray(pointwise[m], dtype=float) for m in names])  # (models, obs)
    return float(np.sum(logsumexp(terms + log_w[:, None], axis=0)))
