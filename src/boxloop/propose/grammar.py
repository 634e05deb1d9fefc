"""The `grammar` proposer: a probabilistic grammar over the Stan subset, typed against the data.

No language model: a program is assembled from choices that fit what the data are. The target's
kind picks the observation family (a count gets poisson / neg_binomial_2 / binomial when a trials
variable bounds it; a binary gets bernoulli; a proportion gets beta; a positive real gets
lognormal / gamma / weibull; a real gets normal / student_t; a group index gets categorical or
ordered logistic). The linear predictor draws covariate subsets (raw, standardised or logged),
quadratic terms and interactions, hierarchical intercepts and slopes over group indices
(centred, non-centred or offset/multiplier), observation-level effects, a latent AR(1) or random
walk for series, a Gaussian process over a 1-d input, or, more rarely, a nonlinear growth curve.
A variable that looks like a standard error of the target gives a known-scale measurement model
(eight schools). Priors are weakly informative, centred and scaled from the data's own summary
(intercepts near the observed mean on the link scale), with random family and width.

Every sample is checked with `boxloop.lang.check(text, data)`. A rejected sample is a bug in
this module; the loop that resamples is only a safety net and counts each rejection in the
proposal's accounting (`tries` > 1), so tests can insist on none.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable

import numpy as np

from ..errors import ProposerError
from ..lang import check, library
from .base import BLOCKS, Accounting, Proposal
from .families import Family, Obs, dispersion, hint, pick_family
from .grammar_parts import (Covariate, Draft, Roles, Weights, choose, num, positive_prior, real_prior,
                            shape_prior, unit_prior)
from .grammar_parts import analyse as analyse
from .structures import (GP, Term, ar1, covariate_input, covariate_terms, fixed_effects, gp_input, gp_kernel,
                         gp_term, growth_curve, hierarchy, intercept, random_walk, size_value, slope)

MAX_ATTEMPTS = 20  # safety net only: a valid sample is expected on the first attempt
_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\S")
UNIT_EFFECTS_MAX = 2000

# ---- the proposer -------------------------------------------------------------------------------


class GrammarProposer:
    """Samples programs from the typed grammar. Seeded: proposal i of a call with seed s always
    uses the generator seeded with (s, i), so it does not depend on n.

    With `block="prior"` or `"likelihood"` and a `context` program, only that block is rewritten
    (see `rewrite`); with `block="program"` the whole program is written from the task and any
    context is ignored (the data block always comes from the task)."""

    name = "grammar"

    def __init__(self, weights: Weights = Weights()):
        self.weights = weights

    def propose(self, task, *, context: str | None = None, block: str = "program", n: int = 1,
                seed: int = 0) -> list[Proposal]:
        if block not in BLOCKS:
            raise ProposerError(f"unknown block {block!r}; ask for one of {', '.join(BLOCKS)}",
                                code="propose.bad_block")
        roles = analyse(task)
        data = dict(task.dataset.values)
        sample = self._sampler(task, roles, context, block)
        return [self._one(sample, data, block, seed, i) for i in range(n)]

    def _sampler(self, task, roles: Roles, context: str | None, block: str) -> Callable:
        if block == "program" or context is None:
            return lambda rng: sample_program(task, roles, rng, self.weights)
        from .rewrite import rewrite  # the block rewrites parse the context; only load them when asked

        def sample(rng):
            text = rewrite(context, block, task, roles, rng)
            return text if text is not None else sample_program(task, roles, rng, self.weights)

        return sample

    def _one(self, sample: Callable, data: dict, block: str, seed: int, i: int) -> Proposal:
        start, discarded = time.perf_counter(), 0
        for attempt in range(MAX_ATTEMPTS):
            text = sample(np.random.default_rng([seed, i, attempt]))
            result = check(text, data=data)
            if result.valid:
                return Proposal(text, True, block, _accounting(text, discarded, attempt + 1, start),
                                tuple(d.to_dict() for d in result.diagnostics), self.name)
            discarded += _tokens(text)
        return Proposal(text, False, block, _accounting(text, discarded - _tokens(text), MAX_ATTEMPTS, start),
                        tuple(d.to_dict() for d in result.diagnostics), self.name)


def _tokens(text: str) -> int:
    return len(_TOKEN.findall(text))


def _accounting(text: str, discarded: int, tries: int, start: float) -> Accounting:
    return Accounting(_tokens(text), discarded, tries, time.perf_counter() - start)


# ---- whole programs -----------------------------------------------------------------------------


def sample_program(task, roles: Roles, rng: np.random.Generator, w: Weights = Weights()) -> str:
    """One complete program for `task`: its data block, then parameters, priors and likelihood."""
    d = Draft(rng, roles, task.data_block(), task.dataset.values)
    if roles.ndim > 2:
        raise ProposerError(f"the grammar proposer models targets of at most 2 dimensions; "
                            f"'{roles.target}' has {roles.ndim}", code="propose.unsupported_target")
    if roles.kind == "categorical":
        _categorical(d, w)
    elif roles.known_scale and rng.random() < w.measurement:
        _measurement(d, w)
    elif rng.random() < _direct_chance(roles, w):
        _direct(d)
    elif roles.ndim == 2:
        _grid(d, w)
    else:
        _regression(d, w)
    if rng.random() < w.replicate:
        _replicate(d)
    return d.render()


# Univariate families whose replicates are one `_rng` call with the likelihood's arguments; each must
# have that `_rng` in Stan (binomial_logit has none), which `_replicate` checks against the library.
_RNG = frozenset({"normal", "student_t", "double_exponential", "lognormal", "gamma", "weibull", "exponential",
                  "poisson", "poisson_log", "neg_binomial_2", "neg_binomial_2_log", "binomial",
                  "bernoulli", "bernoulli_logit", "beta", "beta_binomial"})


def _replicate(d: Draft) -> None:
    """y_rep drawn with the likelihood's own arguments, when the likelihood is one vectorised
    statement whose arguments the generated quantities block can see (no model-block locals)."""
    r = d.roles
    m = re.fullmatch(rf"{re.escape(r.target)} ~ (\w+)\((.*)\);", d.likelihood[0]) if len(d.likelihood) == 1 else None
    local_names = {line.split("=")[0].split()[-1] for line in d.locals}
    if m is None or m.group(1) not in _RNG or not d.vectorised or set(re.findall(r"\w+", m.group(2))) & local_names:
        return
    if library.resolve_suffixed(f"{m.group(1)}_rng") is None:
        return
    kind = "int" if r.is_int else "real"
    name = d.fresh(f"{r.target}_rep")
    d.generated.append(f"array[{r.size}] {kind} {name} = {m.group(1)}_rng({m.group(2)});")


def _direct_chance(roles: Roles, w: Weights) -> float:
    plain = not (roles.covariates or roles.groups or roles.series or roles.factors or roles.exposures)
    if roles.ndim > 1:
        return w.direct * 0.3
    if roles.groups or roles.factors or roles.exposures:
        return w.direct * 0.15  # the table says what varies: an intercept-only model ignores all of it
    # one common rate is exactly what overdispersed counts rule out
    return w.direct * (1.6 if plain else 0.4) / _dispersion_lean(roles, w, plain)


# ---- model shapes -------------------------------------------------------------------------------


def _regression(d: Draft, w: Weights) -> None:
    """A 1-d (or scalar) target: family + predictor, with optional latent structure."""
    r, rng = d.roles, d.rng
    fam = pick_family(rng, r)
    center, spread = hint(r, fam)
    growth_inputs = [c for c in r.covariates if c.positive and not c.binary]
    bends = any(c.log_better or c.curved for c in growth_inputs)
    if fam.link == "identity" and growth_inputs and r.ndim == 1 and rng.random() < w.growth * (2 if bends else 1):
        terms = [growth_curve(d, growth_inputs[int(rng.integers(len(growth_inputs)))])]
        return _observe(d, fam, terms, w)
    latent = _latent_choice(d, fam, w)
    terms, group = ([random_walk(d, center, spread)], None) if latent == "rw" else _intercepts(d, center, spread, w)
    terms.extend(covariate_terms(d, spread, w, group))
    if latent == "ar1":
        terms.append(ar1(d, spread))
    if latent == "gp":
        gp = gp_kernel(d, gp_input(d), spread)
        if fam.name == "normal" and rng.random() < 0.5:
            return _marginal_gp(d, gp, terms)
        terms.append(gp_term(d, gp))
    plain = not (r.covariates or r.groups or r.factors)  # then extra-binomial/Poisson variation is the main question
    if latent is None and fam.link != "identity" and r.ndim == 1 and size_value(d) <= UNIT_EFFECTS_MAX \
            and rng.random() < w.unit_effects * (2.5 if plain else 1.0) * _dispersion_lean(r, w, plain):
        terms.append(Term(f"{hierarchy(d, 'u', r.size, None, 0.5 * spread)}", True))
    if latent == "lag":
        return _lagged(d, fam, terms)
    _observe(d, fam, terms, w)


def _dispersion_lean(r: Roles, w: Weights, plain: bool) -> float:
    """Unit effects are what extra-binomial/Poisson variation asks for; with none, they are
    mostly dead weight (the threshold leaves room for sampling noise in the statistic). Read only
    without covariates: around one common rate, a covariate's effect also looks like dispersion."""
    if r.dispersion is None or not plain:
        return 1.0
    return w.overdispersed if r.dispersion > 1.5 else 1 / w.overdispersed


