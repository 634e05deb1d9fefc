"""Diagnostics choose the block; lineages follow RefineStat's α/β schedule; LLB weights."""

import math

import numpy as np
import pytest

from boxloop.search.average import evidence_weights, flat_weights, mixture_elpd
from boxloop.search.config import SearchConfig
from boxloop.search.moves import choose_block, preferred_blocks
from boxloop.search.records import FitRecord
from boxloop.search.refine import Lineage, OneShotPolicy, RefinePolicy


@pytest.mark.parametrize("failed, first", [
    (("divergences",), "noncentre"), (("bfmi",), "noncentre"), (("rhat", "ess_bulk"), "centre"),
    (("ess_tail",), "centre"), (("divergences", "rhat"), "noncentre"),  # a funnel first
    (("pareto_k",), "likelihood"), (("loo", "pareto_k"), "likelihood"),
    (("divergences", "pareto_k"), "noncentre"),  # geometry first: Pareto k from bad draws means little
    ((), "likelihood"),  # all passed: explore another likelihood while alpha allows
])
def test_failed_checks_point_at_a_block(failed, first):
    assert preferred_blocks("ok", None, failed)[0] == first


def test_geometry_tries_the_other_parameterisation_once_then_priors():
    kw = dict(likelihood_used=0, prior_used=0, alpha=2, prior_max=2)
    assert choose_block("ok", None, ("divergences",), **kw) == "noncentre"
    assert choose_block("ok", None, ("divergences",), reparameterised=True, **kw) == "prior"


def test_fit_failures():
    assert preferred_blocks("failed", "fit.timeout", ()) == ("prior",)
    assert preferred_blocks("failed", "fit.bad_init", ()) == ("prior",)
    assert preferred_blocks("failed", "fit.crashed", ()) == ()
    assert preferred_blocks("failed", "fit.compile_failed", ()) == ()


def test_alpha_then_priors():
    kw = dict(alpha=2, prior_max=2)
    assert choose_block("ok", None, ("pareto_k",), likelihood_used=1, prior_used=0, **kw) == "likelihood"
    assert choose_block("ok", None, ("pareto_k",), likelihood_used=2, prior_used=0, **kw) == "prior"
    assert choose_block("ok", None, ("pareto_k",), likelihood_used=2, prior_used=2, **kw) is None
    assert choose_block("ok", None, ("divergences",), likelihood_used=0, prior_used=2, reparameterised=True,
                        **kw) == "likelihood"
    assert choose_block("ok", None, (), likelihood_used=2, prior_used=0, **kw) is None


class _D:  # the parts of Diagnostics the policy reads
    def __init__(self, score, failed, elpd=-10.0):
        self.score, self.failed, self.elpd_loo, self.elpd_loo_se = score, failed, elpd, 1.0


def _rec(h, score, failed, status="ok", code=None, elpd=-10.0):
    return FitRecord(key=h, structural_hash=h, data_hash="d", settings_hash="s", program=f"program {h}",
                     status=status, code=code, diagnostics=_D(score, failed, elpd) if status == "ok" else None)


def test_refine_lineage_rewrites_from_its_best_program():
    policy = RefinePolicy(SearchConfig(alpha=2, prior_rewrites=2, duplicate_retries=1))
    root = Lineage(0)
    centred = _rec("a", 3, ("divergences", "rhat", "ess_bulk", "bfmi"))
    step0 = policy.after_fit(root, centred)
    assert (step0.block, step0.depth, step0.prior_rewrites, step0.reparameterised) == ("noncentre", 1, 0, True)
    step1 = policy.after_fit(step0, _rec("n", 2, ("divergences", "bfmi")))
    assert (step1.block, step1.depth, step1.prior_rewrites) == ("prior", 2, 1)
    assert step1.request().context == "program a" and step1.request().parent_hash == "a"
    worse = _rec("b", 2, ("divergences", "rhat", "ess_bulk", "bfmi", "pareto_k"))
    step2 = policy.after_fit(step1, worse)
    assert step2.base.structural_hash == "a" and step2.block == "prior"  # reverted to the better base
    fixed = _rec("c", 7, ())
    step3 = policy.after_fit(step2, fixed)
    assert step3.block == "likelihood" and step3.base.structural_hash == "c"
    assert policy.after_duplicate(step3).attempt == 1
    assert policy.after_duplicate(policy.after_duplicate(step3)) is None
    done = policy.after_fit(Lineage(0, 4, "likelihood", 0, 2, 2, fixed), _rec("d", 7, ()))
    assert done is None  # alpha and prior rewrites used up


