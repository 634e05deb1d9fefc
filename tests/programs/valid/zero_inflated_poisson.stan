data {
  int<lower=0> N;
  array[N] int<lower=0> y;
}
parameters {
  real<lower=0, upper=1> pi_zero;
  real<lower=0> lambda;
}
model {
  pi_zero ~ beta(1, 1);
  lambda ~ gamma(2, 0.5);
  for (n in 1:N) {
    if (y[n] == 0)
      target += log_sum_exp(log(pi_zero), log1m(pi_zero) + poisson_lpmf(y[n] | lambda));
    else
      target += log1m(pi_zero) + poisson_lpmf(y[n] | lambda);
  }
}
