"""The printer: faithful round trip, fixed layout, minimal parentheses, numbers that stay typed."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stan_corpus import PROGRAMS

from boxloop.lang import ast
from boxloop.lang.parser import parse
from boxloop.lang.printer import to_stan


def expr_of(text: str):
    return parse(f"target += {text};", start="statement").expr


def reprint(text: str) -> str:
    return to_stan(expr_of(text))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_corpus_round_trips(name):
    program = parse(PROGRAMS[name])
    text = to_stan(program)
    assert parse(text) == program
    assert to_stan(parse(text)) == text


def test_layout_of_a_whole_program():
    src = """data{int<lower=0>N;array[N]int<lower=0>y;}
    parameters{real<lower=0,upper=1>q;vector<offset=0,multiplier=2>[N]z;}
    model{q~beta(1,1);for(n in 1:N)y[n]~binomial(10,q);}"""
    assert to_stan(parse(src)) == (
        "data {\n"
        "  int<lower=0> N;\n"
        "  array[N] int<lower=0> y;\n"
        "}\n"
        "parameters {\n"
        "  real<lower=0, upper=1> q;\n"
        "  vector<offset=0, multiplier=2>[N] z;\n"
        "}\n"
        "model {\n"
        "  q ~ beta(1, 1);\n"
        "  for (n in 1:N)\n"
        "    y[n] ~ binomial(10, q);\n"
        "}\n"
    )


def test_blocks_print_under_their_stan_headers_and_empty_blocks_are_kept():
    src = "transformed data { } transformed parameters { } generated quantities { }"
    assert to_stan(parse(src)) == "transformed data {\n}\ntransformed parameters {\n}\ngenerated quantities {\n}\n"


def test_types():
    # declared in `parameters`: in statement blocks the parser reads `simplex[K]` as indexing
    stmts = parse(
        "parameters { array[2, K] matrix<lower=-1>[N, M] a; cholesky_factor_cov[4, 3] b; simplex[K] c; "
        "row_vector<upper=u[1]>[K] d; int<lower=0, upper=N + 1> e; }"
    ).stmts("parameters")
    assert [to_stan(s) for s in stmts] == [
        "array[2, K] matrix<lower=-1>[N, M] a;",
        "cholesky_factor_cov[4, 3] b;",
        "simplex[K] c;",
        "row_vector<upper=u[1]>[K] d;",
        "int<lower=0, upper=N + 1> e;",
    ]


def test_a_bound_that_is_not_arithmetic_is_bracketed():
    decl = ast.Decl(ast.TypeSpec("real", lower=expr_of("a > 0 ? 1 : 0")), "x")
    assert to_stan(decl) == "real<lower=(a > 0 ? 1 : 0)> x;"
    assert parse(to_stan(decl), start="statement") == decl


@pytest.mark.parametrize(
    "source, printed",
    [
        ("5", "5"),
        ("5.", "5.0"),
        ("5.0e0", "5.0"),
        (".001", "0.001"),
        ("1e-10", "1e-10"),
        ("2.5E3", "2500.0"),
        ("1e22", "1e+22"),
    ],
)
def test_numbers_have_one_format_and_stay_int_or_real(source, printed):
    assert reprint(source) == printed
    assert type(expr_of(printed)) is type(expr_of(source))


@pytest.mark.parametrize(
    "source, printed",
    [
        ("(a + b) * c", "(a + b) * c"),
        ("a + (b * c)", "a + b * c"),
        ("(a - b) - c", "a - b - c"),
        ("a - (b - c)", "a - (b - c)"),
        ("a / (b * c)", "a / (b * c)"),
        ("-(a ^ b)", "-a^b"),
        ("(-a) ^ b", "(-a)^b"),
        ("a ^ (b ^ c)", "a^b^c"),
        ("(a ^ b) ^ c", "(a^b)^c"),
        ("a ^ (-b)", "a^-b"),
        ("-(-a)", "-(-a)"),
        ("(a')[1]", "a'[1]"),
        ("(a + b)'", "(a + b)'"),
        ("(a || b) && c", "(a || b) && c"),
        ("a || (b && c)", "a || b && c"),
        ("(a < b) == (c > d)", "a < b == c > d"),
        ("a < (b < c)", "a < (b < c)"),
        ("(a ? b : c) ? d : e", "(a ? b : c) ? d : e"),
        ("a ? b : (c ? d : e)", "a ? b : c ? d : e"),
        ("x[(a ? 1 : 2):N, :]", "x[(a ? 1 : 2):N, :]"),
        ("!(a && b)", "!(a && b)"),
        ("a .* (b ./ c)", "a .* (b ./ c)"),
        ("a %/% b % c", "a %/% b % c"),
        ("{1, 2}[1] + [1.0, x]", "{1, 2}[1] + [1.0, x]"),
    ],
)
def test_parentheses_only_where_precedence_needs_them(source, printed):
    assert reprint(source) == printed
    assert expr_of(printed) == expr_of(source)


def test_conditional_calls_and_truncation():
    assert reprint("normal_lpdf(y|mu,sigma)") == "normal_lpdf(y | mu, sigma)"
    assert to_stan(parse("s ~ normal(0, 1) T[0,];", start="statement")) == "s ~ normal(0, 1) T[0, ];"
    assert to_stan(parse("s ~ normal(0, 1) T[, 5];", start="statement")) == "s ~ normal(0, 1) T[, 5];"
    assert to_stan(parse("s ~ normal(0, 1) T[L, U];", start="statement")) == "s ~ normal(0, 1) T[L, U];"


def test_if_else_chains_and_braces():
    src = "if (a) { x = 1; } else if (b) { x = 2; } else { x = 3; }"
    assert to_stan(parse(src, start="statement")) == (
        "if (a) {\n  x = 1;\n} else if (b) {\n  x = 2;\n} else {\n  x = 3;\n}"
    )
    unbraced = parse("if (a) x = 1; else x = 2;", start="statement")
    assert to_stan(unbraced) == "if (a)\n  x = 1;\nelse\n  x = 2;"
    assert parse(to_stan(unbraced), start="statement") == unbraced


def test_an_inner_if_without_else_keeps_the_outer_else():
    # only buildable by code: printed bare, the else would attach to the inner if
    inner = ast.If(ast.Var("b"), ast.Assign(ast.Var("x"), "=", ast.IntLit(1)))
    for then in (inner, ast.For("i", ast.IntLit(1), ast.Var("n"), inner)):
        reparsed = parse(to_stan(ast.If(ast.Var("a"), then, ast.Compound(()))), start="statement")
        assert reparsed.other == ast.Compound(()) and reparsed.then.stmts[0] == then


def test_foreach_and_nested_loops_indent_by_two():
    src = "for (v in vs) { for (i in 1:n) { t[i] += v; } }"
    assert to_stan(parse(src, start="statement")) == (
        "for (v in vs) {\n  for (i in 1:n) {\n    t[i] += v;\n  }\n}"
    )


# ---- random expressions: whatever the tree, the printed text parses back to it ------------------

_BINARY_OPS = ["||", "&&", "==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "\\", ".*", "./", "%/%", "^", ".^"]

_leaves = st.one_of(
    st.sampled_from("abcxyz").map(ast.Var),
    st.integers(0, 1000).map(ast.IntLit),
    st.floats(0, 1e30, allow_nan=False, allow_infinity=False).map(ast.RealLit),
)


def _extend(sub):
    return st.one_of(
        st.builds(ast.Binary, st.sampled_from(_BINARY_OPS), sub, sub),
        st.builds(ast.Unary, st.sampled_from(["-", "!", "+", "'"]), sub),
        st.builds(ast.Ternary, sub, sub, sub),
        st.builds(lambda b, i: ast.Index(b, tuple(i)), sub, st.lists(st.one_of(sub, st.builds(ast.Slice, st.none() | sub, st.none() | sub)), min_size=1, max_size=2)),
        st.builds(lambda args: ast.Call("f", tuple(args)), st.lists(sub, max_size=3)),
        st.builds(lambda y, args: ast.Call("g_lpdf", (y, *args), True), sub, st.lists(sub, min_size=1, max_size=2)),
        st.builds(lambda items: ast.ArrayLit(tuple(items)), st.lists(sub, min_size=1, max_size=2)),
    )


@settings(max_examples=200, deadline=None)
@given(st.recursive(_leaves, _extend, max_leaves=12))
def test_any_expression_tree_round_trips(tree):
    stmt = ast.TargetPlus(tree)
    text = to_stan(stmt)
    assert parse(text, start="statement") == stmt
