"""NUTS over a flat unconstrained vector, through NumPyro's NUTS kernel, with Stan-style inits.

`run_nuts(potential_fn, init_u, settings, seed)` samples from exp(-potential_fn(u)), u a 1-d
float vector (NumPyro's convention: the potential is the *negative* log density, Jacobians
included). With `data=...` the potential is `potential_fn(u, data)` and the data are *arguments*
of the compiled sampler, never constants baked into it, so:

* in-process: the sampler is compiled once per (potential_fn, sampling settings, chain method)
  and cached here (`_COMPILED`, an LRU keyed on the function object); refitting the same function
  on data of the same shapes and dtypes compiles nothing. Pass the same function object each time
  (`compile.fit` passes the cached kernel's `potential`).
* across processes: the lowered program is identical for same-structure, same-shape data, so the
  JAX persistent compilation cache (`enable_compilation_cache`) serves the XLA compile from disk;
  only tracing and lowering are paid again.

The sampler is NumPyro's functional NUTS (`numpyro.infer.hmc.hmc(potential_fn_gen=...)`): the same
tree building and windowed step-size/mass-matrix adaptation that `MCMC` runs, driven here by one
`fori_loop` over warmup + draws (one loop, so the kernel is traced and compiled once) whose bounds
are arguments: with a `progress` listener the same compiled loop runs in chunks, and the draws
are identical either way. Chains run
with `pmap` when the process has at least one XLA device per chain (on CPU that needs
`numpyro.set_host_device_count(chains)` before JAX starts, which `worker.py` does), otherwise
vectorised with `vmap` on one device, or one after another (`lax.map`) when asked.

JAX and NumPyro are imported inside the functions that use them, not at module level: a parent
process must be able to build `NutsSettings` and unpickle a `NutsResult` coming back from a worker
without paying for (or initialising) JAX.

Timing. XLA compilation dominates small fits, so it is reported apart:

* ``compile_s``: wall seconds during the call spent tracing, lowering and XLA-compiling (the union
  of JAX's own compile-event intervals from `jax.monitoring`, so nested traces count once;
  persistent-cache lookups count here too). Zero for an in-process refit.
* ``sample_s``: the rest of the call: initial-point search, warmup, sampling, device-to-host copies.
* ``total_s``: the whole call, except importing NumPyro the first time (`import_sampler`: a
  per-process cost, like importing JAX). The event listener is process-global: fits running concurrently in
  threads of one process would see each other's compiles.
"""

from __future__ import annotations

import numbers
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from boxloop.errors import FitError

from . import progress

__all__ = [
    "NutsSettings",
    "NutsTiming",
    "NutsResult",
    "STAT_FIELDS",
    "run_nuts",
    "run_nuts_batched",
    "find_initial_points",
    "resolve_chain_method",
    "enable_compilation_cache",
    "clear_compiled",
    "import_sampler",
]

# Sample statistics kept for every draw; energy and diverging feed E-BFMI and divergence checks.
STAT_FIELDS = ("energy", "diverging", "num_steps", "accept_prob", "potential_energy")
CHAIN_METHODS = ("auto", "parallel", "vectorized", "sequential")
_COMPILE_EVENTS = frozenset(
    {
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
        "/jax/compilation_cache/cache_retrieval_time_sec",
    }
)


@dataclass(frozen=True)
class NutsSettings:
    """How to run NUTS. `init_radius`/`init_tries` follow Stan: uniform(-2, 2), 100 tries."""

    chains: int = 4
    warmup: int = 1000
    draws: int = 1000
    target_accept: float = 0.8
    max_tree_depth: int = 10
    chain_method: str = "auto"
    dense_mass: bool = False
    init_radius: float = 2.0
    init_tries: int = 100

    def __post_init__(self):
        problems = [
            f"{name} must be {need}, got {getattr(self, name)!r}"
            for name, need, ok in (
                ("chains", "an int >= 1", _is_int(self.chains) and self.chains >= 1),
                ("warmup", "an int >= 0", _is_int(self.warmup) and self.warmup >= 0),
                ("draws", "an int >= 1", _is_int(self.draws) and self.draws >= 1),
                ("target_accept", "in (0, 1)", 0.0 < self.target_accept < 1.0),
                ("max_tree_depth", "an int >= 1", _is_int(self.max_tree_depth) and self.max_tree_depth >= 1),
                ("chain_method", f"one of {CHAIN_METHODS}", self.chain_method in CHAIN_METHODS),
                ("init_radius", "> 0", self.init_radius > 0),
                ("init_tries", "an int >= 1", _is_int(self.init_tries) and self.init_tries >= 1),
            )
            if not ok
        ]
        if problems:
            raise FitError("invalid NUTS settings: " + "; ".join(problems), code="fit.bad_settings")


