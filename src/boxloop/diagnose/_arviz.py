"""The one module that talks to ArviZ (legacy 0.23 `InferenceData` API).

Every ArviZ call in boxloop lives here, so the move to ArviZ 1.x (DataTree, arviz-stats) touches
this file only. It builds, saves and loads `InferenceData`, and computes stacking and pseudo-BMA+
weights; the diagnostics of a fit are numpy kernels (`mcmc`, `psis`) that never import it, so a
fitting process does not pay ArviZ's import (1-4 s). Import this module only where it is used.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from boxloop.diagnose.groups import fit_groups
from boxloop.diagnose.psis import LooResult
from boxloop.errors import DataError

# Importing arviz 0.23 prints a FutureWarning about the 1.x refactor; it is noise for our users.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az
    import xarray as xr

# ArviZ 0.23 switches to numba kernels when numba is importable (PyMC brings it), and its numba
# path of mcse_sd fails on numpy 2 ("only 0-dimensional arrays can be converted"): keep numpy's.
az.Numba.disable_numba()

__all__ = ["compare", "group_arrays", "load_netcdf", "save_netcdf", "summary_table", "to_inference_data"]

# NumPyro's sample-field names -> the names ArviZ plots and summaries look for.
_STAT_RENAMES = {"num_steps": "n_steps", "accept_prob": "acceptance_rate"}

# --------------------------------------------------------------------------- building


def _sample_stats(stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Rename NumPyro fields to ArviZ's; `lp` is the log density, i.e. minus the potential."""
    out = {_STAT_RENAMES.get(name, name): value for name, value in stats.items()}
    if "potential_energy" in out and "lp" not in out:
        out["lp"] = -out.pop("potential_energy")
    if "diverging" in out:
        out["diverging"] = out["diverging"].astype(bool)
    return out


def to_inference_data(
    posterior: Mapping[str, np.ndarray],
    sample_stats: Mapping[str, np.ndarray] | None = None,
    log_likelihood: Mapping[str, np.ndarray] | None = None,
    *,
    posterior_predictive: Mapping[str, np.ndarray] | None = None,
    prior: Mapping[str, np.ndarray] | None = None,
    prior_predictive: Mapping[str, np.ndarray] | None = None,
    observed_data: Mapping[str, np.ndarray] | None = None,
) -> az.InferenceData:
    """Build an `InferenceData` from plain dicts of arrays shaped (chain, draw, ...).

    Dimensions are named `<var>_dim_<i>` with 0-based coordinates (ArviZ's convention); the
    Stan-style 1-based names only appear in summaries.
    """
    checked = fit_groups(posterior=posterior, sample_stats=sample_stats, log_likelihood=log_likelihood,
                         posterior_predictive=posterior_predictive, prior=prior, prior_predictive=prior_predictive,
                         observed_data=observed_data)
    checked["sample_stats"] = _sample_stats(checked["sample_stats"])
    return az.from_dict(**{name: arrays for name, arrays in checked.items() if arrays}, index_origin=0)


# --------------------------------------------------------------------------- comparison


def _as_elpd_data(result: LooResult):
    """Rebuild ArviZ's pointwise ELPDData from our LooResult so `az.compare` can use it."""
    dims = ("obs",)
    return az.ELPDData(
        data=[
            result.elpd_loo,
            result.elpd_loo_se,
            result.p_loo,
            result.n_samples,
            result.n_obs,
            bool(np.any(result.pareto_k > result.good_k)),
            xr.DataArray(result.elpd_loo_i, dims=dims),
            xr.DataArray(result.pareto_k, dims=dims),
            "log",
            result.good_k,
        ],
        index=[
            "elpd_loo",
            "se",
            "p_loo",
            "n_samples",
            "n_data_points",
            "warning",
            "loo_i",
            "pareto_k",
            "scale",
            "good_k",
        ],
    )


def compare(results: Mapping[str, LooResult], *, seed: int = 0) -> list[dict]:
    """Rank models by elpd_loo with stacking and pseudo-BMA+ weights (Yao et al. 2018).

    Pseudo-BMA+ is ArviZ's "BB-pseudo-BMA" (Bayesian-bootstrap-regularised pseudo-BMA). Its call
    replaces the se column with bootstrap se's, so se and dse are taken from the stacking call.
    Returns one dict per model, best first.
    """
    sizes = {name: result.n_obs for name, result in results.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(
            f"models were scored on different numbers of observations {sizes}; "
            "compare only fits of the same data."
        )
    elpd = {name: _as_elpd_data(result) for name, result in results.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        stacking = az.compare(elpd, ic="loo", method="stacking", scale="log")
        bb = az.compare(elpd, ic="loo", method="BB-pseudo-BMA", scale="log", seed=seed)
    rows = []
    for name, row in stacking.iterrows():
        rows.append(
            {
                "name": str(name),
                "rank": int(row["rank"]),
                "elpd_loo": float(row["elpd_loo"]),
                "elpd_loo_se": float(row["se"]),
                "p_loo": float(row["p_loo"]),
                "d_loo": float(row["elpd_diff"]),
                "dse": float(row["dse"]),
                "weight_stacking": float(row["weight"]),
                "weight_pseudo_bma_plus": float(bb.loc[name, "weight"]),
                "warning": bool(row["warning"]),
            }
        )
    return rows


# --------------------------------------------------------------------------- tables and files


def summary_table(idata: az.InferenceData, group: str = "posterior"):
    """ArviZ's own summary (pandas DataFrame, 0-based labels) for interactive use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return az.summary(idata, group=group)


def save_netcdf(idata: az.InferenceData, path: str | Path) -> Path:
    path = Path(path)
    idata.to_netcdf(str(path), engine="h5netcdf")
    return path


def group_arrays(idata: az.InferenceData, group: str) -> dict[str, np.ndarray]:
    """The variables of one group as numpy arrays ({} when the fit has no such group)."""
    if group not in idata.groups():
        return {}
    return {str(name): np.asarray(value.values) for name, value in idata[group].items()}


def load_netcdf(path: str | Path) -> az.InferenceData:
    """Load eagerly, so no file handle stays open after the call (the file may be moved)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no InferenceData file at {path}; pass the path save_netcdf wrote.")
    with az.rc_context({"data.load": "eager"}):
        return az.from_netcdf(str(path), engine="h5netcdf")
