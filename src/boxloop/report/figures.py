"""The figures statisticians look at, each a `Figure` holding inline SVG.

Posterior predictive intervals, LOO-PIT, Pareto k per observation (hover a point: its row and k),
rank plots, the elpd comparison with error bars, and model weights with the effective number of
models. Inputs are numpy arrays and plain values; `numbers` computes, this module draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..search.average import effective_models
from . import numbers, svg

MAX_POINTS = 400  # observations drawn in per-observation figures (evenly thinned beyond)
RANK_BINS = 20
MAX_RANK_PLOTS = 6


@dataclass(frozen=True)
class Figure:
    id: str
    title: str
    caption: str
    svg: str


def thin_index(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most `limit` observations spread evenly over n."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(int))


def _thinned_note(shown: int, n: int) -> str:
    return "" if shown == n else f" ({shown} of {n} observations shown, evenly spaced)"


def ppc(y: np.ndarray, yrep: np.ndarray, name: str) -> Figure:
    """Observed values against the 50 % and 90 % posterior predictive intervals of each one."""
    idx = thin_index(y.size)
    q = numbers.predictive_intervals(yrep[:, idx])
    obs = y[idx]
    xs = np.arange(1, idx.size + 1)
    f = svg.frame_for(np.r_[0.5, xs[-1] + 0.5], np.r_[q.lo90, q.hi90, obs])
    outside = (obs < q.lo90) | (obs > q.hi90)
    marks = [svg.axes(f, "observation", name, xticks=_index_ticks(idx))]
    for x, lo, hi, lo50, hi50 in zip(xs, q.lo90, q.hi90, q.lo50, q.hi50):
        marks.append(svg.vsegment(f, x, lo, hi, "pp90"))
        marks.append(svg.vsegment(f, x, lo50, hi50, "pp50"))
    for x, row, v, out in zip(xs, idx, obs, outside):
        marks.append(svg.point(f, x, v, "obs out" if out else "obs", data={"row": row + 1, "value": _fmt(v)}))
    caption = (f"Each observation of {name} (dot) against the model's posterior predictive 50 % (thick) and 90 % "
               f"(thin) intervals; {int(outside.sum())} of {idx.size} dots fall outside their 90 % interval "
               f"(about {0.1 * idx.size:.0f} expected){_thinned_note(idx.size, y.size)}.")
    return Figure("fig-ppc", "Posterior predictive check", caption,
                  svg.document(f, "Posterior predictive check", "".join(marks), figure_id="svg-ppc"))


def _index_ticks(idx: np.ndarray) -> list[int]:
    ticks = svg.nice_ticks(1, idx.size, 6)
    return [t for t in ticks if float(t).is_integer() and 1 <= t <= idx.size]


def loo_pit(pit: np.ndarray) -> Figure:
    """ECDF of the LOO-PIT values minus the uniform CDF, inside the pointwise 95 % band."""
    grid = np.linspace(0, 1, 101)
    diff = numbers.ecdf_difference(pit, grid)
    half = numbers.uniform_band(pit.size, grid)
    f = svg.frame_for([0, 1], np.r_[diff, half, -half])
    marks = [svg.axes(f, "LOO-PIT value", "ECDF − uniform"), svg.band(f, grid, -half, half, "ppband"),
             svg.hline(f, 0.0, "ref"), svg.polyline(f, grid, diff, "pit")]
    outside = float(np.mean(np.abs(diff) > half))
    caption = ("How the leave-one-out predictive distribution places each observation: a calibrated model gives "
               "uniform values, so the line stays inside the grey 95 % band around zero. A line above the band in "
               "the middle means predictions too wide; an S-shape below then above, too narrow. "
               f"{pit.size} observations; the line leaves the band at {outside:.0%} of the grid.")
    return Figure("fig-pit", "LOO-PIT", caption, svg.document(f, "LOO-PIT", "".join(marks), figure_id="svg-pit"))


def pareto_k(k: np.ndarray, good_k: float, rows: list[str] | None = None) -> Figure:
    """Pareto k of each observation's PSIS-LOO weights; hovering a point shows its row and k."""
    n = k.size
    idx = thin_index(n)
    f = svg.frame_for(np.r_[0.5, n + 0.5], np.r_[k, 0.0, 1.0])
    marks = [svg.axes(f, "observation", "Pareto k"), svg.hline(f, 0.7, "limit", "0.7"),
             svg.hline(f, good_k, "limit soft", f"{good_k:.2f}") if good_k < 0.69 else ""]
    for i in idx:
        cls = "kpt bad" if k[i] > 0.7 else ("kpt warn" if k[i] > good_k else "kpt")
        data = {"row": i + 1, "k": f"{k[i]:.2f}"}
        if rows is not None:
            data["values"] = rows[i]
        marks.append(svg.point(f, i + 1, k[i], cls, data=data))
    bad = int(np.sum(k > 0.7))
    caption = (f"Pareto k of each observation's leave-one-out importance weights (hover a point for its row). "
               f"Above 0.7 the PSIS-LOO estimate for that observation is unreliable: {bad} of {n} "
               f"({bad / max(n, 1):.0%}); the reliability check allows 20 %{_thinned_note(idx.size, n)}.")
    return Figure("fig-k", "Pareto k per observation", caption,
                  svg.document(f, "Pareto k per observation", "".join(marks), figure_id="svg-k"))