def _is_int(x) -> bool:
    return isinstance(x, numbers.Integral) and not isinstance(x, bool)


@dataclass(frozen=True)
class NutsTiming:
    """Seconds; see the module docstring for exactly what each number covers."""

    compile_s: float
    sample_s: float
    total_s: float


@dataclass(frozen=True, eq=False)
class NutsResult:
    """Everything a fit produced, as numpy arrays (picklable, JAX-free).

    draws: (chains, draws, dim) unconstrained draws after warmup.
    stats: STAT_FIELDS -> (chains, draws) arrays (`diverging` is bool).
    step_size: (chains,) adapted step sizes. inverse_mass_matrix: (chains, dim) or, with
    dense_mass, (chains, dim, dim). init_u: (chains, dim) the points each chain started from.
    chain_method: what actually ran ("parallel", "vectorized" or "sequential").
    """

    draws: np.ndarray
    stats: Mapping[str, np.ndarray]
    step_size: np.ndarray
    inverse_mass_matrix: np.ndarray
    init_u: np.ndarray
    timing: NutsTiming
    chain_method: str
    seed: int
    settings: NutsSettings

    @property
    def num_divergent(self) -> int:
        return int(np.sum(self.stats["diverging"]))


# --- compile timing -----------------------------------------------------------------------------


class CompileClock:
    """Collects the wall-clock intervals of JAX compile events while active."""

    def __init__(self):
        self._spans: list[tuple[float, float]] = []

    def _record(self, event: str, duration: float, **_):
        if event in _COMPILE_EVENTS:
            end = time.perf_counter()  # listeners fire when the event ends
            self._spans.append((end - duration, end))

    def __enter__(self):
        import jax.monitoring

        jax.monitoring.register_event_duration_secs_listener(self._record)
        return self

    def __exit__(self, *exc):
        import jax.monitoring

        jax.monitoring.unregister_event_duration_listener(self._record)
        return False

    def seconds(self, since: float = -np.inf, until: float = np.inf) -> float:
        """Compile seconds, optionally only those inside the perf_counter window [since, until]."""
        clipped = [(max(s, since), min(e, until)) for s, e in self._spans]
        return _union_length([(s, e) for s, e in clipped if e > s])


def _union_length(spans: list[tuple[float, float]]) -> float:
    """Total length covered by possibly nested/overlapping intervals."""
    total, reach = 0.0, -np.inf
    for start, end in sorted(spans):
        if end > reach:
            total += end - max(start, reach)
            reach = end
    return total


# --- persistent compilation cache ---------------------------------------------------------------


def enable_compilation_cache(path: str) -> None:
    """Use the JAX persistent compilation cache in `path`, caching every compiled program.

    Samplers take their data as arguments, so a fresh process fitting a program structure it has
    seen before (same data shapes, any values) loads the XLA executables from here instead of
    compiling them; only tracing and lowering are paid again. JAX's default thresholds (1 s of
    compile time, a minimum entry size) would skip the small programs that matter here, so both
    are zero. Safe to call before or after JAX has compiled anything, and again with a new path.
    The cache is trusted code: never point it at a directory others can write.
    """
    import jax
    from jax.experimental.compilation_cache import compilation_cache

    if jax.config.jax_compilation_cache_dir != path:
        jax.config.update("jax_compilation_cache_dir", path)
        compilation_cache.reset_cache()  # JAX opens the cache once; make it reopen at `path`
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


# --- compiled pieces, cached per potential function ---------------------------------------------

_COMPILED: OrderedDict = OrderedDict()  # key -> jitted function; least recently used dropped
_MAX_COMPILED = 64


