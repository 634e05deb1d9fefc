"""Multi-fidelity search: a cheap first look at every structure, full NUTS only where it can matter.

Why: with many proposals per problem most distinct structures are far from the best, and a full
fit (4 chains x 1000 + 1000 draws, then the log evidence, the posterior predictive and the draws
file) is spent on programs that can neither be chosen nor carry weight in the average.

The screen. Each new distinct structure is first fitted cheaply (`screen_settings`): by default
Pathfinder (`infer.pathfinder`: 4 L-BFGS paths, 256 importance-resampled draws from each), or a
short NUTS run (2 chains x 150 warmup + 150 draws, the configured target acceptance and tree
depth); then PSIS-LOO on those draws and an importance-sampling estimate of log p(x | M) with its
standard error and Pareto k (Pathfinder's always, NUTS's when the run averages by evidence;
`screen_task`). Nothing else is computed or kept.

The reference. `r`: the reliable (B(M) >= zeta) fully fitted candidate with the highest elpd_loo
so far. The run's final choice is the reliable full fit with the highest elpd_loo, so its elpd is
never below elpd_r: the reference only improves as full fits come in. For the evidence weights,
`e`: the reliable full fit with a reliable evidence estimate of highest log(k_e) + log p(x | M_e)
(k: multiplicity), which also only improves (full fits are added, multiplicities only grow).

The promotion rule. A screened candidate i gets a full fit when any of these holds:
1. its screen cannot be trusted (`trust_problem`): the screen fit failed for a reason a full fit
   may not share, PSIS-LOO was not computed or not finite, the Pareto k check failed, R-hat
   above `rhat_max` (for Pathfinder: its paths' resampled draws disagree), Pathfinder's importance
   weights have Pareto k above 0.7 (the Gaussian approximations are far from the posterior, as in
   a funnel), or (averaging) its evidence estimate is missing or unreliable;
2. it could be chosen, or is within statistical reach of the reference (`within_reach`):
       elpd_i + margin + z * se_diff(i, r) >= elpd_r
   where se_diff is the paired standard error of the pointwise difference,
   sqrt(n * var_j(elpd_r,j - elpd_i,j)), when both have pointwise values over the same n
   observations (else sqrt(se_i^2 + se_r^2)), and `margin` (nats) covers the Monte Carlo and
   short-warmup error of the screen's elpd (checked against full fits in docs/benchmarks.md);
3. (averaging) an upper bound on its evidence weight is at least `min_weight` (1 %):
       w_i = k_i Z_i / sum_m k_m Z_m <= k_i Z_i^hi / (k_i Z_i^hi + k_e Z_e) = 1 / (1 + exp(L_e - L_i^hi))
   with L = log k + log Z and log Z_i^hi = log Z_i + evidence_margin + z * se(log Z_i). The pool of
   the final weights contains e, and every other term only adds to the denominator, so this
   bounds the weight i would get with a full fit, as long as its full-fit log evidence is below
   log Z_i^hi. The bound is made with the final multiplicities, once proposing has ended.
A candidate none of these promotes is `screened_out`, with the rule's numbers as its reason, and
so is one whose screen ran out of time or memory (`FINAL_FAILURES`: the full fit is longer and
larger, so it would fail the same way).
Exclusions are final: both references only improve, so a later full fit can never bring a
screened-out candidate back within reach. With no reference yet (no reliable full fit), screens
are held; when nothing else is left to do, the held screen with the highest elpd is promoted, one
at a time, until a reference exists.

Scheduling. Promoted candidates' full fits wait in the executor's queue (local pool or Ray) by
their chance of beating the reference, P(elpd_i + margin > elpd_r) with the difference normal
around the screen's estimate and sd se_diff (`chance_of_best`); one promoted by an evidence bound,
by that bound; one whose screen cannot be trusted, or that has no reference yet, at 1/2. The
likeliest new reference is fitted first, so held screens are settled, and later ones ruled out,
sooner: the order changes how many full fits a run needs, not what it can choose.

Stacking weights are not bounded by a per-model number (a model that is poor overall may still
predict a few observations no other model does), nor pseudo-BMA+ and flat weights beyond rule 2:
they are computed over the fully fitted candidates only, and the benchmark reports how far they
move (`benchmarks/throughput.py`).

Everything here is pure: numbers in, decisions out; the loop (`driver`) applies them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..diagnose.evidence import PARETO_K_LIMIT
from .records import FitRecord

SCREEN_MODES = ("auto", "on", "off")
PAYS_AFTER = 8  # screens measured before `auto` judges whether screening pays
# The queue priority of a full fit whose screen says nothing about its chances (not trusted, or no
# reference yet): between a likely and an unlikely winner.
UNKNOWN_CHANCE = 0.5
# Failures a longer fit cannot avoid (it runs longer and holds more draws): not worth a full fit.
FINAL_FAILURES = frozenset({"fit.timeout", "fit.out_of_memory"})


@dataclass(frozen=True)
class ScreenRule:
    """The constants of the promotion rule (see the module docstring)."""

    z: float = 2.0
    margin: float = 2.0  # nats of elpd_loo the screen may be off by
    evidence_margin: float = 2.0  # nats of log evidence the screen may be off by
    min_weight: float = 0.01
    rhat_max: float = 1.1  # short chains: looser than the reliability check's 1.05


@dataclass(frozen=True)
class Decision:
    """What the rule says about one screened candidate. promote None: held (no reference yet,
    or an evidence bound that waits for the final multiplicities)."""

    promote: bool | None
    reason: str
    weight_bound: float | None = None  # the evidence weight bound, when one was made
    # A promoted candidate's full fit is queued by this: the chance it matters (`promotion_priority`)
    priority: float = 0.0

    @property
    def held(self) -> bool:
        return self.promote is None

    def to_dict(self) -> dict:
        return {"decision": "held" if self.held else ("promoted" if self.promote else "screened_out"),
                "reason": self.reason, "weight_bound": self.weight_bound}


@dataclass(frozen=True)
class Reference:
    """The fully fitted candidate a screen is measured against."""

    hash: str
    elpd: float
    se: float
    pointwise: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class EvidenceReference:
    hash: str
    log_weight: float  # log k + log p(x | M)


def screen_settings(full, method: str = "pathfinder"):
    """A screen's settings: Pathfinder's defaults (4 paths, 256 draws kept from each), or the short
    NUTS run, 2 chains (fewer if the run has fewer) x 150 + 150."""
    if method == "pathfinder":
        from ..infer.pathfinder import PathfinderSettings

        return PathfinderSettings()
    return dataclasses.replace(full, chains=min(2, full.chains), warmup=min(150, full.warmup),
                               draws=min(150, full.draws))


def screens(mode: str, strategy: str, distinct_index: int, after: int) -> bool:
    """Whether the distinct structure number `distinct_index` (0-based, in proposal order) may be
    screened. `on` and `auto`: for the one-shot strategies (average, best-of-n) once `after`
    structures have had full fits; refine's lineages rewrite from each fit's full diagnostics, so it
    never screens. The first `after` full fits give the rule its reference and cost what a small
    run costs anyway: a run of up to `after` structures is never screened. (`auto` also stops
    screening once it does not pay: `screening_pays`.)"""
    return mode in ("auto", "on") and strategy in ("average", "best-of-n") and distinct_index >= after


def screening_pays(screen_seconds: list[float], full_seconds: list[float], promoted: int) -> tuple[bool, str]:
    """Whether screening saves time, from what it has cost so far: with a screen of s seconds, a
    full fit of f and a share p of screens promoted, a structure costs s + p f screened and f not,
    so screening pays while s + p f < f. Judged after PAYS_AFTER screens (until then: it pays). A
    NUTS screen compiles its own sampler, so where compiling dominates a fit (small data, small
    models) s is close to f and it cannot pay; a Pathfinder screen compiles only the log density
    and its gradient."""
    n = len(screen_seconds)
    if n < PAYS_AFTER or not full_seconds:
        return True, "not judged yet"
    s = sum(screen_seconds) / n
    f = sum(full_seconds) / len(full_seconds)
    p = promoted / n
    pays = s + p * f < f
    return pays, (f"a screen took {s:.1f} s, a full fit {f:.1f} s, and {p:.0%} of {n} screens were promoted: "
                  f"{s + p * f:.1f} s per structure screened against {f:.1f} s fully fitted")


# ---- trust --------------------------------------------------------------------------------------


def trust_problem(rec: FitRecord, needs_evidence: bool, rule: ScreenRule) -> str | None:
    """Why the screen's estimates cannot be relied on to screen the candidate out (None: they can)."""
    if not rec.ok:
        return f"the screen fit failed [{rec.code}]"
    d = rec.diagnostics
    if d is None or d.loo is None or not math.isfinite(d.elpd_loo) or not math.isfinite(d.elpd_loo_se):
        return "PSIS-LOO was not computed on the screen draws"
    if not d.checks.get("pareto_k", False):
        return f"the screen's Pareto k check failed ({d.pareto_k_bad_frac:.0%} of observations with k > 0.7)"
    if not (d.rhat_max <= rule.rhat_max):
        return f"the screen chains did not mix (R-hat {d.rhat_max:.2f} > {rule.rhat_max})"
    ev = rec.evidence_estimate
    if ev is not None and ev.method == "pathfinder" and not (ev.pareto_k <= PARETO_K_LIMIT):
        return (f"the Pathfinder approximation is far from the posterior (importance weights' Pareto k "
                f"{ev.pareto_k:.2f} > {PARETO_K_LIMIT})")
    if needs_evidence:
        if ev is None or not ev.reliable or ev.se is None or not math.isfinite(ev.se):
            return "the screen's evidence estimate is missing or unreliable"
    return None