def _latent_choice(d: Draft, fam: Family, w: Weights) -> str | None:
    r = d.roles
    if r.ndim != 1:
        return None
    if gp_input(d) is not None and d.rng.random() < w.gp:
        return "gp"
    if not r.series or d.rng.random() >= w.latent:
        return None
    options = {"rw": 1.0, "ar1": 1.0}
    if fam.link == "identity" and r.kind == "real":
        options["lag"] = 0.7
    return choose(d.rng, options)


def _intercepts(d: Draft, center: float, spread: float, w: Weights) -> tuple[list[Term], str | None]:
    """A global intercept, group intercepts around it, or group intercepts with a learned mean;
    further grouping factors (crossed) add zero-centred intercepts of their own, and factors with
    few levels add treatment-coded effects. Also returns the first group used (slopes may vary
    by it too)."""
    r, rng = d.roles, d.rng
    chosen = _varying(d, w)
    if not chosen:
        terms = [intercept(d, center, spread)]
    elif rng.random() < 0.5:
        terms = [intercept(d, center, spread)] + [_group_term(d, g, None, spread) for g in chosen]
    else:
        mu = d.param("real", f"mu_{chosen[0].name}", real_prior(rng, center, spread))
        terms = [_group_term(d, chosen[0], mu, spread)] + [_group_term(d, g, None, spread) for g in chosen[1:]]
    terms += [fixed_effects(d, f, spread) for f in r.factors if rng.random() < w.fixed_effect]
    return terms, chosen[0].name if chosen else None


