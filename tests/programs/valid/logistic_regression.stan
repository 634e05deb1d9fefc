data {
  int<lower=0> N;
  vector[N] x;
  array[N] int<lower=0, upper=1> y;
}
parameters {
  real a;
  real b;
}
model {
  a ~ normal(0, 2.5);
  b ~ normal(0, 2.5);
  y ~ bernoulli_logit(a + b * x);
}