def final_failure(rec: FitRecord) -> bool:
    """A screen that failed in a way the longer full fit would too."""
    return not rec.ok and rec.code in FINAL_FAILURES


# ---- references ---------------------------------------------------------------------------------


def elpd_reference(full: Mapping[str, FitRecord], zeta: int) -> Reference | None:
    """The reliable full fit with the highest elpd_loo (None: none yet)."""
    reliable = [(h, r) for h, r in full.items() if r.reliable(zeta) and math.isfinite(r.elpd_loo)]
    if not reliable:
        return None
    h, r = max(reliable, key=lambda hr: hr[1].elpd_loo)
    loo = r.diagnostics.loo
    return Reference(h, r.elpd_loo, r.elpd_loo_se, None if loo is None else np.asarray(loo.elpd_loo_i, dtype=float))


def evidence_reference(full: Mapping[str, FitRecord], multiplicity: Mapping[str, int],
                       zeta: int) -> EvidenceReference | None:
    """The reliable full fit with a reliable evidence estimate of highest log k + log Z."""
    from .average import evidence_problem

    best = None
    for h, r in full.items():
        if not r.reliable(zeta) or evidence_problem(r.evidence) is not None or not math.isfinite(r.log_evidence):
            continue
        value = math.log(max(multiplicity.get(h, 1), 1)) + r.log_evidence
        if best is None or value > best.log_weight:
            best = EvidenceReference(h, value)
    return best


