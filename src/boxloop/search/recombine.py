"""A run's fits weighted one way or another, with what each weighting needs said beside it.

The same code weights a run as it finishes (`result`) and afterwards (`boxloop average`), so a
finished run recombined under the weighting it used gives back the weights it printed.

The pool: reliable fits (B(M) >= zeta) whose pointwise PSIS-LOO covers the same observations as
the best one (elpd_loo of models of different observations cannot be compared). A fit that fails
the diagnostics is left out of every weighting: its draws, and so its evidence, are not trusted.

Evidence weights leave out, and name, every model whose evidence estimate is unreliable
(`average.evidence_problem`): weights are exponential in log p(x | M), so one estimate that is
too high by a few nats would quietly take all the weight. The others are renormalised; the
left-out models are listed in `Weighting.excluded` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..diagnose import compare
from ..errors import BoxloopError
from .average import effective_models, evidence_problem, evidence_weights, flat_weights, mixture_elpd
from .records import FitRecord

# the command line's names -> the keys a run stores its weights under
SCHEMES = {"evidence": "evidence", "stacking": "stacking", "pseudo-bma": "pseudo_bma_plus", "flat": "flat"}


@dataclass(frozen=True)
class Weighting:
    """One weighting of the pool. `excluded`: model -> why it got no weight (evidence only)."""

    scheme: str  # a SCHEMES value
    weights: dict[str, float]
    excluded: dict[str, str] = field(default_factory=dict)
    mixture_elpd: float | None = None  # PSIS-LOO elpd of the weighted mixture

    @property
    def effective_models(self) -> float:
        return effective_models(self.weights.values())


def comparable_pool(records: Mapping[str, FitRecord], zeta: int) -> list[str]:
    """The reliable fits with pointwise LOO over the same observations as the best one."""
    reliable = {h: r for h, r in records.items() if r.reliable(zeta) and math.isfinite(r.elpd_loo)}
    if not reliable:
        return []
    best = max(reliable, key=lambda h: reliable[h].elpd_loo)
    n_obs = reliable[best].diagnostics.loo.n_obs
    return [h for h, r in reliable.items() if r.diagnostics.loo is not None and r.diagnostics.loo.n_obs == n_obs]


def loo_comparison(pool: list[str], records: Mapping[str, FitRecord]) -> tuple:
    """diagnose.compare over the pool (stacking and pseudo-BMA+ weights with it); () for none."""
    return tuple(compare({h: records[h].diagnostics for h in pool})) if pool else ()


def weigh(scheme: str, pool: list[str], records: Mapping[str, FitRecord], multiplicity: Mapping[str, int],
          comparison: tuple) -> Weighting:
    """The pool weighted by `scheme` (a SCHEMES value), with the mixture's PSIS-LOO elpd."""
    excluded: dict[str, str] = {}
    if scheme == "evidence":
        excluded = {h: why for h in pool if (why := evidence_problem(records[h].evidence)) is not None}
        weights = evidence_weights({h: records[h].log_evidence for h in pool if h not in excluded},
                                   {h: multiplicity.get(h, 1) for h in pool})
    elif scheme == "flat":
        weights = flat_weights({h: multiplicity.get(h, 1) for h in pool})
    elif scheme == "stacking":
        weights = {r.name: r.weight_stacking for r in comparison}
    elif scheme == "pseudo_bma_plus":
        weights = {r.name: r.weight_pseudo_bma_plus for r in comparison}
    else:
        raise ValueError(f"unknown weighting {scheme!r}; use one of {', '.join(SCHEMES.values())}")
    pointwise = {h: records[h].diagnostics.loo.elpd_loo_i for h in pool}
    return Weighting(scheme, weights, excluded, mixture_elpd(weights, pointwise))


def run_weights(pool: list[str], records: Mapping[str, FitRecord], multiplicity: Mapping[str, int],
                comparison: tuple, averaging: bool) -> dict:
    """The `weights` a run reports and stores: stacking and pseudo-BMA+ always; with averaging,
    evidence and flat too, the mixtures' PSIS-LOO elpd, 1 / sum w^2, and the evidence left out."""
    schemes = ("stacking", "pseudo_bma_plus") + (("evidence", "flat") if averaging else ())
    done = {s: weigh(s, pool, records, multiplicity, comparison) for s in schemes}
    out = {s: w.weights for s, w in done.items()}
    if averaging:
        out["mixture_elpd_loo"] = {s: w.mixture_elpd for s, w in done.items()}
        out["effective_models"] = {s: w.effective_models for s, w in done.items()}
        out["evidence_excluded"] = done["evidence"].excluded
    return out


class AverageError(BoxloopError):
    """A finished run cannot be averaged as asked (no evidence stored, no reliable model)."""

    code = "average.failed"
