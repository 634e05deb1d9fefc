"""Compile a checked program and its data into a JAX log density over the unconstrained space.

`compile_program(program, data) -> Model`; `fit(program, data, settings) -> Fit` also samples.
The program is interpreted under JAX tracing (`interp` for expressions, `statements`, `loops`;
decisions that need no data values are made once in `analysis`); nothing is generated or exec'd.

Densities are fully normalised (DESIGN §3), which is what makes marginal likelihoods comparable
across programs:

* `~` uses the library's normalised lpdf/lpmf (the constants Stan's `~` drops are kept);
  `target +=` adds its value as written.
* `T[a, b]` subtracts log(F(b) - F(a)) (one-sided: log(1 - F(a)) or log F(b)); a truncated
  observation outside [a, b] makes the density -inf.
* A parameter with constant (data-only) bounds whose `~` prior has a wider support gets the same
  normaliser automatically: `real<lower=0> s; s ~ normal(0, 1);` is a half-normal (+log 2). This
  applies only to a `~` whose left side is exactly the bounded parameter or elements of it, with no
  explicit `T[,]`; bounds that depend on other parameters are left as Stan has them.
  (`positive_ordered` counts as `<lower=0>`, and an ordered vector with an iid scalar prior gets
  +log K!, the share of the iid mass its ordering keeps.)
* Log-Jacobians of the constraint transforms are included.

The log-likelihood is derived from the program: see `analysis` for which statements count as
likelihood and how their terms are attributed to observation slots. `log_prior(u)` is the rest of
the density (Jacobians included), so `log_density = log_prior + sum(log_likelihood)`.

Data handling and compilation reuse: integer scalars (sizes; not those observed by `~`) are fixed
in the trace, everything else is passed to the jitted functions as arguments, so a program refitted
on data of the same shape reuses the traced and compiled functions (`cache_key`; an in-process LRU
of kernels). Only when the program needs more values while tracing (a size read from an int array,
or computed from real data) are the integer data, then all data, fixed in the trace instead.

The kernel is built from the program's skeleton (`lift`): the numbers in its priors are read from
data variables, so programs that differ only in those numbers share one kernel and its compiled
sampler. Everything else (`Model.program`, `Model.data`, fits, reports) keeps the program as written.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np

from ..errors import BoxloopError, DataError, FitError, ProgramError
from ..lang import ast
from ..lang.indexcheck import index_range_diagnostics
from . import analysis, interp, statements, transforms
from .functions import function_table
from .interp import Context, KeyBox, State, Val
from .lift import lift_constants

__all__ = ["ParamSpec", "Model", "Fit", "compile_program", "cache_key", "fit", "clear_cache"]

_KERNELS: OrderedDict = OrderedDict()  # cache_key -> _Kernel, for refits on data of the same shape
_MAX_KERNELS = 64  # least recently used kernels (and their compiled functions) are dropped
RECORD_BLOCK_VALUES = 10_000_000  # draws x likelihood slots evaluated in one compiled pass (80 MB a copy)
_NEEDS_STATIC = object()


# ---- layout -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParamSpec:
    """One parameter's place in the unconstrained vector u[offset : offset + size]."""

    name: str
    kind: str  # declared kind: real, vector, simplex, cholesky_factor_corr, ...
    shape: tuple  # constrained shape
    size: int  # number of free reals
    offset: int
    transform: object  # a transforms.Transform
    decl: ast.Decl = field(repr=False, compare=False, default=None)


def _transform_args(spec: ParamSpec, st: State, cx: Context) -> list:
    t = spec.decl.type
    defaults = {"offset": 0.0, "multiplier": 1.0}
    out = []
    for name in spec.transform.params:
        e = getattr(t, name)
        out.append(defaults.get(name) if e is None else interp.ev(e, st, cx).x)
    return out


# ---- the kernel: functions of (u, data) shared by models of one program and data shape -------------


