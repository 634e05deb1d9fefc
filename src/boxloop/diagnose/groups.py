"""Draws as plain dicts of numpy arrays, checked: what every diagnostic reads and what
`to_inference_data` turns into ArviZ groups.

Each group (posterior, sample_stats, log_likelihood, ...) maps a name to an array shaped
(chain, draw, *shape); within a fit every group has the same (chain, draw).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from boxloop.errors import DataError

__all__ = ["as_arrays", "fit_groups", "pooled_log_likelihood", "sample_shape"]


def as_arrays(group: str, arrays: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    if arrays is None:
        return {}
    if not isinstance(arrays, Mapping):
        raise DataError(f"{group} must be a dict name -> array, got {type(arrays).__name__}.")
    return {str(name): np.asarray(value) for name, value in arrays.items()}


def sample_shape(group: str, arrays: Mapping[str, np.ndarray]) -> tuple[int, int] | None:
    """The common (chain, draw) shape of a group, checked; None for an empty group."""
    shape = None
    for name, value in arrays.items():
        if value.ndim < 2:
            raise DataError(
                f"{group}[{name!r}] has shape {value.shape}; draws must be shaped "
                "(chain, draw, *param_shape). Add the chain axis (e.g. value[None]) for one chain."
            )
        if shape is None:
            shape = value.shape[:2]
        elif value.shape[:2] != shape:
            raise DataError(
                f"{group}[{name!r}] has (chain, draw) = {value.shape[:2]} but other variables "
                f"have {shape}; pass draws from one run with the same chains and draws."
            )
    return shape


def fit_groups(**groups: Mapping[str, np.ndarray] | None) -> dict[str, dict[str, np.ndarray]]:
    """Check the groups of one fit: a non-empty posterior, and every posterior-side group
    (`sample_stats`, `log_likelihood`, `posterior_predictive`) with the posterior's (chain, draw).
    Prior groups only need a consistent shape of their own; `observed_data` has no draws."""
    out = {name: as_arrays(name, arrays) for name, arrays in groups.items()}
    if not out.get("posterior"):
        raise DataError("posterior is empty; pass at least one parameter's draws.")
    shape = sample_shape("posterior", out["posterior"])
    for group in ("sample_stats", "log_likelihood", "posterior_predictive"):
        other = sample_shape(group, out.get(group, {}))
        if other is not None and other != shape:
            raise DataError(
                f"{group} has (chain, draw) = {other} but posterior has {shape}; "
                "pass every group from the same run."
            )
    for group in ("prior", "prior_predictive"):
        sample_shape(group, out.get(group, {}))
    return out


def pooled_log_likelihood(log_likelihood: Mapping[str, np.ndarray]) -> np.ndarray:
    """All pointwise log-likelihood terms as one (draws, observations) array.

    LOO is defined per observation, so with several observed variables their (flattened)
    pointwise terms are concatenated along one observation axis; elpd_loo is then the sum over
    every observation of the model, as in Stan's loo package.
    """
    if not log_likelihood:
        raise DataError("the log_likelihood group is empty; pass pointwise log-likelihood draws.")
    blocks = [np.asarray(v, dtype=float).reshape(v.shape[0] * v.shape[1], -1) for v in log_likelihood.values()]
    pooled = blocks[0] if len(blocks) == 1 else np.concatenate(blocks, axis=1)
    bad = int(np.count_nonzero(~np.isfinite(pooled)))
    if bad:
        raise DataError(
            f"the pointwise log-likelihood has {bad} non-finite values (an observation outside "
            "the likelihood's support, or overflow); LOO is undefined. Fix the likelihood."
        )
    return pooled
