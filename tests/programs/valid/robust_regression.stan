data {
  int<lower=0> N;
  vector[N] x;
  vector[N] y;
}
parameters {
  real a;
  real b;
  real<lower=0> sigma;
  real<lower=1> nu;
}
model {
  a ~ normal(0, 10);
  b ~ normal(0, 10);
  sigma ~ student_t(3, 0, 2.5);
  nu ~ gamma(2, 0.1);
  y ~ student_t(nu, a + b * x, sigma);
}
