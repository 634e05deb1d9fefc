"""The one module that talks to ArviZ (legacy 0.23 `InferenceData` API).

Every ArviZ call in boxloop lives here, so the move to ArviZ 1.x (DataTree, arviz-stats) touches
this file only. Functions take and return plain numpy values or small frozen dataclasses; the
`InferenceData` object itself only travels between this module and the caller's storage.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from boxloop.errors import DataError

# Importing arviz 0.23 prints a FutureWarning about the 1.x refactor; it is noise for our users.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az
    import xarray as xr

# ArviZ 0.23 switches to numba kernels when numba is importable (PyMC brings it), and its numba
# path of mcse_sd fails on numpy 2 ("only 0-dimensional arrays can be converted"): keep numpy's.
az.Numba.disable_numba()

__all__ = [
    "LooResult",
    "bfmi",
    "compare",
    "ess",
    "ess_of_chains",
    "group_arrays",
    "is_inference_data",
    "load_netcdf",
    "loo",
    "mcse_mean",
    "mcse_sd",
    "pareto_smoothed_log_weights",
    "psis_loo_log_weights",
    "rhat",
    "save_netcdf",
    "summary_table",
    "to_inference_data",
]

# NumPyro's sample-field names -> the names ArviZ plots and summaries look for.
_STAT_RENAMES = {"num_steps": "n_steps", "accept_prob": "acceptance_rate"}

# Name of the single log-likelihood variable LOO runs on when a model has several observed ones.
_ALL_OBS = "__all_obs__"


# --------------------------------------------------------------------------- building


def _sample_shape(group: str, arrays: Mapping[str, np.ndarray]) -> tuple[int, int] | None:
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


def _as_arrays(group: str, arrays: Mapping[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    if arrays is None:
        return {}
    if not isinstance(arrays, Mapping):
        raise DataError(f"{group} must be a dict name -> array, got {type(arrays).__name__}.")
    return {str(name): np.asarray(value) for name, value in arrays.items()}


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
    groups = {
        "posterior": _as_arrays("posterior", posterior),
        "sample_stats": _sample_stats(_as_arrays("sample_stats", sample_stats)),
        "log_likelihood": _as_arrays("log_likelihood", log_likelihood),
        "posterior_predictive": _as_arrays("posterior_predictive", posterior_predictive),
    }
    if not groups["posterior"]:
        raise DataError("posterior is empty; pass at least one parameter's draws.")
    shape = _sample_shape("posterior", groups["posterior"])
    for group in ("sample_stats", "log_likelihood", "posterior_predictive"):
        other = _sample_shape(group, groups[group])
        if other is not None and other != shape:
            raise DataError(
                f"{group} has (chain, draw) = {other} but posterior has {shape}; "
                "pass every group from the same run."
            )
    priors = {
        "prior": _as_arrays("prior", prior),
        "prior_predictive": _as_arrays("prior_predictive", prior_predictive),
    }
    for group, arrays in priors.items():
        _sample_shape(group, arrays)
    observed = _as_arrays("observed_data", observed_data)
    kwargs = {name: arrays for name, arrays in {**groups, **priors}.items() if arrays}
    if observed:
        kwargs["observed_data"] = observed
    return az.from_dict(**kwargs, index_origin=0)


def is_inference_data(obj) -> bool:
    return isinstance(obj, az.InferenceData)


def _group(idata: az.InferenceData, group: str) -> xr.Dataset:
    if group not in idata.groups():
        raise DataError(f"the InferenceData has no {group!r} group; pass {group} draws.")
    return idata[group]


def _to_numpy(dataset: xr.Dataset) -> dict[str, np.ndarray]:
    return {str(name): np.asarray(value.values, dtype=float) for name, value in dataset.items()}


# --------------------------------------------------------------------------- convergence


def rhat(idata: az.InferenceData, group: str = "posterior") -> dict[str, np.ndarray]:
    """Rank-normalised split R-hat (Vehtari et al. 2021) per variable, shaped like the parameter."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _to_numpy(az.rhat(_group(idata, group), method="rank"))


def ess(
    idata: az.InferenceData, method: str = "bulk", group: str = "posterior"
) -> dict[str, np.ndarray]:
    """Effective sample size summed over chains; method 'bulk', 'tail' or 'mean'."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _to_numpy(az.ess(_group(idata, group), method=method))


def mcse_mean(idata: az.InferenceData, group: str = "posterior") -> dict[str, np.ndarray]:
    """Monte Carlo standard error of the posterior mean, per variable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _to_numpy(az.mcse(_group(idata, group), method="mean"))


