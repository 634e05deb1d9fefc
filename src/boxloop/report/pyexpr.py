"""Stan expressions printed as JAX Python, from the syntax tree.

Indexing becomes 0-based (`x[n]` -> `x[n - 1]`, `x[a:b]` -> `x[a - 1:b]`), `^` becomes `**`,
Stan's `*` between two containers becomes `@` (matrix product) and `.*` / `./` elementwise
operators; functions map to `jnp`/`jax.scipy` by name. What has no translation here raises
ExportError naming it.
"""

from __future__ import annotations

from ..lang import ast
from ..lang.printer import precedence
from .run import ReportError


class ExportError(ReportError):
    code = "export.unsupported"


FUNCTIONS = {
    "exp": "jnp.exp", "log": "jnp.log", "sqrt": "jnp.sqrt", "square": "jnp.square", "fabs": "jnp.abs",
    "abs": "jnp.abs", "log1p": "jnp.log1p", "expm1": "jnp.expm1", "inv_logit": "jax.nn.sigmoid",
    "logit": "jax.scipy.special.logit", "log_inv_logit": "jax.nn.log_sigmoid", "softplus": "jax.nn.softplus",
    "log1p_exp": "jax.nn.softplus", "inv": "jnp.reciprocal", "pow": "jnp.power", "fmin": "jnp.minimum",
    "fmax": "jnp.maximum", "sum": "jnp.sum", "mean": "jnp.mean", "sd": "_sd", "variance": "_variance",
    "rep_vector": "jnp.full", "rep_array": "jnp.full", "sin": "jnp.sin", "cos": "jnp.cos", "tanh": "jnp.tanh",
    "lgamma": "jax.scipy.special.gammaln", "tgamma": "jax.scipy.special.gamma", "log_sum_exp": "jax.nn.logsumexp",
    "Phi": "jax.scipy.stats.norm.cdf", "inv_sqrt": "jax.lax.rsqrt", "cholesky_decompose": "jnp.linalg.cholesky",
    "dot_product": "jnp.dot", "dot_self": "_dot_self", "columns_dot_self": "_columns_dot_self",
    "diag_matrix": "jnp.diag", "to_vector": "_to_vector", "num_elements": "jnp.size", "size": "len",
    "max": "jnp.max", "min": "jnp.min", "log_softmax": "jax.nn.log_softmax", "softmax": "jax.nn.softmax",
    "cumulative_sum": "jnp.cumsum", "exp2": "jnp.exp2", "log2": "jnp.log2", "log10": "jnp.log10",
    "append_row": "_append_row", "distance": "_distance", "add_diag": "_add_diag",
    "gp_exp_quad_cov": "_gp_exp_quad_cov", "cov_exp_quad": "_gp_exp_quad_cov", "identity_matrix": "jnp.eye",
    "diag_pre_multiply": "_diag_pre_multiply", "rows": "_rows", "cols": "_cols", "int_step": "_int_step",
}
HELPERS = {
    "_sd": "def _sd(x):\n    return jnp.std(x, ddof=1)\n",
    "_variance": "def _variance(x):\n    return jnp.var(x, ddof=1)\n",
    "_dot_self": "def _dot_self(x):\n    return jnp.dot(x, x)\n",
    "_columns_dot_self": "def _columns_dot_self(x):\n    return jnp.sum(x * x, axis=0)\n",
    "_to_vector": "def _to_vector(x):\n    return jnp.ravel(jnp.asarray(x).T)  # column-major, as Stan\n",
    "_append_row": "def _append_row(a, b):\n    return jnp.concatenate([jnp.atleast_1d(a), jnp.atleast_1d(b)])\n",
    "_distance": "def _distance(a, b):\n    return jnp.sqrt(jnp.sum(jnp.square(a - b)))\n",
    "_add_diag": "def _add_diag(m, d):\n    return m + d * jnp.eye(m.shape[0])\n",
    "_gp_exp_quad_cov": ("def _gp_exp_quad_cov(x, alpha, rho):\n    x = jnp.asarray(x, dtype=float)\n"
                         "    d = x[:, None] - x[None, :] if x.ndim == 1 else x[:, None, :] - x[None, :, :]\n"
                         "    sq = d ** 2 if x.ndim == 1 else jnp.sum(d ** 2, axis=-1)\n"
                         "    return alpha ** 2 * jnp.exp(-0.5 * sq / rho ** 2)\n"),
    "_diag_pre_multiply": "def _diag_pre_multiply(v, m):\n    return v[:, None] * m\n",
    "_rows": "def _rows(x):\n    return jnp.shape(x)[0]\n",
    "_cols": "def _cols(x):\n    return jnp.shape(x)[1]\n",
    "_int_step": "def _int_step(x):\n    return jnp.where(x > 0, 1, 0)\n",
}
CONSTANTS = {"pi": "jnp.pi", "e": "jnp.e", "not_a_number": "jnp.nan", "positive_infinity": "jnp.inf",
             "negative_infinity": "-jnp.inf", "machine_precision": "jnp.finfo(float).eps"}
_OPS = {"^": "**", ".*": "*", "./": "/", "&&": "and", "||": "or", "%/%": "//", ".^": "**"}
CONTAINERS = frozenset({"vector", "row_vector", "matrix", "simplex", "ordered", "positive_ordered",
                        "cholesky_factor_corr", "cholesky_factor_cov", "corr_matrix", "cov_matrix"})
MATRICES = frozenset({"matrix", "cholesky_factor_corr", "cholesky_factor_cov", "corr_matrix", "cov_matrix"})


