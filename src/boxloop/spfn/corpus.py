"""Canonical training programs over model families, written against role-named data.

A structure is one program with its constants fixed (priors included) plus what its data must
hold: the outcome's kind, how many covariates and which of them the program uses, which are
measured in raw units (the program standardises those), which groups, whether there are trials
or known standard errors. Data are named by role and position (`N`, `y`, `x1`..`x6`, `g1`/`J1`,
`g2`/`J2`, `trials`, `se`), the names the proposer later maps a real task's variables onto
(`vocab.role_names`). Every structure is printed in boxloop's canonical form, so the model learns
one spelling per program, and passes the checker (the corpus tests hold that).

Each structure carries the program that simulates its data: for the regression families (and
zero inflation) the family's shared simulator with the constants that make it this structure
(`simulators`), so one compiled kernel serves all of a family's structures; for the other
families the program itself, or a generative twin of it, with its priors' numbers lifted into
data (`lift_constants`). Zero inflation and finite mixtures, which Stan writes with `target +=`,
are drawn through a twin: the discrete choice as a uniform latent passed through a steep
logistic switch. The label is always the program a statistician would fit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..lang import canonical_text, check, parse
from .simulators import regression_defaults, regression_program, set_positive_prior

MAX_COVARIATES = 6
FAMILIES = ("normal", "student_t", "bernoulli", "poisson", "neg_binomial", "binomial", "gamma", "lognormal",
            "zero_inflated_poisson", "mixture", "ar1", "change_point", "measurement_error", "growth")
# The outcome kind each family's data have (what `boxloop.data` infers for the simulated y).
OUTCOME = {"normal": "real", "student_t": "real", "bernoulli": "binary", "poisson": "count",
           "neg_binomial": "count", "binomial": "count", "gamma": "positive", "lognormal": "positive",
           "zero_inflated_poisson": "count", "mixture": "real", "ar1": "real", "change_point": "real",
           "measurement_error": "real", "growth": "real"}
# Quantised constants: priors are written with these numbers only, so each is one token.
SCALES = (0.5, 1, 2, 2.5, 5)


@dataclass(frozen=True)
class DataSpec:
    """What a structure's data hold. `covariates` is how many the data have, `used` which of them
    (1-based) the program uses (all when empty: the rest are distractors a statistician leaves
    out), `raw` which have a location and scale far from 0 and 1 (the program standardises them);
    `groups` is the number of grouping factors (their level counts are drawn with the design);
    `se` marks a known standard error per row (measurement error)."""

    family: str
    covariates: int
    groups: int  # 0, 1 or 2 grouping factors
    trials: bool = False
    series: bool = False
    used: tuple = ()
    raw: tuple = ()
    se: bool = False

    @property
    def used_covariates(self) -> tuple:
        return self.used or tuple(range(1, self.covariates + 1))


@dataclass(frozen=True)
class Structure:
    """One training program: its canonical text, the family label, the parts it has (for the
    evaluation's structure match), its data spec, and the program that simulates its data with
    the constants that make it this structure (`simulators`)."""

    family: str
    text: str
    spec: DataSpec
    parts: tuple  # ("x1", "x3", "group:g1", "slope:g1:x1", ...), sorted
    simulator: str
    constants: tuple = ()  # (name, value) data of the simulator


# ---- building blocks -------------------------------------------------------------------------------


@dataclass
class _Draft:
    """One program under construction, block by block, with the constants that make the
    family's simulator simulate it (mutable for one build only)."""

    params: list
    tparams: list
    priors: list
    tdata: list
    sim: dict

    def param(self, decl: str, name: str, prior: str | None) -> str:
        self.params.append(f"{decl} {name};")
        if prior is not None:
            self.priors.append(f"{name} ~ {prior};")
        return name

    def scale(self, rng, decl: str, name: str, sim_name: str | None = None) -> str:
        """A positive parameter with a random prior form, recorded for the simulator."""
        text, form, constant = _positive_prior(rng)
        if sim_name is not None:
            set_positive_prior(self.sim, sim_name, form, constant)
        return self.param(decl, name, text)


def _draft(sim: dict | None = None) -> _Draft:
    return _Draft([], [], [], [], dict(sim or {}))


def _num(x) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _pick(rng, values):
    return values[int(rng.integers(len(values)))]


def _positive_prior(rng) -> tuple[str, int, float]:
    """(prior text, its form's index in POSITIVE_FORMS, its constant)."""
    form = int(rng.integers(3))
    if form == 0:
        rate = _pick(rng, (0.5, 1, 2))
        return f"exponential({_num(rate)})", 0, rate
    scale = _pick(rng, SCALES)
    return (f"normal(0, {_num(scale)})", 1, scale) if form == 1 else (f"student_t(3, 0, {_num(scale)})", 2, scale)


def _covariate_names(d: _Draft, spec: DataSpec) -> dict:
    """Each used covariate's name in the model: raw ones are standardised in transformed data."""
    names = {}
    for j in spec.used_covariates:
        if j in spec.raw:
            d.tdata.append(f"vector[N] z{j} = (x{j} - mean(x{j})) / sd(x{j});")
        names[j] = f"z{j}" if j in spec.raw else f"x{j}"
    return names


def _predictor(d: _Draft, rng, spec: DataSpec, slopes: bool, centred: bool) -> tuple[str, list]:
    """The linear predictor's text and the parts it uses."""
    scale = _pick(rng, SCALES)
    d.sim["s_alpha"] = float(scale)
    terms = [d.param("real", "alpha", f"normal(0, {_num(scale)})")]
    parts, names = [], _covariate_names(d, spec)
    for j, x in names.items():
        scale = _pick(rng, (0.5, 1))
        d.sim[f"s_b{j}"] = float(scale)
        terms.append(f"{d.param('real', f'b{j}', f'normal(0, {_num(scale)})')} * {x}")
        parts.append(f"x{j}")
    for k in range(1, spec.groups + 1):
        d.sim[f"on_a{k}"] = 1.0
        terms.append(f"{_effects(d, rng, f'a{k}', f'J{k}', centred, f't{k}')}[g{k}]")
        parts.append(f"group:g{k}")
    if slopes and spec.groups and names:
        j = next(iter(names))
        d.sim["on_c1"] = 1.0
        terms.append(f"{_effects(d, rng, 'c1', 'J1', centred, 'tc')}[g1] .* {names[j]}")
        parts.append(f"slope:g1:x{j}")
    return " + ".join(terms), parts


def _effects(d: _Draft, rng, name: str, size: str, centred: bool, sim_scale: str | None) -> str:
    tau = d.scale(rng, "real<lower=0>", f"tau_{name}", sim_scale)
    if centred:
        return d.param(f"vector[{size}]", name, f"normal(0, {tau})")
    raw = d.param(f"vector[{size}]", f"{name}_raw", "std_normal()")
    d.tparams.append(f"vector[{size}] {name} = {tau} * {raw};")
    return name


def _likelihood(d: _Draft, rng, family: str, eta: str) -> str:
    if family in ("normal", "lognormal"):
        return f"y ~ {family}({eta}, {d.scale(rng, 'real<lower=0>', 'sigma', 'sigma')});"
    if family == "student_t":
        if rng.random() < 0.5:
            nu = _num(_pick(rng, (3, 4, 5)))
            d.sim["nu_fixed"] = float(nu)
        else:
            nu = d.param("real<lower=1>", "nu", "gamma(2, 0.1)")
            d.sim["on_nu"] = 1.0
        return f"y ~ student_t({nu}, {eta}, {d.scale(rng, 'real<lower=0>', 'sigma', 'sigma')});"
    if family == "bernoulli":
        return f"y ~ bernoulli_logit({eta});"
    if family == "poisson":
        return f"y ~ poisson_log({eta});"
    if family in ("neg_binomial", "gamma"):
        shape = _pick(rng, (2, 5))
        d.sim["k_phi"] = float(shape)
        phi = d.param("real<lower=0>", "phi", f"gamma({_num(shape)}, 0.5)")
        if family == "gamma":  # mean exp(eta), shape phi
            return f"y ~ gamma({phi}, {phi} * exp(-({eta})));"
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
    lines.append({"real": "vector[N] y;", "binary": "array[N] int<lower=0, upper=1> y;",
                  "count": "array[N] int<lower=0> y;", "positive": "vector<lower=0>[N] y;"}[OUTCOME[spec.family]])
    positive = spec.family == "growth"
    lines += [f"vector{'<lower=0>' if positive else ''}[N] x{j};" for j in range(1, spec.covariates + 1)]
    lines += [f"array[N] int<lower=1, upper=J{k}> g{k};" for k in range(1, spec.groups + 1)]
    if spec.trials:
        lines.append("array[N] int<lower=0> trials;")
    if spec.se:
        lines.append("vector<lower=0>[N] se;")
    return lines


def _data_block(spec: DataSpec) -> str:
    return "data {\n" + "".join(f"  {s}\n" for s in data_declarations(spec)) + "}"


# ---- families --------------------------------------------------------------------------------------
# Each builder returns (label program, parts, simulator program, simulator constants).


def _regression(rng, spec: DataSpec):
    d = _draft(regression_defaults(spec.family))
    slopes = spec.groups > 0 and spec.covariates > 0 and rng.random() < 0.35
    eta, parts = _predictor(d, rng, spec, slopes, centred=rng.random() < 0.5)
    label = _render(d, spec, [_likelihood(d, rng, spec.family, eta)])
    return label, parts, regression_program(spec.family, OUTCOME[spec.family]), d.sim


def _zero_inflated(rng, spec: DataSpec):
    d = _draft(regression_defaults(spec.family))
    eta, parts = _predictor(d, rng, spec, False, True)
    share = _pick(rng, (1, 2))
    d.sim["k_theta"] = float(share)
    theta = d.param("real<lower=0, upper=1>", "theta", f"beta({_num(share)}, 2)")
    rate = "eta[i]" if spec.covariates or spec.groups else "eta"
    local = f"vector[N] eta = {eta};" if rate == "eta[i]" else f"real eta = {eta};"
    loop = (f"for (i in 1:N) {{ if (y[i] == 0) {{ target += log_sum_exp(log({theta}), log1m({theta}) + "
            f"poisson_log_lpmf(0 | {rate})); }} else {{ target += log1m({theta}) + "
            f"poisson_log_lpmf(y[i] | {rate}); }} }}")
    label = _render(d, spec, [local, loop])
    return label, parts + ["zero_inflation"], regression_program(spec.family, "count"), d.sim


def _mixture(rng, spec: DataSpec):
    d = _draft()
    mu = d.param("ordered[2]", "mu", f"normal(0, {_num(_pick(rng, (2, 5)))})")
    sigma = d.scale(rng, "real<lower=0>", "sigma")
    theta = d.param("real<lower=0, upper=1>", "theta", "beta(2, 2)")
    loop = (f"for (i in 1:N) target += log_mix({theta}, normal_lpdf(y[i] | {mu}[1], {sigma}), "
            f"normal_lpdf(y[i] | {mu}[2], {sigma}));")
    label = _render(d, spec, [loop])
    twin = _Draft(list(d.params), [], list(d.priors), [], {})
    u = twin.param("vector<lower=0, upper=1>[N]", "u", "uniform(0, 1)")
    switch = f"inv_logit(1000 * ({u} - {theta}))"
    sim = _render(twin, spec, [f"y ~ normal({mu}[1] + ({mu}[2] - {mu}[1]) * {switch}, {sigma});"])
    return label, ["mixture"], *lift_constants(sim)


def _ar1(rng, spec: DataSpec):
    d = _draft()
    alpha = d.param("real", "alpha", f"normal(0, {_num(_pick(rng, SCALES))})")
    rho = d.param("real<lower=-1, upper=1>", "rho", "uniform(-1, 1)" if rng.random() < 0.5 else "normal(0, 0.5)")
    sigma = d.scale(rng, "real<lower=0>", "sigma")
    model = [f"y[1] ~ normal({alpha}, {sigma});",
             f"for (t in 2:N) y[t] ~ normal({alpha} + {rho} * y[t - 1], {sigma});"]
    label = _render(d, spec, model)
    return label, ["ar1"], *lift_constants(label)


_TT = "vector[N] tt = linspaced_vector(N, 0, 1);"


def _change_point(rng, spec: DataSpec):
    d = _draft()
    d.tdata.append(_TT)
    mu = d.param("real", "mu", f"normal(0, {_num(_pick(rng, SCALES))})")
    delta = d.param("real", "delta", f"normal(0, {_num(_pick(rng, (2, 5)))})")
    tau = d.param("real<lower=0, upper=1>", "tau", "beta(4, 4)")
    sigma = d.scale(rng, "real<lower=0>", "sigma")
    label = _render(d, spec, [f"y ~ normal({mu} + {delta} * inv_logit(50 * (tt - {tau})), {sigma});"])
    # the simulator reads the time grid as data, so a long simulated series cut short keeps it
    sim = label.replace(f"transformed data {{\n  {_TT}\n}}\n", "").replace("  int<lower=0> N;\n", "  int<lower=0> N;\n  vector[N] tt;\n", 1)
    return label, ["change_point"], *lift_constants(sim)


def _measurement_error(rng, spec: DataSpec):
    """Each row an estimate with a known standard error (`se`), the true values drawn from a
    common normal, perhaps with a covariate: eight schools and its meta-regressions."""
    d = _draft()
    terms = [d.param("real", "mu", f"normal(0, {_num(_pick(rng, (1, 5, 10)))})")]
    names = _covariate_names(d, spec)
    for j, x in names.items():
        terms.append(f"{d.param('real', f'b{j}', 'normal(0, 1)')} * {x}")
    tau = d.scale(rng, "real<lower=0>", "tau")
    centre = " + ".join(terms)
    if rng.random() < 0.5:
        theta = d.param("vector[N]", "theta", f"normal({centre}, {tau})")
    else:
        raw = d.param("vector[N]", "theta_raw", "std_normal()")
        d.tparams.append(f"vector[N] theta = {centre} + {tau} * {raw};")
        theta = "theta"
    label = _render(d, spec, [f"y ~ normal({theta}, se);"])
    return label, ["measurement_error", *(f"x{j}" for j in names)], *lift_constants(label)


def _growth(rng, spec: DataSpec):
    """A curve that rises to an asymptote in a positive covariate (age, dose, time)."""
    d = _draft()
    top = d.param("real", "alpha", f"normal(0, {_num(_pick(rng, (2, 5)))})")
    rise = d.param("real<lower=0>", "beta", f"normal(0, {_num(_pick(rng, (1, 2)))})")
    rate = d.param("real<lower=0>", "kappa", f"exponential({_num(_pick(rng, (1, 2)))})")
    sigma = d.scale(rng, "real<lower=0>", "sigma")
    label = _render(d, spec, [f"y ~ normal({top} - {rise} * exp(-{rate} * x1), {sigma});"])
    return label, ["growth", "x1"], *lift_constants(label)


_BUILDERS = {"zero_inflated_poisson": _zero_inflated, "mixture": _mixture, "ar1": _ar1,
             "change_point": _change_point, "measurement_error": _measurement_error, "growth": _growth}
_COVARIATE_ODDS = (0.2, 0.25, 0.2, 0.15, 0.1, 0.06, 0.04)
_DISTRACTOR_ODDS = (0.75, 0.15, 0.1)


def random_spec(rng, family: str) -> DataSpec:
    """A data spec for `family`: 0-6 covariates (fewer for the special families), perhaps with
    columns the program does not use, some of them raw, and 0-2 groups."""
    if family in ("mixture", "ar1", "change_point"):
        return DataSpec(family, 0, 0, series=family != "mixture")
    if family == "growth":
        return DataSpec(family, 1, 0)
    used = int(rng.choice(MAX_COVARIATES + 1, p=_COVARIATE_ODDS))
    groups = int(rng.choice(3, p=(0.55, 0.35, 0.10)))
    if family == "zero_inflated_poisson":
        used, groups = min(used, 2), min(groups, 1)
    if family == "measurement_error":
        used, groups = min(used, 1), 0
    total = min(MAX_COVARIATES, used + int(rng.choice(3, p=_DISTRACTOR_ODDS)))
    chosen = tuple(sorted(int(j) + 1 for j in rng.choice(total, used, replace=False))) if used < total else ()
    raw = tuple(j for j in range(1, total + 1) if rng.random() < 0.25)
    return DataSpec(family, total, groups, trials=family == "binomial", used=chosen, raw=raw,
                    se=family == "measurement_error")


def make_structure(rng: np.random.Generator, family: str, spec: DataSpec | None = None) -> Structure:
    """One structure of `family` (with a random data spec unless given), canonical and checked."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; families: {', '.join(FAMILIES)}")
    spec = spec or random_spec(rng, family)
    build = _BUILDERS.get(family, _regression)
    label, parts, simulator, constants = build(rng, spec)
    return Structure(family, canonicalise(label), spec, tuple(sorted(parts)), simulator,
                     tuple(sorted(constants.items())))


_PRIOR_LINE = re.compile(r"^(\s*(?!y )\w+ ~ \w+\()(.*)(\);)$", re.M)
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?(?![\w.])")


def lift_constants(text: str) -> tuple[str, dict]:
    """The program with every number in a prior turned into a data variable (`k1`, `k2`, ...),
    and their values. Structures that differ only in their priors' constants then share one
    compiled kernel (the compiler caches by program and data shapes and passes values as
    arguments)."""
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
