"""Canonical training programs over model families, written against role-named data.

A structure is one program with its constants fixed (priors included) plus what its data must
hold: the outcome's kind, how many covariates, which groups, whether there are trials. Data are
named by role and position (`N`, `y`, `x1`..`x6`, `g1`/`J1`, `g2`/`J2`, `trials`), the names the
proposer later maps a real task's variables onto (`vocab.role_names`). Every structure is printed
in boxloop's canonical form, so the model learns one spelling per program, and passes the checker
(the corpus tests hold that).

Families that Stan writes with `target +=` (zero inflation, finite mixtures) cannot be simulated
forward, so they carry a generative twin: the same parameters and priors, with the discrete
choice written as a uniform latent passed through a steep logistic switch. The twin is only for
drawing data; the label is always the program a statistician would fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..lang import canonical_text, check, parse

MAX_COVARIATES = 6
FAMILIES = ("normal", "student_t", "bernoulli", "poisson", "neg_binomial", "binomial",
            "zero_inflated_poisson", "mixture", "ar1", "change_point")
# The outcome kind each family's data have (what `boxloop.data` infers for the simulated y).
OUTCOME = {"normal": "real", "student_t": "real", "bernoulli": "binary", "poisson": "count",
           "neg_binomial": "count", "binomial": "count", "zero_inflated_poisson": "count",
           "mixture": "real", "ar1": "real", "change_point": "real"}
_REGRESSIONS = ("normal", "student_t", "bernoulli", "poisson", "neg_binomial", "binomial")
# Quantised constants: priors are written with these numbers only, so each is one token.
SCALES = (0.5, 1, 2, 2.5, 5)


@dataclass(frozen=True)
class DataSpec:
    """What a structure's data hold. `groups` gives each grouping factor's number of levels in
    the design drawn at simulation time (only the count of factors is part of the structure)."""

    family: str
    covariates: int
    groups: int  # 0, 1 or 2 grouping factors
    trials: bool = False
    series: bool = False


@dataclass(frozen=True)
class Structure:
    """One training program: its canonical text, the family label, the parts it has (for the
    evaluation's structure match), its data spec, and the program that simulates its data."""

    family: str
    text: str
    spec: DataSpec
    parts: tuple  # ("x1", "x3", "group:g1", "slope:g1:x1", ...), sorted
    simulator: str  # the generating program, its prior constants lifted into data (`lift_constants`)
    constants: tuple = ()  # (name, value) of the lifted constants


# ---- building blocks -------------------------------------------------------------------------------


@dataclass
class _Draft:
    """One program under construction, block by block (mutable for one build only)."""

    params: list
    tparams: list
    priors: list
    tdata: list

    def param(self, decl: str, name: str, prior: str | None) -> str:
        self.params.append(f"{decl} {name};")
        if prior is not None:
            self.priors.append(f"{name} ~ {prior};")
        return name


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _scale(rng) -> str:
    return _num(SCALES[int(rng.integers(len(SCALES)))])


def _positive_prior(rng) -> str:
    kind = int(rng.integers(3))
    if kind == 0:
        return f"exponential({_num(rng.choice([0.5, 1, 2]))})"
    if kind == 1:
        return f"normal(0, {_scale(rng)})"
    return f"student_t(3, 0, {_scale(rng)})"


def _predictor(d: _Draft, rng, spec: DataSpec, slopes: bool, centred: bool) -> tuple[str, list]:
    """The linear predictor's text and the parts it uses."""
    terms = [d.param("real", "alpha", f"normal(0, {_scale(rng)})")]
    parts = []
    for j in range(1, spec.covariates + 1):
        terms.append(f"{d.param('real', f'b{j}', f'normal(0, {_num(rng.choice([0.5, 1]))})')} * x{j}")
        parts.append(f"x{j}")
    for k in range(1, spec.groups + 1):
        terms.append(f"{_effects(d, rng, f'a{k}', f'J{k}', centred)}[g{k}]")
        parts.append(f"group:g{k}")
    if slopes and spec.groups and spec.covariates:
        terms.append(f"{_effects(d, rng, 'c1', 'J1', centred)}[g1] .* x1")
        parts.append("slope:g1:x1")
    return " + ".join(terms), parts


def _effects(d: _Draft, rng, name: str, size: str, centred: bool) -> str:
    tau = d.param("real<lower=0>", f"tau_{name}", _positive_prior(rng))
    if centred:
        return d.param(f"vector[{size}]", name, f"normal(0, {tau})")
    raw = d.param(f"vector[{size}]", f"{name}_raw", "std_normal()")
    d.tparams.append(f"vector[{size}] {name} = {tau} * {raw};")
    return name


def _likelihood(d: _Draft, rng, family: str, eta: str) -> str:
    if family == "normal":
        return f"y ~ normal({eta}, {d.param('real<lower=0>', 'sigma', _positive_prior(rng))});"
    if family == "student_t":
        nu = _num(rng.choice([3, 4, 5])) if rng.random() < 0.5 else \
            d.param("real<lower=1>", "nu", "gamma(2, 0.1)")
        return f"y ~ student_t({nu}, {eta}, {d.param('real<lower=0>', 'sigma', _positive_prior(rng))});"
    if family == "bernoulli":
        return f"y ~ bernoulli_logit({eta});"
    if family == "poisson":
        return f"y ~ poisson_log({eta});"
    if family == "neg_binomial":
        phi = d.param("real<lower=0>", "phi", f"gamma({_num(rng.choice([2, 5]))}, 0.5)")
        return f"y ~ neg_binomial_2_log({eta}, {phi});"
    if family == "binomial":
        return f"y ~ binomial_logit(trials, {eta});"
    raise ValueError(f"{family} is not a regression family")


def _render(d: _Draft, spec: DataSpec, model: list) -> str:
    blocks = [_data_block(spec)]
    if d.tdata:
        blocks.append("transformed data {\n" + "".join(f"  {s}\n" for s in d.tdata) + "}")
    blocks.append("parameters {\n" + "".join(f"  {s}\n" for s in d.params) + "}")
    if d.tparams:
        blocks.append("transformed parameters {\n" + "".join(f"  {s}\n" for s in d.tparams) + "}")
    blocks.append("model {\n" + "".join(f"  {s}\n" for s in [*d.priors, *model]) + "}")
    return "\n".join(blocks) + "\n"


def data_declarations(spec: DataSpec) -> list[str]:
    """The data block's lines for `spec`, in the order `boxloop.data` declares them."""
    lines = ["int<lower=0> N;"] + [f"int<lower=0> J{k};" for k in range(1, spec.groups + 1)]
    kind = OUTCOME[spec.family]
    lines.append({"real": "vector[N] y;", "binary": "array[N] int<lower=0, upper=1> y;",
                  "count": "array[N] int<lower=0> y;"}[kind])
    lines += [f"vector[N] x{j};" for j in range(1, spec.covariates + 1)]
    lines += [f"array[N] int<lower=1, upper=J{k}> g{k};" for k in range(1, spec.groups + 1)]
    if spec.trials:
        lines.append("array[N] int<lower=0> trials;")
    return lines


def _data_block(spec: DataSpec) -> str:
    return "data {\n" + "".join(f"  {s}\n" for s in data_declarations(spec)) + "}"


# ---- families --------------------------------------------------------------------------------------


def _regression(rng, spec: DataSpec) -> tuple[str, str, list]:
    d = _Draft([], [], [], [])
    slopes = spec.groups > 0 and spec.covariates > 0 and rng.random() < 0.35
    eta, parts = _predictor(d, rng, spec, slopes, centred=rng.random() < 0.5)
    text = _render(d, spec, [_likelihood(d, rng, spec.family, eta)])
    return text, text, parts


def _zero_inflated(rng, spec: DataSpec) -> tuple[str, str, list]:
    d = _Draft([], [], [], [])
    eta, parts = _predictor(d, rng, spec, False, True)
    theta = d.param("real<lower=0, upper=1>", "theta", f"beta({_num(rng.choice([1, 2]))}, 2)")
    rate = "eta[i]" if spec.covariates or spec.groups else "eta"
    local = f"vector[N] eta = {eta};" if rate == "eta[i]" else f"real eta = {eta};"
    loop = (f"for (i in 1:N) {{ if (y[i] == 0) {{ target += log_sum_exp(log({theta}), log1m({theta}) + "
            f"poisson_log_lpmf(0 | {rate})); }} else {{ target += log1m({theta}) + "
            f"poisson_log_lpmf(y[i] | {rate}); }} }}")
    label = _render(d, spec, [local, loop])
    twin = _Draft(list(d.params), [], list(d.priors), [])
    u = twin.param("vector<lower=0, upper=1>[N]", "u", "uniform(0, 1)")
    sim = _render(twin, spec, [f"y ~ poisson_log({eta} + log_inv_logit(1000 * ({u} - {theta})));"])
    return label, sim, parts + ["zero_inflation"]


def _mixture(rng, spec: DataSpec) -> tuple[str, str, list]:
    d = _Draft([], [], [], [])
    mu = d.param("ordered[2]", "mu", f"normal(0, {_num(rng.choice([2, 5]))})")
    sigma = d.param("real<lower=0>", "sigma", _positive_prior(rng))
    theta = d.param("real<lower=0, upper=1>", "theta", "beta(2, 2)")
    loop = (f"for (i in 1:N) target += log_mix({theta}, normal_lpdf(y[i] | {mu}[1], {sigma}), "
            f"normal_lpdf(y[i] | {mu}[2], {sigma}));")
    label = _render(d, spec, [loop])
    twin = _Draft(list(d.params), [], list(d.priors), [])
    u = twin.param("vector<lower=0, upper=1>[N]", "u", "uniform(0, 1)")
    switch = f"inv_logit(1000 * ({u} - {theta}))"
    sim = _render(twin, spec, [f"y ~ normal({mu}[1] + ({mu}[2] - {mu}[1]) * {switch}, {sigma});"])
    return label, sim, ["mixture"]


def _ar1(rng, spec: DataSpec) -> tuple[str, str, list]:
    d = _Draft([], [], [], [])
    alpha = d.param("real", "alpha", f"normal(0, {_scale(rng)})")
    rho = d.param("real<lower=-1, upper=1>", "rho", "uniform(-1, 1)" if rng.random() < 0.5 else "normal(0, 0.5)")
    sigma = d.param("real<lower=0>", "sigma", _positive_prior(rng))
    model = [f"y[1] ~ normal({alpha}, {sigma});",
             f"for (t in 2:N) y[t] ~ normal({alpha} + {rho} * y[t - 1], {sigma});"]
    text = _render(d, spec, model)
    return text, text, ["ar1"]


def _change_point(rng, spec: DataSpec) -> tuple[str, str, list]:
    d = _Draft([], [], [], ["vector[N] tt = linspaced_vector(N, 0, 1);"])
    mu = d.param("real", "mu", f"normal(0, {_scale(rng)})")
    delta = d.param("real", "delta", f"normal(0, {_num(rng.choice([2, 5]))})")
    tau = d.param("real<lower=0, upper=1>", "tau", "beta(4, 4)")
    sigma = d.param("real<lower=0>", "sigma", _positive_prior(rng))
    model = [f"y ~ normal({mu} + {delta} * inv_logit(50 * (tt - {tau})), {sigma});"]
    text = _render(d, spec, model)
    return text, text, ["change_point"]


_BUILDERS = {"zero_inflated_poisson": _zero_inflated, "mixture": _mixture, "ar1": _ar1,
             "change_point": _change_point}


def random_spec(rng, family: str) -> DataSpec:
    """A data spec for `family`: 0-6 covariates (fewer for the special families), 0-2 groups."""
    if family in ("mixture", "ar1", "change_point"):
        return DataSpec(family, 0, 0, series=family != "mixture")
    covariates = int(rng.choice(MAX_COVARIATES + 1, p=_COVARIATE_ODDS))
    groups = int(rng.choice(3, p=(0.55, 0.35, 0.10)))
    if family == "zero_inflated_poisson":
        covariates, groups = min(covariates, 2), min(groups, 1)
    return DataSpec(family, covariates, groups, trials=family == "binomial")


_COVARIATE_ODDS = (0.2, 0.25, 0.2, 0.15, 0.1, 0.06, 0.04)


def make_structure(rng: np.random.Generator, family: str, spec: DataSpec | None = None) -> Structure:
    """One structure of `family` (with a random data spec unless given), canonical and checked."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")
    spec = spec or random_spec(rng, family)
    build = _BUILDERS.get(family, _regression)
    label, sim, parts = build(rng, spec)
    lifted, constants = lift_constants(sim)
    return Structure(family, canonicalise(label), spec, tuple(sorted(parts)), canonicalise(lifted),
                     tuple(constants.items()))


_PRIOR_LINE = re.compile(r"^(\s*(?!y )\w+ ~ \w+\()(.*)(\);)$", re.M)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])")


def lift_constants(text: str) -> tuple[str, dict]:
    """The program with every number in a prior turned into a data variable (`k1`, `k2`, ...),
    and their values. Structures that differ only in their priors' constants then share one
    compiled kernel (the compiler caches by program and data shapes and passes values as
    arguments): the corpus pays per skeleton, not per structure or dataset."""
    values: dict = {}

    def lift_args(m):
        def name(n):
            values[f"k{len(values) + 1}"] = float(n.group(0))
            return f"k{len(values)}"
        return m.group(1) + _NUMBER.sub(name, m.group(2)) + m.group(3)

    body = _PRIOR_LINE.sub(lift_args, text)
    declarations = "".join(f"  real {c};\n" for c in values)
    return body.replace("data {\n", "data {\n" + declarations, 1), values


def canonicalise(text: str) -> str:
    """The canonical form of a corpus program; a program the checker rejects is a bug here."""
    result = check(text)
    if not result.valid:
        errors = "; ".join(str(d) for d in result.diagnostics if d.is_error)
        raise AssertionError(f"a corpus program failed the checker ({errors}):\n{text}")
    return canonical_text(parse(text))


def sample_structures(rng: np.random.Generator, n: int, families=FAMILIES) -> list[Structure]:
    """`n` structures, families in turn (so every family is equally represented)."""
    return [make_structure(rng, families[i % len(families)]) for i in range(n)]
