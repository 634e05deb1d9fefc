data {
  int<lower=0> flips;
  int<lower=0, upper=flips> heads;
}
parameters {
  real<lower=0, upper=1> bias;
}
model {
  bias ~ beta(2, 2);
  heads ~ binomial(flips, bias);
}