def rank_plots(draws: dict[str, np.ndarray]) -> Figure:
    """Rank histograms per chain for up to MAX_RANK_PLOTS scalar quantities, side by side."""
    names = list(draws)[:MAX_RANK_PLOTS]
    width, height = 190, 130
    cols = 3
    rows = (len(names) + cols - 1) // cols
    panels = []
    for j, name in enumerate(names):
        counts = numbers.rank_counts(draws[name], RANK_BINS)
        chains, draws_per = draws[name].shape
        expect = draws_per / RANK_BINS
        f = svg.Frame(0, RANK_BINS, 0, max(float(counts.max()), expect) * 1.1, width=width, height=height,
                      margin=(30, 6, 18, 20))
        body = [svg.axes(f, "", "", xticks=[], yticks=svg.nice_ticks(0, f.y1, 3)), svg.hline(f, expect, "ref"),
                svg.text(width / 2, 12, name, "ptitle", "middle")]
        for c in range(chains):
            xs = np.repeat(np.arange(RANK_BINS + 1), 2)[1:-1]
            body.append(svg.polyline(f, xs, np.repeat(counts[c], 2), f"chain c{c % 8}"))
        panels.append(f'<g transform="translate({(j % cols) * width},{(j // cols) * height})">{"".join(body)}</g>')
    total = svg.Frame(0, 1, 0, 1, width=cols * width, height=max(rows, 1) * height)
    caption = ("Rank plots: the draws of all chains ranked together, histogrammed per chain (one line per chain). "
               "Chains that explore the same distribution give flat lines around the dashed expected count; a "
               "chain above or below the others did not mix." + (
                   f" The first {len(names)} of {len(draws)} quantities." if len(draws) > len(names) else ""))
    return Figure("fig-rank", "Rank plots", caption,
                  svg.document(total, "Rank plots", "".join(panels), figure_id="svg-rank"))


def elpd_comparison(rows: list[tuple[str, float, float, bool]]) -> Figure:
    """elpd_loo ± 1 se per model (label, elpd, se, chosen), best at the top."""
    rows = sorted(rows, key=lambda r: -r[1])
    height = 40 + 26 * len(rows)
    lo = [e - 2 * s for _, e, s, _ in rows]
    hi = [e + 2 * s for _, e, s, _ in rows]
    f = svg.frame_for(np.r_[lo, hi], [0, len(rows) + 1], height=height, margin=(120, 16, 10, 40))
    marks = [svg.axes(f, "elpd_loo (higher predicts better)", "", yticks=[])]
    for i, (label, e, s, chosen) in enumerate(rows):
        y = len(rows) - i
        marks.append(svg.hsegment(f, y, e - 2 * s, e + 2 * s, "err2"))
        marks.append(svg.hsegment(f, y, e - s, e + s, "err"))
        marks.append(svg.point(f, e, y, "elpd chosen" if chosen else "elpd", data={"model": label,
                                                                              "elpd": f"{e:.2f} ± {s:.2f}"}))
        marks.append(svg.text(f.margin[0] - 6, float(f.y(y)) + 4, label, "tick", "end"))
    caption = ("Expected log predictive density (PSIS-LOO) of each reliable model, with ±1 and ±2 standard errors; "
               "the chosen model is filled. Differences smaller than about two standard errors of the difference "
               "are not a reason to prefer one model.")
    return Figure("fig-elpd", "elpd comparison", caption,
                  svg.document(f, "elpd comparison", "".join(marks), figure_id="svg-elpd"))


def weights(named: dict[str, dict[str, float]]) -> Figure:
    """Bars of each weighting (stacking, pseudo-BMA+, evidence) per model, with 1 / sum w^2."""
    kinds = list(named)
    models = sorted({m for w in named.values() for m in w})
    height = 40 + 18 * len(models) * max(len(kinds), 1) + 8 * len(models)
    f = svg.Frame(0, 1, 0, 1, height=height, margin=(120, 60, 10, 40))
    marks = [svg.axes(f, "weight", "", yticks=[])]
    row_h = (f.height - f.margin[2] - f.margin[3]) / max(len(models), 1)
    for i, m in enumerate(models):
        top = f.margin[2] + i * row_h
        marks.append(svg.text(f.margin[0] - 6, top + row_h / 2 + 4, m, "tick", "end"))
        for j, kind in enumerate(kinds):
            w = float(named[kind].get(m, 0.0))
            y = top + 4 + j * (row_h - 8) / len(kinds)
            h = (row_h - 8) / len(kinds) - 2
            x1 = float(f.x(w))
            marks.append(f'<rect class="bar k{j}" x="{f.margin[0]}" y="{y:.1f}" width="{max(x1 - f.margin[0], 0.5):.1f}"'
                         f' height="{max(h, 1):.1f}" data-model="{m}" data-weight="{w:.3f}" data-kind="{kind}"/>')
            marks.append(svg.text(x1 + 3, y + h - 1, f"{w:.2f}", "note"))
    eff = {kind: effective_models(w.values()) for kind, w in named.items()}
    legend = "; ".join(f"{kind} (shade {j + 1}): effective number of models {eff[kind]:.2f}"
                       for j, kind in enumerate(kinds))
    caption = ("Model weights. The effective number of models, 1 / Σ w², is 1 when one model takes all the weight "
               f"and the number of models when they share it evenly. {legend}.")
    return Figure("fig-weights", "Model weights", caption,
                  svg.document(f, "Model weights", "".join(marks), figure_id="svg-weights"))


def _fmt(v: float) -> str:
    return f"{v:.4g}"
