"""The grammar proposer: every sample valid against the data, diverse, seeded, typed to the data,
and able to rewrite one block of a program while keeping the rest."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from shared_data import shared

from boxloop.data import make_task
from boxloop.errors import ProposerError
from boxloop.lang import check, parse
from boxloop.lang.canonical import blocks
from boxloop.propose import get_proposer
from boxloop.propose.grammar import GrammarProposer, Weights

DATA = shared("benchmarks", "posteriordb", "data")
LLB = shared("benchmarks", "llb")
PROGRAMS = Path(__file__).resolve().parents[1] / "programs" / "valid"
REFINESTAT = ("eight_schools", "dugongs_data", "surgical_data", "GLM_Binomial_data", "gp_pois_regr")


@pytest.fixture(scope="module")
def tasks():
    return {name: make_task(DATA / f"{name}.json") for name in REFINESTAT}


@pytest.fixture(scope="module")
def samples(tasks):
    """100 proposals per RefineStat dataset (seed 0), shared by the fast tests."""
    return {name: GrammarProposer().propose(task, n=100, seed=0) for name, task in tasks.items()}


def _assert_all_valid(task, proposals):
    data = dict(task.dataset.values)
    for p in proposals:
        assert p.accounting.tries == 1, f"the safety net rejected a sample (a grammar bug):\n{p.text}"
        result = check(p.text, data=data)
        assert result.valid, f"{[str(d) for d in result.errors]}\n{p.text}"
        assert p.valid and p.proposer == "grammar" and p.block == "program"


@pytest.mark.parametrize("name", REFINESTAT)
def test_hundred_samples_all_valid_against_the_data(name, tasks, samples):
    _assert_all_valid(tasks[name], samples[name])


@pytest.mark.slow
@pytest.mark.parametrize("name", REFINESTAT)
def test_thousand_samples_all_valid_against_the_data(name, tasks):
    _assert_all_valid(tasks[name], GrammarProposer().propose(tasks[name], n=1000, seed=1))


@pytest.mark.parametrize("name", REFINESTAT)
def test_samples_are_diverse(name, tasks, samples):
    texts = [p.text for p in samples[name]]
    assert len(set(texts)) >= 60  # measured: 85..100 of 100
    families = {m for t in texts for m in re.findall(rf"\b{tasks[name].target}(?:\[[^\]]*\])? ~ (\w+)\(", t)}
    assert len(families) >= 2, families


def test_families_fit_the_kind_of_target(samples):
    surgical = "\n".join(p.text for p in samples["surgical_data"])
    assert re.search(r"r ~ binomial(_logit)?\(n,", surgical)  # n bounds r: a trials variable
    assert not re.search(r"r ~ (normal|lognormal|student_t)\(", surgical)  # counts get count families
    dugongs = "\n".join(p.text for p in samples["dugongs_data"])
    assert not re.search(r"Y ~ (poisson|binomial|bernoulli)", dugongs)
    peregrine = "\n".join(p.text for p in samples["GLM_Binomial_data"])
    assert "C ~ binomial_logit(N," in peregrine and "year" in peregrine


def test_eight_schools_uses_the_known_standard_errors(samples):
    texts = [p.text for p in samples["eight_schools"]]
    known = [t for t in texts if re.search(r"y ~ (normal|student_t)\((\d+, )?\w+, sigma\)", t)
             or "square(sigma)" in t]
    assert len(known) >= 50  # the measurement model is the usual choice (measured 70-85%)
    assert any("theta_raw" in t for t in known) and any(re.search(r"theta ~ normal\(mu", t) for t in known)


def _texts(task, weights, n=30):
    proposals = GrammarProposer(weights).propose(task, n=n, seed=3)
    assert all(p.valid and p.accounting.tries == 1 for p in proposals)
    return "\n".join(p.text for p in proposals)


def test_rarer_structures_are_valid_when_forced(tasks):
    assert "gp_exp_quad_cov" in _texts(tasks["gp_pois_regr"], Weights(gp=1.0))
    growth = _texts(tasks["dugongs_data"], Weights(growth=1.0))
    assert "pow(lambda, x)" in growth or "exp(-k * x)" in growth or "inv_logit(k * (x" in growth
    series = _texts(tasks["GLM_Binomial_data"], Weights(latent=1.0, gp=0.0), n=20)
    assert "cumulative_sum" in series and "z[2:nyears]" in series  # latent walks / AR(1) over the years
    hierarchical = _texts(make_task(DATA / "radon_mn.json", target="log_radon"), Weights(group_slope=1.0), n=15)
    assert "[county_idx] .* " in hierarchical and "tau_a_county_idx" in hierarchical


def test_seeded_and_independent_of_n(tasks):
    task, g = tasks["dugongs_data"], GrammarProposer()
    first = [p.text for p in g.propose(task, n=5, seed=11)]
    assert first == [p.text for p in g.propose(task, n=5, seed=11)]
    assert g.propose(task, n=1, seed=11)[0].text == first[0]
    assert first != [p.text for p in g.propose(task, n=5, seed=12)]


@pytest.mark.parametrize("name", REFINESTAT)
def test_block_rewrites_keep_the_context(name, tasks):
    task, g = tasks[name], GrammarProposer()
    changed = {"prior": 0, "likelihood": 0}
    for original in g.propose(task, n=12, seed=5):
        old = blocks(parse(original.text))
        for block, kept in (("prior", ("data", "likelihood")), ("likelihood", ("data", "prior"))):
            try:
                [new] = g.propose(task, context=original.text, block=block, seed=2)
            except ProposerError as exc:  # e.g. binomial(n, theta): no other family without new parameters
                assert exc.code == "propose.cannot_rewrite" and block == "likelihood"
                continue
            assert new.valid and new.accounting.tries == 1 and new.block == block, new.text
            parts = blocks(parse(new.text))
            for piece in kept:
                assert getattr(parts, piece) == getattr(old, piece), (block, piece)
            changed[block] += getattr(parts, block) != getattr(old, block)
    assert changed["prior"] >= 10 and changed["likelihood"] >= 8, changed


@pytest.mark.parametrize("program,data", [("eight_schools_centered", "eight_schools"), ("dugongs", "dugongs_data"),
                                          ("surgical", "surgical_data"), ("peregrine_binomial", "GLM_Binomial_data"),
                                          ("radon_hierarchical_intercept", "radon_mn")])
def test_rewrites_programs_it_did_not_write(program, data):
    text = (PROGRAMS / f"{program}.stan").read_text()
    task = make_task(DATA / f"{data}.json", target=_observed(text))
    g = GrammarProposer()
    for block in ("prior", "likelihood"):
        for p in g.propose(task, context=text, block=block, n=4, seed=1):
            assert p.valid and p.accounting.tries == 1, p.text


def _observed(text: str) -> str:
    return re.findall(r"^\s*(\w+) ~ \w+\(", blocks(parse(text)).likelihood, re.M)[-1]


def test_likelihood_rewrite_refuses_when_no_family_fits(tasks):
    text = tasks["surgical_data"].data_block() + """
