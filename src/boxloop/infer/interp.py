"""Interpret a program's expressions under JAX tracing; the values and states statements pass on.

No Python source is ever generated: the tree is walked while JAX traces, so the trace is the
compiled program (`statements` runs statements, `loops` runs loops). Values carry their Stan type
(`Val`), because arrays alone cannot tell a vector from a row_vector (`v * w'` is an outer product,
`v' * w` a dot product).

Static vs traced. Values that are numpy arrays or Python numbers are *static*: known while
tracing (integer data, sizes, indices of unrolled loops). Everything else is a JAX value.
Operations on static operands stay in numpy, so sizes, bounds and data-only conditions are
resolved at trace time and every shape is static. Anything that must be static but is not raises
`NeedsStatic` (or one of JAX's TRACE_ERRORS), which the loop and compile layers answer by falling
back to a more static strategy.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import FitError, ProgramError
from ..lang import ast, library
from ..lang.functions import ODE_SOLVERS
from ..lang.operators import OperatorTypeError, binary_type, unary_type
from ..lang.ops import JAX, NUMPY
from ..lang.types import INT, REAL, ValueType, value_kind
from . import analysis

TRACE_ERRORS = (jax.errors.ConcretizationTypeError, jax.errors.TracerIntegerConversionError,
                jax.errors.TracerArrayConversionError, jax.errors.TracerBoolConversionError)


class Rejected(FitError):
    """A `reject` / `fatal_error` reached on every path while tracing: no draw could be accepted."""

    def __init__(self, reason: str):
        super().__init__(f"the program rejected: {reason}", code="infer.reject")
        self.reason = reason


class NeedsStatic(Exception):
    """A value that must be known while tracing (a size, a slice bound) is traced."""


# ---- values and states ---------------------------------------------------------------------------


class Val(NamedTuple):
    x: Any
    t: ValueType


class Effect(NamedTuple):
    """A deferred update from a vectorised lane: add to a log-lik entry or write a variable.

    `pos` are flat positions (into the variable, or the entry's slots); `mask` (or None) says which
    of them the effect applies to, for effects made under a traced `if`."""

    kind: str  # "loglik" | "write"
    name: str
    pos: Any
    val: Any
    mask: Any


@dataclass(frozen=True)
class Lane:
    """What a vectorised lane needs beyond its environment: which names it declared (writes to
    those are immediate), its own writes to outer variables keyed by lvalue, and its effects."""

    locals: frozenset = frozenset()
    overlay: dict = field(default_factory=dict)
    effects: tuple = ()


class KeyBox:
    """The random key threaded through `_rng` calls, and the log-density terms that calls of user
    functions inside an expression add (the target increment of an `_lp` function, -inf where a
    `reject` was reached). Mutable on purpose: expressions return values only, and a box created
    inside each traced function keeps the mutation local to that trace; every statement moves the
    pending terms into its state's target before it ends (`take_pending`)."""

    def __init__(self, key):
        self.key = key
        self.pending = 0.0

    def add_pending(self, term) -> None:
        self.pending = self.pending + term

    def take_pending(self):
        term, self.pending = self.pending, 0.0
        return term

    def next(self):
        if self.key is None:
            raise ProgramError("random numbers (_rng) are only available in transformed data and "
                               "generated quantities", code="infer.rng_block")
        self.key, sub = jax.random.split(self.key)
        return sub


class Flow(NamedTuple):
    """Where control stands: whether the path has returned from its function, left its loop by
    `break`, or skipped to the next iteration by `continue`. Each is a Python bool when known while
    tracing, or a traced bool (true on the paths a traced `if` sent there). `value` is what a
    `return` gave; `rejected` the message of a `reject` reached on every path (None otherwise)."""

    returned: Any = False
    broken: Any = False
    continued: Any = False
    value: Val | None = None
    rejected: str | None = None


RUNNING = Flow()


def active(flow: Flow):
    """True / False when known while tracing whether this path still executes, else a traced bool."""
    parts = (flow.returned, flow.broken, flow.continued)
    if any(p is True for p in parts):
        return False
    if all(p is False for p in parts):
        return True
    return ~(_mask(flow.returned) | _mask(flow.broken) | _mask(flow.continued))


def _mask(x):
    return jnp.asarray(x, dtype=bool)


def merge_flow(cond, a: Flow, b: Flow) -> Flow:
    """The flow after `if (cond) A else B` with a traced condition."""
    def pick(x, y):
        if x is y or (isinstance(x, bool) and isinstance(y, bool) and x == y):
            return x
        return jnp.where(cond, _mask(x), _mask(y))

    value = a.value if b.value is None else b.value if a.value is None else \
        Val(jnp.where(cond, a.value.x, b.value.x), a.value.t)
    rejected = a.rejected if a.rejected == b.rejected else None
    return Flow(pick(a.returned, b.returned), pick(a.broken, b.broken), pick(a.continued, b.continued),
                value, rejected)


class State(NamedTuple):
    env: dict  # name -> Val
    target: Any
    loglik: dict | None  # entry -> flat accumulator (None: not tracked)
    lane: Lane | None
    rng: KeyBox
    flow: Flow = RUNNING


@dataclass(frozen=True)
class Context:
    """Static settings of one trace."""

    info: analysis.ProgramInfo
    track_loglik: bool = False  # accumulate pointwise log-likelihood (and hit counts) per slot
    sim: analysis.SimMode | None = None
    slot_shapes: dict = field(default_factory=dict)  # entry -> slot shape
    functions: Any = None  # the program's user-defined functions (functions.FunctionTable) or None


# ---- helpers ------------------------------------------------------------------------------------


def is_static(x) -> bool:
    return isinstance(x, (int, float, bool, np.ndarray, np.generic))


def all_static(*xs) -> bool:
    return all(is_static(x) for x in xs)


def ops_for(*xs):
    return NUMPY if all_static(*xs) else JAX


def static_int(x, what: str = "this value") -> int:
    if not is_static(x):
        raise NeedsStatic(what)
    arr = np.asarray(x)
    if arr.ndim != 0:
        raise ProgramError(f"{what} must be a single integer", code="infer.bad_size")
    return int(arr)


def as_real(x):
    if is_static(x):
        return np.asarray(x, dtype=float)
    return jnp.asarray(x, dtype=float) if jnp.issubdtype(jnp.asarray(x).dtype, jnp.integer) else x


def shape_of(x) -> tuple:
    return tuple(np.shape(x))


def is_int_dtype(x) -> bool:
    if isinstance(x, (bool, int, np.integer)):
        return True
    if isinstance(x, (float, np.floating)):
        return False
    return np.issubdtype(np.asarray(x).dtype if is_static(x) else x.dtype, np.integer)


def xp_for(*xs):
    return np if all_static(*xs) else jnp


def fill(shape, t: ValueType):
    """A fresh variable: NaN for reals (Stan's uninitialised value), 0 for ints."""
    if t.kind == "int":
        return np.zeros(shape, dtype=int)
    return np.full(shape, np.nan)


def cast_to(x, t: ValueType, shape: tuple):
    """Coerce an assigned value to the declared element type and shape."""
    xp = xp_for(x)
    if t.kind != "int":
        x = as_real(x)
    if shape_of(x) != tuple(shape):
        try:
            x = xp.broadcast_to(x, shape)
        except ValueError:
            raise ProgramError(f"a value of shape {shape_of(x)} cannot be assigned to a variable of "
                               f"shape {tuple(shape)}; sizes must match", code="infer.size_mismatch") from None
    return x


# ---- expressions --------------------------------------------------------------------------------


def ev(e, st: State, cx: Context) -> Val:
    match e:
        case ast.IntLit(value=v):
            return Val(int(v), INT)
        case ast.RealLit(value=v):
            return Val(float(v), REAL)
        case ast.Var(name=n):
            return lookup(n, st)
        case ast.Binary():
            return _binary_expr(e, st, cx)
        case ast.Unary(op=op, operand=a):
            return unary(op, ev(a, st, cx))
        case ast.Ternary():
            return _ternary(e, st, cx)
        case ast.Index():
            if st.lane is not None and e in st.lane.overlay:
                return st.lane.overlay[e]
            base = ev(e.base, st, cx)
            return index(base, eval_items(e.indices, st, cx))
        case ast.Call():
            return call(e, st, cx)
        case ast.ArrayLit(items=items):
            return _array_lit([ev(i, st, cx) for i in items])
        case ast.RowVectorLit(items=items):
            return _row_vector_lit([ev(i, st, cx) for i in items])
    raise ProgramError(f"cannot evaluate {type(e).__name__}", code="infer.unsupported")


def lookup(name: str, st: State) -> Val:
    try:
        return st.env[name]
    except KeyError:
        raise ProgramError(f"'{name}' is not defined here; declare it before use",
                           code="infer.undefined") from None


def _binary_expr(e: ast.Binary, st: State, cx: Context) -> Val:
    a = ev(e.left, st, cx)
    if e.op in ("&&", "||") and is_static(a.x) and np.ndim(a.x) == 0:
        # Stan short-circuits; with a static left side so do we (the right side may be invalid).
        if bool(a.x) == (e.op == "||"):
            return Val(int(e.op == "||"), INT)
        b = ev(e.right, st, cx)
        return Val(_truth(b.x), INT)
    return binary(e.op, a, ev(e.right, st, cx))


def _truth(x):
    return int(bool(x)) if is_static(x) else (jnp.asarray(x) != 0).astype(int)


def _ternary(e: ast.Ternary, st: State, cx: Context) -> Val:
    c = ev(e.cond, st, cx)
    if is_static(c.x):
        return ev(e.then if bool(c.x) else e.other, st, cx)
    a, b = ev(e.then, st, cx), ev(e.other, st, cx)
    t = a.t if a.t == b.t else (REAL if a.t.is_scalar else a.t)
    return Val(jnp.where(c.x != 0, a.x, b.x), t)


def binary(op: str, a: Val, b: Val) -> Val:
    try:
        t = binary_type(op, a.t, b.t)
    except OperatorTypeError as exc:
        raise ProgramError(str(exc), code="infer.type") from None
    x, y = a.x, b.x
    xp = xp_for(x, y)
    if op in ("<", "<=", ">", ">=", "==", "!="):
        out = _COMPARE[op](x, y)
        return Val(int(out) if is_static(out) else out.astype(int), INT)
    if op in ("&&", "||"):
        f = xp.logical_and if op == "&&" else xp.logical_or
        out = f(xp.asarray(x) != 0, xp.asarray(y) != 0)
        return Val(int(out) if is_static(out) else out.astype(int), INT)
    if op in ("+", "-"):
        return Val(x + y if op == "+" else x - y, t)
    if op == ".*":
        return Val(x * y, t)
    if op == "./":
        return Val(as_real(x) / y, t)
    if op == "*":
        return Val(_product(a, b), t)
    if op == "/":
        return Val(_divide(a, b), t)
    if op == "\\":
        return Val(xp.linalg.solve(x, y), t)
    if op in ("%", "%/%"):
        return Val(_int_mod(x, y) if op == "%" else _int_div(x, y), t)
    if op in ("^", ".^"):
        return Val(xp.power(as_real(x), y), t)
    raise ProgramError(f"operator {op!r} is not supported", code="infer.unsupported")


_COMPARE = {
    "<": lambda x, y: x < y, "<=": lambda x, y: x <= y, ">": lambda x, y: x > y,
    ">=": lambda x, y: x >= y, "==": lambda x, y: x == y, "!=": lambda x, y: x != y,
}


def _product(a: Val, b: Val):
    x, y = a.x, b.x
    if a.t.is_scalar or b.t.is_scalar:
        return x * y
    xp = xp_for(x, y)
    if (a.t.kind, b.t.kind) == ("vector", "row_vector"):
        return xp.outer(x, y)
    if (a.t.kind, b.t.kind) == ("row_vector", "vector"):
        return xp.dot(x, y)
    return xp.matmul(x, y)


def _divide(a: Val, b: Val):
    x, y = a.x, b.x
    if a.t == INT and b.t == INT:
        return _int_div(x, y)
    if b.t.is_scalar or a.t.is_scalar:
        return as_real(x) / y
    xp = xp_for(x, y)
    # x / B = x * inverse(B), computed as a solve against B'.
    if a.t.kind == "row_vector":
        return xp.linalg.solve(xp.transpose(y), x)
    return xp.transpose(xp.linalg.solve(xp.transpose(y), xp.transpose(x)))


def _int_div(x, y):
    """Stan's int / int: truncates toward zero (C semantics)."""
    if isinstance(x, (int, np.integer)) and isinstance(y, (int, np.integer)):
        if y == 0:
            raise ProgramError("integer division by zero", code="infer.div_zero")
        q = abs(int(x)) // abs(int(y))
        return q if (x >= 0) == (y >= 0) else -q
    if all_static(x, y):
        return (np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))).astype(int)
    return jax.lax.div(jnp.asarray(x, dtype=int), jnp.asarray(y, dtype=int))


