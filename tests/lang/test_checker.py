"""The semantic checker: every reference model checks clean; every bad program gets its specific code."""

from pathlib import Path

import pytest

from boxloop.lang import check

VALID_DIR = Path(__file__).parents[1] / "programs" / "valid"
VALID = sorted(VALID_DIR.glob("*.stan"))

HEAD = """
data {
  int<lower=0> N;
  vector[N] y;
  vector[N] x;
  array[N] int<lower=0> k;
  array[N] int<lower=0, upper=1> z;
}
"""


def model(params: str, body: str, extra: str = "") -> str:
    return HEAD + extra + "parameters {\n" + params + "\n}\nmodel {\n" + body + "\n}\n"


STD = "real mu; real<lower=0> sigma;"

# (id, program, expected code, expected predicate)
INVALID = [
    # phi1: parsability
    ("missing_comma", model(STD, "y ~ normal(mu sigma);"), "parse.unexpected_token", "phi1"),
    ("missing_semicolon", model(STD, "y ~ normal(mu, sigma)"), "parse.unexpected_token", "phi1"),
    ("unclosed_block", model(STD, "y ~ normal(mu, sigma);")[:-2], "parse.unexpected_end", "phi1"),
    ("bad_character", model(STD, "y ~ normal(mu, sigma) @;"), "parse.unexpected_character", "phi1"),
    ("old_array_syntax", "data { int N; real y[N]; }", "parse.unexpected_token", "phi1"),
    ("assign_in_data", "data { int N = 3; }", "parse.unexpected_token", "phi1"),
    # phi2: distribution / function exists
    ("gaussian", model(STD, "y ~ gaussian(mu, sigma);"), "dist.unknown", "phi2"),
    ("Normal_capital", model(STD, "y ~ Normal(mu, sigma);"), "dist.unknown", "phi2"),
    ("halfnormal", model(STD, "sigma ~ half_normal(0, 1); y ~ normal(mu, sigma);"), "dist.unknown", "phi2"),
    ("unknown_function", model(STD, "y ~ normal(mu + sigmoid(x), sigma);"), "func.unknown", "phi2"),
    ("dist_as_function", model(STD, "target += normal(y, mu, sigma);"), "func.distribution_as_function",
     "phi2"),
    # phi3: arguments
    ("named_argument", model(STD, "y ~ normal(mu, sd=sigma);"), "args.named", "phi3"),
    ("too_many_args", model(STD, "y ~ normal(mu, sigma, 1);"), "args.arity", "phi3"),
    ("too_few_args", model(STD, "y ~ normal(mu);"), "args.arity", "phi3"),
    ("std_normal_with_args", model("real mu;", "mu ~ std_normal(0, 1);"), "args.arity", "phi3"),
    ("lpdf_without_bar", model(STD, "target += normal_lpdf(y, mu, sigma);"), "args.bar", "phi3"),
    ("bar_on_plain_function", model(STD, "target += exp(y | mu);"), "args.bar", "phi3"),
    ("poisson_two_args", model("real<lower=0> lam;", "k ~ poisson(lam, 2);"), "args.arity", "phi3"),
    # phi4: dependency
    ("undeclared", model(STD, "y ~ normal(theta, sigma);"), "dep.undeclared", "phi4"),
    ("used_before_declared", model(STD, "real m2 = m1; real m1 = mu; y ~ normal(m2, sigma);"),
     "dep.undeclared", "phi4"),
    ("redeclared", model("real mu; real mu;", "y ~ normal(mu, 1);"), "dep.redeclared", "phi4"),
    ("assign_to_data", model(STD, "y = x; y ~ normal(mu, sigma);"), "dep.readonly", "phi4"),
    ("assign_to_parameter", model(STD, "mu = 3; y ~ normal(mu, sigma);"), "dep.readonly", "phi4"),
    ("tilde_in_tdata", HEAD + "transformed data { real a = 1; a ~ normal(0, 1); }", "dep.tilde_block",
     "phi4"),
    ("tilde_in_gq", model(STD, "y ~ normal(mu, sigma);") + "generated quantities { mu ~ normal(0,1); }",
     "dep.tilde_block", "phi4"),
    ("target_in_tparams", HEAD + "parameters { real mu; } transformed parameters { target += mu; }",
     "dep.target_block", "phi4"),
    ("rng_in_model", model(STD, "real d = normal_rng(0, 1); y ~ normal(mu + d, sigma);"), "dep.rng_block",
     "phi4"),
    ("param_size", model(STD, "int n = mu > 0; vector[n] w; y ~ normal(mu, sigma);"),
     "dep.size_depends_on_parameter", "phi4"),
    ("reserved_name", model("real var;", "y ~ normal(var, 1);"), "dep.reserved_name", "phi4"),
    # phi5: support
    ("variance_minus_one", model(STD, "y ~ normal(mu, sigma^2 - 1);"), "support.violation", "phi5"),
    ("unconstrained_scale", model("real mu; real sigma;", "y ~ normal(mu, sigma);"), "support.violation",
     "phi5"),
    ("bernoulli_unconstrained_p", model("real p;", "z ~ bernoulli(p);"), "support.violation", "phi5"),
    ("negative_constant_scale", model("real mu;", "y ~ normal(mu, -1);"), "support.violation", "phi5"),
    ("poisson_negative_rate", model("real a;", "k ~ poisson(a);"), "support.violation", "phi5"),
    ("gamma_on_unconstrained", model("real s;", "s ~ gamma(2, 2); y ~ normal(0, s);"),
     "support.violation", "phi5"),
    ("beta_prob_out_of_range", model("real<lower=0> p;", "p ~ beta(2, 2); z ~ bernoulli(p);"),
     "support.violation", "phi5"),
    ("dirichlet_on_vector", HEAD + "parameters { vector[3] th; } model { th ~ dirichlet(rep_vector(1, 3)); }",
     "support.structure", "phi5"),
    ("log_of_negative", model(STD, "y ~ normal(mu, log(-sigma));"), "support.violation", "phi5"),
    ("uniform_scale_difference", model("real<lower=0> a; real<lower=0> b;",
                                        "y ~ normal(0, a - b);"), "support.violation", "phi5"),
    # phi6: types
    ("poisson_on_real", model("real<lower=0> lam;", "y ~ poisson(lam);"), "type.variate", "phi6"),
    ("bernoulli_on_real", model("real<lower=0, upper=1> p;", "y ~ bernoulli(p);"), "type.variate", "phi6"),
    ("array_arithmetic", model("real mu;", "mu ~ normal(0, 1); y ~ normal(to_vector(k) - k, 1);"),
     "type.operator", "phi6"),
    ("vector_times_vector", model(STD, "y ~ normal(x * x, sigma);"), "type.operator", "phi6"),
    ("real_index", model(STD, "y[mu] ~ normal(0, sigma);"), "type.index", "phi6"),
    ("real_size", model(STD, "vector[2.5] w; y ~ normal(mu, sigma);"), "type.size_not_int", "phi6"),
    ("assign_vector_to_real", model(STD, "real m = x; y ~ normal(m, sigma);"), "type.assign", "phi6"),
    ("matrix_argument", model(STD, "matrix[2, 2] M; y ~ normal(M, sigma);"), "type.argument", "phi6"),
    ("too_many_indices", model(STD, "y[1, 2] ~ normal(mu, sigma);"), "type.index", "phi6"),
    ("real_loop_bound", model(STD, "for (i in 1:mu) y[i] ~ normal(0, sigma);"), "type.loop_bound", "phi6"),
    ("local_constraint", model(STD, "real<lower=0> s = sigma; y ~ normal(mu, s);"), "type.local_constraint",
     "phi6"),
    ("no_signature", model(STD, "y ~ normal(mu + rep_vector(x, 2), sigma);"), "type.no_signature", "phi6"),
    ("transpose_real", model(STD, "y ~ normal(mu', sigma);"), "type.operator", "phi6"),
    ("int_parameter", model("int a;", "a ~ poisson(3);"), "type.int_parameter", "phi6"),
    ("inverted_bounds", model("real<lower=20, upper=0> K;", "K ~ normal(0, 1);"), "type.empty_bounds",
     "phi6"),
    ("glued_type_keyword", HEAD + "parameters { realx; } model { x ~ normal(0, 1); }",
     "parse.glued_keyword", "phi1"),
    ("glued_block_keyword", HEAD + "transformedparameters { } model { }", "parse.glued_keyword", "phi1"),
]