# ---- the two measures ---------------------------------------------------------------------------


def se_difference(candidate: np.ndarray | None, reference: np.ndarray | None, se_candidate: float,
                  se_reference: float) -> float:
    """Standard error of elpd_r - elpd_i: paired over observations when both have pointwise values
    for the same observations (the usual LOO comparison), else as if independent."""
    if candidate is not None and reference is not None and np.shape(candidate) == np.shape(reference):
        diff = np.asarray(reference, dtype=float) - np.asarray(candidate, dtype=float)
        if diff.size > 1 and np.all(np.isfinite(diff)):
            return float(math.sqrt(diff.size * np.var(diff, ddof=1)))
    return float(math.hypot(se_candidate, se_reference))


def within_reach(elpd: float, se: float, pointwise: np.ndarray | None, ref: Reference,
                 rule: ScreenRule) -> tuple[bool, str]:
    """Rule 2: could the candidate's full-fit elpd reach the reference's, or lie within z se of it?"""
    sd = se_difference(pointwise, ref.pointwise, se, ref.se)
    gap = ref.elpd - elpd
    reach = rule.margin + rule.z * sd
    return gap <= reach, f"elpd_loo {gap:.2f} below the best full fit {ref.hash[:8]} (reach {reach:.2f} = " \
                         f"{rule.margin:g} + {rule.z:g} x se_diff {sd:.2f})"