def _int_mod(x, y):
    if all_static(x, y):
        out = np.fmod(x, y)
        return int(out) if np.ndim(out) == 0 else out
    return jax.lax.rem(jnp.asarray(x, dtype=int), jnp.asarray(y, dtype=int))


def unary(op: str, a: Val) -> Val:
    try:
        t = unary_type(op, a.t)
    except OperatorTypeError as exc:
        raise ProgramError(str(exc), code="infer.type") from None
    x = a.x
    if op == "-":
        return Val(-x, t)
    if op == "+":
        return Val(x, t)
    if op == "!":
        return Val(int(not x) if is_static(x) else (x == 0).astype(int), INT)
    # transpose: a 1-d array is both a vector and a row_vector; only the type flips.
    return Val(xp_for(x).transpose(x) if np.ndim(x) == 2 else x, t)


def _array_lit(items: list[Val]) -> Val:
    kinds = {i.t.kind for i in items}
    kind = "real" if "real" in kinds else items[0].t.kind
    xs = [as_real(i.x) if kind == "real" else i.x for i in items]
    xp = xp_for(*xs)
    return Val(xp.stack([xp.asarray(x) for x in xs]), ValueType(kind, items[0].t.array_dims + 1))


def _row_vector_lit(items: list[Val]) -> Val:
    xs = [as_real(i.x) for i in items]
    xp = xp_for(*xs)
    t = ValueType("row_vector") if items[0].t.is_scalar else ValueType("matrix")
    return Val(xp.stack([xp.asarray(x) for x in xs]), t)


