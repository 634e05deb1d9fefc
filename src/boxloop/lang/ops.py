"""Two array namespaces with one API: `NUMPY` (numpy + scipy) and `JAX` (jax.numpy + jax.scipy).

Library formulas are written once against this API (`m.exp`, `m.gammaln`, `m.cholesky`, ...), so the
same code is checked against scipy.stats and traced by JAX. Each namespace imports its backend on
first attribute access: `boxloop check` uses `NUMPY` only and must start without importing JAX.

Beyond the shared numpy/scipy names, every namespace has:

- `name` ("numpy" or "jax") and `is_jax`;
- `cholesky(a)` lower-triangular; `solve_triangular(a, b, lower=True)`; `slogdet`, `solve`, `inv`, `det`;
- `log_expit(x)` = log(inv_logit(x)), computed without overflow;
- `set_at(x, index, value)` and `add_at(x, index, value)`: a new array with `x[index]` replaced or
  incremented (JAX arrays are immutable, so the interpreter uses these for indexed assignment);
- `as_float(x)`: an array of the backend's default float type;
- `random` (JAX only): `jax.random`, for the samplers.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from boxloop.errors import BoxloopError

# Names that numpy and jax.numpy both define with the same meaning.
_ARRAY_NAMES = (
    "abs", "all", "any", "arange", "arccos", "arccosh", "arcsin", "arcsinh", "arctan", "arctan2",
    "arctanh", "argmax", "argmin", "argsort", "array", "asarray", "atleast_1d", "atleast_2d",
    "broadcast_arrays", "broadcast_shapes", "broadcast_to", "cbrt", "ceil", "clip", "column_stack",
    "concatenate", "copysign", "cos", "cosh", "cumprod", "cumsum", "diag", "diagonal", "dot", "e",
    "einsum", "equal", "exp", "exp2", "expand_dims", "expm1", "eye", "flip", "float32", "float64",
    "floor", "floor_divide", "fmax", "fmin", "full", "full_like", "greater", "greater_equal", "hstack",
    "hypot", "inf", "int32", "int64", "isfinite", "isinf", "isnan", "less", "less_equal", "linspace",
    "log", "log10", "log1p", "log2", "logaddexp", "logical_and", "logical_not", "logical_or",
    "matmul", "max", "maximum", "mean", "min", "minimum", "mod", "moveaxis", "nan", "ndim",
    "ones", "ones_like", "outer", "pi", "power", "prod", "remainder", "repeat", "reshape",
    "result_type", "round", "searchsorted", "shape", "sign", "sin", "sinh", "size", "sort", "sqrt",
    "square", "squeeze", "stack", "std", "sum", "swapaxes", "take", "take_along_axis", "tan", "tanh",
    "tile", "trace", "transpose", "tril", "triu", "trunc", "var", "vstack", "where", "zeros",
    "zeros_like",
)

# Names that scipy.special and jax.scipy.special both define with the same meaning.
_SPECIAL_NAMES = (
    "betainc", "betaln", "digamma", "erf", "erfc", "erfcx", "erfinv", "expit", "gamma", "gammainc",
    "gammaincc", "gammaln", "i0e", "i1e", "log_ndtr", "log_softmax", "logit", "logsumexp",
    "multigammaln", "ndtr", "ndtri", "owens_t", "polygamma", "softmax", "xlog1py", "xlogy", "zeta",
)

_LINALG_NAMES = ("cholesky", "slogdet", "solve", "inv", "det", "eigh")


@dataclass(frozen=True)
class Ops:
    """A read-only array namespace; attributes resolve against the backend named by `name`."""

    name: str

    @property
    def is_jax(self) -> bool:
        return self.name == "jax"

    def __getattr__(self, attr: str):
        # Only reached when ordinary lookup fails; dunders must fail fast (pickle, copy probe them).
        if attr.startswith("__"):
            raise AttributeError(attr)
        table = _table(self.name)
        if attr not in table:
            raise AttributeError(_missing_message(self.name, attr))
        return table[attr]

    def __dir__(self):
        return sorted(set(_table(self.name)) | {"name", "is_jax"})


def _missing_message(name: str, attr: str) -> str:
    if attr == "random":
        return "ops.NUMPY has no `random`: samplers run under ops.JAX only"
    return f"ops.{name.upper()} has no function {attr!r}"


@functools.cache
def _table(name: str) -> Mapping:
    builders = {"numpy": _numpy_table, "jax": _jax_table}
    return MappingProxyType(builders[name]())


def _numpy_table() -> dict:
    import scipy.linalg as sla
    import scipy.special as sps

    table = {n: getattr(np, n) for n in _ARRAY_NAMES}
    table.update({n: getattr(sps, n) for n in _SPECIAL_NAMES})
    table.update({n: getattr(np.linalg, n) for n in _LINALG_NAMES})
    table.update(
        solve_triangular=sla.solve_triangular,
        log_expit=sps.log_expit,
        astype=lambda x, dtype: np.asarray(x).astype(dtype),  # np.astype is numpy >= 2.1 only
        set_at=_numpy_set_at,
        add_at=_numpy_add_at,
        as_float=lambda x: np.asarray(x, dtype=float),
    )
    return table


def _numpy_set_at(x, index, value):
    out = np.array(x)  # a copy: callers may hold the original
    out[index] = value
    return out


def _numpy_add_at(x, index, value):
    out = np.array(x)
    np.add.at(out, index, value)  # repeated indices accumulate, as with JAX's .at[].add
    return out


def _jax_table() -> dict:
    import jax
    import jax.numpy as jnp
    import jax.scipy.linalg as jla
    import jax.scipy.special as jsp

    table = {n: getattr(jnp, n) for n in _ARRAY_NAMES}
    table.update({n: getattr(jsp, n) for n in _SPECIAL_NAMES})
    table.update({n: getattr(jnp.linalg, n) for n in _LINALG_NAMES})
    table.update(
        solve_triangular=jla.solve_triangular,
        log_expit=jax.nn.log_sigmoid,
        astype=jnp.astype,
        set_at=lambda x, index, value: jnp.asarray(x).at[index].set(value),
        add_at=lambda x, index, value: jnp.asarray(x).at[index].add(value),
        # `float` asks for the default float type: float32 unless x64 is enabled, without warnings.
        as_float=lambda x: jnp.asarray(x, dtype=float),
        random=jax.random,
        # jax.scipy.special.betaln is off by up to ~1e-6 at moderate arguments (a=2.2, b=8);
        # the gammaln form is accurate to ~1e-13 there, which the density tests need.
        betaln=lambda a, b: jsp.gammaln(a) + jsp.gammaln(b) - jsp.gammaln(jnp.add(a, b)),
    )
    return table


NUMPY = Ops("numpy")
JAX = Ops("jax")


def get_ops(name: str) -> Ops:
    """The namespace called `name` ("numpy" or "jax").

    Raises
    ------
    BoxloopError
        When `name` is neither.
    """
    if name not in ("numpy", "jax"):
        raise BoxloopError(f"unknown ops namespace {name!r}; use 'numpy' or 'jax'", code="ops.unknown")
    return NUMPY if name == "numpy" else JAX
