data {
  int<lower=0> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> group;
  vector<lower=0>[N] y;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector<offset=mu, multiplier=tau>[J] a;
  real<lower=0> sigma;
}
model {
  mu ~ normal(0, 3);
  tau ~ normal(0, 1);
  a ~ normal(mu, tau);
  sigma ~ normal(0, 1);
  y ~ lognormal(a[group], sigma);
}
