"""Observation families of the `grammar` proposer, chosen by the kind of the target.

Each family writes one observation statement for a predictor on its link scale and declares the
extra parameters it needs (scale, shape, dispersion, precision) with priors sized from the data.
`pick_family` draws one that fits the target: trials families only when a count bounds the
target, families that repeat the predictor only where it can be named.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ProposerError
from .grammar_parts import Draft, Roles, choose, jitter, pos, positive_prior, shape_prior


# ---- link scales --------------------------------------------------------------------------------


def hint(roles: Roles, fam: "Family") -> tuple[float, float]:
    """(centre, spread) of the linear predictor on the family's link scale, read off the data."""
    if fam.link == "identity":
        return roles.y_mean, roles.y_sd
    if fam.name in _OFFSET_FAMILIES:  # log rate per unit of exposure (or per trial)
        return math.log(roles.rate), 1.0
    if fam.name == "lognormal":
        return roles.log_mean, 2 * roles.log_sd
    if fam.link == "log":
        return math.log(max(roles.y_mean, 0.1)), 1.0
    if fam.link == "probit":
        return _probit(roles.rate), 1.0
    return math.log(roles.rate / (1 - roles.rate)), 1.5


def _probit(p: float) -> float:
    # inverse normal CDF by bisection on erf: no scipy import for one number
    lo, hi = -6.0, 6.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p else (lo, mid)
    return (lo + hi) / 2


# ---- observation families -----------------------------------------------------------------------


@dataclass(frozen=True)
class Obs:
    """Where an observation statement goes: `y` and `n` (trials) as text and the predictor `eta`
    on the family's link scale (a name when the family repeats it)."""

    y: str
    eta: str
    n: str | None = None


@dataclass(frozen=True, eq=False)  # compared by identity: the table holds each once
class Family:
    name: str
    link: str  # identity | log | logit | probit
    weights: dict  # target kind -> weight
    write: Callable  # (draft, Obs) -> statement text
    trials: bool = False  # needs a trials variable
    repeats_eta: bool = False  # the predictor appears twice: it must be a name


def _noise(d: Draft) -> float:
    return d.roles.y_sd


def _w_normal(d, o):
    sigma = d.param("real<lower=0>", "sigma", positive_prior(d.rng, _noise(d)))
    return f"{o.y} ~ normal({o.eta}, {sigma});"


def _w_student(d, o):
    nu = _dof(d)
    sigma = d.param("real<lower=0>", "sigma", positive_prior(d.rng, _noise(d)))
    return f"{o.y} ~ student_t({nu}, {o.eta}, {sigma});"


def _dof(d: Draft) -> str:
    if d.rng.random() < 0.35:
        return str(int(d.rng.choice([3, 4, 5, 7])))
    return d.param("real<lower=1>", "nu", f"gamma(2, {pos(jitter(d.rng, 0.1, 0.7, 1.5))})")


def _w_laplace(d, o):
    sigma = d.param("real<lower=0>", "sigma", positive_prior(d.rng, _noise(d)))
    return f"{o.y} ~ double_exponential({o.eta}, {sigma});"


def _w_lognormal(d, o):
    sigma = d.param("real<lower=0>", "sigma", positive_prior(d.rng, d.roles.log_sd))
    return f"{o.y} ~ lognormal({o.eta}, {sigma});"


def _w_gamma(d, o):
    cv2 = (d.roles.y_sd / max(d.roles.y_mean, 1e-6)) ** 2
    shape = d.param("real<lower=0>", "shape", shape_prior(d.rng, float(np.clip(1 / max(cv2, 1e-3), 0.5, 100))))
    return f"{o.y} ~ gamma({shape}, {shape} * exp(-({o.eta})));"


def _w_weibull(d, o):
    cv = d.roles.y_sd / max(d.roles.y_mean, 1e-6)
    k = d.param("real<lower=0>", "shape", shape_prior(d.rng, float(np.clip(1.2 / max(cv, 1e-3), 0.5, 20))))
    return f"{o.y} ~ weibull({k}, exp({o.eta}));"


def dispersion(d: Draft) -> str:
    m, v = max(d.roles.y_mean, 0.1), d.roles.y_sd ** 2
    typical = float(np.clip(m * m / max(v - m, 0.1 * m), 0.5, 100))
    return d.param("real<lower=0>", "phi", shape_prior(d.rng, typical))


def _w_poisson_log(d, o):
    return f"{o.y} ~ poisson_log({o.eta});"


def _w_poisson(d, o):
    return f"{o.y} ~ poisson(exp({o.eta}));"


def _w_nb_log(d, o):
    return f"{o.y} ~ neg_binomial_2_log({o.eta}, {dispersion(d)});"


def _w_nb(d, o):
    return f"{o.y} ~ neg_binomial_2(exp({o.eta}), {dispersion(d)});"


def _w_binomial_logit(d, o):
    return f"{o.y} ~ binomial_logit({o.n}, {o.eta});"


