data {
  int<lower=0> n;
  array[n] int<lower=0> C;
  vector[n] year;
}
parameters {
  real<lower=-20, upper=20> alpha;
  real<lower=-10, upper=10> beta1;
  real<lower=-10, upper=10> beta2;
  real<lower=-10, upper=10> beta3;
}
transformed parameters {
  vector[n] log_lambda = alpha + beta1 * year + beta2 * year .* year + beta3 * year .* year .* year;
}
model {
  alpha ~ uniform(-20, 20);
  beta1 ~ uniform(-10, 10);
  beta2 ~ uniform(-10, 10);
  beta3 ~ uniform(-10, 10);
  C ~ poisson_log(log_lambda);
}
generated quantities {
  vector[n] lambda = exp(log_lambda);
}
