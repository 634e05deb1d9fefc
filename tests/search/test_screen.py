"""The screening rule (search.screen) on constructed numbers: who is promoted, who is screened out,
and the evidence weight bound against the weights the run would compute from full fits."""

import math

import numpy as np
import pytest

from boxloop.diagnose import Diagnostics
from boxloop.diagnose.psis import LooResult
from boxloop.infer.nuts import NutsSettings
from boxloop.infer.pathfinder import PathfinderSettings
from boxloop.search.average import evidence_weights
from boxloop.search.records import FitRecord
from boxloop.search.screen import (PAYS_AFTER, UNKNOWN_CHANCE, ScreenRule, decide, elpd_reference,
                                   evidence_reference, evidence_weight_bound, screen_settings, screening_pays, screens,
                                   se_difference, within_reach)

N_OBS = 20


def _pointwise(total: float, spread: float = 0.3, seed: int = 0) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0.0, spread, N_OBS)
    return total / N_OBS + noise - noise.mean()


def _diagnostics(elpd: float, *, rhat=1.0, pareto_ok=True, pointwise=None, score=7) -> Diagnostics:
    pointwise = _pointwise(elpd) if pointwise is None else pointwise
    se = float(math.sqrt(N_OBS * np.var(pointwise)))
    checks = {"rhat": True, "ess_bulk": True, "ess_tail": True, "divergences": True, "bfmi": True, "loo": True,
              "pareto_k": pareto_ok}
    loo = LooResult(elpd_loo=elpd, elpd_loo_se=se, p_loo=2.0, n_samples=300, good_k=0.7,
                    elpd_loo_i=pointwise, pareto_k=np.full(N_OBS, 0.2 if pareto_ok else 0.9))
    return Diagnostics(rhat_max=rhat, ess_bulk_min=400.0, ess_tail_min=400.0, divergences=0, bfmi_min=1.0,
                       pareto_k_bad_frac=0.0 if pareto_ok else 0.5, elpd_loo=elpd, elpd_loo_se=se, p_loo=2.0,
                       score=score, reliable=score >= 5, rhat_excellent=True, checks=checks,
                       failed=() if pareto_ok else ("pareto_k",), reasons={}, bfmi=(1.0, 1.0), n_chains=2,
                       n_draws=150, loo=loo)


def _evidence(log_z: float, se: float = 0.05, k: float | None = 0.3, method: str = "is") -> dict:
    return {"log_evidence": log_z, "se": se, "method": method, "n_draws": 300, "pareto_k": k,
            "reliable": k is None or k <= 0.7, "warnings": []}


def _fit(h: str, elpd: float, log_z: float = -40.0, *, fidelity="screen", status="ok", code=None, **kw) -> FitRecord:
    ev_kw = {k: kw.pop(k) for k in ("evidence_k", "method") if k in kw}
    return FitRecord(key=h, structural_hash=h, data_hash="d", settings_hash="s", program=f"program {h}",
                     status=status, code=code, diagnostics=_diagnostics(elpd, **kw) if status == "ok" else None,
                     evidence=_evidence(log_z, k=ev_kw.get("evidence_k", 0.3), method=ev_kw.get("method", "is"))
                     if status == "ok" else None,
                     fidelity=fidelity)


BEST = _fit("best", -30.0, -40.0, fidelity="full")
FULL = {"best": BEST}


def _decide(rec, multiplicity=1, averaging=True, final=True, full=FULL, mult=None):
    mult = mult or {h: 1 for h in full}
    return decide(rec, multiplicity, elpd_reference(full, 5), evidence_reference(full, mult, 5),
                  averaging=averaging, final=final, rule=ScreenRule())


def test_a_candidate_far_below_the_best_is_screened_out():
    far = _fit("far", -80.0, -95.0)
    decision = _decide(far)
    assert decision.promote is False
    assert "below the best full fit" in decision.reason and decision.weight_bound < 1e-10
    assert _decide(far, averaging=False).promote is False  # best-of-n: the choice alone decides


def test_a_candidate_within_reach_is_promoted():
    close = _fit("close", -31.0, -41.0)
    assert _decide(close).promote is True
    assert _decide(close, averaging=False, final=False).promote is True
    better = _fit("better", -25.0, -39.0)
    assert _decide(better).promote is True


