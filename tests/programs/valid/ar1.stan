data {
  int<lower=2> N;
  vector[N] y;
}
parameters {
  real alpha;
  real<lower=-1, upper=1> beta;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 5);
  beta ~ uniform(-1, 1);
  sigma ~ normal(0, 2);
  for (n in 2:N)
    y[n] ~ normal(alpha + beta * y[n - 1], sigma);
}