def clear_compiled() -> None:
    """Forget every cached sampler and init checker (their compiled executables go with them)."""
    _COMPILED.clear()


def _cached(key: tuple, build: Callable) -> Callable:
    try:
        hit = _COMPILED.get(key)
    except TypeError:  # an unhashable potential: nothing to key on, compile afresh
        return build()
    if hit is None:
        hit = _COMPILED[key] = build()
    _COMPILED.move_to_end(key)
    while len(_COMPILED) > _MAX_COMPILED:
        _COMPILED.popitem(last=False)
    return hit


def _with_data(potential_fn: Callable, with_data: bool) -> Callable:
    """Every compiled piece takes (u, data); a data-free potential gets an empty `data` ()."""
    if with_data:
        return potential_fn
    return lambda u, _data: potential_fn(u)


def _checker(potential_fn: Callable, with_data: bool, data_axis):
    """Jitted (points (n, dim), data) -> (n,) bool: potential and gradient finite at each point.
    data_axis None: one dataset for all points; 0: point i uses data leaf[i]."""

    def build():
        import jax
        import jax.numpy as jnp

        value_and_grad = jax.vmap(jax.value_and_grad(_with_data(potential_fn, with_data)), (0, data_axis))

        @jax.jit
        def check(points, data):
            values, grads = value_and_grad(points, data)
            return jnp.isfinite(values) & jnp.all(jnp.isfinite(grads), axis=-1)

        return check

    return _cached(("check", potential_fn, with_data, data_axis), build)


class _Chains(NamedTuple):
    """What a sampler returns, chains first (and datasets before that when batched)."""

    draws: object  # (chains, draws, dim)
    stats: dict  # STAT_FIELDS -> (chains, draws)
    step_size: object  # (chains,)
    inverse_mass_matrix: object  # (chains, dim) or (chains, dim, dim)


class _Kernels(NamedTuple):
    """One chain's sampler in two pure pieces: `start(key, init_u, data) -> carry` and
    `advance(carry, data, begin, end) -> carry`, which runs iterations [begin, end) of warmup +
    draws. The bounds are traced, so one compiled `advance` serves one call or many (progress)."""

    start: Callable
    advance: Callable


def _one_chain(potential_fn: Callable, settings: NutsSettings) -> _Kernels:
    """NumPyro's NUTS kernel with its windowed adaptation; a carry is (HMCState, kept draws)."""
    import jax
    import jax.numpy as jnp
    from jax import lax
    from numpyro.infer.hmc import hmc

    warmup, draws = settings.warmup, settings.draws

    def bind(data):
        return lambda u: potential_fn(u, data)

    def record(state):
        return state.z, {name: getattr(state, name) for name in STAT_FIELDS}

    def kernel(init_u, data, key):
        # hmc() keeps the adaptation schedule in its closure, set by init_kernel: build both inside
        # the trace, per chain.
        init_kernel, sample_kernel = hmc(potential_fn_gen=bind, algo="NUTS")
        state = init_kernel(init_u, warmup, target_accept_prob=settings.target_accept,
                            max_tree_depth=settings.max_tree_depth, dense_mass=settings.dense_mass,
                            model_args=(data,), rng_key=key)
        return state, sample_kernel

    def start(key, init_u, data):
        # Split the chain key first, as MCMC.init does (the other half seeds its model init).
        state, _ = kernel(init_u, data, jax.random.split(key)[0])
        kept = jax.tree.map(lambda x: jnp.zeros((draws, *jnp.shape(x)), jnp.result_type(x)), record(state))
        return state, kept

    def advance(carry, data, begin, end):
        # Only the closure of this init matters (its state is unused, and compiled away).
        _, sample_kernel = kernel(carry[0].z, data, carry[0].rng_key)

        def step(i, carry):
            state, kept = carry
            state = sample_kernel(state, model_args=(data,))
            # Warmup iterations scribble on slot 0; the first real draw overwrites it. Cheaper to
            # compile than two loops, which would trace and compile the NUTS kernel twice.
            slot = jnp.maximum(i - warmup, 0)
            kept = jax.tree.map(lambda buf, x: buf.at[slot].set(x), kept, record(state))
            return state, kept

        return lax.fori_loop(begin, end, step, carry)

    return _Kernels(start, advance)


