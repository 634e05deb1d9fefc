"""Nearest-name suggestions for error messages ("did you mean normal?")."""

from __future__ import annotations

import difflib

# What other libraries call Stan's argument names; LLMs trained on them write these.
ARG_ALIASES = {
    "sd": "sigma", "std": "sigma", "stddev": "sigma", "scale": "sigma", "sigma2": "sigma",
    "mean": "mu", "loc": "mu", "location": "mu", "m": "mu",
    "df": "nu", "dof": "nu",
    "rate": "beta", "shape": "alpha", "concentration": "alpha",
    "p": "theta", "prob": "theta", "probs": "theta", "success": "theta",
    "lam": "lambda", "lamda": "lambda",
    "logits": "alpha", "logit": "alpha",
    "cov": "Sigma", "covariance": "Sigma", "scale_tril": "L",
    "low": "alpha", "lower": "alpha", "high": "beta", "upper": "beta",
    "trials": "N", "n": "N", "total_count": "N",
}


def nearest(name: str, candidates, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to `n` candidates closest to `name`, best first (case-insensitive)."""
    lowered = {c.lower(): c for c in candidates}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=cutoff)
    return [lowered[h] for h in hits]


def nearest_argument(name: str, arg_names) -> str | None:
    """The argument a misnamed keyword most likely meant (`sd` -> `sigma` for normal)."""
    alias = ARG_ALIASES.get(name.lower())
    if alias in arg_names:
        return alias
    hits = nearest(name, arg_names, n=1, cutoff=0.5)
    return hits[0] if hits else None
