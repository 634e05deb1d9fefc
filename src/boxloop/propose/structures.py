"""Pieces of a linear predictor for the `grammar` proposer: intercepts, exchangeable (hierarchical)
effects in three parameterisations, covariate slopes with transforms, squares and interactions,
a Gaussian process, a latent random walk or AR(1), and nonlinear growth curves.

Each piece declares its parameters (with priors) in the draft and returns the Stan text of its
contribution to the predictor.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .grammar_parts import Covariate, Draft, Weights, choose, num, pos, positive_prior, real_prior

GP_MAX_POINTS = 150  # a GP's Cholesky factor is O(N^3) per gradient: keep it to small series


# ---- pieces of a linear predictor ---------------------------------------------------------------


@dataclass(frozen=True)
class Term:
    text: str
    vector: bool  # one value per observation (else a scalar shared by all)


def intercept(d: Draft, center: float, spread: float, base: str = "alpha") -> Term:
    return Term(d.param("real", base, real_prior(d.rng, center, spread)), False)


def hierarchy(d: Draft, base: str, size: str, loc: str | None, spread: float, *, loc_is_param: bool = True) -> str:
    """A vector[size] of exchangeable effects around `loc` (None: zero) with a learned scale, as
    a centred, non-centred or offset/multiplier parameterisation. Returns its name. The
    offset/multiplier form needs `loc` declared before it in the parameters block."""
    tau = d.param("real<lower=0>", f"tau_{base}", positive_prior(d.rng, spread))
    style = choose(d.rng, {"centred": 0.4, "noncentred": 0.4, "affine": 0.2 if loc_is_param else 0.0})
    where = loc if loc is not None else "0"
    if style == "centred":
        dist = f"student_t({int(d.rng.choice([3, 5, 7]))}, {where}, {tau})" if d.rng.random() < 0.15 else \
            f"normal({where}, {tau})"
        return d.param(f"vector[{size}]", base, dist)
    if style == "affine":
        offset = f"offset={loc}, " if loc is not None else ""
        return d.param(f"vector<{offset}multiplier={tau}>[{size}]", base, f"normal({where}, {tau})")
    raw = d.param(f"vector[{size}]", f"{base}_raw", "std_normal()" if d.rng.random() < 0.5 else "normal(0, 1)")
    shift = f"{loc} + " if loc is not None else ""
    return d.derived(f"vector[{size}]", base, f"{shift}{tau} * {raw}")


def fixed_effects(d: Draft, factor, spread: float) -> Term:
    """Treatment-coded effects of a factor with few levels: level 1 is the reference (its effect
    is the intercept), `b_f[k - 1]` the difference of level k from it."""
    b = d.param(f"vector[{factor.levels} - 1]", f"b_{factor.name}", real_prior(d.rng, 0.0, spread))
    effect = d.derived(f"vector[{factor.levels}]", f"e_{factor.name}", f"append_row(0, {b})")
    return Term(f"{effect}[{factor.name}]", True)


@dataclass(frozen=True)
class Input:
    """A covariate as it enters the predictor: Stan text, its values, and an indexable name."""

    text: str
    values: np.ndarray
    name: str  # a variable holding the values (indexable), possibly the same as text


def covariate_input(d: Draft, cov: Covariate, w: Weights) -> Input:
    """The covariate raw, standardised, logged or logged-and-standardised (transformed data)."""
    x = np.asarray(d.values[cov.name], dtype=float)
    size = d.roles.size
    vec = f"to_vector({cov.name})" if cov.is_int else cov.name
    if cov.binary:
        return _as_vector(d, cov, x, vec)
    use_log = cov.positive and d.rng.random() < (w.log_when_better if cov.log_better else w.log_positive)
    if use_log:
        x, vec = np.log(x), f"log({vec})"
    if d.rng.random() < w.standardise:
        name = d.data(f"vector[{size}]", f"z_{cov.name}", f"({vec} - mean({vec})) / sd({vec})")
        return Input(name, (x - x.mean()) / x.std(ddof=1), name)
    if use_log:
        name = d.data(f"vector[{size}]", f"log_{cov.name}", vec)
        return Input(name, x, name)
    return _as_vector(d, cov, x, vec)


def _as_vector(d: Draft, cov: Covariate, x: np.ndarray, vec: str) -> Input:
    if not cov.is_int:
        return Input(cov.name, x, cov.name)
    if d.rng.random() < 0.5:
        return Input(vec, x, cov.name)  # inline to_vector(x); index the int array itself
    name = d.data(f"vector[{d.roles.size}]", f"{cov.name}_v", vec)
    return Input(name, x, name)


def slope(d: Draft, base: str, values: np.ndarray, spread: float) -> str:
    sd = float(np.std(values)) or 1.0
    return d.param("real", base, real_prior(d.rng, 0.0, spread / sd))


def covariate_terms(d: Draft, spread: float, w: Weights, group: str | None) -> list[Term]:
    """Slopes for a random subset of covariates, with optional squares, one interaction and
    group-varying slopes."""
    chosen = [c for c in d.roles.covariates if d.rng.random() < w.include(c)]
    inputs = [(c, covariate_input(d, c, w)) for c in chosen]
    terms = []
    by = next((g for g in d.roles.groups if g.name == group), None)
    for cov, x in inputs:
        if by is not None and d.rng.random() < (w.slope_within if cov.name in by.within else w.group_slope):
            levels = by.levels
            mean_slope = "0" if d.rng.random() < 0.3 else slope(d, f"mu_b_{cov.name}", x.values, spread)
            b = hierarchy(d, f"b_{cov.name}_{group}", levels, None if mean_slope == "0" else mean_slope,
                          spread / (float(np.std(x.values)) or 1.0))
            terms.append(Term(f"{b}[{group}] .* {x.text}", True))
        else:
            terms.append(Term(f"{slope(d, f'b_{cov.name}', x.values, spread)} * {x.text}", True))
        if not cov.binary and d.rng.random() < (w.quadratic_when_curved if cov.curved else w.quadratic):
            b2 = slope(d, f"b_{cov.name}_sq", x.values ** 2, spread)
            terms.append(Term(f"{b2} * square({x.text})", True))
    if len(inputs) >= 2 and d.rng.random() < w.interaction * (len(inputs) - 1):
        (c1, x1), (c2, x2) = (inputs[i] for i in sorted(d.rng.choice(len(inputs), 2, replace=False)))
        b12 = slope(d, f"b_{c1.name}_{c2.name}", x1.values * x2.values, spread)
        terms.append(Term(f"{b12} * ({x1.text} .* {x2.text})", True))
    return terms


# ---- latent structure ---------------------------------------------------------------------------


def gp_input(d: Draft) -> Covariate | None:
    if d.roles.ndim != 1 or size_value(d) > GP_MAX_POINTS:
        return None
    options = [c for c in d.roles.covariates if not c.binary and len(np.unique(d.values[c.name])) >= 3]
    ordered = [c for c in options if c.increasing]
    pool = ordered or options
    return pool[int(d.rng.integers(len(pool)))] if pool else None


def size_value(d: Draft) -> int:
    return int(np.asarray(d.values[d.roles.target]).shape[0]) if d.roles.ndim else 1


@dataclass(frozen=True)
class GP:
    """A squared-exponential GP over one input: its kernel pieces, not yet folded into a term."""

    inputs: str  # array[N] real holding the input
    amplitude: str
    length: str


def gp_kernel(d: Draft, cov: Covariate, spread: float) -> GP:
    vec = f"to_vector({cov.name})" if cov.is_int else cov.name
    x = np.asarray(d.values[cov.name], dtype=float)
    if d.rng.random() < 0.5:
        x, vec = (x - x.mean()) / x.std(ddof=1), f"({vec} - mean({vec})) / sd({vec})"
    size = d.roles.size
    inputs = d.data(f"array[{size}] real", f"{cov.name}_gp", f"to_array_1d({vec})")
    c = float(np.ptp(x)) * float(d.rng.uniform(0.1, 0.4))
    length_prior = choose(d.rng, {f"inv_gamma(5, {pos(5 * c)})": 1.0, f"lognormal({num(math.log(c))}, 0.5)": 1.0,
                                  f"gamma(5, {pos(5 / c)})": 0.7})
    length = d.param("real<lower=0>", "rho", length_prior)
    amplitude = d.param("real<lower=0>", "amp", positive_prior(d.rng, spread))
    return GP(inputs, amplitude, length)


def gp_term(d: Draft, gp: GP) -> Term:
    size = d.roles.size
    z = d.param(f"vector[{size}]", "z_gp", "std_normal()")
    kernel = f"add_diag(gp_exp_quad_cov({gp.inputs}, {gp.amplitude}, {gp.length}), 1e-6)"
    return Term(d.derived(f"vector[{size}]", "f", f"cholesky_decompose({kernel}) * {z}"), True)


def random_walk(d: Draft, center: float, spread: float) -> Term:
    size = d.roles.size
    tau = d.param("real<lower=0>", "tau_z", positive_prior(d.rng, 0.3 * spread))
    if d.rng.random() < 0.5:  # non-centred: the walk is a cumulative sum of innovations
        start = d.param("real", "z0", real_prior(d.rng, center, spread))
        eps = d.param(f"vector[{size}]", "eps", "std_normal()")
        return Term(d.derived(f"vector[{size}]", "z", f"{start} + {tau} * cumulative_sum({eps})"), True)
    z = d.param(f"vector[{size}]", "z", None)
    d.priors.append(f"{z}[1] ~ {real_prior(d.rng, center, spread)};")
    d.priors.append(f"{z}[2:{size}] ~ normal({z}[1:({size} - 1)], {tau});")
    return Term(z, True)


def ar1(d: Draft, spread: float) -> Term:
    size = d.roles.size
    rho = d.param("real<lower=-1, upper=1>", "rho",
                  choose(d.rng, {"uniform(-1, 1)": 1.0, "normal(0, 0.5)": 1.0, f"normal(0.5, {pos(0.3)})": 0.5}))
    tau = d.param("real<lower=0>", "tau_z", positive_prior(d.rng, 0.5 * spread))
    z = d.param(f"vector[{size}]", "z", None)
    first = f"{tau} / sqrt(1 - square({rho}))" if d.rng.random() < 0.5 else tau
    d.priors.append(f"{z}[1] ~ normal(0, {first});")
    d.priors.append(f"{z}[2:{size}] ~ normal({rho} * {z}[1:({size} - 1)], {tau});")
    return Term(z, True)


# ---- growth curves ------------------------------------------------------------------------------


def growth_curve(d: Draft, cov: Covariate) -> Term:
    """A nonlinear mean curve in a positive input (on the data scale, for identity families)."""
    r = d.roles
    x = f"to_vector({cov.name})" if cov.is_int else cov.name
    top = d.param("real", "a", real_prior(d.rng, r.y_mean + r.y_sd, 2 * r.y_sd))
    curve = choose(d.rng, {"asymptotic": 1.0, "monomolecular": 0.7, "logistic": 0.5})
    if curve == "asymptotic":  # a - b * lambda^x: approaches a from below (dugongs)
        b = d.param("real<lower=0>", "b", positive_prior(d.rng, r.y_sd))
        lam = d.param("real<lower=0, upper=1>", "lambda", choose(d.rng, {"uniform(0, 1)": 1, "beta(2, 2)": 1,
                                                                          "beta(3, 1)": 1}))
        return Term(f"{top} - {b} * pow({lam}, {x})", True)
    k = d.param("real<lower=0>", "k", positive_prior(d.rng, 1 / max(cov.mean, 1e-6)))
    if curve == "monomolecular":
        return Term(f"{top} * (1 - exp(-{k} * {x}))", True)
    mid = d.param("real", "x0", real_prior(d.rng, cov.mean, cov.sd))
    return Term(f"{top} * inv_logit({k} * ({x} - {mid}))", True)