def _chains_of(carry) -> _Chains:
    state, (z, stats) = carry
    adapt = state.adapt_state
    return _Chains(z, stats, adapt.step_size, adapt.inverse_mass_matrix)


def _sampler_settings(settings: NutsSettings) -> tuple:
    # What the compiled program depends on; chains and dim are array shapes, which jit keys on.
    return settings.warmup, settings.draws, settings.target_accept, settings.max_tree_depth, settings.dense_mass


def _sampler(potential_fn: Callable, with_data: bool, settings: NutsSettings, method: str) -> _Kernels:
    """Cached, compiled `start(keys (chains, 2), inits (chains, dim), data)` and
    `advance(carry, data, begin, end)`, chains first.

    method "batched": keys (B, chains, 2), inits (B, chains, dim), data leaves (B, ...)."""

    def build():
        import jax
        from jax import lax

        start, advance = _one_chain(_with_data(potential_fn, with_data), settings)
        if method == "parallel":
            return _Kernels(jax.pmap(start, in_axes=(0, 0, None)), jax.pmap(advance, in_axes=(0, None, None, None)))
        if method == "vectorized":
            return _Kernels(jax.jit(jax.vmap(start, in_axes=(0, 0, None))),
                            jax.jit(jax.vmap(advance, in_axes=(0, None, None, None))))
        if method == "batched":
            return _Kernels(jax.jit(jax.vmap(jax.vmap(start, in_axes=(0, 0, None)), in_axes=(0, 0, 0))),
                            jax.jit(jax.vmap(jax.vmap(advance, in_axes=(0, None, None, None)),
                                             in_axes=(0, 0, None, None))))
        # sequential: chains one after another inside one program
        return _Kernels(
            jax.jit(lambda keys, inits, data: lax.map(lambda ki: start(ki[0], ki[1], data), (keys, inits))),
            jax.jit(lambda carry, data, begin, end: lax.map(lambda c: advance(c, data, begin, end), carry)))

    return _cached(("run", potential_fn, with_data, method, _sampler_settings(settings)), build)


# --- initial points -----------------------------------------------------------------------------


def _seed_streams(seed: int, chains: int) -> tuple[np.random.Generator, np.ndarray]:
    """Independent numpy streams for inits and raw uint32 PRNG keys for the chains.

    Plain numpy avoids compiling JAX's RNG kernels just to draw a few numbers.
    """
    if not _is_int(seed) or seed < 0:
        raise FitError(f"seed must be a non-negative int, got {seed!r}", code="fit.bad_settings")
    init_seq, key_seq = np.random.SeedSequence(seed).spawn(2)
    keys = key_seq.generate_state(2 * chains, dtype=np.uint32).reshape(chains, 2)
    return np.random.default_rng(init_seq), keys


def _point_checker(potential_fn: Callable, data, data_axis=None):
    """points (n, dim) numpy -> (n,) bool numpy, through the cached jitted checker."""
    check = _checker(potential_fn, data is not None, data_axis)
    data = () if data is None else data

    def run(points: np.ndarray) -> np.ndarray:
        try:
            return np.asarray(check(points, data))
        except FitError:
            raise
        except Exception as err:  # tracing the user's density failed: say so, keep the cause
            raise FitError(
                f"the log density could not be evaluated or compiled: {type(err).__name__}: {err}",
                code="fit.compile_failed",
            ) from err

    return run


def find_initial_points(
    potential_fn: Callable,
    init_u,
    settings: NutsSettings,
    rng: np.random.Generator,
    data=None,
) -> np.ndarray:
    """(chains, dim) starting points where the potential and its gradient are finite.

    init_u: an int dim -> draw uniform(-init_radius, init_radius) per chain, retrying a chain up to
    `init_tries` times (Stan's rule); or explicit points, shape (dim,) or (chains, dim), which are
    checked but not replaced. With `data`, the potential is potential_fn(u, data).
    Raises FitError "fit.bad_init" when some chain has no finite point.
    """
    import jax.numpy as jnp

    dtype = jnp.result_type(float)
    check = _point_checker(potential_fn, data)
    if _is_int(init_u):
        return _random_inits(check, int(init_u), settings, rng, dtype)
    points = _explicit_inits(init_u, settings.chains, dtype)
    bad = np.flatnonzero(~check(points))
    if bad.size:
        raise FitError(
            f"the log density or its gradient is NaN/inf at the supplied initial values of chain(s) "
            f"{bad.tolist()}; supply points inside the support or let boxloop draw random ones",
            code="fit.bad_init",
        )
    return points


