"""The one module that talks to ArviZ (the modular `arviz-base` / `arviz-stats` packages).

Every ArviZ call in boxloop lives here. It builds, saves and loads a fit as an `xarray.DataTree`
(one child per group: posterior, sample_stats, log_likelihood, posterior_predictive,
observed_data, ...), and computes stacking and pseudo-BMA+ weights; the diagnostics of a fit are
numpy kernels (`mcmc`, `psis`) that never import it, so a fitting process does not pay ArviZ's
import. Import this module only where it is used. netCDF files written by the legacy
`InferenceData` (runs made before the move) hold the same HDF5 groups and load unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import arviz_base
import arviz_stats
import numpy as np
import xarray as xr

from boxloop.diagnose.groups import fit_groups
from boxloop.diagnose.psis import LooResult
from boxloop.errors import DataError

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
) -> xr.DataTree:
    """Build a fit's `DataTree` from plain dicts of arrays shaped (chain, draw, ...).

    Dimensions are named `<var>_dim_<i>` with 0-based coordinates (ArviZ's convention); the
    Stan-style 1-based names only appear in summaries.
    """
    checked = fit_groups(posterior=posterior, sample_stats=sample_stats, log_likelihood=log_likelihood,
                         posterior_predictive=posterior_predictive, prior=prior, prior_predictive=prior_predictive,
                         observed_data=observed_data)
    checked["sample_stats"] = _sample_stats(checked["sample_stats"])
    return arviz_base.from_dict({name: arrays for name, arrays in checked.items() if arrays}, index_origin=0)


# --------------------------------------------------------------------------- comparison


def _as_elpd_data(result: LooResult) -> arviz_stats.ELPDData:
    """ArviZ's pointwise ELPDData rebuilt from our LooResult, so ArviZ's `compare` can weight it."""
    return arviz_stats.ELPDData(
        kind="loo",
        elpd=result.elpd_loo,
        se=result.elpd_loo_se,
        p=result.p_loo,
        n_samples=result.n_samples,
        n_data_points=result.n_obs,
        scale="log",
        warning=bool(np.any(result.pareto_k > result.good_k)),
        good_k=result.good_k,
        elpd_i=xr.DataArray(result.elpd_loo_i, dims=("obs",)),
        pareto_k=xr.DataArray(result.pareto_k, dims=("obs",)),
    )


def compare(results: Mapping[str, LooResult]) -> list[dict]:
    """Rank models by elpd_loo with stacking and pseudo-BMA+ weights (Yao et al. 2018).

    Pseudo-BMA+ is ArviZ's "BB-pseudo-BMA" (pseudo-BMA regularised by the Bayesian bootstrap,
    whose random state ArviZ fixes, so the weights are reproducible). That call replaces the se
    column with bootstrap se's, so se and dse are taken from the stacking call. Returns one dict
    per model, best first.
    """
    sizes = {name: result.n_obs for name, result in results.items()}
    if len(set(sizes.values())) > 1:
        raise DataError(
            f"models were scored on different numbers of observations {sizes}; "
            "compare only fits of the same data."
        )
    elpd = {name: _as_elpd_data(result) for name, result in results.items()}
    with warnings.catch_warnings():
        # Above 11 models ArviZ warns about selection bias; the weights are what we use.
        warnings.simplefilter("ignore")
        stacking = arviz_stats.compare(elpd, method="stacking")
        bb = arviz_stats.compare(elpd, method="BB-pseudo-BMA")
    return [
        {
            "name": str(name),
            "rank": int(row["rank"]),
            "elpd_loo": float(row["elpd"]),
            "elpd_loo_se": float(row["se"]),
            "p_loo": float(row["p"]),
            "d_loo": float(row["elpd_diff"]),
            "dse": float(row["dse"]),
            "weight_stacking": float(row["weight"]),
            "weight_pseudo_bma_plus": float(bb.loc[name, "weight"]),
            "warning": bool(row["warning"]),
        }
        for name, row in stacking.iterrows()
    ]


# --------------------------------------------------------------------------- tables and files


def summary_table(fit: xr.DataTree, group: str = "posterior"):
    """ArviZ's own summary (pandas DataFrame, 0-based labels) for interactive use."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return arviz_stats.summary(fit, group=group)


def save_netcdf(fit: xr.DataTree, path: str | Path) -> Path:
    path = Path(path)
    fit.to_netcdf(str(path), engine="h5netcdf")
    return path


def group_arrays(fit: xr.DataTree, group: str) -> dict[str, np.ndarray]:
    """The variables of one group as numpy arrays ({} when the fit has no such group). A legacy
    `InferenceData` (what PyMC 5 returns) is read the same way."""
    present = fit.children if isinstance(fit, xr.DataTree) else fit.groups()
    if group not in present:
        return {}
    return {str(name): np.asarray(value.values) for name, value in fit[group].data_vars.items()}


def load_netcdf(path: str | Path) -> xr.DataTree:
    """Load eagerly, so no file handle stays open after the call (the file may be moved)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"no fit file at {path}; pass the path save_netcdf wrote.")
    with xr.open_datatree(str(path), engine="h5netcdf") as tree:
        return tree.load()
