"""Block rewrites for the `grammar` proposer (the refinement loop's P and L moves).

- A new likelihood given D ‖ P: the observation statement of the target keeps its predictor
  (the expression on the link scale) and its scale parameters, and changes family or link
  (normal -> student_t, poisson_log -> neg_binomial_2_log, binomial_logit -> binomial(n, Phi(.))...).
  Parameters live in P, so the new statement may only use what P declares: a family that needs a
  dispersion the old statement did not have is not offered. Or the family stays and a positive
  covariate the likelihood reads moves to the log scale (or back): likely when the data say log
  is the better straight-line scale (`eda`), rare otherwise.
- A new prior given D ‖ L: every parameter the likelihood (or the transformed parameters, or the
  generated quantities) still reads is declared again with its type, and gets a fresh prior by
  its constraint (real line, positive, bounded), keeping the old prior's centre and width when
  those were literals; unconstrained vectors may become hierarchical, centred or non-centred.
  Declarations and priors the rewrite cannot type (matrices, simplexes, arrays) are kept as
  they were. Parameters nothing reads any more are dropped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ..errors import ProgramError, ProposerError
from ..lang import ast, parse
from ..lang.canonical import blocks, join, with_block
from ..lang.consteval import literal_number, try_float
from ..lang.printer import to_stan, type_text
from .grammar_parts import Draft, choose, num, pos, positive_prior, real_prior, unit_prior

# A rewritten prior ranges from much narrower to somewhat wider than the old one: refinement
# usually rewrites P because a vague prior let the sampler wander.
REWIDEN = (0.2, 1.5)


def rewrite(context: str, block: str, task, roles, rng: np.random.Generator) -> str | None:
    """`context` with its `block` ("prior" or "likelihood") rewritten; the rest kept. None when a
    prior is asked of a context with no likelihood (a prior needs one to mean anything: the
    caller writes a whole program instead)."""
    program = _parse_context(context)
    dpl = blocks(program)
    if block == "likelihood":
        return to_stan(new_likelihood(program, dpl, task, rng, roles))
    if not dpl.likelihood_stmts:
        return None
    return to_stan(new_prior(program, dpl, task, roles, rng))


def _parse_context(context: str) -> ast.Program:
    try:
        return parse(context)
    except ProgramError as exc:
        raise ProposerError(f"the context program does not parse ({exc}); pass the D/P/L text that "
                            f"lang.canonical.blocks produced", code="propose.bad_context") from None


# ---- likelihood ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Form:
    """An observation statement read back: the predictor `eta` on its scale, trials, and the
    positive arguments it already had (reusable as scales, shapes, dispersions)."""

    scale: str  # identity | log | link01 | mean
    eta: str
    key: str  # which family and link the statement used
    trials: str | None = None
    positives: tuple[str, ...] = ()
    dof: str | None = None


def new_likelihood(program: ast.Program, dpl, task, rng: np.random.Generator, roles=None) -> ast.Program:
    observed = _declared(program, ("data", "transformed data"))
    trials = roles.trials if roles is not None else ()
    sites = [t for s in dpl.likelihood_stmts for t in ast.walk(s)
             if isinstance(t, ast.Tilde) and ast.base_name(t.lhs) in observed and _options(t, task, trials)]
    moves = {("rescale", cov.name, to_log): weight for cov, to_log, weight in _rescalings(dpl.likelihood_stmts, roles)}
    if sites:
        moves[("family",)] = FAMILY_WEIGHT
    if not moves:
        raise ProposerError("the likelihood has no observation statement whose family the grammar proposer "
                            "can change; rewrite the prior instead, or use an LM proposer",
                            code="propose.cannot_rewrite")
    move = choose(rng, moves)
    if move[0] == "rescale":
        stmts = tuple(ast.rewrite(s, _rescaler(move[1], move[2])) for s in dpl.likelihood_stmts)
    else:
        site = sites[int(rng.integers(len(sites)))]
        new = parse(choose(rng, _options(site, task, trials)), start="statement")
        stmts = tuple(_replace(s, site, new) for s in dpl.likelihood_stmts)
    return join(dataclasses.replace(dpl, likelihood_stmts=stmts))


# Odds of the likelihood moves: a new family, or a covariate to the log scale (or back).
FAMILY_WEIGHT = 1.0
RESCALE_WEIGHTS = {"log, data agree": 1.5, "log, data silent": 0.15, "back, data agree": 0.5,
                   "back, data silent": 0.05}


def _rescalings(stmts, roles) -> list[tuple]:
    """(covariate, to_log, weight) for each positive covariate the likelihood reads."""
    if roles is None:
        return []
    names = {n.name for s in stmts for n in ast.walk(s) if isinstance(n, ast.Var)}
    logged = {ast.base_name(n.args[0]) for s in stmts for n in ast.walk(s) if _call(n, "log") and len(n.args) == 1}
    out = []
    for cov in roles.covariates:
        if not cov.positive or cov.name not in names:
            continue
        to_log = cov.name not in logged
        agree = cov.log_better == to_log
        key = f"{'log' if to_log else 'back'}, data {'agree' if agree else 'silent'}"
        out.append((cov, to_log, RESCALE_WEIGHTS[key]))
    return out


def _rescaler(name: str, to_log: bool):
    """A tree rewriter: `x` and `x[i]` -> `log(x)`, `log(x[i])` (to_log), or the reverse."""
    def reads(e) -> bool:
        return ast.base_name(e) == name and isinstance(e, (ast.Var, ast.Index))

    def fn(node):
        is_log = _call(node, "log") and len(node.args) == 1 and reads(node.args[0])
        if to_log:
            if is_log:
                return node  # already on the log scale: leave it, do not wrap it twice
            return ast.Call("log", (node,)) if reads(node) else None
        return node.args[0] if is_log else None
    return fn


def _declared(program: ast.Program, names) -> set[str]:
    return {s.name for b in names for s in program.stmts(b) if isinstance(s, ast.Decl)}


def _replace(node, old, new):
    """`node` with the statement `old` (found by identity) replaced by `new`."""
    if node is old:
        return new
    match node:
        case ast.For() | ast.ForEach():
            return dataclasses.replace(node, body=_replace(node.body, old, new))
        case ast.Compound():
            return dataclasses.replace(node, stmts=tuple(_replace(s, old, new) for s in node.stmts))
        case ast.If():
            other = None if node.other is None else _replace(node.other, old, new)
            return dataclasses.replace(node, then=_replace(node.then, old, new), other=other)
    return node


def _options(t: ast.Tilde, task, trials: tuple[str, ...] = ()) -> dict:
    """Replacement statements (text -> weight) for one observation statement; {} if none.
    `trials`: the target's trials variables, for counts a log-scale statement has been ignoring."""
    form = read_form(t)
    if form is None or t.truncation is not None:
        return {}
    kind = _kind(task, ast.base_name(t.lhs))
    if form.scale == "log" and form.trials is None and trials and ast.base_name(t.lhs) == task.target:
        # the same predictor, read on the logit scale: a count out of n is binomial first
        form = dataclasses.replace(form, trials=to_stan(_aligned(t.lhs, trials[0])))
    lhs = to_stan(t.lhs)
    return {text: w for key, text, w in _alternatives(form, kind, lhs) if key != form.key and w > 0}