parameters { real<lower=0, upper=1> theta; }
model { theta ~ beta(1, 1); r ~ binomial(n, theta); }
"""
    with pytest.raises(ProposerError) as err:
        GrammarProposer().propose(tasks["surgical_data"], context=text, block="likelihood")
    assert err.value.code == "propose.cannot_rewrite"


def test_prior_rewrite_without_likelihood_writes_a_whole_program(tasks):
    task = tasks["eight_schools"]
    [p] = GrammarProposer().propose(task, context=task.data_block(), block="prior", seed=4)
    assert p.valid and blocks(parse(p.text)).likelihood


@pytest.mark.parametrize("source", ["city_temperature.json", "coin.json", "rain.json", "rain.csv"])
def test_other_shapes_of_target(source):
    task = make_task(LLB / source)  # a matrix, a scalar with trials, binary series
    for p in GrammarProposer().propose(task, n=40, seed=0):
        assert p.valid and p.accounting.tries == 1, p.text


def test_categorical_target():
    values = {"N": 40, "K": 3, "x": [0.1 * i for i in range(40)], "y": [1 + (i * 7) % 3 for i in range(40)]}
    task = make_task(values, target="y")
    texts = [p.text for p in GrammarProposer().propose(task, n=60, seed=0) if p.accounting.tries == 1]
    assert len(texts) == 60
    assert any("ordered_logistic" in t for t in texts) and any("categorical" in t for t in texts)


def test_factory_and_bad_block(tasks):
    assert isinstance(get_proposer("grammar"), GrammarProposer)
    with pytest.raises(ProposerError) as err:
        GrammarProposer().propose(tasks["surgical_data"], block="everything")
    assert err.value.code == "propose.bad_block"
    with pytest.raises(ProposerError) as err:
        get_proposer("spfn:/no/such/checkpoint.npz")
    assert err.value.code == "spfn.checkpoint_missing" and "/no/such/checkpoint.npz" in str(err.value)


_WEIBULL_RAW_X = """
parameters { real alpha; real b_x; real<lower=0> shape; }
model {
  alpha ~ normal(0, 1); b_x ~ normal(0, 1); shape ~ gamma(2, 1);
  for (i in 1:N) Y[i] ~ weibull(shape, exp(alpha + b_x * x[i]));
}
"""


def _likelihood_rewrites(task, text, n=60):
    return [p for p in GrammarProposer().propose(task, context=text, block="likelihood", n=n, seed=3)]


def test_likelihood_rewrite_moves_a_covariate_to_the_log_scale_the_data_prefer(tasks):
    task = tasks["dugongs_data"]  # dugong length grows like log(age): eda says log is better
    rewrites = _likelihood_rewrites(task, task.data_block() + _WEIBULL_RAW_X)
    assert all(p.valid for p in rewrites)
    logged = [p for p in rewrites if "log(x[i])" in p.text]
    assert len(logged) >= len(rewrites) / 3  # the data agree: the move is the likeliest one
    assert all("weibull(shape, exp(alpha + b_x * log(x[i])))" in p.text for p in logged)


def test_likelihood_rewrite_rarely_moves_a_covariate_against_the_data(tasks):
    task = tasks["dugongs_data"]
    already_logged = task.data_block() + _WEIBULL_RAW_X.replace("x[i]", "log(x[i])")
    rewrites = _likelihood_rewrites(task, already_logged)
    assert all(p.valid and "log(log(" not in p.text for p in rewrites)
    assert sum("* x[i]" in p.text for p in rewrites) <= len(rewrites) / 6


def test_a_count_that_ignored_its_trials_is_rewritten_as_binomial_mostly(tasks):
    task = tasks["GLM_Binomial_data"]
    text = task.data_block() + """