@dataclass(frozen=True, eq=False)
class _Kernel:
    program: ast.Program  # the skeleton, its prior constants lifted into data (`lift`)
    info: analysis.ProgramInfo
    static: dict  # name -> numpy/int value fixed in the trace
    types: dict  # data/tdata name -> ValueType
    layout: tuple  # ParamSpec
    dim: int
    entries: dict  # log-lik entry -> slot shape
    tp_shapes: dict = field(default_factory=dict)

    # -- building states

    def state(self, dyn: Mapping, track: bool = False, key=None) -> State:
        env = {n: Val(self.static[n] if n in self.static else dyn[n], t) for n, t in self.types.items()}
        loglik = None
        if track:
            loglik = {k: jnp.zeros(max(1, math.prod(s)))
                      for e, s in self.entries.items() for k in (e, statements.count_entry(e))}
        return State(env, jnp.zeros(()), loglik, None, KeyBox(key))

    def context(self, **kw) -> Context:
        return Context(self.info, slot_shapes=self.entries, functions=function_table(self.program), **kw)

    # -- the pieces of the density

    def constrain_params(self, u, st: State, cx: Context) -> tuple[State, object]:
        log_jac = jnp.zeros(())
        env = dict(st.env)
        u = jnp.asarray(u)
        for p in self.layout:
            args = _transform_args(p, st._replace(env=env), cx)
            block = u[p.offset:p.offset + p.size]
            value, ld = p.transform.forward(block, p.shape, *args)
            env[p.name] = Val(value, interp.declared_type(p.decl.type))
            log_jac = log_jac + ld
        return st._replace(env=env), log_jac

    def transformed_parameters(self, st: State, cx: Context, check: bool = True) -> State:
        st = statements.run_block(self.program.stmts("transformed parameters"), st, cx)
        if check:
            st = st._replace(target=st.target + _tp_bound_penalty(self.program, st, cx))
        return st

    def model_block(self, st: State, cx: Context) -> State:
        return statements.run_block(self.program.stmts("model"), st, cx)

    def run_density(self, u, dyn, track: bool) -> State:
        cx = self.context(track_loglik=track)
        st, log_jac = self.constrain_params(u, self.state(dyn, track), cx)
        st = self.transformed_parameters(st, cx)
        return self.model_block(st._replace(target=st.target + log_jac), cx)

    def _split_loglik(self, acc: dict) -> tuple[dict, dict]:
        return ({e: acc[e] for e in self.entries},
                {e: acc[statements.count_entry(e)] for e in self.entries})

    # -- jitted entry points

    @functools.cached_property
    def log_density(self):
        return jax.jit(lambda u, dyn: self.run_density(u, dyn, False).target)

    @functools.cached_property
    def potential(self):
        """(u, data) -> -log density, NumPyro's potential energy. One object per kernel: the NUTS
        sampler compiled for it (`nuts._COMPILED`, keyed on this function) serves every model that
        shares the kernel, i.e. every refit of the program on same-shaped data."""
        log_density = self.log_density
        return lambda u, dyn: -log_density(u, dyn)

    @functools.cached_property
    def log_likelihood(self):
        """(u, data) -> (log density, {entry: per-slot log-lik}, {entry: per-slot hit counts},
        {parameters and transformed parameters}): everything one draw is recorded with."""
        def f(u, dyn):
            st = self.run_density(u, dyn, True)
            ll, counts = self._split_loglik(st.loglik)
            names = [p.name for p in self.layout] + list(self.info.tparams)
            return st.target, ll, counts, {n: jnp.asarray(st.env[n].x) for n in names}
        return jax.jit(f)

    @functools.cached_property
    def constrain(self):
        def f(u, dyn):
            cx = self.context()
            st, _ = self.constrain_params(u, self.state(dyn), cx)
            st = self.transformed_parameters(st, cx, check=False)
            names = [p.name for p in self.layout] + list(self.info.tparams)
            return {n: jnp.asarray(st.env[n].x) for n in names}
        return jax.jit(f)

    @functools.cached_property
    def unconstrain(self):
        def f(values, dyn):
            cx = self.context()
            st = self.state(dyn)
            parts = []
            for p in self.layout:
                args = _transform_args(p, st, cx)
                value = jnp.asarray(values[p.name], dtype=float).reshape(p.shape)
                parts.append(jnp.ravel(p.transform.inverse(value, *args)))
                st = st._replace(env={**st.env, p.name: Val(value, interp.declared_type(p.decl.type))})
            return jnp.concatenate(parts) if parts else jnp.zeros(0)
        return jax.jit(f)

    @functools.cached_property
    def generated_quantities(self):
        def f(u, key, dyn):
            cx = self.context()
            st, _ = self.constrain_params(u, self.state(dyn, key=key), cx)
            st = self.transformed_parameters(st, cx, check=False)
            st = statements.run_block(self.program.stmts("generated quantities"), st, cx)
            return {n: jnp.asarray(st.env[n].x) for n in self.info.gq}
        return jax.jit(f)

    def _nan_params(self, st: State) -> State:
        env = dict(st.env)
        for p in self.layout:
            t = interp.declared_type(p.decl.type)
            env[p.name] = Val(jnp.full(p.shape, jnp.nan), t)
        for n, shape in self.tp_shapes.items():
            t = interp.declared_type(self.info.decls[n].type)
            env[n] = Val(jnp.full(shape, jnp.nan), t)
        return st._replace(env=env)

    @functools.cached_property
    def simulate_prior(self):
        names = frozenset(self.info.params)

        def f(key, dyn):
            st = self._nan_params(self.state(dyn, key=key))
            draw = self.context(sim=analysis.SimMode(True, False, True, names))
            st = self.model_block(st, draw)
            st = self.transformed_parameters(st, self.context(), check=False)
            sim = self.context(sim=analysis.SimMode(False, True, True, names))
            st = self.model_block(st, sim)
            out = [p.name for p in self.layout] + list(self.info.tparams) + self.observed
            return {n: jnp.asarray(st.env[n].x) for n in out}
        return jax.jit(f)

    @functools.cached_property
    def simulate_posterior(self):
        names = frozenset(self.info.params)

        def f(u, key, dyn):
            cx = self.context()
            st, _ = self.constrain_params(u, self.state(dyn, key=key), cx)
            st = self.transformed_parameters(st, cx, check=False)
            reps = {analysis.rep_name(n): st.env[n] for n in self.observed}
            st = st._replace(env={**st.env, **reps})
            sim = self.context(sim=analysis.SimMode(False, True, False, names))
            st = self.model_block(st, sim)
            return {n: jnp.asarray(st.env[analysis.rep_name(n)].x) for n in self.observed}
        return jax.jit(f)

    @property
    def observed(self) -> list:
        """Data variables that likelihood statements observe."""
        return [a.var for a in self.info.anchors.values() if a is not None and a.var not in self.info.model_decls]


