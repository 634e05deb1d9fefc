"""Model weights (Large Language Bayes and LOO-based) and the predictive score of each mixture.

LLB treats the proposer as the prior over models: with N proposals drawn from q(M) = p(M | text),
self-normalised importance sampling over models gives each *proposal* weight ∝ p(x | M), so a
structure proposed k times gets k · p(x | M). "Flat" is the same average without the evidence:
each proposal counts once, i.e. weight ∝ multiplicity. Stacking and pseudo-BMA+ come from LOO.

`mixture_elpd` scores any weighting on the same footing: the PSIS-LOO predictive density of the
mixture, sum_i log sum_m w_m p(y_i | y_-i, M_m), from each model's pointwise elpd_loo_i.
`mixture_lpd` is the same for held-out data, from each model's pointwise log-likelihood draws.
`mix_draws` pools draws of a quantity the models share, each model contributing its weight's share.

Everything here is numpy on plain mappings keyed by model name; `recombine` applies it to fits.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.special import logsumexp

from ..diagnose.evidence import PARETO_K_LIMIT, Evidence


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


def effective_models(weights) -> float:
    """1 / sum(w^2) of the normalised weights: how many models they spread over (1 = all on one)."""
    w = np.asarray(list(weights), dtype=float)
    total = w.sum()
    if w.size == 0 or total <= 0:
        return float("nan")
    w = w / total
    return float(1.0 / np.sum(w * w))


def evidence_problem(evidence: Mapping | None) -> str | None:
    """Why a stored evidence estimate must not be weighted (None: it can be): the estimate's own
    verdict (`Evidence.reliable`, which also reads dicts stored before verdicts existed), said in
    words."""
    if not evidence or evidence.get("log_evidence") is None:
        return "no log evidence was estimated"
    estimate = Evidence.from_dict(dict(evidence))
    if estimate.reliable:
        return None
    if not math.isfinite(estimate.log_evidence):
        return f"the log evidence is not finite ({estimate.log_evidence})"
    k = estimate.pareto_k
    if k is not None and k > PARETO_K_LIMIT:
        return f"the importance weights' Pareto k is {k:.2f} > {PARETO_K_LIMIT}"
    return f"the estimate was marked unreliable ({'; '.join(estimate.warnings) or 'no reason given'})"


def mixture_elpd(weights: Mapping[str, float], pointwise: Mapping[str, np.ndarray]) -> float | None:
    """LOO elpd of the weighted mixture; None when no weighted model has pointwise values."""
    names = [m for m, w in weights.items() if w > 0 and m in pointwise]
    if not names:
        return None
    log_w = np.log(np.array([weights[m] for m in names]))
    log_w -= logsumexp(log_w)
    terms = np.stack([np.asarray(pointwise[m], dtype=float) for m in names])  # (models, obs)
    return float(np.sum(logsumexp(terms + log_w[:, None], axis=0)))


def pointwise_lpd(log_lik: np.ndarray) -> np.ndarray:
    """log (1/S) sum_s p(y_i | theta_s) from log-likelihood draws shaped (..., obs)."""
    ll = np.asarray(log_lik, dtype=float)
    ll = ll.reshape(-1, ll.shape[-1])
    return logsumexp(ll, axis=0) - math.log(ll.shape[0])


def mixture_lpd(weights: Mapping[str, float], log_lik: Mapping[str, np.ndarray]) -> float | None:
    """Log predictive density of held-out data under the mixture, sum_i log sum_m w_m p(y_i | y, M_m),
    from each model's log-likelihood draws of the held-out observations ((..., obs) arrays)."""
    return mixture_elpd(weights, {m: pointwise_lpd(v) for m, v in log_lik.items() if m in weights})


def allocate(weights: Mapping[str, float], n: int) -> dict[str, int]:
    """n draws shared out in proportion to the weights (largest remainder: the counts add up to n
    and each is within one of n · w_m)."""
    names = [m for m, w in weights.items() if w > 0]
    if not names or n <= 0:
        return {}
    w = np.array([weights[m] for m in names], dtype=float)
    exact = n * w / w.sum()
    counts = np.floor(exact).astype(int)
    short = n - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return dict(zip(names, counts.tolist()))


def mix_draws(draws: Mapping[str, np.ndarray], weights: Mapping[str, float], n: int,
              seed: int = 0) -> np.ndarray:
    """n draws of one quantity from the weighted mixture of the models' posteriors, (n, *shape).

    draws: model -> its draws of the quantity, (chain, draw, *shape) as a fit stores them, with
    the same *shape in every model. Each model gives allocate(weights, n)[m] of its draws (without
    replacement while it has enough), and the pooled draws are shuffled."""
    counts = allocate({m: w for m, w in weights.items() if m in draws}, n)
    if not counts:
        raise ValueError("no model with a positive weight has draws of this quantity")
    rng = np.random.default_rng(seed)
    parts = []
    for m, k in counts.items():
        values = np.asarray(draws[m])
        flat = values.reshape(-1, *values.shape[2:])
        parts.append(flat[rng.choice(flat.shape[0], size=k, replace=k > flat.shape[0])])
    pooled = np.concatenate(parts)
    return pooled[rng.permutation(pooled.shape[0])]