parameters { real alpha; real b; }
model {
  alpha ~ normal(0, 2); b ~ normal(0, 1);
  for (i in 1:nyears) C[i] ~ poisson_log(alpha + b * year[i]);
}
"""
    rewrites = _likelihood_rewrites(task, text, n=40)
    assert all(p.valid for p in rewrites)
    binomial = [p for p in rewrites if "C[i] ~ binomial_logit(N[i], alpha + b * year[i]);" in p.text]
    assert len(binomial) >= len(rewrites) / 2


def _table_task(columns: dict, target: str):
    import pandas as pd

    return make_task(pd.DataFrame(columns), target=target)


def test_tables_structure_reaches_the_programs():
    """Varying intercepts and slopes by a grouping factor, crossed factors, fixed effects for a
    factor with few levels, an exposure as a log offset."""
    rng = np.random.default_rng(0)
    n = 60
    subject = np.repeat(np.arange(101, 113), 5)
    rater = np.tile(list("ABCDE"), 12)
    days = np.tile(np.arange(5), 12)
    dose = np.tile(["lo", "mid", "hi"], 20)
    task = _table_task({"y": rng.normal(size=n) + days, "days": days, "subject": subject, "rater": rater,
                        "dose": dose}, "y")
    texts = [p.text for p in GrammarProposer().propose(task, n=30, seed=3)]
    assert any("a_subject[subject]" in t and "a_rater[rater]" in t for t in texts)  # crossed
    assert any("[subject] .* " in t for t in texts)  # a slope varying by subject
    assert any("append_row(0, b_dose)" in t for t in texts)  # treatment-coded few-level factor
    counts = _table_task({"deaths": rng.poisson(5, n), "person_years": rng.uniform(50, 500, n),
                          "x": rng.normal(size=n)}, "deaths")
    offsets = [p.text for p in GrammarProposer().propose(counts, n=20, seed=1)]
    assert sum("log_person_years + " in t for t in offsets) >= 10
    assert all(p.valid for p in GrammarProposer().propose(counts, n=5, seed=2))