def _aligned(lhs, name: str):
    """`name` indexed as the observation is: y -> n, y[i] -> n[i], y[i][j] -> n[i][j]."""
    if isinstance(lhs, ast.Index):
        return dataclasses.replace(lhs, base=_aligned(lhs.base, name))
    return ast.Var(name)


def _kind(task, name: str) -> str:
    try:
        return task.variable(name).kind
    except StopIteration:
        return "real"


def _call(e, *names):
    return isinstance(e, ast.Call) and e.name in names and not e.conditional


def _text(e) -> str:
    return to_stan(e)


def read_form(t: ast.Tilde) -> Form | None:
    """The family, link and reusable arguments of `y ~ dist(args)`, for the forms the grammar
    writes and their common spellings; None when the statement is not understood."""
    a = t.args
    match t.dist, len(a):
        case ("normal" | "double_exponential" | "logistic" | "cauchy"), 2:
            return Form("identity", _text(a[0]), t.dist, positives=(_text(a[1]),))
        case "student_t", 3:
            return Form("identity", _text(a[1]), t.dist, positives=(_text(a[2]),), dof=_text(a[0]))
        case "lognormal", 2:
            return Form("log", _text(a[0]), t.dist, positives=(_text(a[1]),))
        case "poisson_log", 1:
            return Form("log", _text(a[0]), t.dist)
        case "neg_binomial_2_log", 2:
            return Form("log", _text(a[0]), t.dist, positives=(_text(a[1]),))
        case ("poisson" | "neg_binomial_2"), _:
            rest = tuple(_text(x) for x in a[1:])
            if _call(a[0], "exp"):
                return Form("log", _text(a[0].args[0]), f"{t.dist}/exp", positives=rest)
            return Form("mean", _text(a[0]), t.dist, positives=rest) if t.dist == "neg_binomial_2" else None
        case "binomial_logit", 2:
            return Form("link01", _text(a[1]), "binomial/logit", trials=_text(a[0]))
        case "bernoulli_logit", 1:
            return Form("link01", _text(a[0]), "bernoulli/logit")
        case ("binomial" | "bernoulli"), _:
            link = _link(a[-1])
            trials = _text(a[0]) if t.dist == "binomial" else None
            return None if link is None else Form("link01", _text(a[-1].args[0]), f"{t.dist}/{link}", trials)
        case "gamma", 2:
            return _gamma_form(a)
        case "weibull", 2:
            if _call(a[1], "exp"):
                return Form("log", _text(a[1].args[0]), "weibull", positives=(_text(a[0]),))
        case ("beta" | "beta_binomial"), _:
            return _mean_precision_form(t)
    return None


