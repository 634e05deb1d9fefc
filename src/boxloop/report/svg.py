"""Inline SVG from numbers: a plotting frame with axes and ticks, and a few marks.

Every function returns SVG text; nothing is drawn by a library, so the report opens offline and
each mark carries the attributes the page's script reads (`data-*` for hover).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass

import numpy as np

WIDTH, HEIGHT = 560, 260
MARGIN = (56, 16, 28, 44)  # left, right, top, bottom


@dataclass(frozen=True)
class Frame:
    """Maps data coordinates (x0..x1, y0..y1) to pixels inside the margins of a width x height box."""

    x0: float
    x1: float
    y0: float
    y1: float
    width: int = WIDTH
    height: int = HEIGHT
    margin: tuple = MARGIN

    def x(self, v) -> np.ndarray:
        left, right = self.margin[0], self.width - self.margin[1]
        return left + (np.asarray(v, dtype=float) - self.x0) / _span(self.x0, self.x1) * (right - left)

    def y(self, v) -> np.ndarray:
        top, bottom = self.margin[2], self.height - self.margin[3]
        return bottom - (np.asarray(v, dtype=float) - self.y0) / _span(self.y0, self.y1) * (bottom - top)


def _span(a: float, b: float) -> float:
    return (b - a) if b != a else 1.0


def frame_for(xs, ys, *, pad: float = 0.05, **kw) -> Frame:
    """A frame around the finite values of xs and ys, padded by `pad` of their range."""
    x0, x1 = _range(xs, pad)
    y0, y1 = _range(ys, pad)
    return Frame(x0, x1, y0, y1, **kw)


def _range(values, pad: float) -> tuple[float, float]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return 0.0, 1.0
    lo, hi = float(v.min()), float(v.max())
    if lo == hi:
        lo, hi = lo - 0.5, hi + 0.5
    d = (hi - lo) * pad
    return lo - d, hi + d


def nice_ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten) covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo] if math.isfinite(lo) else []
    raw = (hi - lo) / max(n, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step) * step
    count = int(math.floor((hi - first) / step + 1e-9)) + 1
    return [round(first + i * step, 12) for i in range(count)]


def tick_label(v: float) -> str:
    return f"{v:g}" if abs(v) < 1e5 else f"{v:.1e}"


def axes(f: Frame, xlabel: str = "", ylabel: str = "", *, xticks=None, yticks=None) -> str:
    """The two axes, their ticks and labels, and light grid lines."""
    left, bottom = f.margin[0], f.height - f.margin[3]
    right, top = f.width - f.margin[1], f.margin[2]
    parts = [f'<g class="axes"><line x1="{left}" y1="{bottom}" x2="{right}" y2="{bottom}"/>',
             f'<line x1="{left}" y1="{top}" x2="{left}" y2="{bottom}"/>']
    for v in nice_ticks(f.x0, f.x1) if xticks is None else xticks:
        x = float(f.x(v))
        parts.append(f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}"/>'
                     f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle">{tick_label(v)}</text>')
    for v in nice_ticks(f.y0, f.y1) if yticks is None else yticks:
        y = float(f.y(v))
        parts.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}"/>'
                     f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick_label(v)}</text>')
    if xlabel:
        parts.append(f'<text class="label" x="{(left + right) / 2:.1f}" y="{f.height - 8}" '
                     f'text-anchor="middle">{html.escape(xlabel)}</text>')
    if ylabel:
        parts.append(f'<text class="label" transform="rotate(-90)" x="{-(top + bottom) / 2:.1f}" y="14" '
                     f'text-anchor="middle">{html.escape(ylabel)}</text>')
    parts.append("</g>")
    return "".join(parts)


def document(f: Frame, title: str, body: str, *, figure_id: str) -> str:
    """One <svg> element with an accessible title."""
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="figure" id="{figure_id}" role="img" '
            f'viewBox="0 0 {f.width} {f.height}" width="{f.width}" height="{f.height}">'
            f"<title>{html.escape(title)}</title>{body}</svg>")


def polyline(f: Frame, xs, ys, cls: str) -> str:
    xs, ys = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(f.x(xs[keep]), f.y(ys[keep])))
    return f'<polyline class="{cls}" points="{points}"/>'


def band(f: Frame, xs, lo, hi, cls: str) -> str:
    """A filled area between two curves over xs."""
    xs = np.asarray(xs, dtype=float)
    upper = [f"{a:.1f},{b:.1f}" for a, b in zip(f.x(xs), f.y(hi))]
    lower = [f"{a:.1f},{b:.1f}" for a, b in zip(f.x(xs[::-1]), f.y(np.asarray(lo, dtype=float)[::-1]))]
    return f'<polygon class="{cls}" points="{" ".join(upper + lower)}"/>'


def hline(f: Frame, y: float, cls: str, label: str = "") -> str:
    py = float(f.y(y))
    text = (f'<text class="note" x="{f.width - f.margin[1] - 2}" y="{py - 3:.1f}" text-anchor="end">'
            f"{html.escape(label)}</text>") if label else ""
    return f'<line class="{cls}" x1="{f.margin[0]}" y1="{py:.1f}" x2="{f.width - f.margin[1]}" y2="{py:.1f}"/>{text}'


def vsegment(f: Frame, x: float, y0: float, y1: float, cls: str) -> str:
    px = float(f.x(x))
    return f'<line class="{cls}" x1="{px:.1f}" y1="{float(f.y(y0)):.1f}" x2="{px:.1f}" y2="{float(f.y(y1)):.1f}"/>'


def hsegment(f: Frame, y: float, x0: float, x1: float, cls: str) -> str:
    py = float(f.y(y))
    return f'<line class="{cls}" x1="{float(f.x(x0)):.1f}" y1="{py:.1f}" x2="{float(f.x(x1)):.1f}" y2="{py:.1f}"/>'


def point(f: Frame, x: float, y: float, cls: str, r: float = 3.5, data: dict | None = None) -> str:
    attrs = "".join(f' data-{k}="{html.escape(str(v))}"' for k, v in (data or {}).items())
    return f'<circle class="{cls}" cx="{float(f.x(x)):.1f}" cy="{float(f.y(y)):.1f}" r="{r}"{attrs}/>'


def rect(f: Frame, x0: float, x1: float, y0: float, y1: float, cls: str) -> str:
    px0, px1 = sorted((float(f.x(x0)), float(f.x(x1))))
    py0, py1 = sorted((float(f.y(y0)), float(f.y(y1))))
    return (f'<rect class="{cls}" x="{px0:.1f}" y="{py0:.1f}" width="{px1 - px0:.1f}" '
            f'height="{max(py1 - py0, 0.5):.1f}"/>')


def text(x: float, y: float, words: str, cls: str = "note", anchor: str = "start") -> str:
    return f'<text class="{cls}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{html.escape(words)}</text>'
