"""Posterior predictive at new inputs from stored draws, and the programs for which that would be wrong."""

import numpy as np
import pytest

from boxloop.infer.newdata import PredictError, predict_new

LINEAR = """data {
  int<lower=0> N;
  vector[N] x;
  vector[N] y;
}
parameters {
  real a;
  real b;
  real<lower=0> sigma;
}
model {
  a ~ normal(0, 5);
  b ~ normal(0, 5);
  sigma ~ normal(0, 1);
  y ~ normal(a + b * x, sigma);
}
"""


def _draws(rng, **loc):
    return {name: np.asarray(value) + rng.normal(0, 1e-3, size=(2, 500) + np.shape(value))
            for name, value in loc.items()}


def test_new_inputs_get_the_regression_line_and_its_noise():
    rng = np.random.default_rng(0)
    posterior = _draws(rng, a=1.0, b=2.0, sigma=0.5)
    reps = predict_new(LINEAR, posterior, {"N": 3, "x": [0.0, 1.0, 3.0]}, "y", seed=1)
    assert reps.shape == (2, 500, 3)
    assert reps.mean(axis=(0, 1)) == pytest.approx([1.0, 3.0, 7.0], abs=0.06)
    assert reps.std(axis=(0, 1)) == pytest.approx([0.5, 0.5, 0.5], abs=0.04)


def test_an_elementwise_transform_of_a_covariate_is_carried_over():
    program = LINEAR.replace("vector[N] y;\n}", "vector[N] y;\n}\ntransformed data {\n  vector[N] lx = log(x);\n}") \
                    .replace("a + b * x", "a + b * lx")
    posterior = _draws(np.random.default_rng(1), a=0.0, b=1.0, sigma=0.1)
    reps = predict_new(program, posterior, {"N": 2, "x": [1.0, np.e]}, "y")
    assert reps.mean(axis=(0, 1)) == pytest.approx([0.0, 1.0], abs=0.02)


def test_a_standardised_covariate_is_refused():
    program = LINEAR.replace("vector[N] y;\n}", "vector[N] y;\n}\ntransformed data {\n"
                             "  vector[N] z = (x - mean(x)) / sd(x);\n}").replace("a + b * x", "a + b * z")
    posterior = _draws(np.random.default_rng(2), a=0.0, b=1.0, sigma=0.1)
    with pytest.raises(PredictError) as err:
        predict_new(program, posterior, {"N": 3, "x": [1.0, 2.0, 4.0]}, "y")
    assert err.value.code == "predict.data_moments" and "refit" in str(err.value)


def test_a_value_per_row_is_refused():
    program = LINEAR.replace("real<lower=0> sigma;", "real<lower=0> sigma;\n  vector[N] u;") \
                    .replace("sigma ~ normal(0, 1);", "sigma ~ normal(0, 1);\n  u ~ normal(0, 1);") \
                    .replace("a + b * x", "a + b * x + u")
    posterior = {**_draws(np.random.default_rng(3), a=0.0, b=1.0, sigma=0.1), "u": np.zeros((2, 500, 5))}
    with pytest.raises(PredictError) as err:
        predict_new(program, posterior, {"N": 2, "x": [1.0, 2.0]}, "y")
    assert err.value.code == "predict.parameter_shape" and "u" in str(err.value)


def test_an_autoregression_that_reads_the_target_is_refused():
    program = LINEAR.replace("y ~ normal(a + b * x, sigma);", "y[2:N] ~ normal(a + b * y[1:(N - 1)], sigma);")
    posterior = _draws(np.random.default_rng(4), a=0.0, b=0.5, sigma=0.1)
    with pytest.raises(PredictError) as err:
        predict_new(program, posterior, {"N": 4, "x": [0.0, 0.0, 0.0, 0.0]}, "y")
    assert err.value.code == "predict.reads_target"


def test_new_data_without_a_row_count_are_refused():
    posterior = _draws(np.random.default_rng(5), a=0.0, b=1.0, sigma=0.1)
    with pytest.raises(PredictError) as err:
        predict_new(LINEAR, posterior, {"x": [1.0]}, "y")
    assert err.value.code == "predict.no_rows"