# ---- indexing ------------------------------------------------------------------------------------


class Item(NamedTuple):
    """One evaluated index: "single" (1-based int), "multi" (1-based int array) or "slice"."""

    kind: str
    value: Any  # int / int array / (lo, hi) 1-based inclusive, None for open ends


def eval_items(items, st: State, cx: Context) -> tuple[Item, ...]:
    out = []
    for it in items:
        if isinstance(it, ast.Slice):
            lo = None if it.lo is None else static_int(ev(it.lo, st, cx).x, "a slice bound")
            hi = None if it.hi is None else static_int(ev(it.hi, st, cx).x, "a slice bound")
            out.append(Item("slice", (lo, hi)))
            continue
        v = ev(it, st, cx)
        out.append(Item("multi" if v.t.array_dims else "single", v.x))
    return tuple(out)


def index(base: Val, items: tuple[Item, ...]) -> Val:
    if len(items) > base.t.rank:
        raise ProgramError(f"{base.t} takes at most {base.t.rank} indices; got {len(items)}",
                           code="infer.index")
    x = index_value(base.x, items)
    return Val(x, base.t.indexed([i.kind != "single" for i in items]))


def index_value(x, items: tuple[Item, ...]):
    """x[items] with Stan's semantics: 1-based, inclusive slices, multi-indexes per axis (outer)."""
    if not all_static(x, *(i.value for i in items if i.kind != "slice")):
        x = jnp.asarray(x)
    axis = 0
    for it in items:
        n = shape_of(x)[axis]
        pre = (slice(None),) * axis
        if it.kind == "single":
            x = x[pre + (position(it.value, n),)]
        elif it.kind == "slice":
            lo, hi = it.value
            lo = 1 if lo is None else lo
            hi = n if hi is None else hi
            if lo < 1 or hi > n:
                raise ProgramError(f"slice {lo}:{hi} is out of range 1..{n}", code="infer.index_range")
            x = x[pre + (slice(lo - 1, max(hi, lo - 1)),)]
            axis += 1
        else:
            idx = it.value
            if is_static(idx):
                idx = np.asarray(idx)
                if idx.size and (idx.min() < 1 or idx.max() > n):
                    raise ProgramError(f"a multi-index reaches outside 1..{n}", code="infer.index_range")
            x = xp_for(x).take(x, idx - 1, axis=axis)
            axis += np.ndim(idx)
    return x