_LINKS = {"inv_logit": "logit", "Phi": "probit", "Phi_approx": "probit", "inv_cloglog": "cloglog"}


def _link(e) -> str | None:
    return _LINKS[e.name] if isinstance(e, ast.Call) and e.name in _LINKS and len(e.args) == 1 else None


def _gamma_form(a) -> Form | None:
    # gamma(k, k * exp(-(eta))): mean exp(eta), shape k
    rate = a[1]
    if isinstance(rate, ast.Binary) and rate.op == "*" and rate.left == a[0] and _call(rate.right, "exp") \
            and isinstance(rate.right.args[0], ast.Unary) and rate.right.args[0].op == "-":
        return Form("log", _text(rate.right.args[0].operand), "gamma", positives=(_text(a[0]),))
    return None


def _mean_precision_form(t: ast.Tilde) -> Form | None:
    # beta(p * k, (1 - p) * k) and beta_binomial(n, p * k, (1 - p) * k) with p = inv_logit(eta)
    a = t.args[-2:]
    trials = _text(t.args[0]) if t.dist == "beta_binomial" and len(t.args) == 3 else None
    if (t.dist == "beta") != (len(t.args) == 2) or not all(isinstance(x, ast.Binary) and x.op == "*" for x in a):
        return None
    (p, k), (q, k2) = (a[0].left, a[0].right), (a[1].left, a[1].right)
    link = _link(p)
    complement = isinstance(q, ast.Binary) and q.op == "-" and q.right == p and _is_one(q.left)
    if link is None or k != k2 or not complement:
        return None
    return Form("link01", _text(p.args[0]), f"{t.dist}/{link}", trials, positives=(_text(k),))


def _is_one(e) -> bool:
    return isinstance(e, (ast.IntLit, ast.RealLit)) and e.value == 1