def _tp_bound_penalty(program: ast.Program, st: State, cx: Context):
    """Stan rejects a draw whose transformed parameters break their declared bounds: -inf."""
    penalty = jnp.zeros(())
    for s in program.stmts("transformed parameters"):
        if not isinstance(s, ast.Decl) or (s.type.lower is None and s.type.upper is None):
            continue
        x = jnp.asarray(st.env[s.name].x)
        ok = jnp.ones(x.shape, bool)
        if s.type.lower is not None:
            ok = ok & (x >= interp.ev(s.type.lower, st, cx).x)
        if s.type.upper is not None:
            ok = ok & (x <= interp.ev(s.type.upper, st, cx).x)
        penalty = penalty + jnp.where(jnp.all(ok), 0.0, -jnp.inf)
    return penalty


def _prior_likelihood(kernel, u, dyn):
    """(log density - log likelihood, log likelihood) at u: the prior part keeps the Jacobians
    and every term that is not a likelihood statement."""
    total, ll, _, _ = kernel.log_likelihood(u, dyn)
    log_lik = sum((jnp.sum(x) for x in ll.values()), jnp.zeros(()))
    return total - log_lik, log_lik


# ---- the model ------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Model:
    """A program bound to its data. Every method is a pure function of its arguments.

    `param_layout`: ParamSpecs in declaration order; `dim`: length of the unconstrained vector.
    """

    program: ast.Program
    data: dict  # the data as given (numpy), transformed data included
    kernel: _Kernel = field(repr=False)
    dyn: dict = field(repr=False)  # the kernel's data arguments, lifted prior constants included
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def param_layout(self) -> tuple[ParamSpec, ...]:
        return self.kernel.layout

    @property
    def dim(self) -> int:
        return self.kernel.dim

    @property
    def info(self) -> analysis.ProgramInfo:
        return _analysis(self.program)

    def log_density(self, u):
        """Normalised log density over the unconstrained space (Jacobians included)."""
        return self.kernel.log_density(u, self.dyn)

    def potential(self, u):
        """-log_density: NumPyro's potential energy."""
        return -self.kernel.log_density(u, self.dyn)

    def log_likelihood(self, u) -> dict:
        """Pointwise log-likelihood: entry (observed variable, or `jointK`) -> 1-d array, one value
        per observation slot that some likelihood statement fills, in the variable's order."""
        _, ll, counts, _ = self.kernel.log_likelihood(u, self.dyn)
        return {k: ll[k][idx] for k, idx in self._observations(counts).items()}

    def log_density_and_gradient(self, u):
        """(log_density, its gradient) at one point, compiled once per kernel shape."""
        fn = self._vmapped("value_and_grad", lambda: jax.value_and_grad(self.kernel.log_density))
        return fn(u, self.dyn)

    def tempered_log_density_and_gradient(self, u, prior_weight: float):
        """(log likelihood + prior_weight x the rest of the log density, its gradient) at one point;
        prior_weight 1 gives `log_density_and_gradient`, smaller ones let the data dominate."""
        def tempered(u, dyn, weight):
            log_prior, log_lik = _prior_likelihood(self.kernel, u, dyn)
            return log_lik + weight * log_prior

        fn = self._vmapped("tempered_value_and_grad", lambda: jax.value_and_grad(tempered))
        return fn(u, self.dyn, prior_weight)

    def batched_log_density(self):
        """The jitted (batch, dim) x data -> (batch,) log density, one per kernel shape (each batch
        size compiles once); the data (`dyn`) go in as an argument, never as XLA constants."""
        return self._vmapped("log_density", lambda: jax.vmap(self.kernel.log_density, (0, None)))

    def log_density_batch(self, u):
        """log_density over (batch, dim) points."""
        return self.batched_log_density()(u, self.dyn)

    def log_prior(self, u):
        """log_density - sum(log_likelihood): priors, Jacobians and every non-likelihood term."""
        return _prior_likelihood(self.kernel, u, self.dyn)[0]

    def _observations(self, counts: Mapping) -> dict:
        """Entry -> flat slot positions that are observations (filled by a likelihood statement).
        Slots depend on the data only, so the first counts seen serve for every draw."""
        if "obs" not in self._cache:
            first = {k: np.asarray(v)[0] if np.ndim(v) == 2 else np.asarray(v) for k, v in counts.items()}
            self._cache["obs"] = {k: np.flatnonzero(c > 0) for k, c in first.items()}
        return self._cache["obs"]

    def constrain(self, u) -> dict:
        """Parameters and transformed parameters at the unconstrained point u."""
        return self.kernel.constrain(u, self.dyn)

    def unconstrain(self, values: Mapping) -> jax.Array:
        """The unconstrained vector of parameter values given by name (constrained scale)."""
        missing = [p.name for p in self.param_layout if p.name not in values]
        if missing:
            raise FitError(f"no value for parameter(s) {', '.join(missing)}", code="fit.missing_value")
        return self.kernel.unconstrain({p.name: values[p.name] for p in self.param_layout}, self.dyn)

    def unconstrain_draws(self, values: Mapping) -> np.ndarray:
        """`unconstrain` over draws: values by name with leading draw dimensions (or Stan-style
        flat names, see `from_flat`) -> (*draw_dims, dim)."""
        values = self.from_flat(values)
        first = self.param_layout[0] if self.param_layout else None
        lead = np.shape(values[first.name])[:np.ndim(values[first.name]) - len(first.shape)] if first else ()
        flat = {p.name: jnp.reshape(jnp.asarray(values[p.name], dtype=float), (-1, *p.shape))
                for p in self.param_layout}
        fn = self._vmapped("unconstrain", lambda: jax.vmap(self.kernel.unconstrain, (0, None)))
        return np.asarray(fn(flat, self.dyn)).reshape(*lead, self.dim)

    def from_flat(self, values: Mapping) -> dict:
        """Stan-style names (`theta[1]`, `L[2,1]`, 1-based) -> one array per parameter; leading
        draw dimensions are kept. Names already given whole pass through."""
        out = {}
        for p in self.param_layout:
            if p.name in values:
                out[p.name] = np.asarray(values[p.name])
                continue
            parts = {k: v for k, v in values.items() if k.startswith(p.name + "[") and k.endswith("]")}
            if not parts:
                raise FitError(f"no value for parameter {p.name}", code="fit.missing_value")
            lead = np.shape(next(iter(parts.values())))
            arr = np.full(lead + p.shape, np.nan)
            for k, v in parts.items():
                idx = tuple(int(i) - 1 for i in k[len(p.name) + 1:-1].split(","))
                arr[(...,) + idx] = v
            out[p.name] = arr
        return out

    def generated_quantities(self, u, key) -> dict:
        """The generated quantities block at u; `_rng` calls draw from `key`."""
        return self.kernel.generated_quantities(u, key, self.dyn)

    def simulate(self, key, kind: str = "prior", num_draws: int = 100, u=None) -> dict:
        """Prior predictive (`num_draws` draws of parameters, transformed parameters and the
        observed data) or posterior predictive (one replicate of the observed data per row of the
        unconstrained draws `u`, shape (S, dim), conditioning on observed values that the
        likelihood reads, such as lags). Arrays have the draws first.

        Raises ProgramError "infer.not_generative" when the program cannot be simulated forward.
        """
        if kind == "prior":
            if self.info.not_generative:
                raise ProgramError(f"cannot simulate from the prior: {self.info.not_generative}",
                                   code="infer.not_generative")
            keys = jax.random.split(key, num_draws)
            fn = self._vmapped("prior", lambda: jax.vmap(self.kernel.simulate_prior, (0, None)))
            return {k: np.asarray(v) for k, v in fn(keys, self.dyn).items()}
        if kind == "posterior":
            reason = _likelihood_reason(self.info)
            if reason:
                raise ProgramError(f"cannot simulate the likelihood: {reason}", code="infer.not_generative")
            if u is None:
                raise FitError("posterior simulation needs draws u of shape (S, dim)", code="fit.missing_value")
            u = jnp.asarray(u).reshape(-1, self.dim)
            keys = jax.random.split(key, u.shape[0])
            fn = self._vmapped("post", lambda: jax.vmap(self.kernel.simulate_posterior, (0, 0, None)))
            return {k: np.asarray(v) for k, v in fn(u, keys, self.dyn).items()}
        raise FitError(f"kind must be 'prior' or 'posterior', got {kind!r}", code="fit.bad_settings")

    def _vmapped(self, name: str, build):
        # Cached on the kernel, so models of the same shape share the compiled function.
        cache = self.kernel.__dict__.setdefault("_vmapped", {})
        if name not in cache:
            cache[name] = jax.jit(build())
        return cache[name]

    # -- batched helpers over draws (S, dim), used by fit

    def record_draws(self, u, max_values: int | None = None):
        """(S, dim) draws -> ({parameters and transformed parameters: (S, ...)}, Pointwise
        log-likelihood), computed in blocks of draws of one compiled shape so that memory holds
        one block of draws x observations at a time; see `pointwise`."""
        from . import pointwise

        fn = self._vmapped("record", lambda: jax.vmap(self.kernel.log_likelihood, (0, None)))
        s = u.shape[0]
        slots = max(1, sum(math.prod(shape) for shape in self.kernel.entries.values()))
        block = int(min(s, max(1, RECORD_BLOCK_VALUES // slots)))
        values, gatherer = [], None
        for start in range(0, s, block):
            chunk = u[start:start + block]
            used = chunk.shape[0]
            if used < block:  # pad the last block: one compiled shape for every block
                chunk = jnp.concatenate([chunk, jnp.repeat(chunk[-1:], block - used, axis=0)])
            _, ll, counts, vals = fn(chunk, self.dyn)
            obs = self._observations(counts)
            if gatherer is None:
                gatherer = pointwise.Gatherer({k: idx.size for k, idx in obs.items()}, s,
                                              pointwise.MAX_VALUES if max_values is None else max_values)
            # Select in numpy: indexing the JAX array would compile four small kernels on first use.
            gatherer.add({k: np.asarray(ll[k])[:used, idx] for k, idx in obs.items()}, used)
            values.append({k: np.asarray(v)[:used] for k, v in vals.items()})
        merged = {k: np.concatenate([v[k] for v in values]) if len(values) > 1 else values[0][k] for k in values[0]}
        return merged, gatherer.result()

    def log_prior_likelihood_draws(self, u) -> tuple[np.ndarray, np.ndarray]:
        """(S, dim) draws -> ((S,) log prior, (S,) log likelihood), split as `log_prior` splits
        the density (Jacobians in the prior), in one compiled pass; for tempering the likelihood."""
        fn = self._vmapped("log_parts", lambda: jax.vmap(functools.partial(_prior_likelihood, self.kernel), (0, None)))
        log_prior, log_lik = fn(u, self.dyn)
        return np.asarray(log_prior), np.asarray(log_lik)

    def generated_quantities_draws(self, u, keys) -> dict:
        fn = self._vmapped("gq", lambda: jax.vmap(self.kernel.generated_quantities, (0, 0, None)))
        return fn(u, keys, self.dyn)


def _likelihood_reason(info: analysis.ProgramInfo) -> str | None:
    from ..lang import library

    for s, role in info.roles.items():
        if not role.likelihood:
            continue
        if isinstance(s, ast.TargetPlus):
            return "a `target +=` likelihood term cannot be simulated forward; write it as `y ~ ...`"
        spec = library.distribution(s.dist)
        if role.joint:
            return "a likelihood `~` whose left side is an expression cannot be simulated"
        if spec is None or spec.sample is None:
            return f"{s.dist} has no sampler"
    return None


# ---- compiling --------------------------------------------------------------------------------------------


def _program_digest(program: ast.Program) -> str:
    # The dataclass repr leaves out source positions: layout and comments do not change it.
    return hashlib.sha256(repr(program).encode()).hexdigest()[:20]


@functools.lru_cache(maxsize=256)
def _analysis(program: ast.Program) -> analysis.ProgramInfo:
    return analysis.analyse(program)


def cache_key(program: ast.Program, data: Mapping) -> str:
    """Identifies the compiled kernel: the program's skeleton (names included, layout and lifted
    prior constants not), the integer scalars it may use as sizes, and the shapes and dtypes of
    every other data value."""
    skeleton, values = _skeleton(program, _prepare(program, data))
    info = _analysis(skeleton)
    return _key(skeleton, _split(values, frozenset(), _observed(info))[0], values, "args")


def _skeleton(program: ast.Program, values: dict) -> tuple[ast.Program, dict]:
    """The program the kernel is built from, and its data: `values` with the lifted constants."""
    lifted = lift_constants(program)
    return lifted.program, {**values, **{n: np.float64(v) for n, v in lifted.constants.items()}}


def _observed(info: analysis.ProgramInfo) -> frozenset:
    # Observed integer scalars (a count on the left of `~`) stay arguments, so refitting on new
    # outcomes does not recompile; every other integer scalar may be a size and is static.
    return frozenset(a.var for a in info.anchors.values() if a is not None)


def _key(program, static: dict, values: dict, extra: str = "") -> str:
    parts = [_program_digest(program), extra]
    for n in sorted(values):
        v = values[n]
        if n in static:
            parts.append(f"{n}={hashlib.sha256(np.ascontiguousarray(v).tobytes()).hexdigest()[:16]}"
                         f":{np.shape(v)}")
        else:
            parts.append(f"{n}:{np.shape(v)}:{np.asarray(v).dtype.kind}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def compile_program(program: ast.Program, data: Mapping) -> Model:
    """Bind a (checked) program to its data. Raises DataError for missing or misshapen data,
    ProgramError for programs the compiler cannot handle, FitError "fit.compile_failed" when the
    log density cannot be traced."""
    given = _prepare(program, data)
    _check_indices(program, given)
    skeleton, values = _skeleton(program, given)
    info = _analysis(skeleton)
    # Try with as much data as possible passed as arguments; fall back to integer data fixed in the
    # trace (sizes read from int arrays), then to all data fixed (sizes computed from real data).
    for level in ("args", "ints", "all"):
        extra_static = frozenset(n for n, v in values.items() if level == "all" or _is_int(v)) \
            if level != "args" else frozenset()
        static, dyn = _split(values, extra_static, _observed(info) if level == "args" else frozenset())
        key = _key(skeleton, static, values, level)
        kernel = _KERNELS.get(key)
        if key in _KERNELS:
            _KERNELS.move_to_end(key)
        if kernel is _NEEDS_STATIC:
            continue
        if kernel is None:
            try:
                kernel = _build_kernel(skeleton, info, values, static, dyn)
            except (interp.NeedsStatic, *interp.TRACE_ERRORS) as exc:
                if level == "all":
                    raise FitError(f"the program needs a value while compiling that is only known "
                                   f"when sampling ({exc}); sizes, loop bounds and slice bounds must "
                                   "come from data", code="fit.compile_failed") from None
                _remember(key, _NEEDS_STATIC)  # integer data must be static: skip this try next time
                continue
            except BoxloopError:
                raise
            except Exception as exc:  # shapes that do not fit, and the like: say where it failed
                raise FitError(f"the log density could not be compiled: {type(exc).__name__}: {exc}",
                               code="fit.compile_failed") from exc
            _remember(key, kernel)
        return Model(program, given, kernel, {n: jnp.asarray(v) for n, v in dyn.items()})
    raise AssertionError("unreachable")


def clear_cache() -> None:
    _KERNELS.clear()


def _remember(key: str, kernel) -> None:
    _KERNELS[key] = kernel
    while len(_KERNELS) > _MAX_KERNELS:
        _KERNELS.popitem(last=False)


def _is_int(v) -> bool:
    return np.asarray(v).dtype.kind in "iu"


def _split(values: dict, extra_static: frozenset, observed: frozenset) -> tuple[dict, dict]:
    static, dyn = {}, {}
    for n, v in values.items():
        int_scalar = np.ndim(v) == 0 and np.asarray(v).dtype.kind in "iu"
        if (int_scalar and n not in observed) or n in extra_static:
            static[n] = np.asarray(v).item() if np.ndim(v) == 0 else np.asarray(v)
        else:
            dyn[n] = np.asarray(v)
    return static, dyn


def _build_kernel(program, info, values, static, dyn) -> _Kernel:
    types = {n: interp.declared_type(info.decls[n].type) for n in values}
    kernel = _Kernel(program, info, static, types, (), 0, {})
    st = kernel.state(dyn)
    cx = kernel.context()
    layout, offset = [], 0
    for d in program.stmts("parameters"):
        shape = interp.declared_shape(d.type, st, cx)
        t = d.type
        tr = transforms.for_declaration(t.kind, lower=t.lower is not None, upper=t.upper is not None,
                                        offset=t.offset is not None, multiplier=t.multiplier is not None)
        size = tr.free_size(shape)
        layout.append(ParamSpec(d.name, t.kind, shape, size, offset, tr, d))
        offset += size
    tp_shapes = {d.name: interp.declared_shape(d.type, st, cx)
                 for d in program.stmts("transformed parameters") if isinstance(d, ast.Decl)}
    entries = {}
    for name, anchor in info.anchors.items():
        if anchor is None:
            entries[name] = ()
        elif anchor.var in values:
            shape = np.shape(values[anchor.var])
            entries[name] = tuple(shape[:len(shape) - anchor.event_ndim])
        else:  # a model local holding pointwise terms
            entries[name] = interp.declared_shape(info.model_decls[anchor.var].type, st, cx)
    kernel = _Kernel(program, info, static, types, tuple(layout), offset, entries, tp_shapes)
    # Trace once now: errors surface at compile time, and the trace is cached for the sampler.
    jax.eval_shape(kernel.log_density, jax.ShapeDtypeStruct((offset,), jnp.result_type(float)),
                   {n: jnp.asarray(v) for n, v in dyn.items()})
    return kernel


def _check_indices(program: ast.Program, values: Mapping) -> None:
    """Integer data that index outside what they index: a traced index cannot stop the sampler."""
    found = [d for d in index_range_diagnostics(program, values) if d.is_error]
    if found:
        first = found[0]
        raise DataError(f"line {first.line}: {first.message}", code=first.code)


def _prepare(program: ast.Program, data: Mapping) -> dict:
    """Data as declared (numpy, ints as ints), checked, plus the transformed data."""
    info = _analysis(program)
    values: dict = {}
    st = State({}, 0.0, None, None, KeyBox(None))
    cx = Context(info, functions=function_table(program))
    for d in program.stmts("data"):
        if d.name not in data:
            declared = ", ".join(s.name for s in program.stmts("data"))
            raise DataError(f"the data has no value for '{d.name}' (declared in the data block: "
                            f"{declared}); add it to the data", code="data.missing")
        shape = interp.declared_shape(d.type, st, cx)
        value = _coerce(d, data[d.name], shape)
        _check_bounds(d, value, st, cx)
        values[d.name] = value
        st = st._replace(env={**st.env, d.name: Val(value, interp.declared_type(d.type))})
    tdata = program.stmts("transformed data")
    if tdata:
        st = st._replace(rng=KeyBox(jax.random.PRNGKey(0)))
        try:
            st = statements.run_block(tdata, st, cx)
        except BoxloopError:
            raise
        except Exception as exc:
            raise FitError(f"the transformed data block failed: {type(exc).__name__}: {exc}",
                           code="fit.compile_failed") from exc
        for d in tdata:
            if isinstance(d, ast.Decl):
                v = st.env[d.name].x
                values[d.name] = np.asarray(v) if np.ndim(v) or not isinstance(v, (int, float)) else v
    return values


def _coerce(d: ast.Decl, raw, shape: tuple) -> np.ndarray:
    is_int = d.type.kind == "int"
    try:
        arr = np.asarray(raw, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"data '{d.name}' is not numeric (or is ragged)", code="data.invalid") from None
    if arr.shape != shape:
        if arr.size == math.prod(shape):
            arr = arr.reshape(shape)
        else:
            raise DataError(f"data '{d.name}' has shape {arr.shape}, but the program declares "
                            f"{shape}", code="data.shape")
    if not np.all(np.isfinite(arr)):
        raise DataError(f"data '{d.name}' holds NaN or infinite values", code="data.invalid")
    if is_int:
        if not np.all(arr == np.round(arr)):
            raise DataError(f"data '{d.name}' is declared int but holds non-integers", code="data.type")
        return arr.astype(int) if arr.ndim else np.int64(arr)
    return arr


def _check_bounds(d: ast.Decl, value, st: State, cx: Context) -> None:
    for bound, bad, word in ((d.type.lower, np.less, "lower"), (d.type.upper, np.greater, "upper")):
        if bound is None:
            continue
        b = interp.ev(bound, st, cx).x
        if np.any(bad(value, b)):
            raise DataError(f"data '{d.name}' breaks its declared {word} bound", code="data.bounds")


# ---- fitting ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Fit:
    """A finished fit. Arrays are numpy, draws first by (chain, draw).

    draws: parameters, transformed parameters and generated quantities, (chain, draw, *shape).
    u: unconstrained draws (chain, draw, dim). stats: NUTS statistics (chain, draw); None for
    draws that no sampler made (`approximate`).
    log_lik: entry -> (chain, draw, n). timing, in seconds: compile_s (every JAX trace, lowering
    and XLA compile or persistent-cache load during the fit), prepare_s (data checks, transformed
    data), sample_s (init search + warmup + draws), post_s (draws -> constrained values, log-lik,
    generated quantities): the last three exclude compiles, and all four add up to total_s.
    """

    model: Model
    draws: dict
    u: np.ndarray
    stats: dict
    log_lik: dict
    timing: dict
    nuts: object = field(repr=False)
    warnings: tuple = ()
    pointwise: object = field(default=None, repr=False)  # pointwise.Pointwise: which rows log_lik holds
    # (log_lik of an approximation's proposal draws, (1, draws, n); their log weights): see `approximate`
    importance: tuple | None = field(default=None, repr=False)


def fit(program: ast.Program, data: Mapping, settings=None, seed: int = 0, init_u=None) -> Fit:
    """Compile, initialise (random in (-2, 2) on the unconstrained space, retried; or at `init_u`,
    (chains, dim) unconstrained points) and run NUTS.

    The sampler takes the data as arguments and is cached per kernel, so refitting a program on
    new data of the same shapes compiles nothing in this process, and in a fresh process with the
    persistent compilation cache on (`nuts.enable_compilation_cache`) only retraces.
    """
    from .nuts import CompileClock, NutsSettings, import_sampler, run_nuts

    settings = settings or NutsSettings()
    import_sampler()  # a per-process cost (~1 s), not part of this fit's timing
    with CompileClock() as clock:
        t0 = time.perf_counter()
        model = compile_program(program, data)
        t1 = time.perf_counter()
        res = run_nuts(model.kernel.potential, model.dim if init_u is None else init_u, settings, seed,
                       data=model.dyn)
        t2 = time.perf_counter()
        out, pw, warnings = _record(model, res.draws, seed)
        t3 = time.perf_counter()
    ll = {k: v.reshape(settings.chains, -1, v.shape[-1]) for k, v in pw.log_lik.items()}
    return Fit(model, out, res.draws, dict(res.stats), ll, _phases(clock, t0, t1, t2, t3), res, tuple(warnings), pw)


def approximate(program: ast.Program, data: Mapping, settings=None, seed: int = 0) -> Fit:
    """`fit` with Pathfinder's importance-resampled draws instead of NUTS (see `pathfinder`): only
    the log density, its gradient and the batched density are compiled. The Fit has no sampler
    statistics (`stats` is None, `nuts` the PathfinderResult, with its importance-sampling
    evidence), one chain per path, and `importance`: the pointwise log-likelihood of every
    proposal draw with its log weight, for PSIS-LOO (None when the data are large enough for
    a subsample of observations, whose running statistics are unweighted)."""
    from .nuts import CompileClock
    from .pathfinder import PathfinderSettings, pathfinder

    settings = settings or PathfinderSettings()
    with CompileClock() as clock:
        t0 = time.perf_counter()
        model = compile_program(program, data)
        t1 = time.perf_counter()
        res = pathfinder(model.log_density_and_gradient, model.log_density_batch, model.dim, settings, seed)
        t2 = time.perf_counter()
        out, pw, importance, warnings = _record_weighted(model, res, seed)
        t3 = time.perf_counter()
    u = np.asarray(res.u, dtype=jnp.result_type(float))
    ll = {k: v.reshape(u.shape[0], -1, v.shape[-1]) for k, v in pw.log_lik.items()}
    return Fit(model, out, u, None, ll, _phases(clock, t0, t1, t2, t3), res, res.warnings + tuple(warnings), pw,
               importance)


def _record_weighted(model: Model, res, seed: int) -> tuple[dict, object, tuple | None, list]:
    """`_record` of the resampled draws, which are rows of the pooled proposal draws: the pooled
    draws are recorded once and the resampled ones picked from them."""
    from .pointwise import Pointwise

    pooled = np.asarray(res.pooled, dtype=jnp.result_type(float))
    values, pw = model.record_draws(jnp.asarray(pooled))
    if pw.subsampled:
        out, pw, warnings = _record(model, np.asarray(res.u, dtype=pooled.dtype), seed)
        return out, pw, None, warnings
    rows = res.kept.reshape(-1)
    out, warnings = _with_generated(model, {k: np.asarray(v)[rows] for k, v in values.items()}, pooled[rows],
                                    res.kept.shape, seed)
    usable = np.isfinite(res.log_weights)  # a draw outside the support has weight 0
    importance = ({k: v[usable][None] for k, v in pw.log_lik.items()}, res.log_weights[usable])
    return out, Pointwise({k: v[rows] for k, v in pw.log_lik.items()}, pw.n_obs), importance, warnings


def _phases(clock, t0: float, t1: float, t2: float, t3: float) -> dict:
    """compile_s: every JAX trace/lower/XLA compile (or persistent-cache load) during the fit; the
    other phases are wall time minus their own compiles, so the four add up to total_s."""
    return {"compile_s": clock.seconds(), "prepare_s": (t1 - t0) - clock.seconds(t0, t1),
            "sample_s": (t2 - t1) - clock.seconds(t1, t2), "post_s": (t3 - t2) - clock.seconds(t2, t3),
            "total_s": t3 - t0}


def _record(model: Model, u: np.ndarray, seed: int) -> tuple[dict, dict, list]:
    """Unconstrained draws (chains, draws, dim) -> (constrained values and generated quantities,
    (chain, draw, ...); the Pointwise log-likelihood, (S, observations); warnings)."""
    chains, draws = u.shape[:2]
    flat = u.reshape(chains * draws, model.dim)
    values, pw = model.record_draws(jnp.asarray(flat))
    out, warnings = _with_generated(model, values, flat, (chains, draws), seed)
    return out, pw, warnings


def _with_generated(model: Model, values: dict, flat: np.ndarray, shape: tuple, seed: int) -> tuple[dict, list]:
    """The values (S, ...) of the draws `flat` (S, dim), S = chains x draws, and their generated
    quantities, each reshaped to (chain, draw, ...); warnings."""
    out = {k: np.asarray(v).reshape(*shape, *np.shape(v)[1:]) for k, v in values.items()}
    warnings = []
    if model.info.gq:
        keys = jax.random.split(jax.random.PRNGKey(seed), flat.shape[0])
        try:
            gq = model.generated_quantities_draws(jnp.asarray(flat), keys)
            out.update({k: np.asarray(v).reshape(*shape, *np.shape(v)[1:]) for k, v in gq.items()})
        except (ProgramError, interp.NeedsStatic, *interp.TRACE_ERRORS) as exc:
            # The posterior is still good; only the generated quantities are missing.
            warnings.append(f"generated quantities were not computed: {exc}")
    return out, warnings
