"""A Stan program as the PyMC script a careful person would write, printed from the syntax tree.

The same reading of the program as the NumPyro export (`export_numpyro`): a parameter with one
prior on the whole of it is created from that prior (`pm.HalfCauchy("tau", beta=5)` for
`real<lower=0> tau; tau ~ cauchy(0, 5)`), bounded ones truncated as Stan's density is; other
parameters are flat over their declared support (`pm.Flat`, `pm.HalfFlat`, `pm.Uniform`) and their
`~` statements become `pm.Potential` terms; observed `~` are observed variables; transformed
parameters are `pm.Deterministic`. Expressions are PyTensor (`pt`).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lang import ast, parse
from .export_numpyro import SPECS as NUMPYRO_SPECS
from .export_numpyro import NumpyroWriter, is_zero, top_decls
from .pyexpr import CONSTANTS, ExportError, PyExpr
from .script import COMMON, HEADER, render


@dataclass(frozen=True)
class PymcSpec:
    ctor: str
    keywords: tuple[str, ...]
    wrap: tuple[str, ...] = ()
    shift: int = 0


SPECS = {
    "normal": PymcSpec("pm.Normal", ("mu", "sigma")),
    "std_normal": PymcSpec("pm.Normal", ()),
    "student_t": PymcSpec("pm.StudentT", ("nu", "mu", "sigma")),
    "cauchy": PymcSpec("pm.Cauchy", ("alpha", "beta")),
    "double_exponential": PymcSpec("pm.Laplace", ("mu", "b")),
    "logistic": PymcSpec("pm.Logistic", ("mu", "s")),
    "lognormal": PymcSpec("pm.LogNormal", ("mu", "sigma")),
    "exponential": PymcSpec("pm.Exponential", ("lam",)),
    "gamma": PymcSpec("pm.Gamma", ("alpha", "beta")),
    "inv_gamma": PymcSpec("pm.InverseGamma", ("alpha", "beta")),
    "weibull": PymcSpec("pm.Weibull", ("alpha", "beta")),
    "beta": PymcSpec("pm.Beta", ("alpha", "beta")),
    "uniform": PymcSpec("pm.Uniform", ("lower", "upper")),
    "gumbel": PymcSpec("pm.Gumbel", ("mu", "beta")),
    "chi_square": PymcSpec("pm.ChiSquared", ("nu",)),
    "pareto": PymcSpec("pm.Pareto", ("m", "alpha")),
    "bernoulli": PymcSpec("pm.Bernoulli", ("p",)),
    "bernoulli_logit": PymcSpec("pm.Bernoulli", ("logit_p",)),
    "binomial": PymcSpec("pm.Binomial", ("n", "p")),
    "binomial_logit": PymcSpec("pm.Binomial", ("n", "logit_p")),
    "beta_binomial": PymcSpec("pm.BetaBinomial", ("n", "alpha", "beta")),
    "poisson": PymcSpec("pm.Poisson", ("mu",)),
    "poisson_log": PymcSpec("pm.Poisson", ("mu",), wrap=("pt.exp",)),
    "neg_binomial_2": PymcSpec("pm.NegativeBinomial", ("mu", "alpha")),
    "neg_binomial_2_log": PymcSpec("pm.NegativeBinomial", ("mu", "alpha"), wrap=("pt.exp", "")),
    "categorical": PymcSpec("pm.Categorical", ("p",), shift=1),
    "categorical_logit": PymcSpec("pm.Categorical", ("logit_p",), shift=1),
    "ordered_logistic": PymcSpec("pm.OrderedLogistic", ("eta", "cutpoints"), shift=1),
    "dirichlet": PymcSpec("pm.Dirichlet", ("a",)),
    "multi_normal": PymcSpec("pm.MvNormal", ("mu", "cov")),
    "multi_normal_cholesky": PymcSpec("pm.MvNormal", ("mu", "chol")),
}

FUNCTIONS = {
    "exp": "pt.exp", "log": "pt.log", "sqrt": "pt.sqrt", "square": "pt.sqr", "fabs": "pt.abs", "abs": "pt.abs",
    "log1p": "pt.log1p", "expm1": "pt.expm1", "inv_logit": "pt.sigmoid", "logit": "pm.math.logit",
    "log_inv_logit": "pm.math.log_sigmoid", "softplus": "pt.softplus", "log1p_exp": "pt.softplus",
    "inv": "pt.reciprocal", "pow": "pt.pow", "fmin": "pt.minimum", "fmax": "pt.maximum", "sum": "pt.sum",
    "mean": "pt.mean", "sin": "pt.sin", "cos": "pt.cos", "tanh": "pt.tanh", "lgamma": "pt.gammaln",
    "tgamma": "pt.gamma", "log_sum_exp": "pm.math.logsumexp", "cholesky_decompose": "pt.linalg.cholesky",
    "dot_product": "pt.dot", "diag_matrix": "pt.diag", "max": "pt.max", "min": "pt.min",
    "softmax": "pm.math.softmax", "log_softmax": "pm.math.log_softmax", "cumulative_sum": "pt.cumsum",
    "identity_matrix": "pt.eye", "log2": "pt.log2", "log10": "pt.log10", "num_elements": "pt.size",
    "add_diag": "_add_diag", "gp_exp_quad_cov": "_gp_exp_quad_cov", "cov_exp_quad": "_gp_exp_quad_cov",
    "sd": "_sd", "variance": "_variance", "dot_self": "_dot_self", "diag_pre_multiply": "_diag_pre_multiply",
}
HELPERS = {
    "_add_diag": "def _add_diag(m, d):\n    return m + d * pt.eye(m.shape[0])\n",
    "_gp_exp_quad_cov": ("def _gp_exp_quad_cov(x, alpha, rho):\n    x = np.asarray(x, dtype=float)\n"
                         "    sq = (x[:, None] - x[None, :]) ** 2 if x.ndim == 1 else "
                         "((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)\n"
                         "    return alpha ** 2 * pt.exp(-0.5 * sq / rho ** 2)\n"),
    "_sd": "def _sd(x):\n    return pt.std(x) * pt.sqrt(x.size / (x.size - 1))\n",
    "_variance": "def _variance(x):\n    return pt.var(x) * x.size / (x.size - 1)\n",
    "_dot_self": "def _dot_self(x):\n    return pt.dot(x, x)\n",
    "_diag_pre_multiply": "def _diag_pre_multiply(v, m):\n    return v[:, None] * m\n",
}


class PymcExpr(PyExpr):
    """PyExpr with PyTensor's names."""

    def __call__(self, node) -> str:
        match node:
            case ast.Unary(op="!", operand=a):
                return f"pt.invert({self(a)})"
            case ast.Ternary(cond=c, then=t, other=o):
                return f"pt.switch({self(c)}, {self(t)}, {self(o)})"
            case ast.ArrayLit(items=items) | ast.RowVectorLit(items=items):
                return f"pt.stack([{', '.join(self(i) for i in items)}])"
        return super().__call__(node)

    functions = FUNCTIONS
    array_module = "pt"
    framework = "PyMC/PyTensor"

    def constant(self, name: str) -> str:
        return CONSTANTS[name].replace("jnp.", "np.")


