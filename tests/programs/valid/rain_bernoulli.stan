data {
  int<lower=0> N;
  array[N] int<lower=0, upper=1> rain;
}
parameters {
  real<lower=0, upper=1> p;
}
model {
  p ~ beta(1, 1);
  rain ~ bernoulli(p);
}
generated quantities {
  int tomorrow = bernoulli_rng(p);
}
