"""The held-out judge: structures read off programs by one rule, and a proposer that writes
nothing valid misses the dataset instead of ending the evaluation."""

from boxloop.errors import ProposerError
from boxloop.spfn.evaluate import Structure, judge, structure_of

EIGHT_SCHOOLS = """data {
  int<lower=0> N;
  vector[N] y;
  vector<lower=0>[N] se;
}
parameters {
  real p1;
  real<lower=0> p2;
  vector[N] p3;
}
model {
  p3 ~ normal(p1, p2);
  y ~ normal(p3, se);
}
"""


def test_measurement_error_and_growth_are_named():
    assert structure_of(EIGHT_SCHOOLS) == Structure("measurement_error", frozenset())
    growth = EIGHT_SCHOOLS.replace("y ~ normal(p3, se);", "y ~ normal(p1 - p2 * exp(-p2 * x1), p2);")
    assert structure_of(growth) == Structure("growth", frozenset({"x1"}))
    lognormal = EIGHT_SCHOOLS.replace("y ~ normal(p3, se);", "y ~ lognormal(p1 + p2 * x2, p2);")
    assert structure_of(lognormal).family == "lognormal"


class _Refuses:
    def propose(self, task, *, n, seed):
        raise ProposerError("nothing valid", code="spfn.no_valid_program")


def test_a_proposer_that_writes_nothing_misses():
    outcome = judge(_Refuses(), task=None, truth=Structure("normal", frozenset()))
    assert (outcome.first, outcome.top5, outcome.valid) == (False, False, 0)
