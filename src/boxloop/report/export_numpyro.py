"""A Stan program as the NumPyro script a careful person would write: load the data, a model
function, NUTS, a summary. Printed from the syntax tree.

- A parameter whose prior is one `~` on the whole parameter is sampled from that prior where it
  is declared (`numpyro.sample("mu", dist.Normal(0, 5))`); a bounded one whose prior's support is
  wider gets it truncated (`dist.HalfCauchy(5)` for `real<lower=0> tau; tau ~ cauchy(0, 5)`), as
  Stan's density is; `<offset, multiplier>` becomes NumPyro's LocScaleReparam (non-centred).
- Any other parameter is `ImproperUniform` over its declared support, and its `~` statements
  become `numpyro.factor` terms, in the order Stan runs them.
- A `~` on data is an observed site; inside a loop each element is its own site (`y_3`).
- Transformed parameters are `numpyro.deterministic`, so they appear among the draws.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lang import ast, parse
from .pyexpr import HELPERS, ExportError, PyExpr
from .script import COMMON, HEADER, render


@dataclass(frozen=True)
class DistSpec:
    """How a Stan distribution is written in NumPyro: constructor, keyword per Stan argument,
    an optional wrapper per argument ("exp" for the log-parameterised forms), and `shift` when
    NumPyro counts outcomes from 0 where Stan counts from 1."""

    ctor: str
    keywords: tuple[str, ...]
    wrap: tuple[str, ...] = ()
    shift: int = 0
    truncatable: bool = False
    positive: bool = False  # support is (0, inf) or [0, inf) already


SPECS = {
    "normal": DistSpec("dist.Normal", ("loc", "scale"), truncatable=True),
    "std_normal": DistSpec("dist.Normal", (), truncatable=True),
    "student_t": DistSpec("dist.StudentT", ("df", "loc", "scale"), truncatable=True),
    "cauchy": DistSpec("dist.Cauchy", ("loc", "scale"), truncatable=True),
    "double_exponential": DistSpec("dist.Laplace", ("loc", "scale"), truncatable=True),
    "logistic": DistSpec("dist.Logistic", ("loc", "scale"), truncatable=True),
    "lognormal": DistSpec("dist.LogNormal", ("loc", "scale"), positive=True),
    "exponential": DistSpec("dist.Exponential", ("rate",), positive=True),
    "gamma": DistSpec("dist.Gamma", ("concentration", "rate"), positive=True),
    "inv_gamma": DistSpec("dist.InverseGamma", ("concentration", "rate"), positive=True),
    "weibull": DistSpec("dist.Weibull", ("concentration", "scale"), positive=True),
    "beta": DistSpec("dist.Beta", ("concentration1", "concentration0")),
    "uniform": DistSpec("dist.Uniform", ("low", "high")),
    "gumbel": DistSpec("dist.Gumbel", ("loc", "scale")),
    "chi_square": DistSpec("dist.Chi2", ("df",), positive=True),
    "pareto": DistSpec("dist.Pareto", ("scale", "alpha"), positive=True),
    "bernoulli": DistSpec("dist.Bernoulli", ("probs",)),
    "bernoulli_logit": DistSpec("dist.Bernoulli", ("logits",)),
    "binomial": DistSpec("dist.Binomial", ("total_count", "probs")),
    "binomial_logit": DistSpec("dist.Binomial", ("total_count", "logits")),
    "beta_binomial": DistSpec("dist.BetaBinomial", ("total_count", "concentration1", "concentration0")),
    "poisson": DistSpec("dist.Poisson", ("rate",)),
    "poisson_log": DistSpec("dist.Poisson", ("rate",), wrap=("jnp.exp",)),
    "neg_binomial_2": DistSpec("dist.NegativeBinomial2", ("mean", "concentration")),
    "neg_binomial_2_log": DistSpec("dist.NegativeBinomial2", ("mean", "concentration"), wrap=("jnp.exp", "")),
    "categorical": DistSpec("dist.Categorical", ("probs",), shift=1),
    "categorical_logit": DistSpec("dist.Categorical", ("logits",), shift=1),
    "ordered_logistic": DistSpec("dist.OrderedLogistic", ("predictor", "cutpoints"), shift=1),
    "dirichlet": DistSpec("dist.Dirichlet", ("concentration",)),
    "multi_normal": DistSpec("dist.MultivariateNormal", ("loc", "covariance_matrix")),
    "multi_normal_cholesky": DistSpec("dist.MultivariateNormal", ("loc", "scale_tril")),
    "lkj_corr_cholesky": DistSpec("dist.LKJCholesky", ("concentration",)),
    "lkj_corr": DistSpec("dist.LKJ", ("concentration",)),
}

MULTIVARIATE = frozenset({"dirichlet", "multi_normal", "multi_normal_cholesky", "lkj_corr_cholesky", "lkj_corr",
                          "categorical", "categorical_logit"})

SUPPORTS = {"simplex": "simplex", "ordered": "ordered_vector", "positive_ordered": "positive_ordered_vector",
            "cholesky_factor_corr": "corr_cholesky", "corr_matrix": "corr_matrix",
            "cov_matrix": "positive_definite", "cholesky_factor_cov": "lower_cholesky"}
EVENT_KINDS = frozenset(SUPPORTS)


def to_numpyro(source, data_path: str | None = None, program_name: str = "program.stan") -> str:
    tree = parse(source) if isinstance(source, str) else source
    return NumpyroWriter(tree).script(data_path, program_name)


class NumpyroWriter:
    indent = 1  # the model's statements sit this many levels deep in the script
    DETERMINISTIC = "numpyro.deterministic"

    def __init__(self, tree: ast.Program):
        self.tree = tree
        self.kinds = {d.name: d.type.kind for b in tree.blocks for d in _decls(b.stmts)}
        self.data = [d for d in tree.stmts("data") if isinstance(d, ast.Decl)]
        self.params = [d for d in tree.stmts("parameters") if isinstance(d, ast.Decl)]
        self.pnames = {d.name for d in self.params} | {d.name for d in _decls(tree.stmts("transformed parameters"))}
        self.ex = PyExpr(self.kinds, self._log_prob)
        self.sites = 0
        rng = sorted({n.name for s in tree.stmts("generated quantities") for n in ast.walk(s)
                      if isinstance(n, ast.Call) and n.name.endswith("_rng")})
        if rng:
            raise ExportError(f"generated quantities that draw random numbers ({', '.join(rng)}) are not exported "
                              "yet; export to Stan (--to stan), or simulate from the draws")

    # ---- the script

    def script(self, data_path: str | None, program_name: str) -> str:
        model = self.model()  # before the helpers: writing it records which ones it uses
        return render(SCRIPT, framework="NumPyro", program_name=program_name, data_path=data_path,
                      loader=self.loader(), model=model, helpers=HELPERS, helpers_used=self.ex.used,
                      data=self.data)

    def loader(self) -> str:
        lines = []
        for d in self.data:
            integer = d.type.kind == "int"
            scalar = not d.type.sizes and not d.type.array_sizes and d.type.kind in ("int", "real")
            if scalar:
                lines.append(f'        "{d.name}": {"int" if integer else "float"}(raw["{d.name}"]),')
            else:
                kind = "np.int64" if integer else "np.float64"
                lines.append(f'        "{d.name}": np.asarray(raw["{d.name}"], dtype={kind}),')
        return "\n".join(lines)

    def model(self) -> str:
        priors = self._simple_priors()
        args = ", ".join(d.name for d in self.data)
        body = self._body(priors)
        return f"def model({args}):\n" + "\n".join(body or ["    pass"])

    def _body(self, priors: dict[str, ast.Tilde]) -> list[str]:
        """The model's statements in Stan's block order, `indent` levels deep; the priors in
        `priors` are written with their parameters, so their `~` is not written again."""
        pad, det = "    " * self.indent, self.DETERMINISTIC
        body: list[str] = []
        for s in self.tree.stmts("transformed data"):
            body += self.stmt(s, self.indent, deterministic=False)
        for d in self._ordered_params(priors):
            body += self.param(d, priors.get(d.name))
        inline = set()
        for s in self.tree.stmts("transformed parameters"):
            if isinstance(s, ast.Decl) and s.init is not None:
                inline.add(s.name)
                body.append(f'{pad}{s.name} = {det}("{s.name}", {self.ex(s.init)})')
            else:
                body += self.stmt(s, self.indent, deterministic=False)
        body += [f'{pad}{det}("{d.name}", {d.name})'
                 for d in top_decls(self.tree.stmts("transformed parameters")) if d.name not in inline]
        consumed = {id(t) for t in priors.values()}
        for s in self.tree.stmts("model"):
            if id(s) not in consumed:
                body += self.stmt(s, self.indent, deterministic=False)
        for s in self.tree.stmts("generated quantities"):
            body += self.stmt(s, self.indent, deterministic=False)
        body += [f'{pad}{det}("{d.name}", {d.name})' for d in top_decls(self.tree.stmts("generated quantities"))]
        return body

    # ---- parameters

    def _simple_priors(self) -> dict[str, ast.Tilde]:
        """Parameters whose only `~` is one top-level statement on the whole parameter, with a
        distribution NumPyro has and arguments that use data and other parameters only (not
        transformed parameters): those are sampled from their prior."""
        counts: dict[str, int] = {}
        for s in _walk_stmts(self.tree.stmts("model")):
            if isinstance(s, ast.Tilde) and ast.base_name(s.lhs) in self.pnames:
                counts[ast.base_name(s.lhs)] = counts.get(ast.base_name(s.lhs), 0) + 1
        tps = {d.name for d in _decls(self.tree.stmts("transformed parameters"))}
        out = {}
        for d in self.params:
            tilde = next((s for s in self.tree.stmts("model") if isinstance(s, ast.Tilde)
                          and isinstance(s.lhs, ast.Var) and s.lhs.name == d.name), None)
            if tilde is not None and counts.get(d.name) == 1 and tilde.dist in SPECS and tilde.truncation is None:
                if not _uses(tilde) & (tps | {d.name}) and self._bounded_ok(d, tilde):
                    out[d.name] = tilde
        return out

    def _ordered_params(self, priors: dict[str, ast.Tilde]) -> list[ast.Decl]:
        """Parameters in declaration order, except that one sampled from its prior comes after the
        parameters its prior uses (`s` before `a ~ normal(0, s)`); a cycle falls back to factors."""
        names = {d.name for d in self.params}
        placed, order, remaining = set(), [], list(self.params)
        while remaining:
            ready = next((d for d in remaining if d.name not in priors
                          or _uses(priors[d.name]) & names <= placed), None)
            if ready is None:
                priors.pop(next(d.name for d in remaining if d.name in priors))
                continue
            remaining.remove(ready)
            placed.add(ready.name)
            order.append(ready)
        return order

    def _bounded_ok(self, d: ast.Decl, tilde: ast.Tilde) -> bool:
        """Whether sampling from the prior (truncated to the declared bounds where it reaches
        beyond them) gives the density Stan gives this parameter."""
        t, spec = d.type, SPECS[tilde.dist]
        if t.kind in EVENT_KINDS:
            return {"simplex": "dirichlet", "cholesky_factor_corr": "lkj_corr_cholesky",
                    "corr_matrix": "lkj_corr"}.get(t.kind) == tilde.dist
        if t.lower is None and t.upper is None:
            return True
        if spec.positive:
            return t.upper is None and is_zero(t.lower)
        if tilde.dist == "beta":
            return is_zero(t.lower) and _is_one(t.upper)
        data = {x.name for x in self.data}
        return spec.truncatable and all(ast.free_names(b) <= data for b in (t.lower, t.upper) if b is not None)

    def param(self, d: ast.Decl, prior: ast.Tilde | None) -> list[str]:
        shape = self._shape(d.type)
        if prior is None:
            return [f'    {d.name} = numpyro.sample("{d.name}", {self._improper(d.type, shape)})']
        law = self.distribution(prior.dist, prior.args)
        law = self._bounded(d.type, prior, law)
        if shape != "()":
            law += f".expand({_list(shape)})"
        if d.type.offset is not None or d.type.multiplier is not None:
            if prior.dist in ("normal", "student_t", "cauchy", "logistic", "double_exponential"):
                return [f'    with numpyro.handlers.reparam(config={{"{d.name}": LocScaleReparam(centered=0)}}):',
                        f'        {d.name} = numpyro.sample("{d.name}", {law})']
        return [f'    {d.name} = numpyro.sample("{d.name}", {law})']

    def _bounded(self, t: ast.TypeSpec, prior: ast.Tilde, law: str) -> str:
        spec = SPECS[prior.dist]
        if t.lower is None and t.upper is None or spec.positive or prior.dist == "beta":
            return law
        loc = prior.args[spec.keywords.index("loc")] if "loc" in spec.keywords else None
        if t.upper is None and is_zero(t.lower) and (loc is None or is_zero(loc)) and prior.dist in ("normal",
                                                                                                        "cauchy"):
            scale = self.ex(prior.args[spec.keywords.index("scale")]) if prior.args else "1.0"
            return f"dist.Half{'Normal' if prior.dist == 'normal' else 'Cauchy'}({scale})"
        bounds = []
        if t.lower is not None:
            bounds.append(f"low={self.ex(t.lower)}")
        if t.upper is not None:
            bounds.append(f"high={self.ex(t.upper)}")
        return f"dist.TruncatedDistribution({law}, {', '.join(bounds)})"

    def _improper(self, t: ast.TypeSpec, shape: str) -> str:
        if t.kind in SUPPORTS:
            return f"dist.ImproperUniform(dist.constraints.{SUPPORTS[t.kind]}, {shape}, {_event_shape(t, self.ex)})"
        if t.lower is not None and t.upper is not None:
            support = f"dist.constraints.interval({self.ex(t.lower)}, {self.ex(t.upper)})"
        elif t.lower is not None:
            support = ("dist.constraints.positive" if is_zero(t.lower)
                       else f"dist.constraints.greater_than({self.ex(t.lower)})")
        elif t.upper is not None:
            support = f"dist.constraints.less_than({self.ex(t.upper)})"
        else:
            support = "dist.constraints.real"
        return f"dist.ImproperUniform({support}, {shape}, ())"

    def _shape(self, t: ast.TypeSpec) -> str:
        sizes = [self.ex(s) for s in tuple(t.array_sizes) + (() if t.kind in EVENT_KINDS else tuple(t.sizes))]
        return f"({', '.join(sizes)},)" if sizes else "()"

    # ---- statements

    def stmt(self, s, depth: int, *, deterministic: bool, loops: tuple = ()) -> list[str]:
        pad = "    " * depth
        match s:
            case ast.Decl(name=n, init=init, type=t):
                if init is not None:
                    return [f"{pad}{n} = {self.ex(init)}"]
                if not t.sizes and not t.array_sizes:
                    return []  # a scalar is only ever assigned whole: Python needs no declaration
                return [f"{pad}{n} = jnp.zeros({self._full_shape(t)})"]
            case ast.Assign(lhs=ast.Var(name=n), op="=", rhs=r):
                return [f"{pad}{n} = {self.ex(r)}"]
            case ast.Assign(lhs=ast.Index() as lhs, op="=", rhs=r):
                name, at = ast.base_name(lhs), ", ".join(self.ex._index(i) for i in lhs.indices)
                return [f"{pad}{name} = {name}.at[{at}].set({self.ex(r)})"]
            case ast.Assign(lhs=lhs, op=op, rhs=r):
                base = op[:-1]
                return self.stmt(ast.Assign(lhs, "=", ast.Binary(base, lhs, r)), depth, deterministic=deterministic,
                                 loops=loops)
            case ast.For(var=v, lo=lo, hi=hi, body=b) if (vec := self._vectorised(s)) is not None:
                return [pad + self.tilde(vec, loops)]
            case ast.For(var=v, lo=lo, hi=hi, body=b):
                lines = [f"{pad}for {v} in range({self.ex(lo)}, {self.ex(hi)} + 1):"]
                for inner in _body(b):
                    lines += self.stmt(inner, depth + 1, deterministic=deterministic, loops=loops + (v,))
                return lines
            case ast.ForEach(var=v, container=c, body=b):
                lines = [f"{pad}for {v} in {self.ex(c)}:"]
                for inner in _body(b):
                    lines += self.stmt(inner, depth + 1, deterministic=deterministic, loops=loops + (v,))
                return lines
            case ast.Compound(stmts=items):
                return [line for inner in items for line in self.stmt(inner, depth, deterministic=deterministic,
                                                                      loops=loops)]
            case ast.If(cond=c, then=t, other=o):
                lines = [f"{pad}if {self.ex(c)}:"]
                for inner in _body(t):
                    lines += self.stmt(inner, depth + 1, deterministic=deterministic, loops=loops)
                if o is not None:
                    lines.append(f"{pad}else:")
                    for inner in _body(o):
                        lines += self.stmt(inner, depth + 1, deterministic=deterministic, loops=loops)
                return lines
            case ast.Tilde():
                return [pad + self.tilde(s, loops)]
            case ast.TargetPlus(expr=e):
                return [f'{pad}numpyro.factor({self._site("target", loops)}, jnp.sum({self.ex(e)}))']
        raise ExportError(f"cannot export the statement {type(s).__name__} to NumPyro")

    def _vectorised(self, loop: ast.For) -> ast.Tilde | None:
        """`for (n in 1:N) y[n] ~ f(x[n], a[g[n]])` as the one vectorised `y ~ f(x, a[g])`, when
        every use of n indexes the first axis of a variable of extent N; else None."""
        body = _body(loop.body)
        if len(body) != 1 or not isinstance(body[0], ast.Tilde) or not (isinstance(loop.lo, ast.IntLit)
                                                                       and loop.lo.value == 1):
            return None
        tilde = body[0]
        if tilde.dist in MULTIVARIATE or tilde.truncation is not None or ast.base_name(tilde.lhs) in self.pnames:
            return None
        extents = {d.name: (tuple(d.type.array_sizes) + tuple(d.type.sizes))[:1] for b in self.tree.blocks
                   for d in _decls(b.stmts)}

        def strip(node):
            if isinstance(node, ast.Index) and isinstance(node.base, ast.Var) and node.indices \
                    and node.indices[0] == ast.Var(loop.var) and extents.get(node.base.name) == (loop.hi,):
                rest = node.indices[1:]
                return node.base if not rest else ast.Index(node.base, (ast.Slice(None, None), *rest))
            return None

        new = ast.rewrite(tilde, strip)
        return None if loop.var in ast.free_names(new) else new

    def tilde(self, s: ast.Tilde, loops: tuple) -> str:
        name = ast.base_name(s.lhs)
        if s.dist not in SPECS:
            raise ExportError(f"the distribution {s.dist} has no NumPyro counterpart in boxloop's exporter yet; "
                              "export to Stan (--to stan) instead")
        law = self.distribution(s.dist, s.args)
        if s.truncation is not None:
            if not SPECS[s.dist].truncatable:
                raise ExportError(f"truncating {s.dist} is not exported to NumPyro; export to Stan instead")
            lo, hi = s.truncation.lo, s.truncation.hi
            parts = ([f"low={self.ex(lo)}"] if lo is not None else []) + ([f"high={self.ex(hi)}"] if hi is not None
                                                                            else [])
            law = f"dist.TruncatedDistribution({law}, {', '.join(parts)})"
        value = self.ex(s.lhs)
        if SPECS[s.dist].shift:
            value = f"{self.ex._atom(s.lhs)} - {SPECS[s.dist].shift}"
        if name in self.pnames:
            return f"numpyro.factor({self._site(name + '_prior', loops)}, jnp.sum({law}.log_prob({value})))"
        return f"numpyro.sample({self._site(name, loops)}, {law}, obs={value})"

    def distribution(self, name: str, args) -> str:
        spec = SPECS.get(name)
        if spec is None:
            raise ExportError(f"the distribution {name} has no NumPyro counterpart in boxloop's exporter yet; "
                              "export to Stan (--to stan) instead")
        if name == "std_normal":
            return "dist.Normal(0.0, 1.0)"
        parts = []
        for k, (kw, a) in enumerate(zip(spec.keywords, args)):
            text = self.ex(a)
            wrap = spec.wrap[k] if k < len(spec.wrap) else ""
            parts.append(f"{kw}={wrap}({text})" if wrap else f"{kw}={text}")
        return f"{spec.ctor}({', '.join(parts)})"

    def _log_prob(self, name: str, args, value) -> str:
        return f"{self.distribution(name, args)}.log_prob({self.ex(value)})"

    def _site(self, name: str, loops: tuple) -> str:
        if not loops:
            self.sites += 1
            return f'"{name}"' if name != "target" else f'"target_{self.sites}"'
        return 'f"' + name + "".join("_{" + v + "}" for v in loops) + '"'

    def _full_shape(self, t: ast.TypeSpec) -> str:
        sizes = [self.ex(s) for s in tuple(t.array_sizes) + tuple(t.sizes)]
        return f"({', '.join(sizes)},)" if sizes else "()"


def _uses(tilde: ast.Tilde) -> set[str]:
    return set().union(*(ast.free_names(a) for a in tilde.args)) if tilde.args else set()


def _event_shape(t: ast.TypeSpec, ex: PyExpr) -> str:
    sizes = [ex(s) for s in t.sizes]
    if t.kind in ("cholesky_factor_corr", "corr_matrix", "cov_matrix") and len(sizes) == 1:
        sizes = sizes * 2
    return f"({', '.join(sizes)},)"


def _list(shape: str) -> str:
    return "[" + shape[1:-1].rstrip(",") + "]"


def top_decls(stmts) -> list[ast.Decl]:
    """The block's own declarations (not the locals of a nested { } block)."""
    return [s for s in stmts if isinstance(s, ast.Decl)]


