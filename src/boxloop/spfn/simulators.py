"""The programs that simulate the corpus: one per family, every structure of it a setting of its data.

A regression structure (which covariates, which group effects, varying slopes, which prior for
each scale, fixed or learned degrees of freedom) differs from its family's other structures only
in what its linear predictor holds and in its priors' forms and constants. The family's simulator
holds all of them at once: six covariate slopes, two group effects and a varying slope, switched
on or off by 0/1 data; each scale drawn under all three prior forms the corpus writes
(exponential, half-normal, half-student-t) and combined by one-hot data. A structure is then a
dict of constants, so one compiled kernel per family serves every structure (the compiler
caches by program and shapes, and takes data values as arguments): the corpus pays one compile
per family and row count, not per structure or dataset. Covariates a structure does not use are
zero columns; group codes of an absent factor are all 1; `xs` is the covariate whose slope
varies.

The simulator reads the same priors as the label program, so the data are draws from the label's
prior predictive: switched-off terms add exactly zero and the unused forms' draws are multiplied
by zero. `tests/spfn/test_simulators.py` holds the two equal in distribution.
"""

from __future__ import annotations

from functools import lru_cache

REGRESSION_FAMILIES = ("normal", "student_t", "bernoulli", "poisson", "neg_binomial", "binomial", "gamma",
                       "lognormal", "zero_inflated_poisson")
MAX_COVARIATES = 6
SIM_LEVELS = 40  # the group-level count every simulator is compiled with (codes use fewer)
SCALES = ("t1", "t2", "tc", "sigma")  # the positive parameters written with a random prior form
POSITIVE_FORMS = ("exponential", "normal", "student_t")

_LIKELIHOOD = {
    "normal": "y ~ normal(eta, sigma);",
    "student_t": "y ~ student_t(nu, eta, sigma);",
    "bernoulli": "y ~ bernoulli_logit(eta);",
    "poisson": "y ~ poisson_log(eta);",
    "neg_binomial": "y ~ neg_binomial_2_log(eta, phi);",
    "binomial": "y ~ binomial_logit(trials, eta);",
    "gamma": "y ~ gamma(phi, phi * exp(-eta));",
    "lognormal": "y ~ lognormal(eta, sigma);",
    # zero inflation forward: a uniform latent through a steep switch sends a share theta to 0
    "zero_inflated_poisson": "y ~ poisson_log(eta + log_inv_logit(1000 * (u - theta)));",
}
_OUTCOME_DECL = {"real": "vector[N] y;", "count": "array[N] int<lower=0> y;",
                 "binary": "array[N] int<lower=0, upper=1> y;", "positive": "vector<lower=0>[N] y;"}


def regression_defaults(family: str) -> dict:
    """Every constant of the family's simulator, set to a structure with nothing switched on."""
    values = {"s_alpha": 1.0, **{f"s_b{j}": 1.0 for j in range(1, MAX_COVARIATES + 1)},
              "on_a1": 0.0, "on_a2": 0.0, "on_c1": 0.0, "nu_fixed": 4.0, "on_nu": 0.0, "k_phi": 2.0,
              "k_theta": 1.0}
    for p in SCALES:
        values |= {f"{p}_w1": 1.0, f"{p}_w2": 0.0, f"{p}_w3": 0.0, f"{p}_k1": 1.0, f"{p}_k2": 1.0, f"{p}_k3": 1.0}
    return values


def set_positive_prior(values: dict, name: str, form: int, constant: float) -> None:
    """Select prior form `form` (an index into POSITIVE_FORMS) with its constant for scale `name`."""
    for k in (1, 2, 3):
        values[f"{name}_w{k}"] = float(k == form + 1)
    values[f"{name}_k{form + 1}"] = float(constant)


@lru_cache(maxsize=None)
def regression_program(family: str, outcome: str) -> str:
    """The family's simulator (see the module docstring); `outcome` is the y declaration's kind."""
    covariates = range(1, MAX_COVARIATES + 1)
    data = ["int<lower=1> N;", "int<lower=1> J1;", "int<lower=1> J2;", _OUTCOME_DECL[outcome],
            *(f"vector[N] x{j};" for j in covariates),
            "array[N] int<lower=1, upper=J1> g1;", "array[N] int<lower=1, upper=J2> g2;",
            "array[N] int<lower=0> trials;", "vector[N] xs;",
            *(f"real {name};" for name in regression_defaults(family))]
    params = ["real alpha;", *(f"real b{j};" for j in covariates), "vector[J1] z1;", "vector[J2] z2;",
              "vector[J1] zc;", "real<lower=1> nu_p;", "real<lower=0> phi;", "real<lower=0, upper=1> theta;",
              "vector<lower=0, upper=1>[N] u;",
              *(f"real<lower=0> {p}_f{k};" for p in SCALES for k in (1, 2, 3))]
    scales = [f"real {p} = {p}_w1 * {p}_f1 + {p}_w2 * {p}_f2 + {p}_w3 * {p}_f3;" for p in SCALES]
    slopes = " + ".join(f"b{j} * x{j}" for j in covariates)
    tparams = [*scales, "real nu = on_nu * nu_p + (1 - on_nu) * nu_fixed;",
               "vector[J1] a1 = t1 * z1;", "vector[J2] a2 = t2 * z2;", "vector[J1] c1 = tc * zc;",
               f"vector[N] eta = alpha + {slopes} + on_a1 * a1[g1] + on_a2 * a2[g2] + on_c1 * c1[g1] .* xs;"]
    priors = ["alpha ~ normal(0, s_alpha);", *(f"b{j} ~ normal(0, s_b{j});" for j in covariates),
              "z1 ~ std_normal();", "z2 ~ std_normal();", "zc ~ std_normal();", "nu_p ~ gamma(2, 0.1);",
              "phi ~ gamma(k_phi, 0.5);", "theta ~ beta(k_theta, 2);", "u ~ uniform(0, 1);",
              *(f"{p}_f1 ~ exponential({p}_k1);\n{p}_f2 ~ normal(0, {p}_k2);\n{p}_f3 ~ student_t(3, 0, {p}_k3);"
                for p in SCALES)]
    return _program(data, params, tparams, [*priors, _LIKELIHOOD[family]])


def _program(data, params, tparams, model) -> str:
    def block(name, lines):
        return f"{name} {{\n" + "".join(f"  {s}\n" for s in "\n".join(lines).splitlines()) + "}\n"
    return (block("data", data) + block("parameters", params) + block("transformed parameters", tparams)
            + block("model", model))


def regression_data(design: dict, values: dict) -> dict:
    """The simulator's data for one structure's design (`design` holds N, the covariates it has,
    its groups and trials) and constants: absent covariates are zero, absent groups all 1."""
    n = design["N"]
    data = {"N": n, "J1": SIM_LEVELS, "J2": SIM_LEVELS, **values}
    for j in range(1, MAX_COVARIATES + 1):
        data[f"x{j}"] = design.get(f"x{j}", [0.0] * n)
    for k in (1, 2):
        data[f"g{k}"] = design.get(f"g{k}", [1] * n)
    data["trials"] = design.get("trials", [1] * n)
    data["xs"] = design.get("xs", [0.0] * n)
    data["y"] = design["y"]
    return data