def mcse_sd(idata: az.InferenceData, group: str = "posterior") -> dict[str, np.ndarray]:
    """Monte Carlo standard error of the posterior standard deviation, per variable."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _to_numpy(az.mcse(_group(idata, group), method="sd"))


def ess_of_chains(values: np.ndarray, method: str = "mean") -> float:
    """ESS of one scalar quantity shaped (chain, draw); used by the evidence error estimate."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return float(az.ess(np.asarray(values, dtype=float), method=method))


def bfmi(idata: az.InferenceData) -> np.ndarray:
    """E-BFMI per chain from the sampler's `energy` (Betancourt 2016)."""
    energy = _group(idata, "sample_stats")
    if "energy" not in energy:
        raise DataError("sample_stats has no 'energy'; keep NUTS's energy field when sampling.")
    return np.asarray(az.bfmi(np.asarray(energy["energy"].values, dtype=float)), dtype=float)


# --------------------------------------------------------------------------- PSIS-LOO


@dataclass(frozen=True)
class LooResult:
    """PSIS-LOO over all observations of a model (several observed variables concatenated)."""

    elpd_loo: float
    elpd_loo_se: float
    p_loo: float
    n_samples: int
    good_k: float
    elpd_loo_i: np.ndarray = field(repr=False, compare=False)
    pareto_k: np.ndarray = field(repr=False, compare=False)

    @property
    def n_obs(self) -> int:
        return int(self.elpd_loo_i.size)


def _pooled_log_likelihood(idata: az.InferenceData) -> xr.DataArray:
    """All pointwise log-likelihood terms as one (chain, draw, obs) array.

    `az.loo` works on a single variable. LOO is defined per observation, so with several observed
    variables we concatenate their (flattened) pointwise terms along one observation axis;
    elpd_loo is then the sum over every observation of the model, as in Stan's loo package.
    """
    group = _group(idata, "log_likelihood")
    if not group.data_vars:
        raise DataError("the log_likelihood group is empty; pass pointwise log-likelihood draws.")
    blocks = []
    for value in group.data_vars.values():
        array = np.asarray(value.values, dtype=float)
        blocks.append(array.reshape(array.shape[0], array.shape[1], -1))
    pooled = np.concatenate(blocks, axis=-1)
    bad = int(np.count_nonzero(~np.isfinite(pooled)))
    if bad:
        raise DataError(
            f"the pointwise log-likelihood has {bad} non-finite values (an observation outside "
            "the likelihood's support, or overflow); LOO is undefined. Fix the likelihood."
        )
    return xr.DataArray(pooled, dims=("chain", "draw", "obs"))


def loo(idata: az.InferenceData) -> LooResult:
    """PSIS-LOO (Vehtari, Gelman & Gabry 2017) with relative efficiency from the posterior."""
    pooled = _pooled_log_likelihood(idata)
    data = az.InferenceData(
        posterior=_group(idata, "posterior"),
        log_likelihood=xr.Dataset({_ALL_OBS: pooled}),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the high-k warning is reported through pareto_k
        result = az.loo(data, pointwise=True, var_name=_ALL_OBS, scale="log")
    return LooResult(
        elpd_loo=float(result["elpd_loo"]),
        elpd_loo_se=float(result["se"]),
        p_loo=float(result["p_loo"]),
        n_samples=int(result["n_samples"]),
        good_k=float(result["good_k"]),
        elpd_loo_i=np.asarray(result["loo_i"].values, dtype=float),
        pareto_k=np.asarray(result["pareto_k"].values, dtype=float),
    )


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


def pareto_smoothed_log_weights(log_weights: np.ndarray) -> tuple[np.ndarray, float]:
    """PSIS of one vector of independent importance log-weights: (smoothed, pareto k)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smoothed, k = az.psislw(np.asarray(log_weights, dtype=float), reff=1.0, normalize=True)
    return np.asarray(smoothed, dtype=float), float(k)


def psis_loo_log_weights(log_lik: np.ndarray) -> np.ndarray:
    """Normalised PSIS-LOO log-weights, shaped (draws, obs), from pointwise log-likelihood draws
    (draws, obs): leaving observation i out reweights draw s by 1 / p(y_i | theta_s)."""
    log_lik = np.asarray(log_lik, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        smoothed, _ = az.psislw(-log_lik.T, reff=1.0, normalize=True)
    return np.asarray(smoothed, dtype=float).T


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