def _w_binomial(d, o):
    return f"{o.y} ~ binomial({o.n}, inv_logit({o.eta}));"


def _w_binomial_probit(d, o):
    return f"{o.y} ~ binomial({o.n}, Phi({o.eta}));"


def _w_beta_binomial(d, o):
    kappa = d.param("real<lower=0>", "kappa", shape_prior(d.rng, 20.0))
    return f"{o.y} ~ beta_binomial({o.n}, inv_logit({o.eta}) * {kappa}, (1 - inv_logit({o.eta})) * {kappa});"


def _log_offset(d) -> str:
    """log of the exposure (or of trials never 0), once, in transformed data."""
    x = d.roles.offsets[0]
    return d.data(f"vector[{d.roles.size}]", f"log_{x}", f"log(to_vector({x}))")


def _w_poisson_exposure(d, o):
    return f"{o.y} ~ poisson_log({_log_offset(d)} + {o.eta});"


def _w_nb_exposure(d, o):
    return f"{o.y} ~ neg_binomial_2_log({_log_offset(d)} + {o.eta}, {dispersion(d)});"


def _w_bernoulli_logit(d, o):
    return f"{o.y} ~ bernoulli_logit({o.eta});"


def _w_bernoulli(d, o):
    return f"{o.y} ~ bernoulli(inv_logit({o.eta}));"


def _w_bernoulli_probit(d, o):
    return f"{o.y} ~ bernoulli(Phi({o.eta}));"


def _w_beta(d, o):
    m, v = d.roles.y_mean, d.roles.y_sd ** 2
    phi = d.param("real<lower=0>", "phi", shape_prior(d.rng, float(np.clip(m * (1 - m) / max(v, 1e-6) - 1, 2, 200))))
    return f"{o.y} ~ beta(inv_logit({o.eta}) * {phi}, (1 - inv_logit({o.eta})) * {phi});"


FAMILIES = (
    Family("normal", "identity", {"real": 3.0, "positive_real": 1.0}, _w_normal),
    Family("student_t", "identity", {"real": 1.5, "positive_real": 0.3}, _w_student),
    Family("double_exponential", "identity", {"real": 0.3}, _w_laplace),
    Family("lognormal", "log", {"positive_real": 2.0}, _w_lognormal),
    Family("gamma", "log", {"positive_real": 1.5}, _w_gamma),
    Family("weibull", "log", {"positive_real": 1.0}, _w_weibull),
    Family("poisson_log", "log", {"count": 2.0}, _w_poisson_log),
    Family("poisson", "log", {"count": 1.0}, _w_poisson),
    Family("neg_binomial_2_log", "log", {"count": 2.0}, _w_nb_log),
    Family("neg_binomial_2", "log", {"count": 0.7}, _w_nb),
    Family("binomial_logit", "logit", {"count": 3.0}, _w_binomial_logit, trials=True),
    Family("binomial", "logit", {"count": 1.0}, _w_binomial, trials=True),
    Family("binomial_probit", "probit", {"count": 0.5}, _w_binomial_probit, trials=True),
    Family("beta_binomial", "logit", {"count": 1.0}, _w_beta_binomial, trials=True, repeats_eta=True),
    Family("poisson_exposure", "log", {"count": 0.7}, _w_poisson_exposure, trials=True),
    Family("nb_exposure", "log", {"count": 0.7}, _w_nb_exposure, trials=True),
    Family("bernoulli_logit", "logit", {"binary": 3.0}, _w_bernoulli_logit),
    Family("bernoulli", "logit", {"binary": 1.0}, _w_bernoulli),
    Family("bernoulli_probit", "probit", {"binary": 0.7}, _w_bernoulli_probit),
    Family("beta", "logit", {"proportion": 1.0}, _w_beta, repeats_eta=True),
)


_OFFSET_FAMILIES = ("poisson_exposure", "nb_exposure")


def pick_family(rng: np.random.Generator, roles: Roles, *, grid: bool = False) -> Family:
    """A family for the target's kind; trials families only with a trials variable (and then
    the plain count families become rarer)."""
    options = {}
    for f in FAMILIES:
        weight = f.weights.get(roles.kind, 0.0)
        offset = f.name in _OFFSET_FAMILIES
        if f.trials and not (roles.offsets if offset else roles.trials):
            weight = 0.0
        if offset and (grid or roles.ndim != 1):
            weight = 0.0  # the exposure offset is a vector over one axis
        if roles.exposures and not roles.trials:
            weight *= 6.0 if offset else 0.3  # a count with an exposure is a rate: the offset is the model
        if roles.trials and not f.trials:
            weight *= 0.1  # a count out of known trials is what binomial families are for
        if grid and f.repeats_eta:
            weight = 0.0
        if weight > 0:
            options[f] = weight
    if not options:
        raise ProposerError(f"no observation family fits target '{roles.target}' of kind {roles.kind}",
                            code="propose.unsupported_target")
    return choose(rng, options)