def test_an_untrustworthy_screen_is_promoted_however_far_below():
    for rec, words in ((_fit("k", -80.0, -95.0, pareto_ok=False), "Pareto k"),
                       (_fit("r", -80.0, -95.0, rhat=1.4), "R-hat"),
                       (_fit("e", -80.0, -95.0, evidence_k=1.2), "evidence"),
                       (_fit("f", -80.0, status="failed", code="fit.bad_init"), "failed")):
        decision = _decide(rec)
        assert decision.promote is True and words in decision.reason, (rec.structural_hash, decision)
    # An unreliable evidence estimate does not matter when the run does not average...
    assert _decide(_fit("e", -80.0, -95.0, evidence_k=1.2), averaging=False).promote is False
    # ...but Pathfinder's heavy-tailed weights say its draws, and so its elpd, are off.
    decision = _decide(_fit("p", -80.0, -95.0, evidence_k=0.9, method="pathfinder"), averaging=False)
    assert decision.promote is True and "Pathfinder approximation" in decision.reason
    assert _decide(_fit("p", -80.0, -95.0, evidence_k=0.5, method="pathfinder"), averaging=False).promote is False


def test_a_promotion_is_queued_by_its_chance_of_beating_the_best():
    # P(elpd + margin > elpd_best): 1/2 exactly `margin` below the best, more above, less below;
    # a screen that says nothing (untrusted) sits at 1/2.
    at_margin = _decide(_fit("m", -32.0, pointwise=_pointwise(-32.0, seed=1)))
    assert at_margin.promote and at_margin.priority == pytest.approx(0.5, abs=1e-12)
    chances = [_decide(_fit(f"c{e}", e, pointwise=_pointwise(e, seed=2))).priority for e in (-33.5, -31.0, -29.0)]
    assert 0.0 < chances[0] < 0.5 < chances[1] < chances[2] < 1.0
    assert _decide(_fit("k", -80.0, pareto_ok=False)).priority == UNKNOWN_CHANCE


def test_a_screen_that_timed_out_is_not_promoted():
    decision = _decide(_fit("t", 0.0, status="failed", code="fit.timeout"))
    assert decision.promote is False and "timeout" in decision.reason


def test_without_a_reference_the_screen_is_held():
    assert _decide(_fit("a", -31.0), full={}).held


def test_an_evidence_bound_waits_for_the_final_multiplicities():
    # Out of elpd reach but with a log evidence near the best: held until proposing ends.
    rec = _fit("near_z", -45.0, -41.0)
    assert _decide(rec, final=False).held
    assert _decide(rec, final=True).promote is True  # bound ~ 1/(1 + e^-1) >> 1 %
    low = _fit("low_z", -45.0, -50.0)
    assert _decide(low, final=True).promote is False
    # Proposed often enough, the same evidence can carry weight: multiplicity counts in the bound.
    assert _decide(low, multiplicity=5000, final=True).promote is True


def test_the_paired_se_is_smaller_than_the_unpaired_one_for_similar_models():
    ref = _pointwise(-30.0, spread=1.0, seed=1)
    close = ref + np.random.default_rng(2).normal(0.0, 0.05, N_OBS)
    paired = se_difference(close, ref, 4.0, 4.0)
    assert paired < 1.0 < se_difference(None, ref, 4.0, 4.0) == pytest.approx(math.hypot(4.0, 4.0))


def test_within_reach_uses_the_margin_and_z_times_se_diff():
    ref = elpd_reference(FULL, 5)
    rule = ScreenRule(z=2.0, margin=2.0)
    pointwise = BEST.diagnostics.loo.elpd_loo_i - 3.5 / N_OBS  # the same shape, 3.5 nats lower: se_diff 0
    assert within_reach(-33.5, 1.0, pointwise, ref, rule)[0] is False
    assert within_reach(-33.5, 1.0, pointwise, ref, ScreenRule(margin=4.0))[0] is True