def _alternatives(f: Form, kind: str, y: str):
    """(key, statement text, weight) for every family/link that fits the scale and the kind."""
    e, s = f.eta, (f.positives[0] if f.positives else None)
    if f.scale == "identity" and s is not None:
        dof = f.dof or "4"
        yield "normal", f"{y} ~ normal({e}, {s});", 2.0
        yield "student_t", f"{y} ~ student_t({dof}, {e}, {s});", 2.0
        yield "double_exponential", f"{y} ~ double_exponential({e}, {s});", 1.0
        yield "logistic", f"{y} ~ logistic({e}, {s});", 0.5
        yield "cauchy", f"{y} ~ cauchy({e}, {s});", 0.2
    elif f.scale == "log" and kind in ("count", "size", "time_index"):
        yield from _count_log(e, s, y)
        if f.trials is not None:
            yield "binomial/logit", f"{y} ~ binomial_logit({f.trials}, {e});", 6.0
    elif f.scale == "log" and kind == "positive_real":
        yield "exponential", f"{y} ~ exponential(exp(-({e})));", 0.5
        if s is not None:
            yield "lognormal", f"{y} ~ lognormal({e}, {s});", 2.0
            yield "gamma", f"{y} ~ gamma({s}, {s} * exp(-({e})));", 2.0
            yield "weibull", f"{y} ~ weibull({s}, exp({e}));", 1.0
    elif f.scale == "mean" and kind in ("count", "size", "time_index"):
        yield "poisson", f"{y} ~ poisson({e});", 1.0
    elif f.scale == "link01":
        yield from _link01(f, kind, y, s)


def _count_log(e: str, s: str | None, y: str):
    yield "poisson_log", f"{y} ~ poisson_log({e});", 2.0
    yield "poisson/exp", f"{y} ~ poisson(exp({e}));", 0.5
    if s is not None:
        yield "neg_binomial_2_log", f"{y} ~ neg_binomial_2_log({e}, {s});", 2.0
        yield "neg_binomial_2/exp", f"{y} ~ neg_binomial_2(exp({e}), {s});", 0.5


def _link01(f: Form, kind: str, y: str, s: str | None):
    e, n = f.eta, f.trials
    links = {"logit": "inv_logit", "probit": "Phi", "cloglog": "inv_cloglog"}
    weights = {"logit": 2.0, "probit": 1.0, "cloglog": 0.5}
    if n is not None:
        yield "binomial/logit", f"{y} ~ binomial_logit({n}, {e});", 1.0
        for link, fn in links.items():
            yield f"binomial/{link}", f"{y} ~ binomial({n}, {fn}({e}));", weights[link]
        if s is not None:
            for link, fn in links.items():
                p = f"{fn}({e})"
                yield f"beta_binomial/{link}", f"{y} ~ beta_binomial({n}, {p} * {s}, (1 - {p}) * {s});", weights[link]
    elif kind == "binary":
        for link, fn in links.items():
            yield f"bernoulli/{link}", f"{y} ~ bernoulli({fn}({e}));", weights[link]
    elif kind == "proportion" and s is not None:
        for link, fn in links.items():
            p = f"{fn}({e})"
            yield f"beta/{link}", f"{y} ~ beta({p} * {s}, (1 - {p}) * {s});", weights[link]


# ---- prior --------------------------------------------------------------------------------------


def new_prior(program: ast.Program, dpl, task, roles, rng: np.random.Generator) -> ast.Program:
    params = [s for s in program.stmts("parameters") if isinstance(s, ast.Decl)]
    tparams = program.stmts("transformed parameters")
    readers = dpl.likelihood_stmts + tparams + tuple(s for b in dpl.generated_blocks for s in b.stmts)
    needed = set().union(*(ast.free_names(s) for s in readers)) if readers else set()
    old_priors = {p.name: [s for s in dpl.prior_stmts if p.name in _prior_targets(s)] for p in params}
    tparam_reads = set().union(*(ast.free_names(s) for s in tparams)) if tparams else set()
    verbatim = [p for p in params if not _retypeable(p.type) or _is_innovation(p, old_priors[p.name], tparam_reads)]
    fixed = _closure(verbatim, params, old_priors, needed)
    env = {k: np.asarray(v) for k, v in task.dataset.values.items()}
    taken = set(task.dataset.values) | {n for s in program.blocks for n in _names(s)}
    d = Draft(rng, roles, "", {name: None for name in taken})
    kept_decls = [to_stan(p) for p in params if p.name in fixed]
    for p in params:
        if p.name in needed and p.name not in fixed:
            _reprior(d, p, old_priors, env)
    declared = _declared(program, ("data", "transformed data", "transformed parameters")) | fixed | needed | \
        (d.taken - taken)
    kept = [to_stan(s) for s in dpl.prior_stmts if _keep_prior(s, fixed, declared)]
    text = _fragment("parameters", kept_decls + d.params) + \
        _fragment("transformed parameters", d.tparams + [to_stan(s) for s in tparams]) + \
        _fragment("model", kept + d.priors)
    rewritten = with_block(program, "prior", text or "model {\n}\n")
    return _drop_stale_generated(rewritten)