def _explicit_inits(init_u, chains: int, dtype) -> np.ndarray:
    points = np.asarray(init_u, dtype=dtype)
    if points.ndim not in (1, 2) or (points.ndim == 2 and points.shape[0] != chains):
        raise FitError(
            f"initial values must have shape (dim,) or (chains={chains}, dim), got {points.shape}",
            code="fit.bad_init",
        )
    return np.broadcast_to(points, (chains, points.shape[-1])).copy()


def _random_inits(
    check, dim: int, settings: NutsSettings, rng, dtype, count: int | None = None
) -> np.ndarray:
    """`count` points (default: one per chain), each retried until `check` accepts it."""
    count = settings.chains if count is None else count
    radius = settings.init_radius
    points = np.zeros((count, dim), dtype=dtype)
    missing = np.ones(count, dtype=bool)
    for _ in range(settings.init_tries):
        # Every try draws for all points so the draws for point c do not depend on the others.
        candidates = rng.uniform(-radius, radius, size=(count, dim)).astype(dtype)
        take = missing & check(candidates)
        points[take] = candidates[take]
        missing &= ~take
        if not missing.any():
            return points
    raise FitError(
        f"the log density or its gradient was NaN/inf at every one of {settings.init_tries} random "
        f"initial points (uniform in (-{radius:g}, {radius:g}) on the unconstrained scale) for "
        f"chain(s) {np.flatnonzero(missing).tolist()}; check that priors and likelihood accept "
        "values of every parameter's declared support, and that the data hold no NaN/inf",
        code="fit.bad_init",
    )


# --- sampling -----------------------------------------------------------------------------------


def resolve_chain_method(settings: NutsSettings) -> str:
    """"auto" -> "parallel" with one device per chain, else "vectorized".

    An explicit "parallel" without enough devices becomes "sequential" (what NumPyro would do,
    minus its warning); the result records what ran.
    """
    import jax

    if settings.chains == 1:
        return "sequential"
    enough = jax.local_device_count() >= settings.chains
    if settings.chain_method == "auto":
        return "parallel" if enough else "vectorized"
    if settings.chain_method == "parallel" and not enough:
        return "sequential"
    return settings.chain_method


def import_sampler() -> None:
    """Import JAX and NumPyro's NUTS now (about a second, once per process), so that fit timings
    measure fitting, not module loading; callers timing a fit call this before their clock."""
    import numpyro.infer.hmc  # noqa: F401


def _sample(potential_fn: Callable, with_data: bool, keys, inits, data, settings, method) -> _Chains:
    import jax

    kernels = _sampler(potential_fn, with_data, settings, method)
    data = () if data is None else data
    try:
        carry = kernels.start(keys, inits, data)
        for begin, end in _spans(settings):
            carry = kernels.advance(carry, data, np.int32(begin), np.int32(end))
            if progress.is_listening():
                jax.block_until_ready(carry)
                progress.report("warmup" if end <= settings.warmup else "sampling", end,
                                settings.warmup + settings.draws)
        return jax.tree.map(np.asarray, _chains_of(carry))
    except FitError:
        raise
    except Exception as err:
        raise _sampler_failed(err) from err


def _spans(settings: NutsSettings) -> list[tuple[int, int]]:
    """[begin, end) iteration ranges: one for all, or progress.CHUNKS when someone listens (the
    warmup/draws boundary is kept, so a report says which phase finished)."""
    total = settings.warmup + settings.draws
    if not progress.is_listening():
        return [(0, total)]
    cuts = {0, total, settings.warmup} | {round(total * k / progress.CHUNKS) for k in range(1, progress.CHUNKS)}
    points = sorted(cuts)
    return list(zip(points[:-1], points[1:]))


def _sampler_failed(err: Exception) -> FitError:
    return FitError(
        f"NUTS failed while sampling: {type(err).__name__}: {err}; if the message points at the "
        "log density, check it compiles and evaluates on its own",
        code="fit.sampler_failed",
    )


