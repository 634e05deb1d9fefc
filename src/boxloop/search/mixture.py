"""The mixture's posterior and posterior predictive, pooled from the draws a run stored.

Models of one run have different parameters, so only what they share can be averaged: a
quantity with the same name and per-draw shape in every weighted model, such as the replicates
of the observed data (the posterior predictive) or a parameter or generated quantity they all
declare alike. Draws are read from each fit's NetCDF in the run directory; nothing is refitted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .average import mix_draws

GROUPS = ("posterior", "posterior_predictive")


@dataclass(frozen=True)
class Mixed:
    """Pooled draws (n, *shape) of each shared quantity, by group, and what could not be read."""

    draws: dict[str, dict[str, np.ndarray]] = field(repr=False)  # group -> name -> (n, *shape)
    missing: dict[str, str] = field(default_factory=dict)  # model -> why its draws were not read

    def summary(self, probs=(0.05, 0.5, 0.95)) -> dict:
        """group -> name -> {"shape", "mean", "sd", "q05", ...}, element values flattened in C order."""
        out: dict = {}
        for group, named in self.draws.items():
            for name, values in named.items():
                flat = values.reshape(values.shape[0], -1).astype(float)
                row = {"shape": list(values.shape[1:]), "mean": flat.mean(0).tolist(), "sd": flat.std(0).tolist()}
                row.update({f"q{round(100 * p):02d}": np.quantile(flat, p, axis=0).tolist() for p in probs})
                out.setdefault(group, {})[name] = row
        return out


def read_groups(paths: Mapping[str, Path]) -> tuple[dict[str, dict[str, dict]], dict[str, str]]:
    """model -> group -> name -> (chain, draw, *shape) arrays, and model -> why it could not be read."""
    from ..diagnose import group_arrays, load_netcdf

    arrays, missing = {}, {}
    for model, path in paths.items():
        try:
            idata = load_netcdf(path)
        except (OSError, ValueError) as exc:
            missing[model] = f"its draws file {path} could not be read ({exc})"
            continue
        arrays[model] = {g: group_arrays(idata, g) for g in GROUPS}
    return arrays, missing


def shared(arrays: Mapping[str, Mapping[str, Mapping[str, np.ndarray]]], group: str) -> list[str]:
    """Names in `group` that every model has, with the same shape beyond (chain, draw)."""
    models = list(arrays.values())
    if not models:
        return []
    first = models[0].get(group, {})
    return [name for name, v in first.items()
            if all(name in m.get(group, {}) and np.shape(m[group][name])[2:] == np.shape(v)[2:] for m in models)]


def mixture_draws(paths: Mapping[str, Path], weights: Mapping[str, float], n: int = 4000, seed: int = 0) -> Mixed:
    """Draws of every shared quantity from the weighted mixture; models with weight 0 are not read."""
    weighted = {m: p for m, p in paths.items() if weights.get(m, 0) > 0}
    arrays, missing = read_groups(weighted)
    kept = {m: w for m, w in weights.items() if m in arrays}
    draws = {g: {name: mix_draws({m: arrays[m][g][name] for m in kept}, kept, n, seed) for name in shared(arrays, g)}
             for g in GROUPS}
    return Mixed({g: d for g, d in draws.items() if d}, missing)