@pytest.mark.parametrize("gap", [1.0, 3.0, 6.0, 10.0])
def test_the_weight_bound_covers_the_weight_from_full_fits(gap):
    """Whatever the other models are, the weight the full fits give is below the bound as long as the
    full-fit log evidence is within the margin of the screen's."""
    rule = ScreenRule()
    rng = np.random.default_rng(int(gap))
    screen_z = -40.0 - gap
    full_z = screen_z + rng.uniform(-rule.evidence_margin, rule.evidence_margin)
    others = {f"m{j}": -40.0 - rng.uniform(0, 8) for j in range(5)}
    mult = {"ref": 2, "cand": 1, **{m: 1 for m in others}}
    weights = evidence_weights({"ref": -40.0, "cand": full_z, **others}, mult)
    ref = evidence_reference({"ref": _fit("ref", -30.0, -40.0, fidelity="full")}, mult, 5)
    bound = evidence_weight_bound(screen_z, 0.05, 1, ref, rule)
    assert weights["cand"] <= bound
    assert bound == pytest.approx(1 / (1 + math.exp(-40.0 + math.log(2) - (screen_z + 2.0 + 2 * 0.05))))


def test_the_references_only_count_reliable_full_fits():
    unreliable = _fit("u", -10.0, -20.0, fidelity="full", score=3)
    full = {"best": BEST, "u": unreliable}
    assert elpd_reference(full, 5).hash == "best"
    assert evidence_reference(full, {"best": 1, "u": 1}, 5).hash == "best"
    bad_z = _fit("bz", -29.0, -10.0, fidelity="full", evidence_k=1.5)
    assert evidence_reference({"best": BEST, "bz": bad_z}, {"best": 1, "bz": 1}, 5).hash == "best"


def test_screen_settings_and_when_auto_screens():
    short = screen_settings(NutsSettings(chains=4, warmup=1000, draws=1000, target_accept=0.9), "nuts")
    assert (short.chains, short.warmup, short.draws, short.target_accept) == (2, 150, 150, 0.9)
    assert screen_settings(NutsSettings(chains=1, warmup=100, draws=50), "nuts").chains == 1
    assert screen_settings(NutsSettings()) == PathfinderSettings()
    assert screens("auto", "average", 16, 16) and not screens("auto", "average", 15, 16)
    assert not screens("auto", "refine", 100, 16) and not screens("off", "average", 100, 16)
    assert screens("auto", "best-of-n", 0, 0) and screens("on", "average", 16, 16)


def test_auto_judges_whether_screening_pays():
    assert screening_pays([9.0] * (PAYS_AFTER - 1), [10.0], 0)[0]  # too few screens to judge
    assert screening_pays([3.0] * 8, [10.0] * 5, promoted=2)[0]  # 3 + 0.25 x 10 < 10
    pays, why = screening_pays([9.0] * 8, [10.0] * 5, promoted=6)  # 9 + 0.75 x 10 > 10
    assert not pays and "16.5 s per structure screened against 10.0 s" in why


# ---- the loop's holding and settling, with synthetic fits (no JAX) -------------------------------


def _synthetic(fidelity):
    """A fit job whose elpd is read off the program's marker comment (`// elpd=-30`)."""

    def job(fit_job):
        from boxloop.search.fit_task import FitOutcome

        elpd = float(fit_job.program.split("elpd=")[1].split()[0])
        # Pointwise values differ between models (a seed from the elpd), as real ones do.
        pointwise = _pointwise(elpd, seed=int(round(abs(elpd) * 10)))
        return FitOutcome("ok", diagnostics=_diagnostics(elpd, pointwise=pointwise, score=7 if fidelity == "full" else 5))

    return job


