"""The seven indicator diagnostics, the reliability score B(M), and Stan-style summaries.

Checks follow RefineStat (one point each; DESIGN §4), with our thresholds written out in
`Thresholds`. A fit that cannot be scored on LOO is scored 0 on the two LOO checks, never raised:
the search loop needs a score for every candidate to decide what to rewrite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from boxloop.diagnose import groups, mcmc, psis
from boxloop.errors import BoxloopError, DataError

__all__ = ["CHECKS", "Diagnostics", "DiagnoseError", "Thresholds", "diagnose", "summarize"]

# Stable check names, in DESIGN-table order; the search loop maps failed names to rewrites.
CHECKS = ("rhat", "ess_bulk", "ess_tail", "divergences", "bfmi", "loo", "pareto_k")


class DiagnoseError(BoxloopError):
    """Diagnostics were asked for with unusable settings."""

    code = "diagnose.invalid"


@dataclass(frozen=True)
class Thresholds:
    """Pass/fail limits of the seven checks (DESIGN §4 defaults) and ζ for "reliable"."""

    rhat_max: float = 1.05
    rhat_excellent: float = 1.01
    ess_bulk_min: float = 400.0  # total over chains, not per chain
    ess_tail_min: float = 100.0
    divergences_max: int = 0
    bfmi_min: float = 0.3  # every chain must exceed it
    pareto_k_max: float = 0.7
    pareto_k_bad_frac_max: float = 0.20
    zeta: int = 5  # B(M) >= zeta counts as reliable

    def __post_init__(self):
        if not 0 <= self.zeta <= len(CHECKS):
            raise DiagnoseError(f"zeta={self.zeta} is outside 0..{len(CHECKS)}; pick e.g. 5.")
        if not 0.0 <= self.pareto_k_bad_frac_max <= 1.0:
            raise DiagnoseError(
                f"pareto_k_bad_frac_max={self.pareto_k_bad_frac_max} is not a share in [0, 1]."
            )
        if self.rhat_max < 1.0 or self.rhat_excellent < 1.0:
            raise DiagnoseError("R-hat limits below 1 can never pass; use values like 1.05, 1.01.")


@dataclass(frozen=True)
class Diagnostics:
    """Scores of one fit. Values that could not be computed are NaN (None in `to_dict`)."""

    rhat_max: float
    ess_bulk_min: float
    ess_tail_min: float
    divergences: int
    bfmi_min: float
    pareto_k_bad_frac: float
    elpd_loo: float
    elpd_loo_se: float
    p_loo: float
    score: int
    reliable: bool
    rhat_excellent: bool
    checks: dict[str, bool] = field(hash=False)
    failed: tuple[str, ...]
    reasons: dict[str, str] = field(hash=False)  # why each failed check failed, for rewrites
    bfmi: tuple[float, ...]
    n_chains: int
    n_draws: int
    loo: psis.LooResult | None = field(default=None, repr=False, compare=False, hash=False)

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN and inf become None); pointwise LOO values are left out."""
        scalars = (
            "rhat_max ess_bulk_min ess_tail_min divergences bfmi_min pareto_k_bad_frac "
            "elpd_loo elpd_loo_se p_loo score reliable rhat_excellent n_chains n_draws"
        ).split()
        out = {name: _json_number(getattr(self, name)) for name in scalars}
        out["checks"] = dict(self.checks)
        out["failed"] = list(self.failed)
        out["reasons"] = dict(self.reasons)
        out["bfmi"] = [_json_number(value) for value in self.bfmi]
        return out


def _json_number(value):
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    value = float(value)
    return value if math.isfinite(value) else None


# --------------------------------------------------------------------------- naming


def stan_names(name: str, shape: tuple[int, ...]) -> list[str]:
    """Stan's flattened names, 1-based, first index fastest (CmdStan's column order)."""
    if not shape:
        return [name]
    indices = np.ndindex(*reversed(shape))
    return [f"{name}[{','.join(str(i + 1) for i in reversed(idx))}]" for idx in indices]


def _flat(value: np.ndarray) -> np.ndarray:
    """Flatten a parameter-shaped array in the order of `stan_names`."""
    return np.asarray(value, dtype=float).reshape(-1, order="F")


def _flat_draws(draws: np.ndarray) -> np.ndarray:
    """(chain, draw, *shape) -> (chain, draw, k) in the order of `stan_names`."""
    chains, n = draws.shape[:2]
    moved = np.moveaxis(np.asarray(draws, dtype=float), (0, 1), (-2, -1))
    return np.moveaxis(moved.reshape(-1, chains, n, order="F"), 0, -1)


# --------------------------------------------------------------------------- the seven checks


