"""Pieces of the `grammar` proposer: what each variable is for, numbers, priors, and a draft.

`analyse(task)` reads the task once and says which variables can play which part in a model
(trials of a binomial, a known measurement scale, covariates, group indices, a time order).
The prior samplers return distribution text whose scale arguments are positive by construction.
`Draft` accumulates one program's statements block by block; it lives for one sample only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from ..lang.library import DISTRIBUTIONS, FUNCTIONS
from . import eda

# Words a generated name must avoid: Stan keywords and types, and every library name
# (a variable called `beta` or `e` would shadow a distribution or a constant).
_RESERVED = frozenset(
    """for in while repeat until if then else true false target functions model data parameters
    quantities transformed generated profile return break continue print reject fatal_error
    int real complex vector simplex unit_vector ordered positive_ordered row_vector matrix
    cholesky_factor_corr cholesky_factor_cov corr_matrix cov_matrix array tuple void
    lower upper offset multiplier T""".split()
) | frozenset(DISTRIBUTIONS) | frozenset(FUNCTIONS)
_SCALE_NAME = re.compile(r"(?:^|_)(?:sigma|sd|se|std|stderr|stdev|scale)(?:_|\d|$)", re.IGNORECASE)
_TIME_NAME = re.compile(r"(?:^|_)(?:t|time|times|year|years|day|days|date|week|month|age|ts)(?:_|\d|$)",
                        re.IGNORECASE)
_TIME_SIZE = re.compile(r"^(?:T|n_?time|num_?days|n_?days|n_?years|nyears|n_?t)$", re.IGNORECASE)
NUMERIC_KINDS = ("real", "positive_real", "proportion", "binary", "count", "time_index")


@dataclass(frozen=True)
class Weights:
    """How often each optional piece of structure is drawn (probabilities in [0, 1])."""

    covariate: float = 0.65  # each covariate enters the predictor
    covariate_when_related: float = 0.9  # ... when the data show it explains the target (eda)
    standardise: float = 0.5  # a real covariate is standardised in transformed data
    log_positive: float = 0.3  # a positive covariate enters as log(x)
    log_when_better: float = 0.75  # ... when log(x) is the better straight-line scale (eda)
    quadratic: float = 0.2
    quadratic_when_curved: float = 0.75  # ... when the data show a curve (eda)
    interaction: float = 0.15
    group_intercept: float = 0.75
    crossed: float = 0.8  # each further grouping factor gets its own varying intercepts too
    fixed_effect: float = 0.8  # a factor with few levels enters as treatment-coded effects
    group_slope: float = 0.2
    slope_within: float = 0.55  # ... a covariate that varies within the groups gets a slope by group
    unit_effects: float = 0.2  # observation-level effects for non-Gaussian families
    overdispersed: float = 2.0  # unit effects this much likelier when counts are overdispersed (eda)
    latent: float = 0.35  # a latent AR(1) / random walk (or an AR(1) on y) when the data are a series
    gp: float = 0.12  # a Gaussian process over a 1-d input (costly to fit: kept rare)
    growth: float = 0.2  # a nonlinear growth curve instead of a linear predictor
    measurement: float = 0.85  # a known-scale measurement model when a standard error exists
    direct: float = 0.2  # an intercept-only model in the family's natural parameters
    named_predictor: float = 0.5  # the predictor is a named vector rather than inline text
    replicate: float = 0.15  # generated quantities with replicated data (y_rep)

    def include(self, cov: "Covariate") -> float:
        """Odds that a covariate enters the predictor."""
        return self.covariate_when_related if cov.related else self.covariate


# ---- roles --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Covariate:
    """A variable aligned with the target that can enter a linear predictor."""

    name: str
    is_int: bool  # declared int: arithmetic needs to_vector first
    positive: bool  # every value > 0 (a log transform is allowed)
    binary: bool
    increasing: bool  # strictly increasing (an ordered input: time, dose, x of a GP)
    mean: float
    sd: float
    log_sd: float  # sd of log(x) when positive, else nan
    span: float  # max - min
    related: bool = False  # explains a fair share of the target on its link scale (eda)
    log_better: bool = False  # log(x) is the clearly better straight-line scale (eda)
    curved: bool = False  # a square term earns its place on the scale log_better picks (eda)


GROUP_MIN_LEVELS = 5  # fewer levels than this: fixed effects (too few to learn their spread)


@dataclass(frozen=True)
class Group:
    """A group index 1..K aligned with the target; `levels` is K as Stan text, `count` K itself;
    `within` names the covariates that vary inside its groups (slopes can vary by group)."""

    name: str
    levels: str
    count: int = 0
    within: tuple[str, ...] = ()


@dataclass(frozen=True)
class Roles:
    """What the variables of a task can be used for in a model of its target."""

    target: str
    kind: str  # the target's kind (binary, count, proportion, positive_real, real, categorical)
    ndim: int
    dims: tuple[str, ...]  # the target's dimensions as Stan text
    is_int: bool
    y_mean: float
    y_sd: float
    log_mean: float  # mean of log(y) (positive targets), else nan
    log_sd: float
    rate: float  # successes / trials when there are trials, else mean of a binary target
    trials: tuple[str, ...]
    trials_positive: tuple[str, ...]  # trials that are never 0 (an exposure offset can log them)
    known_scale: str | None
    covariates: tuple[Covariate, ...]
    groups: tuple[Group, ...]
    levels: str | None  # K for a categorical target
    series: bool  # observations are ordered in time
    dispersion: float | None = None  # Pearson dispersion around one common rate (eda), if it applies
    factors: tuple[Group, ...] = ()  # indices with few levels: fixed (treatment-coded) effects
    exposures: tuple[str, ...] = ()  # positive amounts a count is proportional to: log offsets

    @property
    def offsets(self) -> tuple[str, ...]:
        """What can enter a count model as log(x) with coefficient 1: exposures, then trials never 0."""
        return self.exposures + self.trials_positive

    @property
    def size(self) -> str:
        return self.dims[0] if self.dims else "1"


def analyse(task) -> Roles:
    info = task.variable(task.target)
    y = np.asarray(task.dataset[task.target], dtype=float)
    aligned = [v for v in task.variables if v.name != info.name and v.shape == info.shape and v.dims == info.dims]
    trials = tuple(n for n in info.at_most if n in {v.name for v in aligned})
    known = _known_scale(info, aligned)
    kind = _target_kind(info.kind)
    exposures = tuple(v.name for v in aligned if _use(task, v.name) == "offset" and kind == "count")
    n = np.asarray(task.dataset[trials[0]], dtype=float) if trials else None
    z = eda.link_scale(y, kind, n)
    covs = tuple(c for v in aligned if v.name not in trials and v.name != known and v.name not in exposures
                 and (c := _covariate(v, task.dataset[v.name], z)) is not None)
    indices = tuple(_group(task, v, covs) for v in aligned if v.kind == "categorical" and (v.levels or 0) >= 2)
    groups = tuple(g for g in indices if g.count >= GROUP_MIN_LEVELS or _role(task, g.name) == "group")
    factors = tuple(g for g in indices if g not in groups)
    positive_y = y.size and np.all(y > 0)
    return Roles(
        target=info.name, kind=kind, ndim=info.ndim, dims=tuple(str(d) for d in info.dims),
        is_int=info.is_int, y_mean=_finite(np.mean(y), 0.0), y_sd=_positive(np.std(y), 1.0),
        log_mean=float(np.mean(np.log(y))) if positive_y else math.nan,
        log_sd=_positive(np.std(np.log(y)), 1.0) if positive_y else math.nan,
        rate=_rate(info, y, [np.asarray(task.dataset[n], dtype=float) for n in trials])
        if trials or not exposures else _exposure_rate(y, np.asarray(task.dataset[exposures[0]], dtype=float)),
        trials=trials,
        trials_positive=tuple(n for n in trials if np.all(np.asarray(task.dataset[n]) > 0)),
        known_scale=known, covariates=covs, groups=groups,
        levels=(info.levels_var or str(info.levels)) if info.kind == "categorical" else None,
        series=_is_series(info, aligned, covs),
        dispersion=eda.dispersion(y, kind, n),
        factors=factors, exposures=exposures,
    )


def _use(task, name: str) -> str | None:
    column = task.column(name) if hasattr(task, "column") else None
    return column.use if column is not None else None


def _role(task, name: str) -> str | None:
    column = task.column(name) if hasattr(task, "column") else None
    return column.role if column is not None else None


def _group(task, v, covs) -> Group:
    """The index `v` as a Group, with the covariates that take more than one value in some group."""
    codes = np.asarray(task.dataset[v.name]).ravel()
    order = np.argsort(codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(codes[order]) != 0])
    within = []
    for c in covs:
        x = np.asarray(task.dataset[c.name], dtype=float).ravel()
        if x.shape != codes.shape or not starts.size:
            continue
        spread = np.maximum.reduceat(x[order], starts) - np.minimum.reduceat(x[order], starts)
        if np.any(spread > 0):
            within.append(c.name)
    return Group(v.name, v.levels_var or str(v.levels), int(v.levels or 0), tuple(within))


def _target_kind(kind: str) -> str:
    # a size or time index as the thing to model is still a count of something
    return "count" if kind in ("size", "time_index") else kind


def _known_scale(info, aligned) -> str | None:
    if info.kind not in ("real", "positive_real"):
        return None
    return next((v.name for v in aligned if v.kind == "positive_real" and _SCALE_NAME.search(v.name)), None)


def _covariate(v, values, z: np.ndarray) -> Covariate | None:
    """z: the target on its empirical link scale, for the shape checks of `eda`."""
    if v.kind not in NUMERIC_KINDS:
        return None
    x = np.asarray(values, dtype=float)
    if x.size < 2 or not np.all(np.isfinite(x)) or np.std(x) <= 1e-12:
        return None  # a constant column carries no information and standardising it divides by 0
    positive = bool(np.all(x > 0))
    flat = x.ravel()
    log_better = positive and eda.log_fits_better(x, z)
    return Covariate(
        name=v.name, is_int=v.is_int, positive=positive, binary=v.kind == "binary",
        increasing=bool(x.ndim == 1 and np.all(np.diff(flat) > 0)),
        mean=float(np.mean(x)), sd=float(np.std(x, ddof=1)),
        log_sd=_positive(np.std(np.log(x), ddof=1), 1.0) if positive else math.nan,
        span=float(np.ptp(x)),
        related=eda.related(x, z), log_better=log_better, curved=eda.curved(np.log(x) if log_better else x, z),
    )


def _exposure_rate(y: np.ndarray, exposure: np.ndarray) -> float:
    """Events per unit of exposure (not a probability: it may exceed 1)."""
    return float(max(y.sum(), 0.5) / max(exposure.sum(), 1e-9))


def _rate(info, y: np.ndarray, trials: list[np.ndarray]) -> float:
    if trials:
        return float(np.clip(y.sum() / max(trials[0].sum(), 1.0), 0.02, 0.98))
    if info.kind in ("binary", "proportion") and y.size:
        return float(np.clip(np.mean(y), 0.02, 0.98))
    return 0.5


def _is_series(info, aligned, covs) -> bool:
    if info.ndim != 1 or info.shape[0] < 5:
        return False
    if any(v.kind == "time_index" for v in aligned):
        return True
    if any(c.increasing and _TIME_NAME.search(c.name) for c in covs):
        return True
    return bool(_TIME_SIZE.match(str(info.dims[0]))) or (not covs and bool(_TIME_NAME.search(info.name)))


def _finite(x, default: float) -> float:
    x = float(x)
    return x if math.isfinite(x) else default


def _positive(x, default: float) -> float:
    x = float(x)
    return x if math.isfinite(x) and x > 1e-9 else default


# ---- numbers ------------------------------------------------------------------------------------


def num(x: float) -> str:
    """A Stan literal with three significant digits: 5, 2.5, -0.031, 1.2e-05."""
    x = float(f"{float(x):.3g}")
    if x == 0:
        return "0"
    if x.is_integer() and abs(x) < 1e6:
        return str(int(x))
    text = repr(x)
    return text.replace("e-0", "e-").replace("e+0", "e").replace("e+", "e")


def pos(x: float) -> str:
    """A positive literal: scales never round to 0."""
    return num(max(float(x), 1e-3))


def jitter(rng: np.random.Generator, scale: float, lo: float = 0.5, hi: float = 3.0) -> float:
    """`scale` times a log-uniform factor in [lo, hi]: priors vary in width around a sensible size."""
    return float(scale) * math.exp(rng.uniform(math.log(lo), math.log(hi)))


def choose(rng: np.random.Generator, options: dict):
    """One key of `options`, drawn with the values as (unnormalised) weights."""
    keys = list(options)
    weights = np.array([options[k] for k in keys], dtype=float)
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


# ---- priors -------------------------------------------------------------------------------------


def real_prior(rng: np.random.Generator, center: float, spread: float, widen=(1.0, 4.0)) -> str:
    """A weakly informative prior on the real line around `center`, its width `spread` times a
    random factor in `widen` (by default never narrower than the data suggest)."""
    c, s = num(center), pos(jitter(rng, spread, *widen))
    family = choose(rng, {"normal": 0.5, "student_t": 0.25, "double_exponential": 0.1, "logistic": 0.1,
                          "cauchy": 0.05})
    if family == "student_t":
        return f"student_t({int(rng.choice([3, 4, 5, 7]))}, {c}, {s})"
    return f"{family}({c}, {s})"


def positive_prior(rng: np.random.Generator, spread: float) -> str:
    """A prior for a `<lower=0>` scale whose typical size is about `spread`."""
    s = jitter(rng, spread, 0.5, 2.5)
    family = choose(rng, {"half_normal": 0.35, "exponential": 0.25, "half_t": 0.15, "gamma": 0.1,
                          "lognormal": 0.1, "half_cauchy": 0.05})
    match family:
        case "half_normal":
            return f"normal(0, {pos(s)})"
        case "exponential":
            return f"exponential({pos(1.0 / s)})"
        case "half_t":
            return f"student_t({int(rng.choice([3, 4, 7]))}, 0, {pos(s)})"
        case "gamma":
            return f"gamma(2, {pos(2.0 / s)})"
        case "lognormal":
            return f"lognormal({num(math.log(s))}, 1)"
    return f"cauchy(0, {pos(s)})"


def shape_prior(rng: np.random.Generator, typical: float) -> str:
    """A prior for a positive shape / precision / dispersion (not near 0 by default)."""
    t = jitter(rng, typical, 0.5, 2.0)
    family = choose(rng, {"gamma": 0.45, "exponential": 0.2, "lognormal": 0.2, "half_normal": 0.15})
    match family:
        case "gamma":
            return f"gamma(2, {pos(2.0 / t)})"
        case "exponential":
            return f"exponential({pos(1.0 / t)})"
        case "lognormal":
            return f"lognormal({num(math.log(t))}, 1)"
    return f"normal(0, {pos(2.0 * t)})"


def unit_prior(rng: np.random.Generator, rate: float = 0.5) -> str:
    """A prior on (0, 1), either flat or a beta roughly centred on `rate`."""
    if rng.random() < 0.3:
        return "uniform(0, 1)"
    strength = float(rng.choice([2.0, 4.0, 10.0]))
    a, b = max(rate * strength, 0.5), max((1 - rate) * strength, 0.5)
    return f"beta({pos(a)}, {pos(b)})"


# ---- the draft ----------------------------------------------------------------------------------


class Draft:
    """One program under construction. Each add-method appends to one block; `param` declares a
    parameter and its prior together so no parameter is ever left without one."""

    def __init__(self, rng: np.random.Generator, roles: Roles, data_block: str, values):
        self.rng, self.roles, self.data_block, self.values = rng, roles, data_block, values
        self.taken = set(values) | _RESERVED
        self.tdata: list[str] = []
        self.params: list[str] = []
        self.tparams: list[str] = []
        self.priors: list[str] = []
        self.locals: list[str] = []
        self.likelihood: list[str] = []
        self.generated: list[str] = []
        self.vectorised = False  # the likelihood's arguments hold one value per observation

    def fresh(self, base: str) -> str:
        """`base`, or `base_2`, `base_3`, ... whichever no data variable or other name uses."""
        name, k = base, 2
        while name in self.taken:
            name, k = f"{base}_{k}", k + 1
        self.taken.add(name)
        return name

    def param(self, type_text: str, base: str, prior: str | None) -> str:
        name = self.fresh(base)
        self.params.append(f"{type_text} {name};")
        if prior is not None:
            self.priors.append(f"{name} ~ {prior};")
        return name

    def data(self, type_text: str, base: str, definition: str) -> str:
        name = self.fresh(base)
        self.tdata.append(f"{type_text} {name} = {definition};")
        return name

    def derived(self, type_text: str, base: str, definition: str, *, local: bool = False) -> str:
        """A named intermediate: a transformed parameter, or a model-block local when `local`."""
        name = self.fresh(base)
        (self.locals if local else self.tparams).append(f"{type_text} {name} = {definition};")
        return name

    def render(self) -> str:
        parts = [self.data_block]
        for title, lines in (("transformed data", self.tdata), ("parameters", self.params),
                             ("transformed parameters", self.tparams),
                             ("model", self.locals + self.priors + self.likelihood),
                             ("generated quantities", self.generated)):
            if lines:
                parts.append(title + " {\n" + "".join(f"  {line}\n" for line in lines) + "}")
        return "\n".join(parts) + "\n"
