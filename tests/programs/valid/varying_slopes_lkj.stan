data {
  int<lower=1> N;
  int<lower=1> J;
  array[N] int<lower=1, upper=J> g;
  vector[N] x;
  vector[N] y;
}
parameters {
  vector[2] mu_beta;
  vector<lower=0>[2] tau;
  cholesky_factor_corr[2] L_Omega;
  array[J] vector[2] beta;
  real<lower=0> sigma;
}
model {
  vector[N] mu;
  mu_beta ~ normal(0, 5);
  tau ~ normal(0, 2);
  L_Omega ~ lkj_corr_cholesky(2);
  beta ~ multi_normal_cholesky(mu_beta, diag_pre_multiply(tau, L_Omega));
  sigma ~ normal(0, 2);
  for (n in 1:N)
    mu[n] = beta[g[n], 1] + beta[g[n], 2] * x[n];
  y ~ normal(mu, sigma);
}
