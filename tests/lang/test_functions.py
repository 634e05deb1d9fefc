"""The functions block and the control statements: parsing, printing, the canonical form, and the
checker's rules for user-defined functions, each error case also rejected by stanc."""

from __future__ import annotations

import re

import pytest
from shared_data import shared

from boxloop.lang import check
from boxloop.lang.canonical import canonical_text
from boxloop.lang.parser import parse
from boxloop.lang.printer import to_stan
from boxloop.lang.stanc import StancUnavailable, stanc_verdict

CORPUS = shared("corpus")

FUNCTIONS = """
functions {
  // the sum of a vector's elements up to the first negative one
  real sum_until_negative(vector v) {
    real total = 0;
    for (k in 1:rows(v)) {
      if (v[k] < 0) break;
      total += v[k];
    }
    return total;
  }
  real scaled(real x, data real s);  // forward declaration
  real scaled(real x, data real s) { return x * s; }
  real scaled(real x) { return x; }  // an overload
  real shifted_normal_lpdf(real y, real mu, real sigma) { return normal_lpdf(y | mu + 1, sigma); }
  void prior_lp(real m) { m ~ normal(0, 10); }
  real draw_rng(real m) { return normal_rng(m, 1); }
  int count_positive(array[] int y) {
    int n = 0;
    int k = 0;
    while (k < size(y)) {
      k += 1;
      if (y[k] <= 0) continue;
      n += 1;
    }
    return n;
  }
}
data { int N; vector[N] y; array[N] int c; real s; }
transformed data {
  int npos = count_positive(c);
  print("positives: ", npos);
  if (npos > N) reject("impossible count ", npos);
}
parameters { real mu; }
model {
  prior_lp(mu);
  for (n in 1:N) y[n] ~ shifted_normal(scaled(mu, s), 1);
  target += shifted_normal_lupdf(0 | scaled(mu), 10);
}
generated quantities { real z = draw_rng(mu) + sum_until_negative(y); }
"""


def _stanc(text: str):
    try:
        return stanc_verdict(text)
    except StancUnavailable:
        pytest.skip("stanc is not installed")


def test_function_program_checks_and_prints_back_to_the_same_tree():
    result = check(FUNCTIONS)
    assert result.valid, [str(d) for d in result.errors]
    tree = parse(FUNCTIONS)
    assert len(tree.functions) == 8
    assert parse(to_stan(tree)) == tree
    assert _stanc(to_stan(tree)).ok


def test_canonical_form_of_a_function_program_ignores_layout_and_round_trips():
    relaid = re.sub(r"//[^\n]*", "", FUNCTIONS).replace("\n", " ").replace("  ", " ")
    relaid = relaid.replace("if (v[k] < 0) break;", "if (v[k] < 0) { break; }")
    text = canonical_text(parse(FUNCTIONS))
    assert canonical_text(parse(relaid)) == text
    assert canonical_text(parse(text)) == text
    assert check(text).valid
    # the functions block is printed first, with its bodies braced and in their written order
    assert text.startswith("functions {\n  real sum_until_negative(vector v) {")
    assert text.index("while (k < size(y))") < text.index("if (y[k] <= 0) {")


def test_string_literals_print_as_written():
    src = 'data { real x; } model { print("x = ", x, " (\'quoted\')"); reject("bad: ", x); }'
    tree = parse(src)
    assert to_stan(tree.stmts("model")[0]) == 'print("x = ", x, " (\'quoted\')");'
    assert parse(to_stan(tree)) == tree
    assert check(src).valid


HEAD = "data { int N; vector[N] y; } parameters { real mu; } "

