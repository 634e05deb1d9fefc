"""Interval arithmetic for the support analysis (phi-5).

Every function returns an interval guaranteed to contain the result; when in doubt it widens,
never narrows, so the checker only rejects what it has proved.
"""

from __future__ import annotations

import math

import numpy as np

from .types import INF, REAL_LINE, Interval


def point(x: float, integer: bool = False) -> Interval:
    x = _as_float(x)
    return Interval(x, x, True, True, integer)


def _as_float(x) -> float:
    # An integer literal can be longer than any float (the checker reports it as too large for
    # Stan); its interval is then the infinity on its side.
    try:
        return float(x)
    except OverflowError:
        return INF if x > 0 else -INF


def of_values(values) -> Interval:
    """The tightest interval holding every element of a numeric array (the data's own range)."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0 or not np.all(np.isfinite(arr)):
        return REAL_LINE
    integer = bool(np.all(arr == np.round(arr)))
    return Interval(float(arr.min()), float(arr.max()), True, True, integer)


def hull(a: Interval, b: Interval) -> Interval:
    """The smallest interval containing both."""
    if a.is_empty:
        return b
    if b.is_empty:
        return a
    lo, lo_closed = min((a.lo, not a.lo_closed), (b.lo, not b.lo_closed))
    hi, hi_closed = max((a.hi, a.hi_closed), (b.hi, b.hi_closed))
    return Interval(lo, hi, not lo_closed, hi_closed, a.integer and b.integer)


def meet(a: Interval, b: Interval) -> Interval:
    """The intersection (used where two facts hold at once, e.g. a declared bound and a definition)."""
    lo, lo_closed = max((a.lo, not a.lo_closed), (b.lo, not b.lo_closed))
    hi, hi_closed = min((a.hi, a.hi_closed), (b.hi, b.hi_closed))
    return Interval(lo, hi, not lo_closed, hi_closed, a.integer or b.integer)


def neg(a: Interval) -> Interval:
    return Interval(-a.hi, -a.lo, a.hi_closed, a.lo_closed, a.integer)


def add(a: Interval, b: Interval) -> Interval:
    return Interval(
        _sum(a.lo, b.lo, -INF), _sum(a.hi, b.hi, INF),
        a.lo_closed and b.lo_closed, a.hi_closed and b.hi_closed, a.integer and b.integer,
    )


def sub(a: Interval, b: Interval) -> Interval:
    return add(a, neg(b))


def _sum(x: float, y: float, if_undefined: float) -> float:
    s = x + y
    return if_undefined if math.isnan(s) else s


def mul(a: Interval, b: Interval) -> Interval:
    ends = [(_prod(x, y), xc and yc) for x, xc in _ends(a) for y, yc in _ends(b)]
    lo = min(ends, key=lambda e: (e[0], not e[1]))
    hi = max(ends, key=lambda e: (e[0], e[1]))
    return Interval(lo[0], hi[0], lo[1], hi[1], a.integer and b.integer)


def _ends(a: Interval):
    return ((a.lo, a.lo_closed), (a.hi, a.hi_closed))


def _prod(x: float, y: float) -> float:
    # 0 * inf arises only at an open end that is never reached; 0 is the honest limit.
    return 0.0 if (x == 0 or y == 0) else x * y


def div(a: Interval, b: Interval) -> Interval:
    # A divisor that only touches 0 at its end gives +-inf there, outside every finite support, so
    # the one-signed rule still holds for the values that matter.
    if b.lo >= 0 and b.hi > 0:
        return mul(a, _reciprocal_positive(b))
    if b.hi <= 0 and b.lo < 0:
        return neg(mul(a, _reciprocal_positive(neg(b))))
    return REAL_LINE


def _reciprocal_positive(b: Interval) -> Interval:
    lo = 0.0 if math.isinf(b.hi) else 1.0 / b.hi
    hi = INF if b.lo == 0 else 1.0 / b.lo
    return Interval(lo, hi, b.hi_closed and not math.isinf(b.hi) and b.hi != 0, b.lo_closed and b.lo != 0)


def power(a: Interval, b: Interval) -> Interval:
    """x ^ y: integer powers, and nonnegative powers of a base in [0, 1] (a probability stays one)
    or of at least 1; otherwise only the sign of a nonnegative base."""
    if _is_point(b) and b.lo == int(b.lo) and not math.isinf(b.lo):
        return _int_power(a, int(b.lo))
    if a.lo >= 0 and b.lo >= 0 and (a.hi <= 1 or a.lo >= 1):
        return _monotone_power(a, b)
    if a.lo > 0 or (a.lo == 0 and not a.lo_closed):
        return Interval(0.0, INF, False, False)
    if a.lo >= 0:
        return Interval(0.0, INF, True, False)
    return REAL_LINE


def _pow(x: float, y: float) -> float:
    if math.isinf(y):
        return 0.0 if x < 1 else (1.0 if x == 1 else INF)
    return _safe(lambda t: t ** y, x)


def _monotone_power(a: Interval, b: Interval) -> Interval:
    """x ^ y for x, y >= 0 with x on one side of 1: increasing in x, and in y decreasing below 1,
    increasing above, so the ends come from opposite or matching corners of the box."""
    small = a.hi <= 1
    lo_y, hi_y = ((b.hi, b.hi_closed), (b.lo, b.lo_closed)) if small else ((b.lo, b.lo_closed), (b.hi, b.hi_closed))
    lo, hi = _pow(a.lo, lo_y[0]), _pow(a.hi, hi_y[0])
    # x ^ 0 = 1 for every x: that end is reached whenever the exponent reaches 0.
    hi_closed = (a.hi_closed and hi_y[1]) or (small and b.lo == 0 and b.lo_closed)
    lo_closed = (a.lo_closed and lo_y[1] and not math.isinf(lo_y[0])) or (not small and b.lo == 0 and b.lo_closed)
    return Interval(lo, hi, lo_closed and not math.isinf(lo), hi_closed and not math.isinf(hi))


def _int_power(a: Interval, k: int) -> Interval:
    if k == 0:
        return point(1.0)
    if k == 1:
        return a
    if k > 0 and k % 2 == 0:
        m = abs_(a)
        return Interval(_pow(m.lo, k), _pow(m.hi, k), m.lo_closed, m.hi_closed, a.integer)
    if k > 0:
        return Interval(_pow(a.lo, k), _pow(a.hi, k), a.lo_closed, a.hi_closed, a.integer)
    return div(point(1.0), _int_power(a, -k))


def _pow(x: float, k: int) -> float:
    """x ** k for a positive integer k, infinite (with its sign) where a float overflows."""
    try:
        return x ** k
    except OverflowError:
        return -INF if (x < 0 and k % 2) else INF


def abs_(a: Interval) -> Interval:
    if a.lo >= 0:
        return a
    if a.hi <= 0:
        return neg(a)
    hi, hi_closed = max((-a.lo, a.lo_closed), (a.hi, a.hi_closed))
    return Interval(0.0, hi, True, hi_closed, a.integer)


def _is_point(a: Interval) -> bool:
    return a.lo == a.hi and a.lo_closed and a.hi_closed


def monotone(f, a: Interval, increasing: bool = True) -> Interval:
    """Image of `a` under a monotone function `f` defined on all of `a` (e.g. exp, inv_logit)."""
    lo, hi = _safe(f, a.lo), _safe(f, a.hi)
    if not increasing:
        return Interval(hi, lo, a.hi_closed, a.lo_closed)
    return Interval(lo, hi, a.lo_closed, a.hi_closed)


def _safe(f, x: float) -> float:
    try:
        return float(f(x))
    except (OverflowError, ValueError, ZeroDivisionError):
        return INF if x > 0 else -INF


def excess(value: Interval, support: Interval) -> bool:
    """True when `value` reaches beyond `support` on a set of positive length.

    A parameter-dependent argument that only touches a boundary point (abs(x) as a scale reaching 0)
    is not rejected: the sampler visits that point with probability zero.
    """
    below = value.lo < support.lo and not (value.lo == -INF and support.lo == -INF)
    above = value.hi > support.hi and not (value.hi == INF and support.hi == INF)
    if value.integer:  # integers only reach beyond on whole points, which is what counts for them
        return not support.contains(value)
    return below or above
