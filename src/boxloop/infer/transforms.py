"""Constraint bijections: unconstrained reals -> the values Stan's declared constraints allow.

Every constrained declaration owns a block of free (unconstrained) reals in the sampler's flat
vector. A transform spec maps that block to a value of the declared shape and returns
log|det J| of the map onto the value's *free coordinates* (for a simplex the first K-1 entries,
for a Cholesky factor its strictly-lower triangle, ...), which is the term a log density over the
unconstrained space must add.

Conventions shared by every spec:

* ``shape`` is the full value shape, a tuple of Python ints. The last ``event_ndim`` axes are one
  constrained object (simplex[K] -> (K,), cov_matrix[K] -> (K, K)); leading axes are array
  dimensions, so ``array[J] simplex[K]`` has shape (J, K) and J independent simplexes.
* Free reals are laid out in C order: batch index first, then the object's own free coordinates.
  Matrices with elementwise bounds are therefore row-major (Stan serialises them column-major), and
  corr_matrix / simplex / cholesky types follow Stan's internal order within one object.
* ``forward(u_flat, shape, *params) -> (value, log_det)`` with ``log_det`` a scalar summed over
  the whole block; ``inverse(value, *params) -> u_flat``. Both are pure jnp code, so they work under
  ``jit``, ``vmap`` and ``grad``; bound/offset/multiplier parameters may be Python numbers, arrays
  broadcast against ``shape`` (trailing axes aligned), or traced values computed from data or other
  parameters.
* Infinite bounds mean "no bound on this element", as in Stan.

The simplex uses Stan's stick-breaking map (Stan <= 2.35), correlation types use Stan's canonical
partial correlations via tanh, covariance types use a Cholesky factor with log-diagonal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Protocol

import jax
import jax.numpy as jnp
import numpy as np

from boxloop.errors import FitError

__all__ = [
    "Transform",
    "Identity",
    "Lower",
    "Upper",
    "LowerUpper",
    "OffsetMultiplier",
    "Simplex",
    "UnitVector",
    "Ordered",
    "PositiveOrdered",
    "CholeskyFactorCorr",
    "CholeskyFactorCov",
    "CorrMatrix",
    "CovMatrix",
    "for_declaration",
]

Shape = tuple[int, ...]


class Transform(Protocol):
    """What the compiler relies on. `params` names the extra arguments of forward/inverse."""

    event_ndim: ClassVar[int]
    params: ClassVar[tuple[str, ...]]

    def free_size(self, shape: Shape) -> int: ...

    def forward(self, u_flat, shape: Shape, *params) -> tuple[jax.Array, jax.Array]: ...

    def inverse(self, value, *params) -> jax.Array: ...


# --- shared helpers ----------------------------------------------------------------------------


def _size(shape: Shape) -> int:
    return int(math.prod(shape))


def _split(shape: Shape, event_ndim: int) -> tuple[Shape, Shape]:
    if len(shape) < event_ndim:
        raise FitError(
            f"a value of shape {shape} cannot hold a {event_ndim}-d constrained object; "
            "declare the type with its sizes",
            code="fit.bad_shape",
        )
    cut = len(shape) - event_ndim
    return tuple(shape[:cut]), tuple(shape[cut:])


def _map_forward(event_fn: Callable, u_flat, shape: Shape, event_ndim: int, n_free: int):
    """Apply a one-object forward map to every object of a batch; sum the log-dets."""
    batch, event = _split(shape, event_ndim)
    u = jnp.asarray(u_flat)
    if not batch:
        return event_fn(jnp.reshape(u, (n_free,)), event)
    values, log_dets = jax.vmap(lambda v: event_fn(v, event))(jnp.reshape(u, (_size(batch), n_free)))
    return jnp.reshape(values, shape), jnp.sum(log_dets)


def _map_inverse(event_fn: Callable, value, event_ndim: int):
    """Apply a one-object inverse map to every object of a batch; concatenate the free reals."""
    value = jnp.asarray(value)
    batch, event = _split(value.shape, event_ndim)
    if not batch:
        return event_fn(value)
    return jnp.ravel(jax.vmap(event_fn)(jnp.reshape(value, (_size(batch), *event))))


def _log_sech2(u):
    """log(1 - tanh(u)^2), accurate for large |u| where 1 - tanh^2 underflows."""
    a = jnp.abs(u)
    return 2.0 * (math.log(2.0) - a - jax.nn.softplus(-2.0 * a))


# --- elementwise bounds ------------------------------------------------------------------------
#
# A bound is classified at trace time: "none" (absent or every element infinite), "finite"
# (concrete and every element finite) or "dynamic" (traced, or a mix of finite and infinite).
# The common static cases get the short formulas; only dynamic bounds pay for per-element selects.


def _bound_kind(bound) -> str:
    if bound is None:
        return "none"
    try:
        concrete = np.asarray(bound, dtype=float)
    except (jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        return "dynamic"
    finite = np.isfinite(concrete)
    if finite.all():
        return "finite"
    return "none" if not finite.any() else "dynamic"


def _bounded_forward(u, lower, upper):
    kinds = (_bound_kind(lower), _bound_kind(upper))
    if "dynamic" in kinds:
        return _bounded_forward_select(u, _or_inf(lower, -1), _or_inf(upper, 1))
    if kinds == ("finite", "finite"):
        width = upper - lower
        log_det = jnp.log(width) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)
        return lower + width * jax.nn.sigmoid(u), jnp.sum(jnp.broadcast_to(log_det, u.shape))
    if kinds == ("finite", "none"):
        return lower + jnp.exp(u), jnp.sum(u)
    if kinds == ("none", "finite"):
        return upper - jnp.exp(u), jnp.sum(u)
    return u, jnp.zeros((), u.dtype)


def _or_inf(bound, sign: int):
    return sign * jnp.inf if bound is None else bound


def _select_masks(lower, upper):
    has_lo, has_up = jnp.isfinite(lower), jnp.isfinite(upper)
    return has_lo & has_up, has_lo & ~has_up, has_up & ~has_lo, has_lo, has_up


def _bounded_forward_select(u, lower, upper):
    """Per-element choice among the four cases, safe for gradients (no inf/NaN in unused branches)."""
    both, lo_only, up_only, has_lo, has_up = _select_masks(lower, upper)
    a = jnp.where(has_lo, lower, 0.0)
    b = jnp.where(has_up, upper, 0.0)
    width = jnp.where(both, b - a, 1.0)
    one_sided = lo_only | up_only
    e = jnp.exp(jnp.where(one_sided, u, 0.0))
    x = jnp.where(
        both, a + width * jax.nn.sigmoid(u), jnp.where(lo_only, a + e, jnp.where(up_only, b - e, u))
    )
    lub_det = jnp.log(width) + jax.nn.log_sigmoid(u) + jax.nn.log_sigmoid(-u)
    log_det = jnp.where(both, lub_det, jnp.where(one_sided, u, 0.0))
    return x, jnp.sum(log_det)


def _bounded_inverse(x, lower, upper):
    x = jnp.asarray(x)
    lower, upper = _or_inf(lower, -1), _or_inf(upper, 1)
    both, lo_only, up_only, has_lo, has_up = _select_masks(lower, upper)
    above = jnp.log(jnp.where(has_lo, x - jnp.where(has_lo, lower, 0.0), 1.0))
    below = jnp.log(jnp.where(has_up, jnp.where(has_up, upper, 0.0) - x, 1.0))
    # logit((x - a) / (b - a)) = log(x - a) - log(b - x)
    u = jnp.where(both, above - below, jnp.where(lo_only, above, jnp.where(up_only, below, x)))
    return jnp.ravel(jnp.broadcast_to(u, x.shape))


@dataclass(frozen=True)
class Identity:
    """Unconstrained reals (plain real, vector, matrix, arrays of them)."""

    event_ndim: ClassVar[int] = 0
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        return _size(shape)

    def forward(self, u_flat, shape: Shape):
        u = jnp.reshape(jnp.asarray(u_flat), shape)
        return u, jnp.zeros((), u.dtype)

    def inverse(self, value):
        return jnp.ravel(jnp.asarray(value))


@dataclass(frozen=True)
class Lower:
    """`<lower=a>`: x = a + exp(u)."""

    event_ndim: ClassVar[int] = 0
    params: ClassVar[tuple[str, ...]] = ("lower",)

    def free_size(self, shape: Shape) -> int:
        return _size(shape)

    def forward(self, u_flat, shape: Shape, lower):
        return _bounded_forward(jnp.reshape(jnp.asarray(u_flat), shape), lower, None)

    def inverse(self, value, lower):
        return _bounded_inverse(value, lower, None)


@dataclass(frozen=True)
class Upper:
    """`<upper=b>`: x = b - exp(u)."""

    event_ndim: ClassVar[int] = 0
    params: ClassVar[tuple[str, ...]] = ("upper",)

    def free_size(self, shape: Shape) -> int:
        return _size(shape)

    def forward(self, u_flat, shape: Shape, upper):
        return _bounded_forward(jnp.reshape(jnp.asarray(u_flat), shape), None, upper)

    def inverse(self, value, upper):
        return _bounded_inverse(value, None, upper)


@dataclass(frozen=True)
class LowerUpper:
    """`<lower=a, upper=b>`: x = a + (b - a) * inv_logit(u)."""

    event_ndim: ClassVar[int] = 0
    params: ClassVar[tuple[str, ...]] = ("lower", "upper")

    def free_size(self, shape: Shape) -> int:
        return _size(shape)

    def forward(self, u_flat, shape: Shape, lower, upper):
        return _bounded_forward(jnp.reshape(jnp.asarray(u_flat), shape), lower, upper)

    def inverse(self, value, lower, upper):
        return _bounded_inverse(value, lower, upper)


@dataclass(frozen=True)
class OffsetMultiplier:
    """`<offset=o, multiplier=s>`: x = o + s * u. Omitted parts default to 0 and 1."""

    event_ndim: ClassVar[int] = 0
    params: ClassVar[tuple[str, ...]] = ("offset", "multiplier")

    def free_size(self, shape: Shape) -> int:
        return _size(shape)

    def forward(self, u_flat, shape: Shape, offset=0.0, multiplier=1.0):
        u = jnp.reshape(jnp.asarray(u_flat), shape)
        # No abs(): Stan requires multiplier > 0, and a NaN log-det flags a bad one instead of
        # silently accepting it.
        log_det = jnp.sum(jnp.broadcast_to(jnp.log(multiplier), shape))
        return offset + multiplier * u, log_det

    def inverse(self, value, offset=0.0, multiplier=1.0):
        value = jnp.asarray(value)
        return jnp.ravel(jnp.broadcast_to((value - offset) / multiplier, value.shape))


# --- vector constraints -------------------------------------------------------------------------


def _simplex_forward(u, event: Shape):
    (k,) = event
    # Stan's offsets make u = 0 the uniform simplex: z_i = inv_logit(u_i - log(K - i)).
    t = u - jnp.log(jnp.arange(k - 1, 0, -1, dtype=u.dtype))
    log_z, log_1mz = jax.nn.log_sigmoid(t), jax.nn.log_sigmoid(-t)
    zero = jnp.zeros((1,), u.dtype)
    log_stick = jnp.concatenate([zero, jnp.cumsum(log_1mz)])  # log of what is left before piece i
    x = jnp.exp(jnp.concatenate([log_z, zero]) + log_stick)
    return x, jnp.sum(log_z + log_1mz + log_stick[:-1])


def _simplex_inverse(x):
    k = x.shape[-1]
    tail = jnp.cumsum(x[::-1])[::-1]  # tail[i] = x_i + ... + x_K, the stick left before piece i
    # logit(z_i) = log(x_i) - log(stick left after piece i)
    return jnp.log(x[:-1]) - jnp.log(tail[1:]) + jnp.log(jnp.arange(k - 1, 0, -1, dtype=x.dtype))


def _unit_vector_forward(u, event: Shape):
    # Not a bijection: the -|u|^2/2 term makes the radial direction a proper standard normal.
    return u / jnp.linalg.norm(u), -0.5 * jnp.dot(u, u)


def _ordered_forward(u, event: Shape):
    return jnp.cumsum(jnp.concatenate([u[:1], jnp.exp(u[1:])])), jnp.sum(u[1:])


def _ordered_inverse(x):
    return jnp.concatenate([x[:1], jnp.log(jnp.diff(x))])


def _positive_ordered_forward(u, event: Shape):
    return jnp.cumsum(jnp.exp(u)), jnp.sum(u)


def _positive_ordered_inverse(x):
    return jnp.log(jnp.concatenate([x[:1], jnp.diff(x)]))


def _vector_size(shape: Shape, per_object: Callable[[int], int]) -> int:
    batch, (k,) = _split(shape, 1)
    return _size(batch) * per_object(k)


@dataclass(frozen=True)
class Simplex:
    """simplex[K]: K-1 free reals, stick-breaking as in Stan."""

    event_ndim: ClassVar[int] = 1
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        return _vector_size(shape, lambda k: k - 1)

    def forward(self, u_flat, shape: Shape):
        return _map_forward(_simplex_forward, u_flat, shape, 1, shape[-1] - 1)

    def inverse(self, value):
        return _map_inverse(_simplex_inverse, value, 1)


@dataclass(frozen=True)
class UnitVector:
    """unit_vector[K]: K free reals normalised; the log-det term is Stan's -|u|^2/2."""

    event_ndim: ClassVar[int] = 1
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        return _vector_size(shape, lambda k: k)

    def forward(self, u_flat, shape: Shape):
        return _map_forward(_unit_vector_forward, u_flat, shape, 1, shape[-1])

    def inverse(self, value):
        # Any positive multiple maps to the same value; the unit-norm point itself is canonical.
        return _map_inverse(lambda x: x, value, 1)