def _names(block: ast.Block) -> set[str]:
    return {n.name for s in block.stmts for n in ast.walk(s) if isinstance(n, ast.Decl)} | \
        {n for s in block.stmts for n in ast.free_names(s)}


def _prior_targets(s) -> set[str]:
    """Names whose prior a P statement states (the left sides of every `~` inside it)."""
    return {ast.base_name(t.lhs) for t in ast.walk(s) if isinstance(t, ast.Tilde)}


def _keep_prior(s, fixed: set[str], declared: set[str]) -> bool:
    """Old priors of parameters kept verbatim stay; other statements with no `~` (target +=)
    stay when everything they read is still declared (loop variables are declared inside)."""
    targets = _prior_targets(s)
    if targets:
        return targets <= fixed
    loops = {n.var for n in ast.walk(s) if isinstance(n, (ast.For, ast.ForEach))}
    return ast.free_names(s) <= declared | loops


def _retypeable(t: ast.TypeSpec) -> bool:
    return not t.array_sizes and t.kind in ("real", "vector", "row_vector")


def _is_innovation(p: ast.Decl, old: list, tparam_reads: set[str]) -> bool:
    """A standard-normal vector that a transformed parameter scales (a non-centred effect): its
    prior is the parameterisation, not a modelling choice, so it is kept."""
    if p.name not in tparam_reads or len(old) != 1 or not isinstance(old[0], ast.Tilde):
        return False
    t = old[0]
    return t.dist == "std_normal" or (t.dist == "normal" and [literal_number(a) for a in t.args] == [0.0, 1.0])


def _closure(fixed_params, params, old_priors, needed) -> set[str]:
    """Parameters kept verbatim (with their priors) and everything those priors and types read."""
    by_name = {p.name: p for p in params}
    fixed = {p.name for p in fixed_params if p.name in needed}
    frontier = list(fixed)
    while frontier:
        name = frontier.pop()
        reads = ast.free_names(by_name[name].type).union(*(ast.free_names(s) for s in old_priors[name]))
        for other in reads & set(by_name) - fixed:
            fixed.add(other)
            frontier.append(other)
    return fixed


def _fragment(title: str, lines: list[str]) -> str:
    return f"{title} {{\n" + "".join(f"  {x}\n" for x in lines) + "}\n" if lines else ""


def _reprior(d: Draft, p: ast.Decl, old_priors: dict, env: dict) -> None:
    """Declare `p` again (offset/multiplier dropped) and draw its new prior by constraint."""
    t = dataclasses.replace(p.type, offset=None, multiplier=None)
    lo, hi = (None if b is None else try_float(b, env) for b in (t.lower, t.upper))
    old = old_priors[p.name]
    center, spread = old_center_spread(old, old_priors)
    hierarchical_before = center_is_learned(old)
    if (t.lower is not None and lo is None) or (t.upper is not None and hi is None):
        prior = real_prior(d.rng, center, spread, REWIDEN) if not old else None  # data-dependent bounds: keep old
        d.params.append(f"{type_text(t)} {p.name};")
        d.priors.extend([f"{p.name} ~ {prior};"] if prior else [to_stan(s) for s in old])
        return
    if t.kind != "real" and lo is None and hi is None and d.rng.random() < (0.8 if hierarchical_before else 0.4):
        return _hierarchical(d, p, t, center, spread)
    d.params.append(f"{type_text(t)} {p.name};")
    d.priors.append(f"{p.name} ~ {_bounded_prior(d.rng, lo, hi, center, spread)};")