def _varying(d: Draft, w: Weights) -> list:
    """The grouping factors that get varying intercepts: the first with `group_intercept`'s odds,
    each further one (crossed with it) with `crossed`'s."""
    groups = list(d.roles.groups)
    if not groups or d.rng.random() >= w.group_intercept:
        return []
    first = groups.pop(int(d.rng.integers(len(groups))))
    return [first] + [g for g in groups if d.rng.random() < w.crossed]


def _group_term(d: Draft, g, loc: str | None, spread: float) -> Term:
    return Term(f"{hierarchy(d, f'a_{g.name}', g.levels, loc, spread)}[{g.name}]", True)


def _predictor(d: Draft, terms: list[Term], w: Weights, must_name: bool) -> tuple[str, bool]:
    """The summed predictor as text, named (transformed parameter or model local) when asked or
    when it repeats; returns (text, is_name)."""
    text = " + ".join(t.text for t in terms)
    simple = len(terms) == 1 and re.fullmatch(r"[A-Za-z]\w*", text)
    if simple or not (must_name or d.rng.random() < w.named_predictor):
        return text, bool(simple)
    kind = f"vector[{d.roles.size}]" if any(t.vector for t in terms) else "real"
    local = d.rng.random() < 0.5
    return d.derived(kind, choose(d.rng, {"eta": 1.0, "mu": 0.5, "lp": 0.3}), text, local=local), True


def _observe(d: Draft, fam: Family, terms: list[Term], w: Weights) -> None:
    eta, named = _predictor(d, terms, w, fam.repeats_eta)
    n = d.roles.trials[0] if d.roles.trials else None
    d.vectorised = d.roles.ndim == 1 and (any(t.vector for t in terms) or fam.trials)
    d.likelihood.append(fam.write(d, Obs(d.roles.target, eta, n)))


def _marginal_gp(d: Draft, gp: GP, terms: list[Term]) -> None:
    """y ~ multi_normal_cholesky(mean, chol(K + sigma^2 I)): the GP integrated out."""
    size = d.roles.size
    sigma = d.param("real<lower=0>", "sigma", positive_prior(d.rng, 0.5 * d.roles.y_sd))
    mean = " + ".join(t.text for t in terms)
    if not any(t.vector for t in terms):
        mean = f"rep_vector({mean}, {size})"
    chol = d.derived(f"matrix[{size}, {size}]", "L_K",
                     f"cholesky_decompose(add_diag(gp_exp_quad_cov({gp.inputs}, {gp.amplitude}, {gp.length}), "
                     f"square({sigma})))", local=True)
    d.likelihood.append(f"{d.roles.target} ~ multi_normal_cholesky({mean}, {chol});")