class PyExpr:
    """Prints expressions; `kinds` maps a declared name to its type kind (for `*` vs `@`),
    `used` collects the helper functions the printed code needs."""

    def __init__(self, kinds: dict[str, str], dist_log_prob=None):
        self.kinds = kinds
        self.used: set[str] = set()
        self.dist_log_prob = dist_log_prob  # (name, args) -> text of the log density, for `foo_lpdf(y | ...)`

    def __call__(self, node) -> str:
        match node:
            case ast.IntLit(value=v):
                return str(v)
            case ast.RealLit(value=v):
                return repr(float(v))
            case ast.Var(name=n):
                return n
            case ast.Unary(op="'", operand=a):
                return f"{self._atom(a)}.T"
            case ast.Unary(op="!", operand=a):
                return f"jnp.logical_not({self(a)})"
            case ast.Unary(op=op, operand=a):
                return f"{op}{self._atom(a)}"
            case ast.Binary(op="*", left=a, right=b) if self.is_container(a) and self.is_container(b):
                return self._binary(node, "@")
            case ast.Binary(op="/", left=a, right=b) if self.is_int(a) and self.is_int(b):
                return self._binary(node, "//")
            case ast.Binary(op=op):
                return self._binary(node, _OPS.get(op, op))
            case ast.Ternary(cond=c, then=t, other=o):
                return f"jnp.where({self(c)}, {self(t)}, {self(o)})"
            case ast.Index(base=b, indices=ix):
                return f"{self._atom(b)}[{', '.join(self._index(i) for i in ix)}]"
            case ast.ArrayLit(items=items) | ast.RowVectorLit(items=items):
                return f"jnp.array([{', '.join(self(i) for i in items)}])"
            case ast.Call():
                return self._call(node)
        raise ExportError(f"cannot export the expression {type(node).__name__}")

    def _binary(self, node: ast.Binary, op: str) -> str:
        """Parentheses only where the operands bind looser than the operator (the right operand
        also when equally: a - (b - c)); `^` binds right, so there the left operand."""
        mine = precedence(node)
        right_assoc = node.op in ("^", ".^")
        left = self(node.left)
        right = self(node.right)
        if precedence(node.left) < mine or (right_assoc and precedence(node.left) == mine):
            left = f"({left})"
        if precedence(node.right) < mine or (not right_assoc and precedence(node.right) == mine):
            right = f"({right})"
        return f"{left} {op} {right}"

    def _atom(self, node) -> str:
        text = self(node)
        simple = isinstance(node, (ast.Var, ast.IntLit, ast.Call, ast.Index)) or (
            isinstance(node, ast.RealLit) and node.value >= 0)
        return text if simple else f"({text})"

    def _index(self, i) -> str:
        if isinstance(i, ast.Slice):
            lo = "" if i.lo is None else self._minus_one(i.lo)
            hi = "" if i.hi is None else self(i.hi)
            return f"{lo}:{hi}"
        return self._minus_one(i)

    def _minus_one(self, i) -> str:
        if isinstance(i, ast.IntLit):
            return str(i.value - 1)
        return f"{self._atom(i)} - 1"

    # What differs between the NumPyro and PyMC printers: their function table, array module, name.
    functions = FUNCTIONS
    array_module = "jnp"
    framework = "NumPyro/JAX"

    def _call(self, node: ast.Call) -> str:
        name = node.name
        if not node.args and name in CONSTANTS:
            return self.constant(name)
        if node.conditional or name.endswith(("_lpdf", "_lpmf", "_lupdf", "_lupmf")):
            if self.dist_log_prob is None:
                raise ExportError(f"{name} cannot be exported here")
            return self.dist_log_prob(name.rsplit("_", 1)[0], node.args[1:], node.args[0])
        if name in ("rep_vector", "rep_array"):
            value, *sizes = node.args
            return f"{self.array_module}.full(({', '.join(self(s) for s in sizes)},), {self(value)})"
        if name not in self.functions:
            raise ExportError(f"the function {name} has no {self.framework} translation in boxloop's exporter "
                              "yet; export to Stan (--to stan) instead")
        target = self.functions[name]
        if target.startswith("_"):
            self.used.add(target)
        return f"{target}({', '.join(self(a) for a in node.args)})"

    def constant(self, name: str) -> str:
        return CONSTANTS[name]

    def is_container(self, node) -> bool:
        match node:
            case ast.Var(name=n):
                return self.kinds.get(n) in CONTAINERS
            case ast.Unary(op="'", operand=a) | ast.Unary(operand=a):
                return self.is_container(a)
            case ast.Binary(left=a, right=b):
                return self.is_container(a) or self.is_container(b)
            case ast.Index(base=b, indices=ix):
                return self.kinds.get(ast.base_name(b)) in MATRICES and len(ix) == 1 or any(
                    isinstance(i, ast.Slice) for i in ix)
            case ast.Call(name=n, args=args):
                return n in ("rep_vector", "to_vector", "diag_matrix", "cholesky_decompose", "gp_exp_quad_cov",
                             "cov_exp_quad", "identity_matrix", "add_diag", "diag_pre_multiply") or (
                    n in ("exp", "log", "sqrt", "square", "inv_logit", "logit") and any(map(self.is_container, args)))
        return False

    def is_int(self, node) -> bool:
        match node:
            case ast.IntLit():
                return True
            case ast.Var(name=n):
                return self.kinds.get(n) == "int"
        return False

