data {
  int<lower=0> N;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0> s;
}
model {
  mu ~ normal(0, 10);
  s ~ normal(0, 1) T[0, ];
  y ~ normal(mu, s);
}