def _loop(tmp_path, programs, executor=None, **config):
    import search_helpers as h

    from boxloop.data import make_task
    from boxloop.search.config import SearchConfig
    from boxloop.search.driver import run_search
    from boxloop.search.fitter import FitPlan, Fitter
    from boxloop.search.proposals import ProposalSource
    from boxloop.search.store import RunStore

    config = SearchConfig(strategy="best-of-n", budget=len(programs), settings=NutsSettings(chains=1), **config)
    task = make_task(dict(h.TINY_DATA))
    store = RunStore(tmp_path / "run")
    store.begin_run("c", command="test", strategy=config.strategy, proposer="fixed", seed=0, data_hash="d",
                    target="y", config={})
    plan = FitPlan(dict(task.dataset.values), "d", config.settings, "full-settings", None, 10.0)
    screen = FitPlan(dict(task.dataset.values), "d", config.settings, "screen-settings", None, 10.0)
    fitter = Fitter(plan, store, executor or h.InlineExecutor(), None, _synthetic("full"), screen=screen,
                    screen_fn=_synthetic("screen"))
    decided = []
    session = run_search(config, ProposalSource(h.FixedProposer(programs), task, store, "c", 0), fitter,
                         slots=1, on_decision=lambda digest, d: decided.append((digest, d.promote)))
    return store, fitter, session, decided


def test_auto_stops_screening_where_it_does_not_pay(tmp_path):
    import search_helpers as h

    # Every job "takes" the same 0.01 s here and every screen is within reach (promoted): a
    # screen then only adds its own cost, so after PAYS_AFTER screens auto stops screening.
    programs = [h.tiny(scale, marker=f"elpd={-30.0 - scale / 100}") for scale in range(1, PAYS_AFTER + 4)]
    store, fitter, session, decided = _loop(tmp_path, programs, screen="auto", screen_after=1)
    with store:
        assert fitter.counts()["screens_executed"] == PAYS_AFTER
        assert fitter.counts()["fits_executed"] == len(programs)
        assert session.screening_stopped.startswith(f"screening stopped after {PAYS_AFTER} screens")
    store, fitter, session, decided = _loop(tmp_path / "on", programs, screen="on", screen_after=1)
    with store:
        assert fitter.counts()["screens_executed"] == len(programs) - 1 and session.screening_stopped is None


def test_the_loop_holds_screens_until_a_reference_exists_then_decides_them(tmp_path):
    import search_helpers as h

    scores = {1: -90.0, 2: -31.0, 3: -30.0, 4: -95.0}
    programs = [h.tiny(scale, marker=f"elpd={e}") for scale, e in scores.items()]
    store, fitter, session, decided = _loop(tmp_path, programs, screen="on", screen_after=0)
    with store:
        by_elpd = {scores[scale]: digest for scale, digest in zip(scores, session.first_seen)}
        # Every screen waited (no reliable full fit); the best (-30) was promoted alone, then the
        # rule decided the rest against its full fit: -31 within reach, -90 and -95 out of it.
        assert decided[0] == (by_elpd[-30.0], True)
        assert dict(decided) == {by_elpd[-30.0]: True, by_elpd[-31.0]: True, by_elpd[-90.0]: False,
                                 by_elpd[-95.0]: False}
        assert {h_ for h_, r in session.fits.items() if r is not None} == {by_elpd[-30.0], by_elpd[-31.0]}
        assert fitter.counts()["screens_executed"] == 4 and fitter.counts()["fits_executed"] == 2
        assert sorted(r.fidelity for r in store.fits()) == ["full", "full", "screen", "screen", "screen", "screen"]


def test_queued_full_fits_start_likeliest_winner_first(tmp_path):
    import search_helpers as h

    # All five screens wait for a reference; the best (-30) is promoted alone, then its full fit
    # decides the rest at once: -31.5 takes the free slot, and of the two left queued -30.5 (more
    # likely to beat -30) starts before -31, though -31 was proposed and decided first.
    scores = {1: -90.0, 2: -31.5, 3: -31.0, 4: -30.5, 5: -30.0}
    programs = [h.tiny(scale, marker=f"elpd={e}") for scale, e in scores.items()]
    executor = h.QueuedInlineExecutor()
    store, fitter, session, decided = _loop(tmp_path, programs, screen="on", screen_after=0, executor=executor)
    with store:
        by_hash = {digest: scores[scale] for scale, digest in zip(scores, session.first_seen)}
        order = [by_hash[rec.structural_hash] for rec in sorted(
            (r for r in store.fits() if r.fidelity == "full"), key=lambda r: executor.ran.index(r.key))]
        assert order == [-30.0, -31.5, -30.5, -31.0], order
