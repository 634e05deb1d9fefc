data {
  int<lower=2> T;
  vector[T] y;
}
parameters {
  vector[T] level;
  real<lower=0> sigma_level;
  real<lower=0> sigma_obs;
}
model {
  level[1] ~ normal(y[1], 10);
  level[2:T] ~ normal(level[1:(T - 1)], sigma_level);
  sigma_level ~ exponential(1);
  sigma_obs ~ exponential(1);
  y ~ normal(level, sigma_obs);
}
