"""A program in plain language, read off its syntax tree (never from its text).

Each declaration says what kind of quantity it is; each `~` says which distribution, and with
what, its left side follows, sorted into priors (a parameter on the left) and the likelihood (data
on the left); loops become "for each j in 1..J"; transformed parameters say how they are built.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lang import ast, library, parse
from ..lang.printer import expr, type_text

_KINDS = {"real": "a real number", "int": "an integer", "vector": "a vector", "row_vector": "a row vector",
          "matrix": "a matrix", "simplex": "a simplex (non-negative, summing to 1)",
          "ordered": "an ordered vector", "positive_ordered": "an increasing positive vector",
          "cholesky_factor_corr": "the Cholesky factor of a correlation matrix",
          "cholesky_factor_cov": "the Cholesky factor of a covariance matrix",
          "corr_matrix": "a correlation matrix", "cov_matrix": "a covariance matrix"}


@dataclass(frozen=True)
class Description:
    """Sentences grouped as a reader wants them."""

    data: tuple[str, ...]
    parameters: tuple[str, ...]
    derived: tuple[str, ...]
    priors: tuple[str, ...]
    likelihood: tuple[str, ...]
    other: tuple[str, ...]

    def sections(self) -> list[tuple[str, tuple[str, ...]]]:
        named = [("Data it reads", self.data), ("Unknowns it estimates", self.parameters),
                 ("Quantities built from them", self.derived), ("Priors", self.priors),
                 ("Likelihood", self.likelihood), ("Other statements", self.other)]
        return [(title, lines) for title, lines in named if lines]


def describe(program) -> Description:
    tree = parse(program) if isinstance(program, str) else program
    params = {d.name for d in tree.stmts("parameters") if isinstance(d, ast.Decl)}
    data = [_declaration(d) for b in ("data",) for d in tree.stmts(b) if isinstance(d, ast.Decl)]
    parameters = [_declaration(d) for d in tree.stmts("parameters") if isinstance(d, ast.Decl)]
    derived = [_derived(s) for s in tree.stmts("transformed parameters")]
    priors, likelihood, other = [], [], []
    for s in tree.stmts("model"):
        _model_statement(s, params | {d.name for d in tree.stmts("transformed parameters")
                                      if isinstance(d, ast.Decl)}, (), priors, likelihood, other)
    return Description(tuple(data), tuple(parameters), tuple(x for x in derived if x), tuple(priors),
                       tuple(likelihood), tuple(other))


def _declaration(d: ast.Decl) -> str:
    t = d.type
    what = _KINDS.get(t.kind, t.kind)
    if t.sizes:
        what += " of size " + " × ".join(expr(s) for s in t.sizes)
    if t.array_sizes:
        what = f"an array of {' × '.join(expr(s) for s in t.array_sizes)} {_plural(what)}"
    bounds = _bounds(t)
    return f"{d.name}: {what}{bounds}"


def _plural(what: str) -> str:
    for article in ("an ", "a "):
        if what.startswith(article):
            head, _, rest = what[len(article):].partition(" ")
            return f"{head}s {rest}".strip()
    return what


def _bounds(t: ast.TypeSpec) -> str:
    if t.lower is not None and t.upper is not None:
        return f", between {expr(t.lower)} and {expr(t.upper)}"
    if t.lower is not None:
        return ", non-negative" if _is_zero(t.lower) else f", at least {expr(t.lower)}"
    if t.upper is not None:
        return f", at most {expr(t.upper)}"
    if t.offset is not None or t.multiplier is not None:
        parts = [f"offset {expr(t.offset)}" if t.offset is not None else "",
                 f"multiplier {expr(t.multiplier)}" if t.multiplier is not None else ""]
        return (", sampled on a standardised scale (" + ", ".join(p for p in parts if p) +
                ": the non-centred parameterisation)")
    return ""


def _is_zero(node) -> bool:
    return isinstance(node, (ast.IntLit, ast.RealLit)) and node.value == 0


def _derived(s) -> str:
    if isinstance(s, ast.Decl):
        return f"{s.name} = {expr(s.init)}" if s.init is not None else f"{s.name}: {type_text(s.type)}, set below"
    if isinstance(s, ast.Assign):
        return f"{expr(s.lhs)} {s.op} {expr(s.rhs)}"
    if isinstance(s, (ast.For, ast.ForEach)):
        return _loop_head(s) + ": " + "; ".join(filter(None, (_derived(b) for b in _body(s.body))))
    return ""


def _loop_head(s) -> str:
    if isinstance(s, ast.For):
        return f"for each {s.var} in {expr(s.lo)}..{expr(s.hi)}"
    return f"for each {s.var} in {expr(s.container)}"


def _body(node) -> tuple:
    return node.stmts if isinstance(node, ast.Compound) else (node,)


def _model_statement(s, params: set[str], loops: tuple[str, ...], priors, likelihood, other) -> None:
    prefix = "".join(f"{head}, " for head in loops)
    if isinstance(s, ast.Tilde):
        sentence = prefix + _tilde(s)
        (priors if ast.base_name(s.lhs) in params else likelihood).append(sentence)
    elif isinstance(s, (ast.For, ast.ForEach)):
        for b in _body(s.body):
            _model_statement(b, params, loops + (_loop_head(s),), priors, likelihood, other)
    elif isinstance(s, ast.Compound):
        for b in s.stmts:
            _model_statement(b, params, loops, priors, likelihood, other)
    elif isinstance(s, ast.TargetPlus):
        touches_data = not (ast.free_names(s.expr) <= params)
        (likelihood if touches_data else priors).append(prefix + f"the log density gains {expr(s.expr)}")
    elif isinstance(s, ast.Decl):
        other.append(prefix + f"{s.name} = {expr(s.init)}" if s.init is not None else prefix + f"{s.name} declared")
    elif isinstance(s, ast.Assign):
        other.append(prefix + f"{expr(s.lhs)} {s.op} {expr(s.rhs)}")
    elif isinstance(s, ast.If):
        other.append(prefix + f"if {expr(s.cond)}: a conditional statement")


def _tilde(s: ast.Tilde) -> str:
    spec = library.distribution(s.dist)
    names = spec.arg_names if spec is not None else ()
    args = [f"{n} = {expr(a)}" if n else expr(a) for n, a in zip(list(names) + [""] * len(s.args), s.args)]
    what = s.dist.replace("_", " ")
    sentence = f"{expr(s.lhs)} follows a {what} distribution" + (f" with {', '.join(args)}" if args else "")
    if s.truncation is not None:
        lo, hi = s.truncation.lo, s.truncation.hi
        limits = [f"below at {expr(lo)}" if lo is not None else "", f"above at {expr(hi)}" if hi is not None else ""]
        sentence += ", truncated " + " and ".join(x for x in limits if x)
    return sentence
