"""A program's likelihood swapped for a similar one: the seed's "similar distributions swapped".

The network learns from its corpus which parts go together, so a likelihood it has only seen
with other parts gets almost no probability even where the rest of its program is right: on
negative-binomial data with group effects it writes the Poisson program with the right groups
and covariates, and the same program with the negative binomial scores 25-40 nats lower (nearly
all of it at the token declaring the dispersion). The proposer therefore follows each program the
network writes with its twins under the similar likelihoods below, so the structure it got right
is fitted under both. Swaps read and write the corpus's own spellings of each family.

    normal(mu, s)        <-> student_t(nu, mu, s)      nu: real<lower=1> ~ gamma(2, 0.1)
    poisson_log(eta)     <-> neg_binomial_2_log(eta, phi)   phi: real<lower=0> ~ gamma(2, 0.5)
    lognormal(mu, s)     <-> gamma(phi, phi * exp(-(mu)))   s: real<lower=0> ~ normal(0, 1)

A parameter the old likelihood alone read (a degrees of freedom, a dispersion, a scale) goes with
it, declaration and prior.
"""

from __future__ import annotations

import dataclasses

from ..lang import ast

__all__ = ["likelihood_swaps"]


@dataclasses.dataclass(frozen=True)
class _Form:
    family: str
    centre: object  # the location, on the family's link scale
    spread: object | None = None  # normal / student_t / lognormal scale
    shape: object | None = None  # student_t's nu, the negative binomial's phi, gamma's shape


_SIMILAR = {"normal": "student_t", "student_t": "normal", "poisson": "neg_binomial",
            "neg_binomial": "poisson", "lognormal": "gamma", "gamma": "lognormal"}
# the parameter a family needs that its twin does not: (constraint, prior)
_NEW = {"student_t": ("lower1", ("gamma", 2, 0.1)), "neg_binomial": ("lower0", ("gamma", 2, 0.5)),
        "gamma": ("lower0", ("gamma", 2, 0.5)), "lognormal": ("lower0", ("normal", 0, 1))}


def likelihood_swaps(program: ast.Program, outcome: str) -> list[ast.Program]:
    """`program` with the statement modelling `outcome` under each similar likelihood (none when
    that statement is not in one of the forms above)."""
    model = program.block("model")
    if model is None:
        return []
    hits = [i for i, s in enumerate(model.stmts) if isinstance(s, ast.Tilde) and _is(s.lhs, outcome)]
    if len(hits) != 1:
        return []
    old = model.stmts[hits[0]]
    form = _read(old)
    if form is None:
        return []
    twin = _SIMILAR[form.family]
    new, added = _twin(form, twin, _fresh(program))
    stmts = list(model.stmts)
    stmts[hits[0]] = ast.Tilde(old.lhs, *new)
    program = _with_stmts(program, "model", tuple(stmts))
    if added is not None:
        program = _add_parameter(program, *added)
    for gone in (form.spread, form.shape):
        program = _drop_if_unread(program, gone)
    return [program]


def _is(e, name: str) -> bool:
    return isinstance(e, ast.Var) and e.name == name


def _read(t: ast.Tilde) -> _Form | None:
    a = t.args
    match t.dist, len(a):
        case "normal", 2:
            return _Form("normal", a[0], spread=a[1])
        case "student_t", 3:
            return _Form("student_t", a[1], spread=a[2], shape=a[0])
        case "poisson_log", 1:
            return _Form("poisson", a[0])
        case "neg_binomial_2_log", 2:
            return _Form("neg_binomial", a[0], shape=a[1])
        case "lognormal", 2:
            return _Form("lognormal", a[0], spread=a[1])
        case "gamma", 2:
            centre = _gamma_centre(a[0], a[1])
            return _Form("gamma", centre, shape=a[0]) if centre is not None else None
    return None


def _gamma_centre(shape, rate):
    """mu of the corpus's mean-exp(mu) gamma: `gamma(phi, phi * exp(-(mu)))`."""
    match rate:
        case ast.Binary(op="*", left=left, right=ast.Call(name="exp", args=(ast.Unary(op="-", operand=mu),))) \
                if left == shape:
            return mu
    return None


def _twin(f: _Form, family: str, fresh: str) -> tuple[tuple, tuple | None]:
    """((dist, args) of the twin statement, (name, constraint, prior) of the parameter it adds)."""
    added = (fresh, *_NEW[family]) if family in _NEW else None
    new = ast.Var(fresh)
    match family:
        case "normal":
            return ("normal", (f.centre, f.spread)), None
        case "poisson":
            return ("poisson_log", (f.centre,)), None
        case "student_t":
            return ("student_t", (new, f.centre, f.spread)), added
        case "neg_binomial":
            return ("neg_binomial_2_log", (f.centre, new)), added
        case "gamma":
            return ("gamma", (new, ast.Binary("*", new, ast.Call("exp", (ast.Unary("-", f.centre),))))), added
        case "lognormal":
            return ("lognormal", (f.centre, new)), added
    raise ValueError(family)


def _fresh(program: ast.Program) -> str:
    taken = {n.name for b in program.blocks for s in b.stmts for n in ast.walk(s) if isinstance(n, ast.Var)}
    taken |= {s.name for b in program.blocks for s in b.stmts if isinstance(s, ast.Decl)}
    return next(f"q{i}" for i in range(1, 10_000) if f"q{i}" not in taken)


def _with_stmts(program: ast.Program, name: str, stmts: tuple) -> ast.Program:
    return dataclasses.replace(program, blocks=tuple(dataclasses.replace(b, stmts=stmts) if b.name == name else b
                                                     for b in program.blocks))


def _add_parameter(program: ast.Program, name: str, constraint: str, prior: tuple) -> ast.Program:
    lower = ast.IntLit(1) if constraint == "lower1" else ast.IntLit(0)
    decl = ast.Decl(ast.TypeSpec("real", lower=lower), name)
    dist, *args = prior
    numbers = tuple(ast.IntLit(v) if isinstance(v, int) else ast.RealLit(v) for v in args)
    program = _with_stmts(program, "parameters", (*program.stmts("parameters"), decl))
    return _with_stmts(program, "model", (ast.Tilde(ast.Var(name), dist, numbers), *program.stmts("model")))


def _drop_if_unread(program: ast.Program, e) -> ast.Program:
    """Drop parameter `e` (when `e` is a parameter's name) if nothing but its own prior reads it."""
    if not isinstance(e, ast.Var) or not any(isinstance(s, ast.Decl) and s.name == e.name
                                             for s in program.stmts("parameters")):
        return program
    own_prior = [s for s in program.stmts("model") if isinstance(s, ast.Tilde) and _is(s.lhs, e.name)]
    readers = [s for b in program.blocks if b.name != "parameters" for s in b.stmts if s not in own_prior
               if e.name in {n.name for n in ast.walk(s) if isinstance(n, ast.Var)}]
    if readers:
        return program
    program = _with_stmts(program, "parameters", tuple(s for s in program.stmts("parameters")
                                                       if not (isinstance(s, ast.Decl) and s.name == e.name)))
    return _with_stmts(program, "model", tuple(s for s in program.stmts("model") if s not in own_prior))
