"""Critique a fit: convergence and LOO diagnostics, reliability score B(M), evidence, comparison.

Inputs are plain arrays shaped (chain, draw, ...), so nothing here depends on how draws were made.
ArviZ is used only inside `boxloop.diagnose._arviz`, imported where a fit's DataTree is built,
saved or loaded, or models are weighted; scoring a fit never imports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from boxloop.diagnose import psis
from boxloop.diagnose.evidence import Evidence, EvidenceError
from boxloop.diagnose.reparam import CentredGroup, NonCentring
from boxloop.diagnose.smc import SmcSettings
from boxloop.diagnose.verdict import METHODS as EVIDENCE_METHODS
from boxloop.diagnose.verdict import Prior, log_evidence
from boxloop.diagnose.reliability import (
    CHECKS,
    DiagnoseError,
    Diagnostics,
    Thresholds,
    diagnose,
    fit_arrays,
    is_inference_data,
    loo,
    summarize,
)

__all__ = [
    "CHECKS",
    "CentredGroup",
    "CompareRow",
    "DiagnoseError",
    "Diagnostics",
    "Evidence",
    "EVIDENCE_METHODS",
    "EvidenceError",
    "Thresholds",
    "compare",
    "diagnose",
    "group_arrays",
    "load_netcdf",
    "NonCentring",
    "Prior",
    "SmcSettings",
    "log_evidence",
    "psis_loo_log_weights",
    "save_netcdf",
    "summarize",
    "to_inference_data",
]



def to_inference_data(*args, **kwargs):
    """A fit as ArviZ's `xarray.DataTree` (its InferenceData) from dicts of (chain, draw, ...)
    arrays; see `_arviz`."""
    from boxloop.diagnose import _arviz

    return _arviz.to_inference_data(*args, **kwargs)


def group_arrays(idata, group: str):
    """The variables of one group of a fit's DataTree as numpy arrays ({} when there is none)."""
    from boxloop.diagnose import _arviz

    return _arviz.group_arrays(idata, group)


def psis_loo_log_weights(log_lik):
    """Normalised PSIS-LOO log-weights, shaped (draws, obs), from pointwise log-likelihood draws
    (draws, obs): leaving observation i out reweights draw s by 1 / p(y_i | theta_s)."""
    smoothed, _ = psis.psis(-np.asarray(log_lik, dtype=float).T)
    return smoothed.T


def save_netcdf(idata, path: str | Path) -> Path:
    """Write a DataTree from `to_inference_data` to a netCDF (HDF5) file."""
    from boxloop.diagnose import _arviz

    return _arviz.save_netcdf(idata, path)


def load_netcdf(path: str | Path):
    """Read a DataTree written by `save_netcdf`, fully into memory."""
    from boxloop.diagnose import _arviz

    return _arviz.load_netcdf(path)


@dataclass(frozen=True)
class CompareRow:
    """One model in a LOO comparison. d_loo and dse are relative to the best model (rank 0)."""

    name: str
    rank: int
    elpd_loo: float
    elpd_loo_se: float
    p_loo: float
    d_loo: float
    dse: float
    weight_stacking: float
    weight_pseudo_bma_plus: float
    warning: bool  # some Pareto k above ArviZ's sample-size-dependent limit


def _loo_of(name: str, fit) -> psis.LooResult:
    if isinstance(fit, Diagnostics):
        if fit.loo is None:
            reason = fit.reasons.get("loo", "no log-likelihood")
            raise DiagnoseError(
                f"model {name!r} has no PSIS-LOO result ({reason}); drop it from the comparison "
                "or refit with pointwise log-likelihood."
            )
        return fit.loo
    if isinstance(fit, psis.LooResult):
        return fit
    if is_inference_data(fit):
        groups = fit_arrays(fit)
        return loo(groups["posterior"], groups["log_likelihood"])
    raise DiagnoseError(
        f"model {name!r} is a {type(fit).__name__}; pass Diagnostics from `diagnose` or an "
        "DataTree from `to_inference_data`."
    )


def compare(fits: Mapping[str, object]) -> list[CompareRow]:
    """Rank fits of the same data by elpd_loo, with stacking and pseudo-BMA+ weights.

    `fits` maps a name to `Diagnostics` (from `diagnose`) or a DataTree. Rows come best first.
    """
    if not fits:
        raise DiagnoseError("compare needs at least one fit; pass {name: Diagnostics, ...}.")
    from boxloop.diagnose import _arviz

    results = {str(name): _loo_of(str(name), fit) for name, fit in fits.items()}
    return [CompareRow(**row) for row in _arviz.compare(results)]