def chance_of_best(elpd: float, se: float, pointwise: np.ndarray | None, ref: Reference,
                   rule: ScreenRule) -> float:
    """How likely the candidate's full fit beats the reference: P(elpd_i + margin > elpd_r) with the
    difference normal around the screen's estimate, sd se_diff. Full fits are started in this
    order, so the ones likeliest to become the reference come first and settle the held screens
    (and rule later ones out) sooner."""
    sd = max(se_difference(pointwise, ref.pointwise, se, ref.se), 1e-12)
    return float(0.5 * math.erfc(-(elpd + rule.margin - ref.elpd) / (sd * math.sqrt(2.0))))


def evidence_weight_bound(log_evidence: float, se: float, multiplicity: int, ref: EvidenceReference,
                          rule: ScreenRule) -> float:
    """Rule 3's upper bound on the candidate's evidence weight, 1 / (1 + exp(L_e - L_i^hi))."""
    high = math.log(max(multiplicity, 1)) + log_evidence + rule.evidence_margin + rule.z * se
    return float(1.0 / (1.0 + math.exp(min(ref.log_weight - high, 700.0))))


# ---- the decision -------------------------------------------------------------------------------


def decide(rec: FitRecord, multiplicity: int, ref: Reference | None, ev_ref: EvidenceReference | None, *,
           averaging: bool, final: bool, rule: ScreenRule = ScreenRule()) -> Decision:
    """The rule applied to one screen. `final`: proposing has ended (multiplicities are final), so
    an evidence bound can be made; before that a candidate the first two rules do not promote is
    held when the run averages."""
    if final_failure(rec):
        return Decision(False, f"the screen fit failed [{rec.code}]; a full fit runs longer and holds more")
    problem = trust_problem(rec, averaging, rule)
    if problem is not None:
        return Decision(True, problem, priority=UNKNOWN_CHANCE)
    if ref is None:
        return Decision(None, "no reliable full fit to compare with yet", priority=UNKNOWN_CHANCE)
    d = rec.diagnostics
    pointwise = np.asarray(d.loo.elpd_loo_i, dtype=float)
    reach, why = within_reach(d.elpd_loo, d.elpd_loo_se, pointwise, ref, rule)
    if reach:
        return Decision(True, why, priority=chance_of_best(d.elpd_loo, d.elpd_loo_se, pointwise, ref, rule))
    if not averaging:
        return Decision(False, why)
    if not final:
        return Decision(None, why + "; its evidence weight is bounded once proposing has ended")
    if ev_ref is None:
        return Decision(True, why + "; no reliable evidence to bound its weight against")
    ev = rec.evidence_estimate
    bound = evidence_weight_bound(ev.log_evidence, ev.se, multiplicity, ev_ref, rule)
    text = f"{why}; evidence weight at most {bound:.2%} against {ev_ref.hash[:8]}"
    return Decision(bound >= rule.min_weight, text, bound, priority=bound)