def to_pymc(source, data_path: str | None = None, program_name: str = "program.stan") -> str:
    tree = parse(source) if isinstance(source, str) else source
    return _PymcWriter(tree).script(data_path, program_name)


class _PymcWriter(NumpyroWriter):
    indent = 2  # inside `with pm.Model()`
    DETERMINISTIC = "pm.Deterministic"

    def __init__(self, tree: ast.Program):
        super().__init__(tree)
        self.ex = PymcExpr(self.kinds, self._log_prob)

    def script(self, data_path: str | None, program_name: str) -> str:
        model = self.model()  # before the helpers: writing it records which ones it uses
        return render(SCRIPT, framework="PyMC", program_name=program_name, data_path=data_path,
                      loader=self.loader(), model=model, helpers=HELPERS, helpers_used=self.ex.used,
                      data=self.data)

    def model(self) -> str:
        priors = {k: v for k, v in self._simple_priors().items() if v.dist in SPECS}
        body = self._body(priors)
        names = [d.name for d in self.data]
        unpack = (f"    {', '.join(names)}{',' if len(names) == 1 else ''} = "
                  f"{', '.join(f'data[{n!r}]' for n in names)}{',' if len(names) == 1 else ''}")
        head = ["def build_model(data):", '    """The PyMC model, given the arrays from load_data."""',
                unpack if names else "", "    with pm.Model() as model:"]
        return "\n".join(line for line in head if line) + "\n" + "\n".join(body or ["        pass"]) + \
            "\n    return model"

    def param(self, d: ast.Decl, prior: ast.Tilde | None) -> list[str]:
        shape = self._shape(d.type)
        size = f", shape={shape}" if shape != "()" else ""
        if prior is None:
            return [f"        {d.name} = {self._flat(d, size)}"]
        spec = SPECS[prior.dist]
        t = d.type
        loc_is_zero = not prior.args or is_zero(prior.args[0]) if prior.dist in ("normal", "cauchy") else False
        if t.lower is not None and is_zero(t.lower) and t.upper is None and prior.dist in ("normal", "cauchy") \
                and loc_is_zero:
            scale = self.ex(prior.args[1]) if len(prior.args) > 1 else "1.0"
            kind = "HalfNormal(\"{n}\", sigma=" if prior.dist == "normal" else "HalfCauchy(\"{n}\", beta="
            return [f"        {d.name} = pm.{kind.format(n=d.name)}{scale}{size})"]
        bounded = (t.lower is not None or t.upper is not None) and not NUMPYRO_SPECS[prior.dist].positive \
            and prior.dist != "beta"
        if bounded:
            bounds = "".join(f", {k}={self.ex(b)}" for k, b in (("lower", t.lower), ("upper", t.upper))
                             if b is not None)
            return [f'        {d.name} = pm.Truncated("{d.name}", {self._dist(prior.dist, prior.args, spec, True)}'
                    f"{bounds}{size})"]
        return [f'        {d.name} = {spec.ctor}("{d.name}"{self._args(prior.dist, prior.args, spec)}{size})']

    def _flat(self, d: ast.Decl, size: str) -> str:
        t = d.type
        if t.kind in ("simplex", "ordered", "positive_ordered", "cholesky_factor_corr", "cholesky_factor_cov",
                      "corr_matrix", "cov_matrix"):
            raise ExportError(f"{d.name}: a {t.kind} without a prior of its own is not exported to PyMC; give it "
                              "one (e.g. dirichlet for a simplex) or export to Stan")
        if t.lower is None and t.upper is None:
            return f'pm.Flat("{d.name}"{size})'
        if t.upper is None and is_zero(t.lower):
            return f'pm.HalfFlat("{d.name}"{size})'
        if t.lower is not None and t.upper is not None:
            return f'pm.Uniform("{d.name}", lower={self.ex(t.lower)}, upper={self.ex(t.upper)}{size})'
        raise ExportError(f"{d.name}: a parameter bounded on one side away from zero without a single prior is "
                          "not exported to PyMC yet; export to Stan instead")

    def _args(self, name: str, args, spec: PymcSpec) -> str:
        if name == "std_normal":
            return ", mu=0.0, sigma=1.0"
        parts = []
        for k, (kw, a) in enumerate(zip(spec.keywords, args)):
            wrap = spec.wrap[k] if k < len(spec.wrap) else ""
            parts.append(f"{kw}={wrap}({self.ex(a)})" if wrap else f"{kw}={self.ex(a)}")
        return "".join(", " + p for p in parts)

    def _dist(self, name: str, args, spec: PymcSpec | None = None, _unused: bool = False) -> str:
        spec = spec or SPECS.get(name)
        if spec is None:
            raise ExportError(f"the distribution {name} has no PyMC counterpart in boxloop's exporter yet; "
                              "export to Stan (--to stan) instead")
        return f"{spec.ctor}.dist({self._args(name, args, spec).lstrip(', ')})"

    def _log_prob(self, name: str, args, value) -> str:
        return f"pm.logp({self._dist(name, args)}, {self.ex(value)})"

    def stmt(self, s, depth: int, *, deterministic: bool, loops: tuple = ()) -> list[str]:
        pad = "    " * depth
        match s:
            case ast.Decl(name=n, init=None, type=t) if t.sizes or t.array_sizes:
                return [f"{pad}{n} = pt.zeros({self._full_shape(t)})"]
            case ast.Assign(lhs=ast.Index() as lhs, op="=", rhs=r):
                target = f"{ast.base_name(lhs)}[{', '.join(self.ex._index(i) for i in lhs.indices)}]"
                return [f"{pad}{ast.base_name(lhs)} = pt.set_subtensor({target}, {self.ex(r)})"]
            case ast.TargetPlus(expr=e):
                return [f"{pad}pm.Potential({self._site('target', loops)}, pt.sum({self.ex(e)}))"]
        return super().stmt(s, depth, deterministic=deterministic, loops=loops)

    def tilde(self, s: ast.Tilde, loops: tuple) -> str:
        name = ast.base_name(s.lhs)
        spec = SPECS.get(s.dist)
        if spec is None:
            raise ExportError(f"the distribution {s.dist} has no PyMC counterpart in boxloop's exporter yet; "
                              "export to Stan (--to stan) instead")
        value = self.ex(s.lhs) if not spec.shift else f"{self.ex._atom(s.lhs)} - {spec.shift}"
        if s.truncation is not None:
            bounds = "".join(f", {k}={self.ex(b)}" for k, b in (("lower", s.truncation.lo),
                                                                 ("upper", s.truncation.hi)) if b is not None)
            law = f"pm.Truncated.dist({self._dist(s.dist, s.args, spec)}{bounds})"
            if name in self.pnames:
                return f"pm.Potential({self._site(name + '_prior', loops)}, pt.sum(pm.logp({law}, {value})))"
            return f"pm.Potential({self._site(name, loops)}, pt.sum(pm.logp({law}, {value})))"
        if name in self.pnames:
            return (f"pm.Potential({self._site(name + '_prior', loops)}, "
                    f"pt.sum(pm.logp({self._dist(s.dist, s.args, spec)}, {value})))")
        return f"{spec.ctor}({self._site(name, loops)}{self._args(s.dist, s.args, spec)}, observed={value})"


SCRIPT = HEADER + '''import numpy as np
import pymc as pm
import pytensor.tensor as pt

''' + COMMON + '''    with build_model(load_data(args.data)):
        idata = pm.sample(draws=args.draws, tune=args.warmup, chains=args.chains, cores=args.chains,
                          random_seed=args.seed, progressbar=False)
    print(pm.summary(idata).to_string())
    if args.save:
        np.savez(args.save, **{{k: v.values for k, v in idata.posterior.data_vars.items()}})


if __name__ == "__main__":
    main()
'''