@pytest.mark.parametrize("path", VALID, ids=[p.stem for p in VALID])
def test_reference_models_check_clean(path):
    result = check(path.read_text())
    assert result.valid, [str(d) for d in result.errors]


def test_enough_reference_models():
    assert len(VALID) >= 30


@pytest.mark.parametrize("case", INVALID, ids=[c[0] for c in INVALID])
def test_invalid_program_gets_specific_code(case):
    _, source, code, predicate = case
    result = check(source)
    assert not result.valid
    first = result.errors[0]
    assert (first.code, first.predicate) == (code, predicate), [str(d) for d in result.diagnostics]
    assert first.line > 0, "every error names a line"


def test_enough_invalid_programs_covering_all_predicates():
    assert len(INVALID) >= 40
    assert {c[3] for c in INVALID} == {"phi1", "phi2", "phi3", "phi4", "phi5", "phi6"}


def test_gaussian_suggests_normal():
    result = check(model(STD, "y ~ gaussian(mu, sigma);"))
    assert "did you mean 'normal'" in result.errors[0].message


def test_named_argument_names_the_right_parameter():
    message = check(model(STD, "y ~ normal(mu, sd=sigma);")).errors[0].message
    assert "normal takes (mu, sigma)" in message and "did you mean sigma" in message


