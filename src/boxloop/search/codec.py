"""Diagnostics to JSON and back, including the pointwise PSIS-LOO values.

The run store keeps a fit's `Diagnostics` as JSON. Reading it back must give an object that
`diagnose.compare` accepts, so the pointwise LOO terms (elpd_loo_i, Pareto k) travel too.
"""

from __future__ import annotations

import json
import math

import numpy as np

from ..diagnose import Diagnostics
from ..diagnose.psis import LooResult  # compare() needs it; diagnose does not re-export it

_FLOATS = ("rhat_max", "ess_bulk_min", "ess_tail_min", "bfmi_min", "pareto_k_bad_frac", "elpd_loo",
           "elpd_loo_se", "p_loo")


def diagnostics_to_json(d: Diagnostics) -> str:
    body = d.to_dict()
    if d.loo is not None:
        body["loo_pointwise"] = {
            "elpd_loo": _num(d.loo.elpd_loo), "elpd_loo_se": _num(d.loo.elpd_loo_se), "p_loo": _num(d.loo.p_loo),
            "n_samples": d.loo.n_samples, "good_k": _num(d.loo.good_k),
            "elpd_loo_i": [_num(v) for v in d.loo.elpd_loo_i], "pareto_k": [_num(v) for v in d.loo.pareto_k],
        }
        if d.loo.rows is not None:
            body["loo_pointwise"].update(rows=[int(r) for r in d.loo.rows], subsampling_se=_num(d.loo.subsampling_se))
    return json.dumps(body)


def diagnostics_from_json(text: str | None) -> Diagnostics | None:
    if not text:
        return None
    body = json.loads(text)
    loo = _loo(body.pop("loo_pointwise", None))
    for name in _FLOATS:
        body[name] = _float(body.get(name))
    body["failed"] = tuple(body.get("failed", ()))
    body["bfmi"] = tuple(_float(v) for v in body.get("bfmi", ()))
    return Diagnostics(**body, loo=loo)


def _loo(body: dict | None) -> LooResult | None:
    if body is None:
        return None
    return LooResult(
        elpd_loo=_float(body["elpd_loo"]), elpd_loo_se=_float(body["elpd_loo_se"]), p_loo=_float(body["p_loo"]),
        n_samples=int(body["n_samples"]), good_k=_float(body["good_k"]),
        elpd_loo_i=np.array([_float(v) for v in body["elpd_loo_i"]]),
        pareto_k=np.array([_float(v) for v in body["pareto_k"]]),
        rows=np.array(body["rows"], dtype=int) if body.get("rows") is not None else None,
        subsampling_se=_float(body.get("subsampling_se", 0.0)))


def _num(value):
    """JSON has no NaN: store None, read back NaN."""
    value = float(value)
    return value if math.isfinite(value) else None


def _float(value) -> float:
    return float("nan") if value is None else float(value)