def _lagged(d: Draft, fam: Family, terms: list[Term]) -> None:
    """An AR(1) on the observations themselves: y[t] given y[t-1] (the first one is conditioned on)."""
    size, y = d.roles.size, d.roles.target
    rho = d.param("real<lower=-1, upper=1>", "rho", choose(d.rng, {"uniform(-1, 1)": 1, "normal(0, 0.5)": 1}))
    text = " + ".join(t.text for t in terms)
    if any(t.vector for t in terms):
        text = f"{d.derived(f'vector[{size}]', 'eta', text, local=True)}[2:{size}]"
    eta = f"{text} + {rho} * {y}[1:({size} - 1)]"
    d.likelihood.append(fam.write(d, Obs(f"{y}[2:{size}]", eta)))


def _measurement(d: Draft, w: Weights) -> None:
    """Known standard errors: y ~ normal(theta, se) with theta pooled, partially pooled
    (centred / non-centred / affine) or integrated out."""
    r, rng = d.roles, d.rng
    se, size = r.known_scale, r.size
    d.vectorised = True  # the standard errors are a vector
    mu = d.param("real", "mu", real_prior(rng, r.y_mean, r.y_sd))
    loc = " + ".join([mu] + [t.text for t in covariate_terms(d, r.y_sd, w, None)])
    style = choose(rng, {"hierarchical": 0.65, "marginal": 0.2, "pooled": 0.15})
    if style == "pooled":
        d.likelihood.append(f"{r.target} ~ normal({loc}, {se});")
        return
    if style == "marginal":
        tau = d.param("real<lower=0>", "tau", positive_prior(rng, r.y_sd))
        d.likelihood.append(f"{r.target} ~ normal({loc}, sqrt(square({tau}) + square({se})));")
        return
    if loc != mu:
        loc = d.derived(f"vector[{size}]", "m", loc)
    theta = hierarchy(d, "theta", size, loc, r.y_sd, loc_is_param=loc == mu)
    if rng.random() < 0.15:
        d.likelihood.append(f"{r.target} ~ student_t({int(rng.choice([4, 7, 10]))}, {theta}, {se});")
    else:
        d.likelihood.append(f"{r.target} ~ normal({theta}, {se});")


def _direct(d: Draft) -> None:
    """An intercept-only model in the family's own parameters (theta ~ beta; y ~ binomial(n, theta))."""
    r = d.roles
    y = r.target if r.ndim < 2 else f"{r.target}[i]"
    n = (r.trials[0] if r.ndim < 2 else f"{r.trials[0]}[i]") if r.trials else None
    statement = _direct_statement(d, y, n)
    d.vectorised = r.ndim == 1 and n is not None and f"({n}, " in statement  # only trials give a vector
    if r.ndim == 2:
        statement = f"for (i in 1:{r.dims[0]}) {statement}"
    d.likelihood.append(statement)


def _direct_statement(d: Draft, y: str, n: str | None) -> str:
    r, rng = d.roles, d.rng
    if r.kind == "binary" or (r.kind == "count" and n is not None and rng.random() < 0.75):
        theta = d.param("real<lower=0, upper=1>", "theta", unit_prior(rng, r.rate))
        return f"{y} ~ bernoulli({theta});" if r.kind == "binary" else f"{y} ~ binomial({n}, {theta});"
    if r.kind == "count":
        lam = d.param("real<lower=0>", "lambda", positive_prior(rng, max(r.y_mean, 0.1)))
        if rng.random() < 0.5:
            return f"{y} ~ poisson({lam});"
        return f"{y} ~ neg_binomial_2({lam}, {dispersion(d)});"
    if r.kind == "proportion":
        a = d.param("real<lower=0>", "a", shape_prior(rng, 2.0))
        b = d.param("real<lower=0>", "b", shape_prior(rng, 2.0))
        return f"{y} ~ beta({a}, {b});"
    if r.kind == "positive_real" and rng.random() < 0.6:
        return _direct_positive(d, y)
    mu = d.param("real", "mu", real_prior(rng, r.y_mean, r.y_sd))
    sigma = d.param("real<lower=0>", "sigma", positive_prior(rng, r.y_sd))
    return f"{y} ~ normal({mu}, {sigma});"