def position(i, n: int):
    """A 1-based Stan index as a 0-based position, range-checked when it is known while tracing."""
    if is_static(i):
        i = int(i)
        if not 1 <= i <= n:
            raise ProgramError(f"index {i} is out of range 1..{n}", code="infer.index_range")
    return i - 1


def positions(shape: tuple, items: tuple[Item, ...]):
    """Flat positions of `x[items]` inside an array of `shape`: the same indexing applied to ids."""
    ids = np.arange(int(np.prod(shape, dtype=int)), dtype=np.int32).reshape(shape)
    return index_value(ids, items[: len(shape)])


# ---- calls --------------------------------------------------------------------------------------

_SIZE_FUNCTIONS = {
    "size": lambda s: s[0] if s else 1,
    "num_elements": lambda s: int(np.prod(s, dtype=int)),
    "rows": lambda s: s[0] if s else 1,
    "cols": lambda s: s[1] if len(s) > 1 else (s[0] if s else 1),
}


def call(e: ast.Call, st: State, cx: Context) -> Val:
    if e.name == "target" and not e.args:
        return Val(st.target, REAL)
    if e.name in ODE_SOLVERS and cx.functions is not None:
        return cx.functions.solve_ode(e, st, cx)
    args = [ev(a, st, cx) for a in e.args]
    if cx.functions is not None and cx.functions.defines(e.name, args):
        value, term = cx.functions.call(e.name, args, st, cx)
        st.rng.add_pending(term)
        return value
    resolved = library.resolve_suffixed(e.name)
    if resolved is not None:
        spec, suffix = resolved
        if suffix == "rng":
            return Val(_rng(spec, args, st), _rng_type(spec, args))
        if suffix == "cdf":  # Stan's _cdf is the product of the elements' cdfs
            return Val(jnp.exp(_sum(distribution_term(spec, "lcdf", args[0], args[1:]))), REAL)
        return Val(_sum(distribution_term(spec, suffix, args[0], args[1:])), REAL)
    if e.name in _SIZE_FUNCTIONS and len(args) == 1:
        x = args[0]
        shape = shape_of(x.x)
        if e.name == "cols" and x.t.kind == "vector" and not x.t.array_dims:
            return Val(1, INT)
        if e.name == "rows" and x.t.kind == "row_vector" and not x.t.array_dims:
            return Val(1, INT)
        return Val(int(_SIZE_FUNCTIONS[e.name](shape)), INT)
    spec = library.function(e.name)
    if spec is None:
        raise ProgramError(f"unknown function '{e.name}'", code="infer.unknown_function")
    types = [a.t for a in args]
    impl = library.implementation(spec, types)
    xs = [a.x for a in args]
    m = ops_for(*xs)
    try:
        out = impl(m, *xs)
    except TRACE_ERRORS:
        raise NeedsStatic(e.name) from None
    return Val(out, _result_type(spec, types, out))


