"""A program in plain language, from its syntax tree."""

from pathlib import Path

from boxloop.report.describe import describe
from boxloop.report.sections import structure

EIGHT = (Path(__file__).resolve().parents[2] / "examples" / "eight_schools.stan").read_text()

LOOPED = """data { int<lower=1> N; int<lower=1> K; array[N] int<lower=1, upper=K> g; array[N] int<lower=0> y;
  vector[N] x; }
parameters { vector[K] a; real b; real<lower=0> s; }
model {
  a ~ normal(0, s);
  s ~ exponential(1);
  b ~ student_t(3, 0, 2.5);
  for (n in 1:N) {
    y[n] ~ poisson_log(a[g[n]] + b * x[n]) T[, 100];
  }
  target += -0.5 * square(b);
}
"""


def test_eight_schools_in_words():
    d = describe(EIGHT)
    assert d.data == ("J: an integer, non-negative", "y: a vector of size J", "sigma: a vector of size J, non-negative")
    assert "tau: a real number, non-negative" in d.parameters
    assert d.derived == ("theta = mu + tau * theta_trans",)
    assert d.priors == ("theta_trans follows a std normal distribution",
                        "mu follows a normal distribution with mu = 0, sigma = 5",
                        "tau follows a cauchy distribution with mu = 0, sigma = 5")
    assert d.likelihood == ("y follows a normal distribution with mu = theta, sigma = sigma",)
    assert [title for title, _ in d.sections()] == ["Data it reads", "Unknowns it estimates",
                                                   "Quantities built from them", "Priors", "Likelihood"]


def test_loops_truncation_arrays_and_target_terms():
    d = describe(LOOPED)
    assert "g: an array of N integers, between 1 and K" in d.data
    assert d.likelihood == ("for each n in 1..N, y[n] follows a poisson log distribution with "
                            "alpha = a[g[n]] + b * x[n], truncated above at 100",)
    assert "the log density gains -0.5 * square(b)" in d.priors  # touches no data: a prior term
    assert "a follows a normal distribution with mu = 0, sigma = s" in d.priors


def test_non_centred_parameters_are_named_so():
    program = EIGHT.replace("vector[J] theta_trans;", "vector<offset=mu, multiplier=tau>[J] theta_trans;")
    assert any("non-centred parameterisation" in line for line in describe(program).parameters)


def test_structure_is_the_likelihood_in_one_line():
    assert structure(EIGHT) == "y follows a normal distribution with mu = theta, sigma = sigma"
