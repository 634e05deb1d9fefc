"""A posterior with a mode the chains miss: a program the trained proposer wrote for the city
temperatures (Large Language Bayes' city problem, its training rows), whose intercept prior
normal(0, 1) sits 65 degrees from the data. NUTS from Stan's inits settles where the noise explains
everything (sigma about 70, log evidence -238.0); the city effects explain the data (sigma about
2.5) and hold about 45 nats more. Evidence fits must find that mode and sample from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from boxloop.infer.nuts import NutsSettings
from boxloop.infer.pipeline import fit_program

from shared_data import shared

PROGRAM = """
data {
  int<lower=0> N;
  int<lower=0> K_city;
  array[N] int<lower=1, upper=K_city> city;
  vector<lower=0>[N] day1_temp;
  vector<lower=0>[N] day2_temp;
}
transformed data {
  vector[N] td1 = (day1_temp - mean(day1_temp)) / sd(day1_temp);
}
parameters {
  real p1;
  real p2;
  real<lower=0> p3;
  real<lower=0> p4;
  vector[K_city] p5;
}
transformed parameters {
  vector[K_city] tp1 = p4 * p5;
}
model {
  p1 ~ normal(0, 1);
  p2 ~ normal(0, 1);
  p3 ~ student_t(3, 0, 5);
  p4 ~ normal(0, 2.5);
  p5 ~ std_normal();
  day2_temp ~ normal(p2 + p1 * td1 + tp1[city], p3);
}
"""


def training_rows() -> dict:
    """The benchmark's training rows: 8 of each city's 10 pairs (2 held out, seed 16)."""
    data = json.loads(shared("benchmarks", "llb", "city_temperature.json").read_text())["data"]
    rng = np.random.default_rng(16)
    city, day1, day2 = [], [], []
    for c, (first, second) in enumerate(zip(data["day1_temp_train"], data["day2_temp_train"])):
        kept = np.setdiff1d(np.arange(10), rng.choice(10, size=2, replace=False))
        city += [c + 1] * kept.size
        day1 += [first[i] for i in kept]
        day2 += [second[i] for i in kept]
    return {"N": len(city), "K_city": 5, "city": np.array(city), "day1_temp": np.array(day1, float),
            "day2_temp": np.array(day2, float)}


@pytest.fixture(scope="module")
def data():
    return training_rows()


SETTINGS = NutsSettings(chains=2, warmup=500, draws=500)


def test_without_evidence_the_chains_sit_in_the_lesser_mode(data):
    # The trap this file is about: if NUTS found the city effects by itself the test below would
    # prove nothing.
    result = fit_program(PROGRAM, data, SETTINGS, seed=0)
    assert np.mean(result.draws["p3"]) > 30


def test_an_evidence_fit_finds_the_heavier_mode_and_samples_from_it(data):
    result = fit_program(PROGRAM, data, SETTINGS, seed=0, evidence="auto")
    ev = result.evidence
    assert np.mean(result.draws["p3"]) < 5  # the city effects, not the noise, explain the data
    assert ev.reliable, ev
    assert -195 < ev.log_evidence < -190  # the noise mode's estimate was -238.0
    assert any("run again from inside it" in w for w in result.warnings)
    assert "run again from inside it" in ev.warnings[0]  # what `boxloop evidence` prints
    assert result.diagnostics.rhat_max < 1.05
