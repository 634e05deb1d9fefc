"""Posterior summaries as people read them: factor levels beside the elements they index, and
the fixed-width table `fit` and `discover` print."""

from __future__ import annotations

import math


def labelled_summary(summary: dict, source: str, columns) -> dict:
    """The summary with `label` ("Batch = C") on each element indexed by a factor's levels."""
    if not columns:
        return summary
    from .report import level_labels

    labels = level_labels(source, columns)
    return {name: {**stats, "label": labels[name]} if name in labels else stats for name, stats in summary.items()}


def summary_rows(summary: dict) -> list[str]:
    """The posterior summary as text, each labelled element followed by its level."""
    width = max([16] + [len(n) + 2 for n in summary])
    rows = [f"{'parameter':<{width}}{'mean':>10}{'sd':>10}{'mcse':>10}{'ess_bulk':>10}{'rhat':>8}"]
    for name, s in summary.items():
        rows.append(f"{name:<{width}}" + "".join(format_number(s.get(k), w, p) for k, w, p in (
            ("mean", 10, 3), ("sd", 10, 3), ("mcse_mean", 10, 3), ("ess_bulk", 10, 0), ("rhat", 8, 3)))
            + (f"  ({s['label']})" if s.get("label") else ""))
    return rows


def format_number(x, width: int, places: int) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return f"{'-':>{width}}"
    return f"{x:>{width}.{places}f}"
