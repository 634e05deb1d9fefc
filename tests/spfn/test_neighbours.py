"""Likelihood twins: each of the corpus's likelihood forms becomes its similar family and back,
as a checked program; a parameter the old likelihood alone read goes with it, one still read
elsewhere stays; the proposer follows a network program with its twin."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxloop.data import make_task
from boxloop.lang import check, structural_hash, to_stan
from boxloop.spfn.neighbours import likelihood_swaps
from boxloop.spfn.proposer import TWIN_LABEL, SPFNProposer

DATA = "data { int<lower=0> N; vector[N] x; array[N] int<lower=0> c; vector<lower=0>[N] z; vector[N] y; }\n"
PAIRS = [  # (outcome, program body, the twin's distribution)
    ("y", "parameters { real a; real<lower=0> s; } model { a ~ normal(0, 1); s ~ normal(0, 1); "
          "y ~ normal(a + x, s); }", "student_t"),
    ("c", "parameters { real a; } model { a ~ normal(0, 1); c ~ poisson_log(a + x); }", "neg_binomial_2_log"),
    ("z", "parameters { real a; real<lower=0> q1; } model { a ~ normal(0, 1); q1 ~ normal(0, 1); "
          "z ~ lognormal(a + x, q1); }", "gamma"),
]


def _program(body: str):
    result = check(DATA + body)
    assert result.valid
    return result.program


def _swap(program, outcome):
    (twin,) = likelihood_swaps(program, outcome)
    result = check(to_stan(twin))
    assert result.valid, [str(d) for d in result.diagnostics]
    return result.program


@pytest.mark.parametrize("outcome, body, twin_dist", PAIRS)
def test_each_form_becomes_its_twin_and_back(outcome, body, twin_dist):
    program = _program(body)
    twin = _swap(program, outcome)
    (statement,) = [s for s in twin.stmts("model") if getattr(s.lhs, "name", None) == outcome]
    assert statement.dist == twin_dist
    # the twin adds exactly one positive parameter with a prior; swapping back removes it again
    assert len(twin.stmts("parameters")) == len(program.stmts("parameters")) + (0 if twin_dist == "gamma" else 1)
    assert structural_hash(_swap(twin, outcome)) == structural_hash(program)


def test_a_parameter_read_elsewhere_stays():
    body = ("parameters { real a; real<lower=1> nu; real<lower=0> s; } model { a ~ normal(0, 1); "
            "nu ~ gamma(2, 0.1); s ~ normal(0, 1); y ~ student_t(nu, a + x, s); } "
            "generated quantities { real tail = nu; }")
    twin = _swap(_program(body), "y")
    assert "nu" in {d.name for d in twin.stmts("parameters")}
    plain = _swap(_program(body.split(" generated")[0]), "y")
    assert "nu" not in {d.name for d in plain.stmts("parameters")}


def test_other_likelihoods_have_no_twin():
    body = "parameters { real a; } model { a ~ normal(0, 1); c ~ poisson(exp(a)); }"
    assert likelihood_swaps(_program(body), "c") == []
    assert likelihood_swaps(_program(body), "y") == []  # y is not modelled


def test_the_proposer_follows_a_program_with_its_twin():
    task = make_task(Path(__file__).parents[1] / "propose" / "data" / "dugongs_data.json")
    proposals = SPFNProposer().propose(task, n=4, seed=0)
    data = task.stan_json()
    digests = [structural_hash(check(p.text, data=data).program) for p in proposals]
    assert len(set(digests)) == len(proposals) and all(p.valid for p in proposals)
    for first, second, digest in zip(proposals, proposals[1:], digests[1:]):
        if second.proposer == TWIN_LABEL:
            expected = [structural_hash(check(to_stan(t), data=data).program)
                        for t in likelihood_swaps(check(first.text, data=data).program, task.target)]
            assert first.proposer == "spfn" and digest in expected and second.score < 0
    assert any(p.proposer == TWIN_LABEL for p in proposals)