def test_one_shot_policy_never_rewrites():
    policy = OneShotPolicy()
    assert policy.after_fit(Lineage(0), _rec("a", 2, ("divergences",))) is None
    assert policy.after_duplicate(Lineage(0)) is None


def test_llb_weights():
    w = evidence_weights({"a": -10.0, "b": -10.0 + math.log(3), "c": math.nan}, {"a": 1, "b": 1, "c": 5})
    assert w == pytest.approx({"a": 0.25, "b": 0.75})
    w = evidence_weights({"a": -10.0, "b": -10.0}, {"a": 3, "b": 1})  # multiplicity counts
    assert w == pytest.approx({"a": 0.75, "b": 0.25})
    assert flat_weights({"a": 3, "b": 1}) == pytest.approx({"a": 0.75, "b": 0.25})


def test_mixture_elpd():
    pointwise = {"a": np.log([0.5, 0.1]), "b": np.log([0.1, 0.5])}
    assert mixture_elpd({"a": 1.0, "b": 0.0}, pointwise) == pytest.approx(np.log(0.05))
    assert mixture_elpd({"a": 0.5, "b": 0.5}, pointwise) == pytest.approx(2 * np.log(0.3))
    assert mixture_elpd({}, pointwise) is None


def test_a_block_the_proposer_cannot_rewrite_switches_to_the_other():
    from boxloop.search.records import ProposalRecord

    policy = RefinePolicy(SearchConfig(alpha=2, prior_rewrites=2))
    lineage = Lineage(0, 1, "likelihood", 0, 1, 0, _rec("a", 6, ("pareto_k",)))
    refused = ProposalRecord(slot="s", lineage=0, depth=1, block="likelihood", attempt=0, parent_hash="a",
                             proposer="grammar", text="", valid=False, structural_hash=None,
                             error="[propose.cannot_rewrite] no family to change")
    switched = policy.after_invalid(lineage, refused)
    assert (switched.block, switched.prior_rewrites, switched.attempt) == ("prior", 1, 0)
    assert policy.after_invalid(lineage, None).attempt == 1  # a plain invalid proposal is redrawn


def test_a_program_with_no_group_to_switch_goes_on_to_its_priors():
    from boxloop.search.records import ProposalRecord

    policy = RefinePolicy(SearchConfig(alpha=2, prior_rewrites=2))
    base = _rec("a", 5, ("divergences",))
    lineage = policy.after_fit(Lineage(0), base)
    refused = ProposalRecord(slot="s", lineage=0, depth=1, block="noncentre", attempt=0, parent_hash="a",
                             proposer="noncentre", text="", valid=False, structural_hash=None,
                             error="[propose.cannot_rewrite] no hierarchical normal group to noncentre")
    nxt = policy.after_invalid(lineage, refused)
    assert (nxt.block, nxt.depth, nxt.prior_rewrites, nxt.base.structural_hash) == ("prior", 1, 1, "a")


def test_run_rate_counts_programs_not_declined_requests():
    from boxloop.search.records import ProposalRecord
    from boxloop.search.result import run_rate

    def prop(text, valid, digest, error=None):
        return ProposalRecord(slot=text, lineage=0, depth=0, block="program", attempt=0, parent_hash=None,
                              proposer="p", text=text, valid=valid, structural_hash=digest, error=error)

    fits = {"a": _rec("a", 6, ()), "b": _rec("b", 0, (), status="failed", code="fit.compile_failed"), "c": None}
    proposals = [prop("A", True, "a"), prop("A2", True, "a"), prop("B", True, "b"), prop("bad", False, None),
                 prop("C", True, "c"), prop("", False, None, error="[propose.cannot_rewrite] no")]
    assert run_rate(proposals, fits) == pytest.approx(2 / 4)  # C never finished; the decline wrote nothing