def _decls(stmts) -> list[ast.Decl]:
    return [s for s in _walk_stmts(stmts) if isinstance(s, ast.Decl)]


def _walk_stmts(stmts):
    for s in stmts:
        yield s
        if isinstance(s, (ast.For, ast.ForEach)):
            yield from _walk_stmts(_body(s.body))
        elif isinstance(s, ast.Compound):
            yield from _walk_stmts(s.stmts)
        elif isinstance(s, ast.If):
            yield from _walk_stmts(_body(s.then) + (_body(s.other) if s.other is not None else ()))


def _body(node) -> tuple:
    return tuple(node.stmts) if isinstance(node, ast.Compound) else (node,)


def is_zero(node) -> bool:
    return isinstance(node, (ast.IntLit, ast.RealLit)) and node.value == 0


def _is_one(node) -> bool:
    return isinstance(node, (ast.IntLit, ast.RealLit)) and node.value == 1


SCRIPT = HEADER + '''import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS
from numpyro.infer.reparam import LocScaleReparam

jax.config.update("jax_enable_x64", True)  # Stan computes in double precision

''' + COMMON + '''    numpyro.set_host_device_count(args.chains)  # chains in parallel, before JAX starts computing
    data = load_data(args.data)
    mcmc = MCMC(NUTS(model), num_warmup=args.warmup, num_samples=args.draws, num_chains=args.chains,
                progress_bar=False)
    mcmc.run(jax.random.PRNGKey(args.seed), **data)
    mcmc.print_summary()
    if args.save:
        np.savez(args.save, **{{k: np.asarray(v) for k, v in mcmc.get_samples(group_by_chain=True).items()}})


if __name__ == "__main__":
    main()
'''
