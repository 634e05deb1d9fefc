"""Which block to rewrite, read off the diagnostics that failed (DESIGN §6).

RefineStat's released loop rewrites on a fixed schedule (the likelihood twice, then ever deeper
prior truncations) whatever the diagnostics say. Here the failed checks choose:
- sampler geometry (divergences, low E-BFMI, high R-hat, low bulk/tail ESS) points at P: the
  priors' scales and the parameterisation shape the posterior geometry. Before a new prior, the
  same model is tried once in the other parameterisation (`propose.reparameterise`): a funnel
  (divergences, low E-BFMI) asks for non-centred groups, poor mixing without one (R-hat, ESS)
  for centred ones, as data-rich groups need;
- predictive trouble (many Pareto k > 0.7, or LOO not computable) points at L: observations the
  likelihood cannot accommodate;
- when both fail, geometry comes first: Pareto k computed from draws that did not mix mean little;
- a fit that failed outright by timeout, bad initial values or a sampler error points at P too
  (a posterior NUTS cannot traverse); one that failed to compile or crashed gets a new program;
- a program that passed every check still has its likelihood rewritten while α allows, as
  RefineStat does: an alternative likelihood may predict better.
The pointed-at block comes first; the other block is the fallback once the first is used up
(α likelihood rewrites, then priors, as in Algorithm 1).
"""

from __future__ import annotations

from ..propose.reparameterise import DIRECTIONS

GEOMETRY = frozenset({"divergences", "bfmi", "rhat", "ess_bulk", "ess_tail"})
FUNNEL = frozenset({"divergences", "bfmi"})
REPARAMETERISE = DIRECTIONS  # blocks that rewrite no block: the same model, reparameterised
PREDICTIVE = frozenset({"pareto_k", "loo"})
GEOMETRY_FAILURES = frozenset({"fit.timeout", "fit.bad_init", "fit.sampler_failed"})


def preferred_blocks(status: str, code: str | None, failed: tuple[str, ...]) -> tuple[str, ...]:
    """Blocks worth rewriting, best first; () means: write a new program instead."""
    if status != "ok":
        return ("prior",) if code in GEOMETRY_FAILURES else ()
    failed_set = set(failed)
    if failed_set & GEOMETRY:
        return ("noncentre" if failed_set & FUNNEL else "centre", "prior", "likelihood")
    if failed_set & PREDICTIVE:
        return ("likelihood", "prior")
    return ("likelihood",)


def choose_block(status: str, code: str | None, failed: tuple[str, ...], *, likelihood_used: int,
                 prior_used: int, alpha: int, prior_max: int, reparameterised: bool = False) -> str | None:
    """The block to rewrite next, or None when the lineage should end (nothing left to try). A
    lineage switches its parameterisation at most once."""
    left = {"likelihood": likelihood_used < alpha, "prior": prior_used < prior_max,
            **{move: not reparameterised for move in REPARAMETERISE}}
    return next((block for block in preferred_blocks(status, code, failed) if left[block]), None)
