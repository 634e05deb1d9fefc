data {
  int<lower=0> N;
  vector<lower=0>[N] t;
  vector[N] x;
}
parameters {
  real<lower=0> shape;
  real b0;
  real b1;
}
model {
  shape ~ gamma(2, 1);
  b0 ~ normal(0, 5);
  b1 ~ normal(0, 2);
  t ~ weibull(shape, exp(-(b0 + b1 * x) / shape));
}