def _result_type(spec, types, out) -> ValueType:
    from ..lang.supports import match_signature

    t = match_signature(spec, types)
    if t is not None:
        return t
    nd = np.ndim(out)
    kind = "int" if is_int_dtype(out) else "real"
    return {0: ValueType(kind), 1: ValueType("vector") if kind == "real" else ValueType("int", 1),
            2: ValueType("matrix")}.get(nd, ValueType(kind, nd))


def _sum(x):
    return x.sum() if hasattr(x, "sum") else x


def distribution_term(spec, suffix: str, y: Val, args: list[Val]):
    """Elementwise lpdf/lpmf (or lcdf/lccdf) of `y` under `spec` with the given arguments."""
    xs = [a.x for a in args]
    if suffix in ("lpdf", "lpmf"):
        fn = spec.lpdf
    elif suffix in ("lcdf", "lccdf"):
        fn = getattr(spec, suffix)
    else:
        raise ProgramError(f"{spec.name}_{suffix} is not supported", code="infer.unsupported")
    yx = y.x if spec.discrete else as_real(y.x)
    return fn(JAX, yx, *[as_real(x) if not is_int_dtype(x) or not spec.discrete else x for x in xs])


def _rng(spec, args: list[Val], st: State):
    key = st.rng.next()
    xs = [a.x for a in args]
    if spec.name in ("lkj_corr_cholesky", "lkj_corr"):
        # Stan's lkj_corr(_cholesky)_rng(K, eta): the size comes first.
        k = static_int(xs[0], "the size of an LKJ draw")
        return spec.sample(JAX, key, as_real(xs[1]), shape=(k, k))
    return spec.sample(JAX, key, *xs, shape=None)