# (case, program, the error code boxloop gives); stanc rejects every one of them too
ERRORS = [
    ("lpdf_on_int", "functions { real f_lpdf(int x) { return 1.0; } } model {}", "func.suffix_signature"),
    ("lpmf_on_real", "functions { real f_lpmf(real x) { return 1.0; } } model {}", "func.suffix_signature"),
    ("rng_in_model", "functions { real f_rng() { return normal_rng(0, 1); } } " + HEAD
     + "model { mu ~ normal(f_rng(), 1); }", "dep.rng_block"),
    ("lp_in_gq", "functions { real f_lp(real x) { target += x; return x; } } " + HEAD
     + "model { mu ~ normal(0, 1); } generated quantities { real z = f_lp(mu); }", "func.lp_block"),
    ("target_outside_lp", "functions { real f(real x) { target += x; return x; } } model {}",
     "dep.target_block"),
    ("tilde_outside_lp", "functions { real f(real x) { x ~ normal(0, 1); return x; } } model {}",
     "dep.tilde_block"),
    ("assign_argument", "functions { real f(real x) { x = 1; return x; } } model {}", "dep.readonly"),
    ("data_argument", "functions { real f(data real x) { return x; } } " + HEAD
     + "model { mu ~ normal(f(mu), 1); }", "func.data_argument"),
    ("void_returns_value", "functions { void f(real x) { return x; } } model {}", "func.void_return"),
    ("bare_return", "functions { real f(real x) { return; } } model {}", "func.return_value_missing"),
    ("wrong_return_type", "functions { real f(real x) { return {1.0}; } } model {}", "type.return"),
    ("no_return", "functions { real f(real x) { real y = x; } } model {}", "func.missing_return"),
    ("return_on_one_branch", "functions { real f(real x) { if (x > 0) return x; } } model {}",
     "func.missing_return"),
    ("declared_never_defined", "functions { real f(real x); } " + HEAD + "model { mu ~ normal(f(mu), 1); }",
     "func.undefined"),
    ("defined_twice", "functions { real f(real x) { return x; } real f(real y) { return y; } } model {}",
     "func.redefined"),
    ("value_dropped", "functions { real f(real x) { return x; } } " + HEAD + "model { f(mu); }",
     "func.nonvoid_statement"),
    ("void_in_expression", "functions { void f_lp(real x) { target += x; } } " + HEAD
     + "model { mu ~ normal(f_lp(mu), 1); }", "func.void_value"),
    ("wrong_argument_type", "functions { real f(vector x) { return sum(x); } } " + HEAD
     + "model { mu ~ normal(f(mu), 1); }", "type.no_signature"),
    ("density_without_bar", "functions { real f_lpdf(real y, real m) { return -square(y - m); } } " + HEAD
     + "model { target += f_lpdf(mu, 0); }", "args.bar"),
    ("break_outside_loop", HEAD + "model { break; }", "flow.outside_loop"),
    ("return_in_model", HEAD + "model { return; }", "func.return_outside"),
    ("while_on_real", HEAD + "model { while (mu) { } }", "type.condition"),
]


@pytest.mark.parametrize("case, src, code", ERRORS, ids=[e[0] for e in ERRORS])
def test_function_rule_violations_get_their_code_and_stanc_agrees(case, src, code):
    result = check(src)
    assert code in {d.code for d in result.errors}, [str(d) for d in result.diagnostics]
    assert not _stanc(src).ok


def test_recursion_is_refused_with_the_cycle_named():
    src = ("functions { int odd(int n); int even(int n) { if (n == 0) return 1; return odd(n - 1); } "
           "int odd(int n) { if (n == 0) return 0; return even(n - 1); } } model {}")
    errors = check(src).errors
    assert [d.code for d in errors] == ["func.recursive"]
    assert "even -> odd -> even" in errors[0].message and "loop" in errors[0].message
    assert _stanc(src).ok  # valid Stan: boxloop's own limit


VALID = [
    ("loop_body_return", "functions { real f(real x) { for (i in 1:3) return x; } } model {}"),
    ("ends_in_reject", "functions { int f(int n) { if (n > 0) return 1; else reject(\"no\"); } } model {}"),
    ("overloads_library_name", "functions { real twice(real x) { return 2 * x; } real twice(vector x) "
     "{ return 2 * sum(x); } } " + HEAD + "model { mu ~ normal(twice(mu) + twice(y), 1); }"),
    ("lp_in_tparams", "functions { real f_lp(real x) { target += -x^2; return x; } } " + HEAD
     + "transformed parameters { real t = f_lp(mu); } model { }"),
    ("int_promotes_to_real", "functions { real f(real x) { return x; } } " + HEAD
     + "model { mu ~ normal(f(N), 1); }"),
]


@pytest.mark.parametrize("case, src", VALID, ids=[v[0] for v in VALID])
def test_valid_function_programs_are_accepted_like_stanc(case, src):
    result = check(src)
    assert result.valid, [str(d) for d in result.errors]
    assert _stanc(src).ok


CORPUS_SAMPLE = ("example-models/BPA/Ch.07/cjs_add.stan", "example-models/BPA/Ch.10/js_super.stan",
                 "example-models/BPA/Ch.12/Nmix1.stan", "posteriordb/models/hmm_gaussian.stan",
                 "posteriordb/models/prophet.stan", "example-models/bugs_examples/vol2/pines/pines-3.stan")


@pytest.mark.parametrize("path", CORPUS_SAMPLE)
def test_corpus_programs_with_functions_are_accepted_by_boxloop_and_stanc(path):
    text = (CORPUS / path).read_text()
    result = check(text)
    assert result.valid, [str(d) for d in result.errors]
    assert _stanc(text).ok
    canonical = canonical_text(result.program)
    assert check(canonical).valid
    # the canonical form renames the blocks' variables; the functions block is kept as written
    assert parse(canonical).functions == result.program.functions