def _varying(posterior: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Which scalar entries vary at all; constants (e.g. L[1,1] of a Cholesky factor) have no
    defined R-hat or ESS and say nothing about mixing, so they are left out of the checks."""
    out = {}
    for name, draws in posterior.items():
        flat = _flat_draws(draws)
        out[name] = ~np.all(flat == flat[:1, :1], axis=(0, 1))
    return out


def _worst(values: Mapping[str, np.ndarray], varying, shapes, largest: bool):
    """Worst value over all varying entries and its Stan name; NaN (undefined) counts as worst."""
    worst, where = (-math.inf if largest else math.inf), None
    for name, value in values.items():
        flat, mask = _flat(value), varying[name]
        for label, v in zip(np.asarray(stan_names(name, shapes[name]))[mask], flat[mask]):
            if math.isnan(v):
                return float("nan"), str(label)
            if (v > worst) if largest else (v < worst):
                worst, where = float(v), str(label)
    if where is None:  # nothing varies: nothing to judge
        return float("nan"), None
    return worst, where


def _each(kernel, posterior: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {name: kernel(draws) for name, draws in posterior.items()}


def _convergence(posterior, t: Thresholds, reasons: dict) -> dict:
    shapes = {name: draws.shape[2:] for name, draws in posterior.items()}
    varying = _varying(posterior)
    rhat_max, rhat_at = _worst(_each(mcmc.rhat, posterior), varying, shapes, largest=True)
    bulk_min, bulk_at = _worst(_each(mcmc.ess_bulk, posterior), varying, shapes, largest=False)
    tail_min, tail_at = _worst(_each(mcmc.ess_tail, posterior), varying, shapes, largest=False)
    # With no varying quantity there is no chain to mix: the checks pass vacuously.
    checks = {
        "rhat": rhat_at is None or rhat_max <= t.rhat_max,
        "ess_bulk": bulk_at is None or bulk_min >= t.ess_bulk_min,
        "ess_tail": tail_at is None or tail_min >= t.ess_tail_min,
    }
    if not checks["rhat"]:
        reasons["rhat"] = (
            f"max R-hat {rhat_max:.3f} at {rhat_at} exceeds {t.rhat_max}: chains disagree "
            "(poor mixing, multimodality or a non-identified parameter)."
        )
    if not checks["ess_bulk"]:
        reasons["ess_bulk"] = (
            f"min bulk ESS {bulk_min:.0f} at {bulk_at} is below {t.ess_bulk_min:.0f}: "
            "draws are strongly autocorrelated; reparameterise or sample longer."
        )
    if not checks["ess_tail"]:
        reasons["ess_tail"] = (
            f"min tail ESS {tail_min:.0f} at {tail_at} is below {t.ess_tail_min:.0f}: "
            "the tails are poorly explored (heavy tails or a funnel)."
        )
    values = {
        "rhat_max": rhat_max,
        "ess_bulk_min": bulk_min,
        "ess_tail_min": tail_min,
        "rhat_excellent": rhat_at is None or rhat_max <= t.rhat_excellent,
    }
    return {"checks": checks, "values": values}


APPROXIMATE = ("the draws come from an approximation, not a sampler: there are no divergences or "
               "energies to check")


def _no_sampler(reasons: dict) -> dict:
    """The two sampler checks for draws no sampler made: not passed, and said why."""
    reasons.update(divergences=APPROXIMATE, bfmi=APPROXIMATE)
    values = {"divergences": 0, "bfmi_min": float("nan"), "bfmi": ()}
    return {"checks": {"divergences": False, "bfmi": False}, "values": values}


def _sampler(stats: Mapping[str, np.ndarray], t: Thresholds, reasons: dict) -> dict:
    missing = [key for key in ("diverging", "energy") if key not in stats]
    if missing:
        raise DataError(
            f"sample_stats lacks {missing}; keep NUTS's 'diverging' and 'energy' fields."
        )
    diverging = np.asarray(stats["diverging"], dtype=bool)
    divergences = int(np.count_nonzero(diverging))
    bfmi = mcmc.bfmi(stats["energy"])
    bfmi_min = float(np.min(bfmi)) if np.all(np.isfinite(bfmi)) else float("nan")
    checks = {"divergences": divergences <= t.divergences_max, "bfmi": bfmi_min > t.bfmi_min}
    if not checks["divergences"]:
        reasons["divergences"] = (
            f"{divergences} divergent transitions of {diverging.size}: the sampler meets high "
            "curvature (a funnel); use a non-centred parameterisation or tighter priors."
        )
    if not checks["bfmi"]:
        low = [i + 1 for i, value in enumerate(bfmi) if not value > t.bfmi_min]
        reasons["bfmi"] = (
            f"E-BFMI {bfmi_min:.3f} is not above {t.bfmi_min} (chains {low}): energy is poorly "
            "explored; heavy tails or scale parameters need reparameterising."
        )
    values = {"divergences": divergences, "bfmi_min": bfmi_min, "bfmi": tuple(map(float, bfmi))}
    return {"checks": checks, "values": values}


def relative_efficiency(posterior: Mapping[str, np.ndarray]) -> float:
    """r_eff for PSIS: the posterior's mean ESS of the mean over the number of draws (1 for one
    chain, where split-chain ESS says little), as the loo package and ArviZ take it."""
    first = next(iter(posterior.values()))
    chains, draws = first.shape[:2]
    if chains == 1:
        return 1.0
    ess = np.concatenate([np.ravel(mcmc.ess_mean(value)) for value in posterior.values()])
    r_eff = float(np.nanmean(ess)) / (chains * draws) if np.any(np.isfinite(ess)) else 1.0
    return r_eff if math.isfinite(r_eff) and r_eff > 0 else 1.0


def loo(posterior: Mapping[str, np.ndarray], log_likelihood: Mapping[str, np.ndarray],
        subsample: tuple | None = None, importance: tuple | None = None) -> psis.LooResult:
    """PSIS-LOO over every observation of the fit, with r_eff from the posterior. With
    `subsample` = (rows, lpd, var), `log_likelihood` holds only the observations `rows` and LOO is
    estimated for all from them (`psis.loo_subsampled`). With `importance` = (log_likelihood,
    log_weights), LOO comes from those independent draws of an approximation and their log
    importance weights instead (`psis.loo` with weights)."""
    if importance is not None:
        proposal_log_lik, log_weights = importance
        return psis.loo(groups.pooled_log_likelihood(proposal_log_lik), 1.0, log_weights)
    pooled, r_eff = groups.pooled_log_likelihood(log_likelihood), relative_efficiency(posterior)
    if subsample is None:
        return psis.loo(pooled, r_eff)
    return psis.loo_subsampled(pooled, *subsample, r_eff=r_eff)


def _loo(posterior, log_likelihood, subsample, importance, t: Thresholds, reasons: dict) -> dict:
    nan = float("nan")
    values = {"elpd_loo": nan, "elpd_loo_se": nan, "p_loo": nan, "pareto_k_bad_frac": nan}
    try:
        result = loo(posterior, log_likelihood, subsample, importance)
    except Exception as err:  # noqa: BLE001 -- any LOO failure is a scored failure, not a crash
        reasons["loo"] = reasons["pareto_k"] = f"PSIS-LOO could not be computed: {err}"
        return {"checks": {"loo": False, "pareto_k": False}, "values": values, "loo": None}
    k = result.pareto_k
    # NaN k means the tail fit failed: as bad as a large k.
    bad = ~(k <= t.pareto_k_max)
    values.update(
        elpd_loo=result.elpd_loo,
        elpd_loo_se=result.elpd_loo_se,
        p_loo=result.p_loo,
        pareto_k_bad_frac=float(np.mean(bad)),
    )
    checks = {
        "loo": math.isfinite(result.elpd_loo),
        "pareto_k": values["pareto_k_bad_frac"] <= t.pareto_k_bad_frac_max,
    }
    if not checks["loo"]:
        reasons["loo"] = f"elpd_loo is {result.elpd_loo}, not finite."
    if not checks["pareto_k"]:
        worst = int(np.nanargmax(np.where(np.isnan(k), np.inf, k)))
        of = "observations" if result.rows is None else f"a random subsample of {k.size:,} observations"
        reasons["pareto_k"] = (
            f"{values['pareto_k_bad_frac']:.0%} of {of} have Pareto k > {t.pareto_k_max} (worst: "
            f"observation {result.observation(worst) + 1}, k = {k[worst]:.2f}): influential "
            "points; the likelihood may be misspecified (try a robust one)."
        )
    return {"checks": checks, "values": values, "loo": result}


def is_inference_data(obj) -> bool:
    """A fit as an xarray DataTree (or a legacy ArviZ InferenceData), told apart from a dict
    without importing either library."""
    if isinstance(obj, dict):
        return False
    return isinstance(getattr(obj, "children", None), Mapping) or callable(getattr(obj, "groups", None))


def fit_arrays(posterior, sample_stats=None, log_likelihood=None, **other) -> dict[str, dict[str, np.ndarray]]:
    """The groups of a fit as checked dicts of float arrays; `posterior` may instead be an
    DataTree holding every group (then pass nothing else)."""
    if is_inference_data(posterior):
        if any(arg is not None for arg in (sample_stats, log_likelihood, *other.values())):
            raise DiagnoseError(
                "got a DataTree and separate groups; pass either the DataTree alone "
                "or every group as dicts of arrays."
            )
        from boxloop.diagnose import _arviz

        names = ("posterior", "sample_stats", "log_likelihood")
        posterior, sample_stats, log_likelihood = (_arviz.group_arrays(posterior, g) for g in names)
    out = groups.fit_groups(posterior=posterior, sample_stats=sample_stats, log_likelihood=log_likelihood, **other)
    out["posterior"] = {name: np.asarray(v, dtype=float) for name, v in out["posterior"].items()}
    return out


def diagnose(
    posterior,
    sample_stats: Mapping[str, np.ndarray] | None = None,
    log_likelihood: Mapping[str, np.ndarray] | None = None,
    *,
    thresholds: Thresholds | None = None,
    posterior_predictive: Mapping[str, np.ndarray] | None = None,
    prior: Mapping[str, np.ndarray] | None = None,
    prior_predictive: Mapping[str, np.ndarray] | None = None,
    observed_data: Mapping[str, np.ndarray] | None = None,
    loo_subsample: tuple | None = None,
    loo_importance: tuple | None = None,
) -> Diagnostics:
    """Score a fit on the seven checks.

    `posterior` is a dict name -> (chain, draw, *shape) constrained draws, or a DataTree
    from `to_inference_data` (then leave the other groups out). `sample_stats` must hold
    `diverging` and `energy` (None: the draws come from an approximation such as Pathfinder, and
    the divergence and E-BFMI checks fail, saying so); `log_likelihood` holds (chain, draw, n_obs)
    per observed variable.
    The other groups are only checked for shape: the checks do not read them. With
    `loo_subsample` = (rows, lpd, var), the log-likelihood holds only the observations `rows` of
    a large dataset, and PSIS-LOO is estimated from them (see `loo`). With `loo_importance` =
    (log_likelihood, log_weights), PSIS-LOO is computed from an approximation's own weighted
    draws (Pathfinder's), not from the posterior draws resampled from them, whose repeats make
    every observation's Pareto k look bad.
    """
    t = Thresholds() if thresholds is None else thresholds
    sampled = sample_stats is not None or is_inference_data(posterior)
    fit = fit_arrays(posterior, sample_stats, log_likelihood, posterior_predictive=posterior_predictive, prior=prior,
                     prior_predictive=prior_predictive, observed_data=observed_data)
    draws = fit["posterior"]
    reasons: dict[str, str] = {}
    parts = [
        _convergence(draws, t, reasons),
        _sampler(fit["sample_stats"], t, reasons) if sampled else _no_sampler(reasons),
        _loo(draws, fit["log_likelihood"], loo_subsample, loo_importance, t, reasons),
    ]
    checks = {name: bool(part["checks"][name]) for part in parts for name in part["checks"]}
    checks = {name: checks[name] for name in CHECKS}
    values = {key: value for part in parts for key, value in part["values"].items()}
    score = sum(checks.values())
    first = next(iter(draws.values()))
    return Diagnostics(
        **values,
        score=score,
        reliable=score >= t.zeta,
        checks=checks,
        failed=tuple(name for name in CHECKS if not checks[name]),
        reasons={name: reasons[name] for name in CHECKS if name in reasons},
        n_chains=int(first.shape[0]),
        n_draws=int(first.shape[1]),
        loo=parts[2]["loo"],
    )


# --------------------------------------------------------------------------- summaries


def summarize(posterior) -> dict[str, dict[str, float | None]]:
    """Per scalar quantity: mean, sd, mcse_mean, mcse_sd, ess_bulk, rhat, keyed by Stan names.

    Names are 1-based and flattened as Stan prints them (`theta[1]`, `L[2,1]`). Quantities that
    are undefined (R-hat and ESS of a constant) are None, so the result is JSON-ready.
    """
    draws = fit_arrays(posterior)["posterior"]
    kernels = {"mcse_mean": mcmc.mcse_mean, "mcse_sd": mcmc.mcse_sd, "ess_bulk": mcmc.ess_bulk, "rhat": mcmc.rhat}
    stats = {key: _each(kernel, draws) for key, kernel in kernels.items()}
    out = {}
    for name, value in draws.items():
        flat = _flat_draws(value)
        one_draw = flat.shape[0] * flat.shape[1] < 2
        columns = {
            "mean": flat.mean(axis=(0, 1)),
            "sd": np.full(flat.shape[2], np.nan) if one_draw else flat.std(axis=(0, 1), ddof=1),
            **{key: _flat(stat[name]) for key, stat in stats.items()},
        }
        for i, label in enumerate(stan_names(name, value.shape[2:])):
            out[label] = {key: _json_number(column[i]) for key, column in columns.items()}
    return out
