"""The support analysis (phi-5): tight where the corpus needs it, an error only when the excess is
provable, and a data-dependent support decided by the data."""

import math

import pytest

from boxloop.lang import check
from boxloop.lang import intervals as iv
from boxloop.lang.types import NONNEGATIVE, UNIT_OPEN, Interval

PROBS = """
data { int<lower=1> T; int<lower=0> N; array[N] int<lower=0, upper=1> y; vector[N] t; }
parameters { real<lower=0, upper=1> omega; real<lower=0, upper=1> p; real<lower=0, upper=1> q;
             real mu; real<lower=0> rate; }
"""


def program(model: str, extra: str = "") -> str:
    return PROBS + extra + "model { omega ~ beta(1, 1); p ~ beta(1, 1); q ~ beta(1, 1); mu ~ normal(0, 1); " \
        "rate ~ exponential(1); " + model + " }"


def support_findings(src, data=None):
    return [(d.severity, d.code) for d in check(src, data=data).diagnostics if d.code.startswith("support")]


@pytest.mark.parametrize("expr", [
    "omega * p / (omega * p + 1 - omega)",   # a share of a sum of nonnegative terms
    "(omega * (1 - p) ^ T) / (omega * (1 - p) ^ T + (1 - omega))",
    "1 - p",                                   # the complement of a probability
    "p * q * omega",                           # a product of probabilities
    "p ^ T * q ^ T",                           # powers of probabilities
    "inv_logit(mu) * q + inv_logit(mu + 1) * (1 - q)",  # a convex combination of probabilities
    "(1 - q) * p + omega * q",
])
def test_probabilities_built_from_probabilities_are_proved_probabilities(expr):
    assert support_findings(program(f"y ~ bernoulli({expr});")) == []


def test_a_product_that_can_exceed_one_is_only_undecided():
    # rate * p is not a probability in general, but nothing proves it leaves [0, 1] either
    assert support_findings(program("y ~ bernoulli(p * exp(mu - mu));")) == [("warning", "support.undecided")]


@pytest.mark.parametrize("expr,severity", [
    ("mu", "error"),             # a bare unconstrained parameter roams the whole line
    ("mu - 1", "error"),         # ... and so does a shift of it
    ("rate - p", "error"),       # two independent parameters reach every difference
    ("-rate", "error"),          # provably outside
    ("mu * mu", "warning"),      # the same parameter twice: interval arithmetic over-approximates
    ("(mu - 2) / mu", "warning"),
])
def test_an_error_needs_a_proof(expr, severity):
    assert support_findings(program(f"y ~ normal(0, {expr});".replace("y ~", "t ~"))) == [
        (severity, "support.violation" if severity == "error" else "support.undecided")]


def test_data_values_prove_only_what_they_show():
    src = """data { int N; vector[N] x; vector[N] z; } parameters { real mu; vector<lower=0>[N] w; }
             model { mu ~ normal(0, 1); w ~ exponential(1); target += normal_lpdf(x | mu, x - z + 1)
                     + normal_lpdf(mu | 0, x[1]); }"""
    data = {"N": 2, "x": [1.0, -5.0], "z": [0.5, -5.5]}  # x - z + 1 is 1.5 everywhere, x[1] is 1
    assert support_findings(src, data) == [("warning", "support.undecided")] * 2
    bad = src.replace("x - z + 1", "w - x")  # a parameter's elements reach every value: w - x < 0
    assert ("error", "support.violation") in support_findings(bad, data)


def test_a_support_that_depends_on_data_is_a_warning_without_data_and_decided_with_it():
    src = program("y ~ poisson(rate * t);".replace("y ~ poisson", "{ array[N] int k = y; k ~ poisson"), "")
    src = src.replace("rate * t);", "rate * t); }")
    assert support_findings(src) == [("warning", "support.undecided")]
    data = {"T": 2, "N": 3, "y": [0, 1, 1]}
    assert support_findings(src, {**data, "t": [0.5, 2.0, 3.0]}) == []
    assert support_findings(src, {**data, "t": [0.5, -2.0, 3.0]}) == [("error", "support.violation")]


def test_data_trials_are_decided_with_the_data():
    src = """data { int<lower=0> M; int<lower=0> C; } parameters { real<lower=0, upper=1> w; }
             model { w ~ beta(1, 1); } generated quantities { int n = binomial_rng(M - C, w); }"""
    assert support_findings(src) == [("warning", "support.undecided")]
    assert support_findings(src, {"M": 10, "C": 4}) == []
    assert support_findings(src, {"M": 3, "C": 4}) == [("error", "support.violation")]


def test_successes_above_every_trial_count_are_an_error_with_the_data():
    src = """data { int<lower=0> N; array[N] int<lower=0> y; array[N] int<lower=0> n; }
             parameters { real a; } model { a ~ normal(0, 1); y ~ binomial_logit(TRIALS, a); }"""
    data = {"N": 3, "y": [0, 3, 81], "n": [5, 90, 100]}
    assert support_findings(src.replace("TRIALS", "4")) == []  # nothing is known of y before the data
    assert support_findings(src.replace("TRIALS", "4"), data) == [("error", "support.violation")]
    assert support_findings(src.replace("TRIALS", "n"), data) == []
    assert support_findings(src.replace("TRIALS", "n"), {**data, "n": [5, 9, 10]}) == [("error", "support.violation")]


def test_covariance_diagonals_and_determinants_are_positive():
    src = """parameters { cov_matrix[2] S; } model { S ~ wishart(4, diag_matrix(rep_vector(1, 2)));
             target += log(determinant(S)) + log(S[1, 1] * S[2, 2]) + sqrt(S[2, 2]); }"""
    assert support_findings(src) == []


def test_an_array_of_simplexes_keeps_its_structure_when_indexed():
    src = """data { int<lower=1> K; } parameters { array[3] simplex[K] theta; }
             model { for (m in 1:3) theta[m] ~ dirichlet(rep_vector(1, K)); }"""
    assert check(src).valid and support_findings(src) == []


@pytest.mark.parametrize("base,exponent,expected", [
    (UNIT_OPEN, NONNEGATIVE, Interval(0.0, 1.0, False, True)),
    (Interval(0.5, 1.0, True, True), Interval(2.0, 3.0, True, True), Interval(0.125, 1.0, True, True)),
    (Interval(1.0, 2.0, True, True), Interval(0.0, 3.0, True, True), Interval(1.0, 8.0, True, True)),
])
def test_powers_of_bases_on_one_side_of_one_are_monotone(base, exponent, expected):
    assert iv.power(base, exponent) == expected


def test_power_intervals_contain_every_value():
    for base in (Interval(0.1, 0.9, True, True), Interval(1.5, 3.0, True, True)):
        for exponent in (Interval(0.0, 2.5, True, True), Interval(1.0, 4.0, True, True)):
            out = iv.power(base, exponent)
            for x in (base.lo, base.hi, (base.lo + base.hi) / 2):
                for y in (exponent.lo, exponent.hi, 1.7):
                    if exponent.lo <= y <= exponent.hi:
                        assert out.lo - 1e-12 <= x ** y <= out.hi + 1e-12, (base, exponent, x, y)
    assert math.isinf(iv.power(Interval(1.5, 2.0, True, True), NONNEGATIVE).hi)
