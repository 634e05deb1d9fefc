data {
  int<lower=0> N;
  vector[N] x;
  array[N] int<lower=0> y;
}
parameters {
  real a;
  real b;
  real<lower=0> phi;
}
model {
  a ~ normal(0, 5);
  b ~ normal(0, 1);
  phi ~ gamma(2, 0.1);
  y ~ neg_binomial_2_log(a + b * x, phi);
}
