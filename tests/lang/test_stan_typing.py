"""The disagreements with stanc that generating calls from its signature table found, each as a
small program with its verdict; stanc (from httpstan) confirms every verdict where it is installed."""

import pytest

from boxloop.lang import check

DECLS = """
  int i; real r; vector[3] v; row_vector[3] rv; matrix[3, 3] m; array[3] int ai; array[3] real ar;
  array[3] vector[3] av; array[2, 3] real ar2; cov_matrix[3] S;
"""


def program(statement: str) -> str:
    return "transformed data {" + DECLS + "  " + statement + "\n}\n"


# (statement, valid in Stan)
CASES = [
    # names that are not Stan functions
    ("real a = softplus(r);", False), ("real a = fabs(r);", False),
    ("matrix[3, 3] k = cov_exp_quad(ar, 1.0, 1.0);", False), ("int n = binomial_logit_rng(3, r);", False),
    ("real a = log1p_exp(r);", True), ("real a = abs(r);", True),
    # gp kernels take arrays of reals or of vectors, not a vector
    ("matrix[3, 3] k = gp_exp_quad_cov(v, 1.0, 1.0);", False),
    ("matrix[3, 3] k = gp_exp_quad_cov(ar, 1.0, 1.0);", True),
    ("matrix[3, 3] k = gp_matern32_cov(av, 1.0, ar);", True),
    # binary element-wise functions need matching containers
    ("vector[3] a = hypot(v, rv');", True), ("vector[3] a = hypot(v, ar);", False),
    ("row_vector[3] a = pow(rv, v);", False), ("array[3] real a = fmin(ar, ai);", True),
    ("vector[3] a = fma(v, v, rv');", True), ("vector[3] a = fma(v, r, ar);", False),
    ("array[3] real a = lchoose(ai, ar);", True), ("vector[3] a = log_diff_exp(v, m);", False),
    # reductions and slicers want containers
    ("real a = sum(r);", False), ("real a = mean(r);", False), ("real a = max(r, r);", False),
    ("int a = max(i, i);", True), ("real a = head(r, 1);", False), ("real a = reverse(r);", False),
    ("int a = size(r);", True), ("int a = num_elements(r);", False),
    # ordered families: a real eta with a vector of cutpoints, or vectors with an array of them
    ("real a = ordered_logistic_lpmf(ai | r, v);", False),
    ("real a = ordered_logistic_lpmf(ai | v, av);", True),
    ("real a = ordered_probit_lpmf(ai | r, v);", True),
    ("int a = ordered_logistic_rng(r, v);", True), ("int a = ordered_logistic_rng(v, v);", False),
    # _rng return types
    ("int a = categorical_rng(softmax(v));", True),
    ("array[3] int a = categorical_rng(softmax(v));", False),
    ("array[3] vector[3] a = multi_normal_rng(av, S);", True),
    ("vector[3] a = multi_normal_rng(av, S);", False),
    ("vector[3] a = dirichlet_rng(rv);", False), ("vector[3] a = dirichlet_rng(v);", True),
    ("matrix[3, 3] a = lkj_corr_rng(3, 1.0);", True), ("matrix[3, 3] a = lkj_corr_rng(1.0);", False),
    ("array[3] real a = normal_rng(v, 1);", True), ("real a = normal_rng(v, 1);", False),
    # logic is on integers
    ("int a = r && i;", False), ("int a = r || r;", False), ("int a = !r;", False),
    ("if (r) { real b = 1; }", False), ("real a = r ? 1 : 2;", False),
    ("array[3] real a = i ? ar : ai;", True), ("array[3] real a = i ? ar : av;", False),
    ("int a = (r > 0) && i;", True), ("if (r > 0) { real b = 1; }", True), ("real a = i ? r : 2;", True),
    # valid Stan that boxloop used to reject
    ("vector[3] a = i ^ v;", True), ("array[3] real a = ar .^ 2;", True), ("array[3] real a = -ar;", True),
    ("array[2, 3] real a = -ar2;", True), ("real a = std_normal_lpdf(r);", True),
    ("real a = std_normal_lpdf(v);", True), ("row_vector[3] a = rv / m;", True),
    ("vector[3] a = r / v;", True), ("vector[3] a = v / v;", False),
    # compound assignment keeps the left side's type
    ("vector[3] a = v; a += r;", True), ("vector[3] a = v; a *= m;", False),
    ("row_vector[3] a = rv; a *= m;", True), ("int a = i; a += r;", False), ("real a = r; a /= i;", True),
    ("row_vector[3] a = rv; a /= m;", False), ("real a = r; a .*= r;", False), ("vector[3] a = v; a ./= v;", True),
    # dropping constants is for the model block
    ("real a = normal_lupdf(r | 0, 1);", False), ("real a = normal_lpdf(r | 0, 1);", True),
    # new library names
    ("vector[3] a = col(m, 1) + transpose(row(m, 2));", True),
    ("vector[2] a = sub_col(m, 1, 1, 2); row_vector[2] b = sub_row(m, 1, 1, 2);", True),
    ("array[3] int a = sort_indices_desc(v); int b = rank(ar, 2);", True),
    ("matrix[3, 3] a = symmetrize_from_lower_tri(m); real b = log_mix(v, av);", True),
    ("real a = normal_cdf(r | 0, 1); real b = skew_normal_lcdf(r | 0, 1, 2);", True),
    ("array[3] int a = multinomial_rng(softmax(v), 10);", True),
    ("real a = normal_id_glm_lpdf(v | m, 0, v, 1);", True),
    ("real a = normal_id_glm_lpdf(r | rv, 0, v, 1);", False),
    ("matrix[3, 3] a = wishart_rng(4, S); real b = inv_wishart_lpdf(S | 4, S);", True),
]


@pytest.mark.parametrize("statement,valid", CASES, ids=[c[0] for c in CASES])
def test_boxloop_gives_stans_verdict(statement, valid):
    result = check(program(statement))
    assert result.valid == valid, [str(d) for d in result.errors]


def test_the_verdicts_are_stancs():
    pytest.importorskip("httpstan", reason="stanc ships in httpstan (boxloop's test extra)")
    from boxloop.lang.stanc import stanc_verdict

    wrong = [(s, v) for s, v in CASES if stanc_verdict(program(s)).ok != v]
    assert not wrong


def test_errors_say_what_stan_accepts():
    message = check(program("real a = !r;")).errors[0].message
    assert "integer" in message and "compare" in message
    message = check(program("if (r) { real b = 1; }")).errors[0].message
    assert "must be an int" in message
    message = check(program("matrix[3, 3] k = gp_exp_quad_cov(v, 1.0, 1.0);")).errors[0].message
    assert "no signature gp_exp_quad_cov(vector, real, real)" in message and "array[] real" in message