@dataclass(frozen=True)
class Ordered:
    """ordered[K]: x_1 = u_1, x_i = x_{i-1} + exp(u_i)."""

    event_ndim: ClassVar[int] = 1
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        return _vector_size(shape, lambda k: k)

    def forward(self, u_flat, shape: Shape):
        return _map_forward(_ordered_forward, u_flat, shape, 1, shape[-1])

    def inverse(self, value):
        return _map_inverse(_ordered_inverse, value, 1)


@dataclass(frozen=True)
class PositiveOrdered:
    """positive_ordered[K]: x = cumsum(exp(u))."""

    event_ndim: ClassVar[int] = 1
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        return _vector_size(shape, lambda k: k)

    def forward(self, u_flat, shape: Shape):
        return _map_forward(_positive_ordered_forward, u_flat, shape, 1, shape[-1])

    def inverse(self, value):
        return _map_inverse(_positive_ordered_inverse, value, 1)


# --- matrix constraints -------------------------------------------------------------------------


def _strict_lower(k: int, column_major: bool) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the strictly-lower triangle, row by row or (Stan's corr_matrix) column by column."""
    if column_major:
        cols, rows = np.triu_indices(k, 1)
        return rows, cols
    return np.tril_indices(k, -1)


def _cpc_cholesky(u, k: int, column_major: bool):
    """Canonical partial correlations tanh(u) -> Cholesky factor of a correlation matrix.

    Row i: L_ij = z_ij * sqrt(prod_{j'<j} (1 - z_ij'^2)), L_ii = sqrt(prod_{j'<i} (1 - z_ij'^2)),
    so every row has unit norm. Returns L and the per-entry log(1 - z^2) matrix (zero off the
    strict lower triangle) and its exclusive row cumsum, which both log-dets are built from.
    """
    rows, cols = _strict_lower(k, column_major)
    z = jnp.zeros((k, k), u.dtype).at[rows, cols].set(jnp.tanh(u))
    log1m = jnp.zeros((k, k), u.dtype).at[rows, cols].set(_log_sech2(u))
    log_left = jnp.cumsum(log1m, axis=1) - log1m  # log of the row's squared norm still unused
    lower = z * jnp.exp(0.5 * log_left)
    chol = lower + jnp.diag(jnp.exp(0.5 * jnp.sum(log1m, axis=1)))
    return chol, log1m, log_left


def _cholesky_cpc(chol, column_major: bool):
    """Inverse of `_cpc_cholesky`: recover u from the strictly-lower part of L."""
    k = chol.shape[-1]
    sq = jnp.tril(chol, -1) ** 2
    used = jnp.cumsum(sq, axis=1) - sq  # squared norm already spent left of each entry
    z = chol / jnp.sqrt(1.0 - used)
    rows, cols = _strict_lower(k, column_major)
    return jnp.arctanh(z[rows, cols])


def _cholesky_corr_forward(u, event: Shape):
    k = event[0]
    chol, log1m, log_left = _cpc_cholesky(u, k, column_major=False)
    rows, cols = _strict_lower(k, column_major=False)
    # d z / d u is 1 - z^2; each later entry of a row is scaled by the stick it draws from.
    return chol, jnp.sum(log1m) + 0.5 * jnp.sum(log_left[rows, cols])


def _corr_matrix_forward(u, event: Shape):
    k = event[0]
    chol, log1m, _ = _cpc_cholesky(u, k, column_major=True)
    corr = chol @ chol.T
    corr = corr.at[jnp.diag_indices(k)].set(1.0)  # exact unit diagonal
    # Jacobian of CPCs -> correlations (Lewandowski, Kurowicka & Joe 2009): column j (0-based)
    # contributes (K - j - 2) / 2 * log(1 - z^2) per entry, on top of tanh's 1 - z^2.
    weight = 1.0 + 0.5 * (k - 2 - jnp.arange(k, dtype=u.dtype))[None, :]
    return corr, jnp.sum(weight * log1m)


def _corr_matrix_inverse(corr):
    return _cholesky_cpc(jnp.linalg.cholesky(corr), column_major=True)


def _lower_incl_diag(m: int, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rows, cols = np.tril_indices(m, 0, n)
    return rows, cols, rows == cols


def _cholesky_cov_forward(u, event: Shape):
    m, n = event
    rows, cols, on_diag = _lower_incl_diag(m, n)
    entries = jnp.where(on_diag, jnp.exp(u), u)
    return jnp.zeros((m, n), u.dtype).at[rows, cols].set(entries), jnp.sum(u[on_diag])


def _cholesky_cov_inverse(chol):
    rows, cols, on_diag = _lower_incl_diag(*chol.shape)
    entries = chol[rows, cols]
    return jnp.where(on_diag, jnp.log(jnp.where(on_diag, entries, 1.0)), entries)


def _cov_matrix_forward(u, event: Shape):
    k = event[0]
    chol, _ = _cholesky_cov_forward(u, (k, k))
    cov = chol @ chol.T
    cov = 0.5 * (cov + cov.T)
    _, _, on_diag = _lower_incl_diag(k, k)
    # L -> L L^T contributes 2^K prod_i L_ii^(K-i) (0-based i); exp on the diagonal adds one more
    # power of L_ii, and log L_ii is the free coordinate itself.
    power = (k + 1 - jnp.arange(k, dtype=u.dtype))
    return cov, k * math.log(2.0) + jnp.sum(power * u[on_diag])


def _cov_matrix_inverse(cov):
    return _cholesky_cov_inverse(jnp.linalg.cholesky(cov))


def _square_size(shape: Shape, per_object: Callable[[int], int]) -> int:
    batch, (k, k2) = _split(shape, 2)
    if k != k2:
        raise FitError(f"expected a square K x K matrix, got {k} x {k2}", code="fit.bad_shape")
    return _size(batch) * per_object(k)


@dataclass(frozen=True)
class CholeskyFactorCorr:
    """cholesky_factor_corr[K]: K(K-1)/2 free reals (row-major CPCs, as Stan)."""

    event_ndim: ClassVar[int] = 2
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        return _square_size(shape, lambda k: k * (k - 1) // 2)

    def forward(self, u_flat, shape: Shape):
        return _map_forward(_cholesky_corr_forward, u_flat, shape, 2, self.free_size(shape[-2:]))

    def inverse(self, value):
        return _map_inverse(lambda c: _cholesky_cpc(c, column_major=False), value, 2)


@dataclass(frozen=True)
class CholeskyFactorCov:
    """cholesky_factor_cov[M, N], M >= N: lower triangle row by row, log of the diagonal."""

    event_ndim: ClassVar[int] = 2
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        batch, (m, n) = _split(shape, 2)
        if m < n:
            raise FitError(
                f"cholesky_factor_cov[{m}, {n}] needs at least as many rows as columns",
                code="fit.bad_shape",
            )
        return _size(batch) * (n * (n + 1) // 2 + (m - n) * n)

    def forward(self, u_flat, shape: Shape):
        return _map_forward(_cholesky_cov_forward, u_flat, shape, 2, self.free_size(shape[-2:]))

    def inverse(self, value):
        return _map_inverse(_cholesky_cov_inverse, value, 2)


@dataclass(frozen=True)
class CorrMatrix:
    """corr_matrix[K]: K(K-1)/2 free reals (column-major CPCs, as Stan)."""

    event_ndim: ClassVar[int] = 2
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        return _square_size(shape, lambda k: k * (k - 1) // 2)

    def forward(self, u_flat, shape: Shape):
        return _map_forward(_corr_matrix_forward, u_flat, shape, 2, self.free_size(shape[-2:]))

    def inverse(self, value):
        return _map_inverse(_corr_matrix_inverse, value, 2)


@dataclass(frozen=True)
class CovMatrix:
    """cov_matrix[K]: K + K(K-1)/2 free reals, Sigma = L L^T with L's diagonal exp'd."""

    event_ndim: ClassVar[int] = 2
    params: ClassVar[tuple[str, ...]] = ()

    def free_size(self, shape: Shape) -> int:
        return _square_size(shape, lambda k: k * (k + 1) // 2)

    def forward(self, u_flat, shape: Shape):
        return _map_forward(_cov_matrix_forward, u_flat, shape, 2, self.free_size(shape[-2:]))

    def inverse(self, value):
        return _map_inverse(_cov_matrix_inverse, value, 2)


# --- lookup -------------------------------------------------------------------------------------

_BY_KIND: dict[str, Transform] = {
    "simplex": Simplex(),
    "unit_vector": UnitVector(),
    "ordered": Ordered(),
    "positive_ordered": PositiveOrdered(),
    "cholesky_factor_corr": CholeskyFactorCorr(),
    "cholesky_factor_cov": CholeskyFactorCov(),
    "corr_matrix": CorrMatrix(),
    "cov_matrix": CovMatrix(),
}


def for_declaration(
    kind: str,
    *,
    lower: bool = False,
    upper: bool = False,
    offset: bool = False,
    multiplier: bool = False,
) -> Transform:
    """The spec for a declared kind (`real`, `vector`, `simplex`, ...) and which constraints it has.

    The flags say which constraint arguments the declaration wrote; their values are passed to
    `forward`/`inverse` later, in the order of the spec's `params`.
    """
    if kind in _BY_KIND:
        if lower or upper or offset or multiplier:
            raise FitError(
                f"{kind} cannot also carry <lower/upper/offset/multiplier>; drop the constraint",
                code="fit.bad_constraint",
            )
        return _BY_KIND[kind]
    if (lower or upper) and (offset or multiplier):
        raise FitError(
            "a declaration cannot combine lower/upper with offset/multiplier; keep one pair",
            code="fit.bad_constraint",
        )
    if offset or multiplier:
        return OffsetMultiplier()
    if lower and upper:
        return LowerUpper()
    if lower:
        return Lower()
    if upper:
        return Upper()
    return Identity()