def test_unconstrained_scale_suggests_lower_bound():
    message = check(model("real mu; real sigma;", "y ~ normal(mu, sigma);")).errors[0].message
    assert "<lower=0>" in message


def test_undeclared_suggests_nearby_name():
    message = check(model(STD, "y ~ normal(muu, sigma);")).errors[0].message
    assert "did you mean 'mu'" in message


def test_data_scale_is_undecided_not_rejected():
    # a data variable declared without bounds used as a scale may be fine: warn, don't reject
    src = HEAD.replace("vector[N] x;", "vector[N] x; vector[N] s;") + \
        "parameters { real mu; } model { mu ~ normal(0, 1); y ~ normal(mu, s); }"
    result = check(src)
    assert result.valid
    assert any(d.code == "support.undecided" for d in result.warnings)


def test_data_ranges_settle_undecided_support():
    src = "data { int N; vector[N] y; vector[N] s; } parameters { real mu; } " \
          "model { mu ~ normal(0, 1); y ~ normal(mu, s); }"
    data = {"N": 3, "y": [1.0, 2.0, 3.0], "s": [1.0, 0.5, 2.0]}
    assert not any(d.code == "support.undecided" for d in check(src, data=data).diagnostics)
    bad = check(src, data={**data, "s": [1.0, -0.5, 2.0]})
    assert not bad.valid and bad.errors[0].code == "support.violation"


def test_flat_prior_is_a_warning():
    result = check(model(STD, "sigma ~ exponential(1); y ~ normal(mu, sigma);"))
    assert result.valid
    assert [d.code for d in result.warnings] == ["prior.missing"]


def test_abs_as_scale_is_only_a_warning():
    # |x| touches 0 on a set of measure zero: undecided, not wrong
    result = check(model("real mu; real a;", "mu ~ normal(0, 1); a ~ normal(0, 1); y ~ normal(mu, abs(a));"))
    assert result.valid
    [warning] = result.warnings
    assert warning.code == "support.undecided" and "`abs(a)`" in warning.message


def test_positive_transform_is_accepted():
    result = check(model("real mu; real log_sigma;",
                         "mu ~ normal(0, 1); log_sigma ~ normal(0, 1); y ~ normal(mu, exp(log_sigma));"))
    assert result.valid and not result.warnings


def test_positions_point_at_the_problem():
    src = model(STD, "mu ~ normal(0, 1);\n  y ~ normal(mu, sigma^2 - 1);")
    err = check(src).errors[0]
    assert src.splitlines()[err.line - 1].strip().startswith("y ~ normal")
