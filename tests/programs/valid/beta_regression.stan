data {
  int<lower=0> N;
  vector[N] x;
  vector<lower=0, upper=1>[N] y;
}
parameters {
  real a;
  real b;
  real<lower=0> phi;
}
transformed parameters {
  vector<lower=0, upper=1>[N] mu = inv_logit(a + b * x);
}
model {
  a ~ normal(0, 2);
  b ~ normal(0, 2);
  phi ~ gamma(2, 0.1);
  y ~ beta(mu * phi, (1 - mu) * phi);
}