def _direct_positive(d: Draft, y: str) -> str:
    r, rng = d.roles, d.rng
    cv2 = (r.y_sd / max(r.y_mean, 1e-6)) ** 2
    shape = float(np.clip(1 / max(cv2, 1e-3), 0.5, 100))
    form = choose(rng, {"gamma": 1.0, "lognormal": 1.0, "exponential": 0.4})
    if form == "exponential":
        lam = d.param("real<lower=0>", "lambda", positive_prior(rng, 1 / max(r.y_mean, 1e-6)))
        return f"{y} ~ exponential({lam});"
    if form == "gamma":
        a = d.param("real<lower=0>", "shape", shape_prior(rng, shape))
        b = d.param("real<lower=0>", "rate", shape_prior(rng, shape / max(r.y_mean, 1e-6)))
        return f"{y} ~ gamma({a}, {b});"
    mu = d.param("real", "mu", real_prior(rng, r.log_mean, r.log_sd))
    sigma = d.param("real<lower=0>", "sigma", positive_prior(rng, r.log_sd))
    return f"{y} ~ lognormal({mu}, {sigma});"


def _grid(d: Draft, w: Weights) -> None:
    """A 2-d target, row by row: intercept + row effects + column effects + same-shape covariates."""
    r, rng = d.roles, d.rng
    rows, cols = r.dims
    fam = pick_family(rng, r, grid=True)
    center, spread = hint(r, fam)
    matrix = not r.is_int  # a matrix row is a row_vector; an int array row is an array (vector-like)
    terms = [intercept(d, center, spread).text]
    if rng.random() < 0.7:
        terms.append(f"{hierarchy(d, 'a_row', rows, None, spread)}[i]")
    if rng.random() < 0.5:
        col = hierarchy(d, "a_col", cols, None, spread)
        terms.append(f"{col}'" if matrix else col)
    for cov in r.covariates:
        if rng.random() < w.include(cov):
            b = slope(d, f"b_{cov.name}", np.asarray(d.values[cov.name], dtype=float), spread)
            terms.append(f"{b} * {_grid_row(cov, matrix)}")
    y, n = f"{r.target}[i]", (f"{r.trials[0]}[i]" if r.trials else None)
    statement = fam.write(d, Obs(y, " + ".join(terms), n))
    d.likelihood.append(f"for (i in 1:{rows}) {statement}")


def _grid_row(cov: Covariate, matrix: bool) -> str:
    if cov.is_int:
        return f"to_row_vector({cov.name}[i])" if matrix else f"to_vector({cov.name}[i])"
    return f"{cov.name}[i]" if matrix else f"{cov.name}[i]'"


def _categorical(d: Draft, w: Weights) -> None:
    """A group-index target: ordered logistic, categorical logit, or a plain simplex."""
    r, rng = d.roles, d.rng
    k, y, size = r.levels, r.target, r.size
    if r.ndim != 1:
        theta = d.param(f"simplex[{k}]", "theta", f"dirichlet(rep_vector({num(rng.choice([1, 2, 5]))}, {k}))")
        d.likelihood.append(f"{y} ~ categorical({theta});" if r.ndim == 0 else
                            f"for (i in 1:{r.dims[0]}) {y}[i] ~ categorical({theta});")
        return
    form = choose(rng, {"ordered": 1.0, "logit": 1.0, "simplex": 0.5})
    if form == "simplex":
        theta = d.param(f"simplex[{k}]", "theta", f"dirichlet(rep_vector({num(rng.choice([1, 2, 5]))}, {k}))")
        d.likelihood.append(f"{y} ~ categorical({theta});")
    elif form == "ordered":
        c = d.param(f"ordered[{k} - 1]", "c", real_prior(rng, 0.0, 2.0))
        terms = covariate_terms(d, 1.0, w, None)
        eta = " + ".join(t.text for t in terms) if terms else f"rep_vector(0, {size})"
        d.likelihood.append(f"{y} ~ ordered_logistic({eta}, {c});")
    else:
        _categorical_logit(d, w)


def _categorical_logit(d: Draft, w: Weights) -> None:
    r, rng = d.roles, d.rng
    k, y, size = r.levels, r.target, r.size
    b0 = d.param(f"vector[{k}]", "b0", real_prior(rng, 0.0, 2.0))
    inputs = [covariate_input(d, c, w) for c in r.covariates if rng.random() < w.include(c)]
    if not inputs:
        d.likelihood.append(f"{y} ~ categorical_logit({b0});")
        return
    terms = [b0]
    for x in inputs:
        b = d.param(f"vector[{k}]", f"b_{x.name}", real_prior(rng, 0.0, 1.0 / (float(np.std(x.values)) or 1.0)))
        terms.append(f"{b} * {x.name}[i]")
    d.likelihood.append(f"for (i in 1:{size}) {y}[i] ~ categorical_logit({' + '.join(terms)});")