def run_nuts(
    potential_fn: Callable,
    init_u,
    settings: NutsSettings = NutsSettings(),
    seed: int = 0,
    data=None,
) -> NutsResult:
    """Sample exp(-potential_fn(u)) with NUTS; the same seed and settings give the same draws.

    potential_fn: jax-traceable, (dim,) float array -> scalar (negative log density); with `data`
    (a pytree of arrays), potential_fn(u, data). Data are arguments of the compiled sampler, so a
    second call with the same function object and same-shaped data compiles nothing.
    init_u: int dim for Stan-style random inits, or explicit points (dim,) / (chains, dim).
    Raises FitError: "fit.bad_init" (no finite starting point), "fit.compile_failed" (the
    potential cannot be traced), "fit.sampler_failed" (NumPyro raised while sampling).
    """
    import_sampler()
    start = time.perf_counter()
    rng, keys = _seed_streams(seed, settings.chains)
    with CompileClock() as clock:
        method = resolve_chain_method(settings)
        inits = find_initial_points(potential_fn, init_u, settings, rng, data=data)
        out = _sample(potential_fn, data is not None, keys, inits, data, settings, method)
    total = time.perf_counter() - start
    compile_s = min(clock.seconds(), total)
    return NutsResult(
        draws=out.draws,
        stats=out.stats,
        step_size=np.reshape(out.step_size, (settings.chains,)),
        inverse_mass_matrix=out.inverse_mass_matrix,
        init_u=np.asarray(inits),
        timing=NutsTiming(compile_s=compile_s, sample_s=total - compile_s, total_s=total),
        chain_method=method,
        seed=seed,
        settings=settings,
    )


# --- many datasets, one compile -----------------------------------------------------------------


def run_nuts_batched(
    potential_fn: Callable,
    dim: int,
    data,
    settings: NutsSettings = NutsSettings(),
    seed: int = 0,
) -> list[NutsResult]:
    """Fit one program to B datasets at once: one XLA compile for all of them.

    potential_fn(u, data_b) -> scalar, with `data` a pytree whose leaves all have a leading
    axis of length B (same shapes otherwise, e.g. simulated datasets for calibration checks).
    Everything is vmapped over datasets (and chains), so every dataset waits for the slowest
    trajectory at each step: worth it when compile time dominates, as for small models.
    Returns one NutsResult per dataset; they share one `timing` (the whole batch's) and report
    chain_method "batched". Init failures name flat indices dataset * chains + chain.
    """
    import jax
    import jax.numpy as jnp

    batch, chains = _batch_size(data), settings.chains
    import_sampler()
    start = time.perf_counter()
    rng, keys = _seed_streams(seed, batch * chains)
    with CompileClock() as clock:
        per_chain = jax.tree.map(lambda x: np.repeat(np.asarray(x), chains, axis=0), data)
        check = _point_checker(potential_fn, per_chain, data_axis=0)
        inits = _random_inits(check, dim, settings, rng, jnp.result_type(float), count=batch * chains)
        inits = inits.reshape(batch, chains, dim)
        out = _sample(potential_fn, True, keys.reshape(batch, chains, 2), inits, data, settings, "batched")
    total = time.perf_counter() - start
    compile_s = min(clock.seconds(), total)
    timing = NutsTiming(compile_s=compile_s, sample_s=total - compile_s, total_s=total)
    return [
        NutsResult(
            draws=out.draws[b],
            stats={name: value[b] for name, value in out.stats.items()},
            step_size=np.reshape(out.step_size[b], (chains,)),
            inverse_mass_matrix=out.inverse_mass_matrix[b],
            init_u=inits[b],
            timing=timing,
            chain_method="batched",
            seed=seed,
            settings=settings,
        )
        for b in range(batch)
    ]


def _batch_size(data) -> int:
    import jax

    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in jax.tree.leaves(data)}
    if len(sizes) != 1 or None in sizes:
        raise FitError(
            "batched data must be a pytree whose leaves all share one leading batch axis; "
            f"found leading sizes {sorted(sizes, key=str)}",
            code="fit.bad_settings",
        )
    return int(sizes.pop())