def _rng_type(spec, args: list[Val]) -> ValueType:
    from ..lang.supports import dist_result_type

    if spec.name in ("lkj_corr_cholesky", "lkj_corr"):
        return ValueType("matrix")
    return dist_result_type(spec, [a.t for a in args])


def declared_shape(t: ast.TypeSpec, st: State, cx: Context) -> tuple[int, ...]:
    dims = [static_int(ev(d, st, cx).x, "an array size") for d in t.array_sizes]
    sizes = [static_int(ev(d, st, cx).x, "a size") for d in t.sizes]
    if t.kind in ("cholesky_factor_corr", "corr_matrix", "cov_matrix") or (
            t.kind == "cholesky_factor_cov" and len(sizes) == 1):
        sizes = [sizes[0], sizes[0]]
    for n in dims + sizes:
        if n < 0:
            raise ProgramError(f"a declared size is negative ({n})", code="infer.bad_size")
    return tuple(dims + sizes)


def declared_type(t: ast.TypeSpec) -> ValueType:
    return ValueType(value_kind(t.kind), len(t.array_sizes))



# ---- state updates shared by statements and loops ----------------------------------------------------


def scoped(before: State, after: State) -> State:
    """Drop names declared inside a block once the block ends."""
    env = {k: v for k, v in after.env.items() if k in before.env}
    return after._replace(env=env)


def count_entry(entry: str) -> str:
    return "#" + entry


def add_effect(st: State, eff: Effect) -> State:
    """Apply an effect now, or pass it up when this state is itself a vectorised lane."""
    if st.lane is not None and (eff.kind == "loglik" or eff.name not in st.lane.locals):
        return st._replace(lane=replace(st.lane, effects=st.lane.effects + (eff,)))
    if eff.kind == "loglik":
        acc = st.loglik[eff.name]
        val = eff.val if eff.mask is None else jnp.where(eff.mask, eff.val, 0.0)
        val = jnp.broadcast_to(val, shape_of(eff.pos))
        acc = acc.at[jnp.ravel(jnp.asarray(eff.pos))].add(jnp.ravel(val))
        return st._replace(loglik={**st.loglik, eff.name: acc})
    cur = st.env[eff.name]
    flat = jnp.reshape(jnp.asarray(cur.x), (-1,))
    pos = jnp.asarray(eff.pos)
    val = jnp.broadcast_to(jnp.asarray(eff.val, dtype=flat.dtype), pos.shape)
    if eff.mask is not None:
        val = jnp.where(jnp.broadcast_to(eff.mask, pos.shape), val, flat[pos])
    new = flat.at[jnp.ravel(pos)].set(jnp.ravel(val)).reshape(shape_of(cur.x))
    return st._replace(env={**st.env, eff.name: Val(new, cur.t)})
