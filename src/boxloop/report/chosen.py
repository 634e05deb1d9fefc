"""The chosen program's fit, read back from its draws file: summaries and figures.

Figures need what the fit stored: posterior predictive draws and observed data (fits made before
these were kept have none: the report says which figure is missing and why).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..diagnose import group_arrays, load_netcdf, psis_loo_log_weights, summarize
from . import figures, numbers
from .labels import level_labels
from .run import Candidate, RunView


@dataclass(frozen=True)
class Column:
    """The parts of a data column record that level labels need (from data.json)."""

    name: str
    size_name: str | None
    levels: tuple


@dataclass(frozen=True)
class FitView:
    summary: dict = field(repr=False)  # name -> stats, with "label" where a factor level applies
    figures: tuple = field(repr=False)
    missing: tuple[str, ...] = ()  # figures that could not be drawn, and why


def fit_view(view: RunView, candidate: Candidate) -> FitView | None:
    path = view.netcdf_path(candidate)
    if path is None:
        return None
    idata = load_netcdf(path)
    posterior = group_arrays(idata, "posterior")
    summary = _with_quantiles(summarize(idata), posterior)
    summary = _labelled(summary, candidate.program, view.data.get("columns", []))
    made, missing = _figures(candidate, posterior, group_arrays(idata, "posterior_predictive"),
                             group_arrays(idata, "observed_data"), group_arrays(idata, "log_likelihood"))
    return FitView(summary, tuple(made), tuple(missing))


def _with_quantiles(summary: dict, posterior: dict) -> dict:
    """Add the 5 % and 95 % posterior quantiles (q5, q95) to each summary row."""
    from ..diagnose.reliability import stan_names

    out = dict(summary)
    for name, v in posterior.items():
        v = np.asarray(v, dtype=float)
        draws = v.reshape(v.shape[0] * v.shape[1], *v.shape[2:])
        # Stan's order: first index fastest, so flatten the element axes reversed.
        flat = draws.transpose(0, *range(draws.ndim - 1, 0, -1)).reshape(draws.shape[0], -1)
        q = np.quantile(flat, [0.05, 0.95], axis=0)
        for i, label in enumerate(stan_names(name, v.shape[2:])):
            if label in out:
                out[label] = {**out[label], "q5": float(q[0, i]), "q95": float(q[1, i])}
    return out


def _labelled(summary: dict, program: str, columns: list[dict]) -> dict:
    records = [Column(c["name"], c.get("size_name"), tuple(c.get("levels") or ())) for c in columns]
    labels = level_labels(program, records) if records else {}
    return {k: {**v, "label": labels[k]} if k in labels else v for k, v in summary.items()}


def _figures(candidate: Candidate, posterior, predictive, observed, log_lik):
    made, missing = [], []
    name = next((n for n in predictive if n in observed), None)
    if name is None:
        missing.append("posterior predictive check and LOO-PIT: this fit kept no posterior predictive draws "
                       "(a likelihood written with `target +=` cannot be simulated, or the fit predates them)")
    else:
        y = np.asarray(observed[name], dtype=float).reshape(-1)
        yrep = numbers.flat_draws(predictive[name])
        made.append(figures.ppc(y, yrep, name))
        pit = _pit(y, yrep, log_lik.get(name), np.issubdtype(np.asarray(observed[name]).dtype, np.integer))
        if pit is not None:
            made.append(figures.loo_pit(pit))
        else:
            missing.append(f"LOO-PIT: no pointwise log-likelihood of {name} matching its observations")
    loo = candidate.fit.diagnostics.loo if candidate.fit.diagnostics is not None else None
    if loo is not None:
        rows = _rows(observed, loo.pareto_k.size)
        made.append(figures.pareto_k(loo.pareto_k, loo.good_k, rows))
    else:
        missing.append("Pareto k: PSIS-LOO could not be computed for this fit")
    scalars = _scalar_draws(posterior)
    if scalars:
        made.append(figures.rank_plots(scalars))
    return made, missing


def _pit(y, yrep, ll, discrete: bool):
    if ll is None:
        return None
    ll = numbers.flat_draws(ll)
    if ll.shape != yrep.shape:
        return None
    return numbers.loo_pit(y, yrep, psis_loo_log_weights(ll), discrete=discrete)


def _rows(observed: dict, n: int) -> list[str] | None:
    """'y = 28' for each observation, when the observed variables line up with the LOO terms."""
    flat = {k: np.asarray(v).reshape(-1) for k, v in observed.items()}
    if sum(v.size for v in flat.values()) != n:
        return None
    out = []
    for name, values in flat.items():
        out += [f"{name} = {v:.4g}" for v in values.astype(float)]
    return out


def _scalar_draws(posterior: dict) -> dict:
    """The scalar quantities, then the first element of each vector: (chain, draw) arrays."""
    out = {}
    for name, v in posterior.items():
        v = np.asarray(v, dtype=float)
        if v.ndim == 2:
            out[name] = v
    for name, v in posterior.items():
        v = np.asarray(v, dtype=float)
        if v.ndim > 2 and v.size:
            out[f"{name}[{','.join('1' * (v.ndim - 2))}]"] = v.reshape(v.shape[0], v.shape[1], -1)[:, :, 0]
    return {k: v for k, v in out.items() if np.all(np.isfinite(v)) and np.ptp(v) > 0}
