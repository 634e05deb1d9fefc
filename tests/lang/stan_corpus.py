"""Hand-written programs shared by the printer and canonical-form tests.

Every variable name is distinct from every function and distribution name, so the tests can
rename variables in the text with a word-boundary substitution.
"""

EIGHT_SCHOOLS = """
data {
  int<lower=0> J;
  array[J] real y;
  array[J] real<lower=0> sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] theta;
}
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  theta ~ normal(mu, tau);
  y ~ normal(theta, sigma);
}
"""

EIGHT_SCHOOLS_NONCENTERED = """
data {
  int<lower=0> J;
  array[J] real y;
  array[J] real<lower=0> sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] eta;
}
transformed parameters {
  vector[J] theta = mu + tau * eta;
}
model {
  mu ~ normal(0, 5);
  tau ~ cauchy(0, 5);
  eta ~ std_normal();
  y ~ normal(theta, sigma);
}
"""

LINEAR_REGRESSION = """
data {
  int<lower=0> N;
  int<lower=1> K;
  matrix[N, K] X;
  vector[N] y;
}
parameters {
  real alpha;
  vector[K] beta;
  real<lower=0> s;
}
model {
  alpha ~ normal(0, 10);
  beta ~ normal(0, 2.5);
  s ~ exponential(1);
  y ~ normal(alpha + X * beta, s);
}
"""

LOGISTIC_REGRESSION = """
data {
  int<lower=0> N;
  vector[N] x;
  array[N] int<lower=0, upper=1> z;
}
parameters {
  real a;
  real b;
}
model {
  a ~ normal(0, 2.5);
  b ~ normal(0, 2.5);
  for (n in 1:N) {
    z[n] ~ bernoulli_logit(a + b * x[n]);
  }
}
"""

POISSON_GLM = """
data {
  int<lower=0> N;
  vector[N] x;
  vector<lower=0>[N] exposure;
  array[N] int<lower=0> count;
}
transformed data {
  vector[N] log_exposure = log(exposure);
}
parameters {
  real b0;
  real b1;
}
model {
  vector[N] eta = log_exposure + b0 + b1 * x;
  b0 ~ normal(0, 5);
  b1 ~ normal(0, 1);
  count ~ poisson_log(eta);
}
"""

HIERARCHICAL_GROUPS = """
data {
  int<lower=1> N;
  int<lower=1> G;
  array[N] int<lower=1, upper=G> group;
  vector[N] y;
}
parameters {
  real mu_a;
  real<lower=0> sigma_a;
  vector<offset=mu_a, multiplier=sigma_a>[G] a;
  real<lower=0> sigma_y;
}
model {
  mu_a ~ normal(0, 10);
  sigma_a ~ normal(0, 1);
  a ~ normal(mu_a, sigma_a);
  sigma_y ~ student_t(3, 0, 1);
  for (n in 1:N) {
    y[n] ~ normal(a[group[n]], sigma_y);
  }
}
"""

AR1 = """
data {
  int<lower=2> T;
  vector[T] y;
}
parameters {
  real alpha;
  real<lower=-1, upper=1> rho;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(0, 1);
  rho ~ uniform(-1, 1);
  sigma ~ normal(0, 1);
  for (t in 2:T) {
    y[t] ~ normal(alpha + rho * y[t - 1], sigma);
  }
}
"""

TP_AND_GQ = """
data {
  int<lower=0> N;
  vector[N] x;
  vector[N] y;
}
parameters {
  real c0;
  real c1;
  real<lower=0> noise;
}
transformed parameters {
  vector[N] mean_y;
  mean_y = c0 + c1 * x;
}
model {
  c0 ~ normal(0, 1);
  c1 ~ normal(0, 1);
  noise ~ lognormal(0, 1);
  y ~ normal(mean_y, noise);
}
generated quantities {
  vector[N] log_lik;
  array[N] real y_rep;
  for (n in 1:N) {
    log_lik[n] = normal_lpdf(y[n] | mean_y[n], noise);
    y_rep[n] = normal_rng(mean_y[n], noise);
  }
}
"""