def _bounded_prior(rng, lo: float | None, hi: float | None, center: float, spread: float) -> str:
    if lo is not None and hi is not None:
        if (lo, hi) == (0.0, 1.0) and rng.random() < 0.6:
            return unit_prior(rng)
        return f"uniform({num(lo)}, {num(hi)})" if rng.random() < 0.5 else \
            f"normal({num((lo + hi) / 2)}, {pos((hi - lo) / 2)})"
    if lo is not None:
        return positive_prior(rng, spread) if lo == 0 else f"normal({num(lo)}, {pos(spread)})"
    if hi is not None:
        return f"normal({num(min(center, hi))}, {pos(spread)})"
    return real_prior(rng, center, spread, REWIDEN)


def _hierarchical(d: Draft, p: ast.Decl, t: ast.TypeSpec, center: float, spread: float) -> None:
    size = to_stan(t.sizes[0])
    mu = d.param("real", f"mu_{p.name}", real_prior(d.rng, center, spread, REWIDEN))
    tau = d.param("real<lower=0>", f"tau_{p.name}", positive_prior(d.rng, spread))
    if d.rng.random() < 0.5:
        d.params.append(f"{type_text(t)} {p.name};")
        d.priors.append(f"{p.name} ~ normal({mu}, {tau});")
        return
    raw = d.param(f"{t.kind}[{size}]", f"{p.name}_raw", "std_normal()")
    d.tparams.append(f"{type_text(t)} {p.name} = {mu} + {tau} * {raw};")


_LOCATION_SCALE = ("normal", "student_t", "cauchy", "double_exponential", "logistic")


def _location_scale(old: list) -> tuple | None:
    """(location, scale) expressions of an old `x ~ family(..., loc, scale)` prior."""
    for s in old:
        if isinstance(s, ast.Tilde) and s.dist in _LOCATION_SCALE and len(s.args) >= 2:
            return s.args[-2], s.args[-1]
    return None


def center_is_learned(old: list) -> bool:
    """The old prior was hierarchical: its location or scale was a parameter."""
    found = _location_scale(old)
    return found is not None and any(literal_number(a) is None for a in found)


def old_center_spread(old: list, old_priors: dict, depth: int = 0) -> tuple[float, float]:
    """Centre and width of the old prior; a hierarchical one (`x ~ normal(mu, tau)`) is read
    through the priors of its hyperparameters. (0, 2.5) when nothing is known."""
    found = _location_scale(old)
    if found is None or depth > 3:
        return 0.0, 2.5
    loc, scale = found
    center, spread = literal_number(loc), literal_number(scale)
    if isinstance(loc, ast.Var) and loc.name in old_priors and center is None:
        center, inner = old_center_spread(old_priors[loc.name], old_priors, depth + 1)
        spread = spread if spread is not None else inner
    if spread is None and isinstance(scale, ast.Var) and scale.name in old_priors:
        spread = _last_literal(old_priors[scale.name])
    return (0.0 if center is None else center), (2.5 if not spread or spread <= 0 else spread)


def _last_literal(old: list) -> float | None:
    """The width of a scale parameter's prior: its last literal argument (normal(0, s) -> s)."""
    for s in old:
        if isinstance(s, ast.Tilde) and s.args and (x := literal_number(s.args[-1])) is not None and x > 0:
            return x if s.dist != "exponential" else 1.0 / x
    return None


def _drop_stale_generated(program: ast.Program) -> ast.Program:
    """Generated quantities that read a parameter the new prior no longer declares are dropped."""
    declared = {n.name for b in program.blocks if b.name != "generated quantities"
                for s in b.stmts for n in ast.walk(s) if isinstance(n, ast.Decl)}
    gq = program.block("generated quantities")
    if gq is None:
        return program
    local = {n.name for s in gq.stmts for n in ast.walk(s) if isinstance(n, ast.Decl)}
    loops = {n.var for s in gq.stmts for n in ast.walk(s) if isinstance(n, (ast.For, ast.ForEach))}
    reads = set().union(*(ast.free_names(s) for s in gq.stmts))
    if reads <= declared | local | loops:
        return program
    return ast.Program(tuple(b for b in program.blocks if b.name != "generated quantities"), program.functions)