TRUNCATED_PRIOR = """
data {
  int<lower=0> N;
  vector[N] y;
}
parameters {
  real m;
  real<lower=0> sd_y;
}
model {
  m ~ normal(0, 1);
  sd_y ~ normal(0, 1) T[0, ];
  y ~ normal(m, sd_y);
}
"""

MIXTURE = """
data {
  int<lower=1> N;
  vector[N] y;
}
parameters {
  real<lower=0, upper=1> lambda;
  ordered[2] loc;
  real<lower=0> scale;
}
model {
  loc ~ normal(0, 5);
  scale ~ lognormal(0, 1);
  lambda ~ beta(2, 2);
  for (n in 1:N) {
    target += log_sum_exp(log(lambda) + normal_lpdf(y[n] | loc[1], scale),
                          log1m(lambda) + normal_lpdf(y[n] | loc[2], scale));
  }
  target += -0.5 * square(scale);
}
"""

CHOLESKY = """
data {
  int<lower=1> N;
  int<lower=1> K;
  array[N] vector[K] obs;
}
parameters {
  vector[K] center;
  vector<lower=0>[K] spread;
  cholesky_factor_corr[K] L_omega;
}
transformed parameters {
  matrix[K, K] L_sigma = diag_pre_multiply(spread, L_omega);
}
model {
  center ~ normal(0, 3);
  spread ~ cauchy(0, 2.5);
  L_omega ~ lkj_corr_cholesky(2.0);
  obs ~ multi_normal_cholesky(center, L_sigma);
}
"""

NESTED_CONTROL = """
data {
  int<lower=1> R;
  int<lower=1> C;
  int<lower=1, upper=C> cut;
  array[R, C] int<lower=0> hits;
}
parameters {
  real<lower=0> early;
  real<lower=0> late;
}
model {
  early ~ exponential(1);
  late ~ exponential(1);
  for (r in 1:R) {
    for (c in 1:C) {
      real rate = c < cut ? early : late;
      if (hits[r, c] > 0) {
        hits[r, c] ~ poisson(rate);
      } else if (r == 1) {
        target += poisson_lpmf(0 | rate);
      } else {
        target += -rate;
      }
    }
  }
}
"""

MODEL_LOCALS = """
data {
  int<lower=0> N;
  vector[N] x1;
  vector[N] x2;
  vector[N] y;
}
parameters {
  real w1;
  real w2;
  real<lower=0> eps;
}
model {
  vector[N] lin = w1 * x1;
  lin += w2 * x2;
  w1 ~ normal(0, 1);
  w2 ~ normal(0, 1);
  eps ~ gamma(2, 0.1);
  y ~ normal(lin, eps);
}
"""

PROGRAMS = {
    "eight_schools": EIGHT_SCHOOLS,
    "eight_schools_noncentered": EIGHT_SCHOOLS_NONCENTERED,
    "linear_regression": LINEAR_REGRESSION,
    "logistic_regression": LOGISTIC_REGRESSION,
    "poisson_glm": POISSON_GLM,
    "hierarchical_groups": HIERARCHICAL_GROUPS,
    "ar1": AR1,
    "tp_and_gq": TP_AND_GQ,
    "truncated_prior": TRUNCATED_PRIOR,
    "mixture": MIXTURE,
    "cholesky": CHOLESKY,
    "nested_control": NESTED_CONTROL,
    "model_locals": MODEL_LOCALS,
}

# The reference models the checker tests use (tests/programs/valid) join the corpus, so every one of
# them is also round-tripped and checked for layout/name/order invariance.
_VALID_DIR = __import__("pathlib").Path(__file__).parents[1] / "programs" / "valid"
# Their line comments are dropped: the variant generators re-flow lines, which a `//` would swallow.
PROGRAMS.update({f"ref_{p.stem}": __import__("re").sub(r"//[^\n]*", "", p.read_text())
                 for p in sorted(_VALID_DIR.glob("*.stan"))})
