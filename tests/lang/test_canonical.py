"""Canonical form, structural hash and D ‖ P ‖ L.

Invariance is checked on generated variants of every corpus program (re-layout, renaming,
reordering independent statements), not only on hand-picked ones.
"""

import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from stan_corpus import EIGHT_SCHOOLS, EIGHT_SCHOOLS_NONCENTERED, PROGRAMS

from boxloop.errors import ProgramError
from boxloop.lang import ast
from boxloop.lang.canonical import (
    blocks,
    canonical_text,
    join,
    rename_map,
    structural_hash,
    with_block,
)
from boxloop.lang.parser import parse
from boxloop.lang.printer import to_stan

IDENT = re.compile(r"\b[A-Za-z][A-Za-z0-9_]*\b")

# ---- variant generators (independent of the module under test) -------------------------------


def relayout(text: str, rng: random.Random) -> str:
    """Same tokens, different whitespace and comments (one pass, so no comment is re-edited)."""
    choices = {
        ", ": [",", ", ", " ,\n "],
        " ": [" ", "  ", "\t", "\n", " /* note */ ", "\n  // note\n"],
        "\n": ["\n", "\n\n", "\n// line\n", " "],
    }
    return "/* a variant */\n" + re.sub(r", | |\n", lambda m: rng.choice(choices[m.group()]), text)


def renamable(program) -> set:
    """Names of every non-data variable: declarations outside `data`, and loop variables."""
    names = set()
    for block in program.blocks:
        for node in (n for s in block.stmts for n in ast.walk(s)):
            if isinstance(node, ast.Decl) and block.name != "data":
                names.add(node.name)
            elif isinstance(node, (ast.For, ast.ForEach)):
                names.add(node.var)
    return names


def substitute(text: str, mapping: dict) -> str:
    return IDENT.sub(lambda m: mapping.get(m.group(), m.group()), text)


def renamed(text: str, rng: random.Random) -> str:
    """Every non-data variable renamed to a fresh random name."""
    old = sorted(renamable(parse(text)))
    taken = set(IDENT.findall(text))
    fresh = set()
    while len(fresh) < len(old):
        name = rng.choice("abcdefghuvwxyz") + "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789_", k=5))
        if name not in taken:
            fresh.add(name)
    new = sorted(fresh)
    rng.shuffle(new)
    return substitute(text, dict(zip(old, new)))


def _touched(s) -> set:
    return {n.name for n in ast.walk(s) if isinstance(n, (ast.Var, ast.Decl))}


def _written(s) -> set:
    out = set()
    for n in ast.walk(s):
        if isinstance(n, ast.Decl):
            out.add(n.name)
        elif isinstance(n, ast.Assign):
            lhs = n.lhs
            while isinstance(lhs, ast.Index):
                lhs = lhs.base
            out.add(lhs.name)
    return out


def _dependent(a, b) -> bool:
    return bool(_written(a) & _touched(b) or _written(b) & _touched(a))


def _linear_extension(stmts: tuple, rng: random.Random) -> tuple:
    stmts = tuple(_shuffle_stmt(s, rng) for s in stmts)
    left, order = list(range(len(stmts))), []
    while left:
        free = [j for j in left if not any(i < j and _dependent(stmts[i], stmts[j]) for i in left)]
        pick = rng.choice(free)
        left.remove(pick)
        order.append(stmts[pick])
    return tuple(order)


def _shuffle_stmt(s, rng):
    match s:
        case ast.Compound(stmts=stmts):
            return ast.Compound(_linear_extension(stmts, rng))
        case ast.For() | ast.ForEach():
            return type(s)(**{**s.__dict__, "body": _shuffle_stmt(s.body, rng)})
        case ast.If(cond=c, then=t, other=o):
            return ast.If(c, _shuffle_stmt(t, rng), None if o is None else _shuffle_stmt(o, rng))
    return s


def shuffled(text: str, rng: random.Random) -> str:
    """Independent statements in a random order, in every block and every nested body."""
    program = parse(text)
    out = ast.Program(tuple(ast.Block(b.name, _linear_extension(b.stmts, rng)) for b in program.blocks))
    return to_stan(out)


def variants(text: str, seed: int) -> list:
    rng = random.Random(seed)
    return [relayout(text, rng), renamed(text, rng), shuffled(text, rng), relayout(renamed(shuffled(text, rng), rng), rng)]


def h(text: str) -> str:
    return structural_hash(parse(text))


def ctext(text: str, **kw) -> str:
    return canonical_text(parse(text), **kw)


# ---- invariance ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_canonical_text_is_valid_and_a_fixed_point(name):
    text = ctext(PROGRAMS[name])
    assert ctext(text) == text
    assert re.fullmatch(r"[0-9a-f]{16}", h(PROGRAMS[name]))


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_layout_names_and_independent_order_do_not_change_the_hash(name):
    src = PROGRAMS[name]
    for seed in range(3):
        for variant in variants(src, seed):
            assert ctext(variant) == ctext(src), variant


def test_the_generated_variants_really_differ_from_the_original():
    # guards the test above: shuffling and renaming do change the program text
    src = PROGRAMS["tp_and_gq"]
    rng = random.Random(0)
    assert len({shuffled(src, rng) for _ in range(10)}) > 1
    assert renamable(parse(renamed(src, rng))).isdisjoint(renamable(parse(src)))


def test_swapping_prior_statements_and_parameter_declarations_by_hand():
    swapped = (
        EIGHT_SCHOOLS.replace("real mu;\n  real<lower=0> tau;", "real<lower=0> tau;\n  real mu;")
        .replace("mu ~ normal(0, 5);\n  tau ~ cauchy(0, 5);", "tau ~ cauchy(0, 5);\n  mu ~ normal(0, 5);")
    )
    assert swapped != EIGHT_SCHOOLS
    assert h(swapped) == h(EIGHT_SCHOOLS)


def test_layout_only_differences():
    braced = "data { int N; vector[N] y; } parameters { real m; } model { for (n in 1:N) { y[n] ~ normal(m, 1); } }"
    bare = "data { int N; vector[N] y; } parameters { real m; } transformed parameters { } model { for (n in 1:N) y[n] ~ normal(m, 1); }"
    assert h(braced) == h(bare)
    chain = "parameters { real m; } model { if (m > 0) { m ~ normal(0, 1); } else if (m < -1) { m ~ normal(0, 2); } }"
    nested = "parameters { real m; } model { if (m > 0) m ~ normal(0, 1); else { if (m < -1) { m ~ normal(0, 2); } } }"
    assert h(chain) == h(nested)


def test_locals_of_sibling_scopes_may_share_or_not_share_a_name():
    tmpl = "data { int N; vector[N] y; } parameters { real m; } model { for (n in 1:N) { real %s = m * 2; y[n] ~ normal(%s, 1); } for (k in 1:N) { real %s = m; y[k] ~ normal(%s, 3); } }"
    assert h(tmpl % ("z", "z", "z", "z")) == h(tmpl % ("z1", "z1", "z2", "z2"))


CYCLE6 = "parameters { real a; real b; real c; real d; real e; real f; } model { a ~ normal(b, 1); b ~ normal(c, 1); c ~ normal(d, 1); d ~ normal(e, 1); e ~ normal(f, 1); f ~ normal(a, 1); }"
TWO_CYCLES = "parameters { real a; real b; real c; real d; real e; real f; } model { a ~ normal(b, 1); b ~ normal(c, 1); c ~ normal(a, 1); d ~ normal(e, 1); e ~ normal(f, 1); f ~ normal(d, 1); }"


def test_structures_colour_refinement_cannot_split_still_get_stable_distinct_hashes():
    # every variable looks alike locally in both programs; only the cycle structure differs
    assert h(CYCLE6) != h(TWO_CYCLES)
    for seed in range(2):
        for variant in variants(CYCLE6, seed):
            assert h(variant) == h(CYCLE6)
        for variant in variants(TWO_CYCLES, seed):
            assert h(variant) == h(TWO_CYCLES)


def test_many_alike_declarations_told_apart_by_their_use():
    # twelve `real` parameters, more than any search over ties could afford to try in full
    decls = " ".join(f"real b{k};" for k in range(12))
    priors = " ".join(f"b{k} ~ normal(0, {k + 1});" for k in range(12))
    src = f"data {{ vector[4] y; }} parameters {{ {decls} }} model {{ {priors} y ~ normal(b0 + b5, 1); }}"
    for seed in range(3):
        for variant in variants(src, seed):
            assert h(variant) == h(src)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["tp_and_gq", "mixture", "hierarchical_groups", "nested_control"]), st.integers(0, 2**32))
def test_property_random_reorderings_and_renamings_keep_the_hash(name, seed):
    src, rng = PROGRAMS[name], random.Random(seed)
    assert h(renamed(shuffled(src, rng), rng)) == h(src)


# ---- sensitivity --------------------------------------------------------------------------------

ACC = """
data { vector[3] y; }
parameters { real a; real b; }
model {
  real acc;
  a ~ normal(0, 1);
  b ~ normal(0, 2);
  acc = a;
  acc = b;
  acc *= 2;
  y ~ normal(acc, 1);
}
"""


@pytest.mark.parametrize(
    "name, old, new",
    [
        ("eight_schools", "mu ~ normal(0, 5)", "mu ~ normal(0, 6)"),
        ("eight_schools", "mu ~ normal(0, 5)", "mu ~ normal(0, 5.0)"),
        ("eight_schools", "tau ~ cauchy(0, 5)", "tau ~ normal(0, 5)"),
        ("eight_schools", "real<lower=0> tau", "real<lower=1> tau"),
        ("ar1", "real<lower=-1, upper=1> rho", "real<lower=-1> rho"),
        ("ar1", "2:T", "3:T"),
        ("truncated_prior", " T[0, ]", ""),
        ("model_locals", "lin += w2 * x2", "lin += w2 * x1"),
        ("model_locals", "lin += w2 * x2", "lin -= w2 * x2"),
        ("poisson_glm", "vector[N] x;", "vector<lower=0>[N] x;"),
        ("hierarchical_groups", "a[group[n]]", "a[n]"),
        ("nested_control", "c < cut ? early : late", "c <= cut ? early : late"),
        ("nested_control", "late ~ exponential(1)", "late ~ exponential(2)"),
        ("tp_and_gq", "normal_rng(mean_y[n], noise)", "normal_rng(mean_y[n], 2 * noise)"),
    ],
)
def test_a_real_change_changes_the_hash(name, old, new):
    src = PROGRAMS[name]
    assert old in src
    assert h(src.replace(old, new)) != h(src)


def test_a_write_stays_after_the_reads_before_it():
    # `y1` must be scored with the first value of acc: the reassignment may not move above it
    src = ("data { vector[3] y1; vector[3] y2; } parameters { real a; real b; } model { real acc = a; "
           "a ~ normal(0, 1); b ~ normal(0, 1); y1 ~ normal(acc, 1); acc = b; y2 ~ normal(acc, 1); }")
    moved = src.replace("y1 ~ normal(acc, 1); acc = b;", "acc = b; y1 ~ normal(acc, 1);")
    assert h(moved) != h(src)
    canonical = ctext(src, rename=False)
    assert canonical.index("y1 ~ normal(acc, 1)") < canonical.index("acc = b")


def test_locals_go_with_what_reads_them_through_a_chain():
    # s is read only by t, and t only by the likelihood: both are part of L; u feeds a prior
    src = ("data { int N; vector[N] y; vector[N] x; } parameters { real mu; real log_s; } model { "
           "real s = exp(log_s); real t = 2 * s; real u = 3; mu ~ normal(0, u); log_s ~ normal(0, 1); "
           "y ~ normal(mu, t); }")
    dpl = blocks(parse(src))
    assert "real s = exp(log_s);" in dpl.likelihood and "real t = 2 * s;" in dpl.likelihood
    assert "real u = 3;" in dpl.prior


def test_locals_computed_from_data_through_a_chain_are_data():
    # w is data at two removes (x -> z -> w): scoring it is a likelihood, not a prior
    src = ("data { int N; vector[N] x; } parameters { real mu; } model { vector[N] z = x - mean(x); "
           "vector[N] w = 2 * z; mu ~ normal(0, 1); w ~ normal(mu, 1); }")
    dpl = blocks(parse(src))
    assert "w ~ normal(mu, 1);" in dpl.likelihood and "w ~" not in dpl.prior


def test_swapping_dependent_assignments_changes_the_hash():
    assert h(ACC.replace("acc = a;\n  acc = b;", "acc = b;\n  acc = a;")) != h(ACC)
    assert h(ACC.replace("acc = b;\n  acc *= 2;", "acc *= 2;\n  acc = b;")) != h(ACC)
    # while moving an independent prior statement does not
    assert h(ACC.replace("  b ~ normal(0, 2);\n", "").replace("y ~", "b ~ normal(0, 2);\n  y ~")) == h(ACC)


def test_swapping_two_interchangeable_parameters_is_only_a_renaming():
    # early and late have the same declaration and prior, so this swap renames them
    src = PROGRAMS["nested_control"]
    assert h(src.replace("c < cut ? early : late", "c < cut ? late : early")) == h(src)


def test_a_read_of_target_stays_after_the_increments_before_it():
    tmpl = "parameters { real a; real b; } model { %s }"
    first = "a ~ normal(0, 1); real lp = target(); b ~ normal(lp, 1);"
    moved = "real lp = target(); a ~ normal(0, 1); b ~ normal(lp, 1);"
    assert h(tmpl % first) != h(tmpl % moved)


def test_which_data_variable_is_used_matters():
    src = "data { int N; vector[N] u; vector[N] v; } parameters { real m; } model { u ~ normal(m, 1); }"
    assert h(src) != h(src.replace("u ~", "v ~"))


# ---- names --------------------------------------------------------------------------------------


def test_canonical_names_by_block_and_loop_depth():
    text = ctext(PROGRAMS["tp_and_gq"])
    assert re.findall(r"real<lower=0> (\w+);", text) == ["p3"]
    assert "vector[N] tp1;" in text and "array[N] real g1;" in text and "vector[N] g2;" in text
    assert "for (i1 in 1:N)" in text
    nested = ctext(PROGRAMS["nested_control"])
    assert "for (i2 in 1:C)" in nested and "real m1 = i2 < cut ? " in nested
    assert "vector[N] td1 = log(exposure);" in ctext(PROGRAMS["poisson_glm"])


def test_data_keep_their_names_and_parameters_are_numbered_in_declaration_order():
    text = ctext(EIGHT_SCHOOLS)
    assert "array[J] real<lower=0> sigma;" in text
    assert text.index("real p1;") < text.index("real<lower=0> p2;") < text.index("vector[J] p3;")
    assert rename_map(parse(EIGHT_SCHOOLS)) == {
        "J": "J", "y": "y", "sigma": "sigma", "mu": "p1", "tau": "p2", "theta": "p3"
    }  # fmt: skip


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_rename_map_explains_the_canonical_text(name):
    program = parse(PROGRAMS[name])
    mapped = substitute(to_stan(program), rename_map(program))
    assert canonical_text(parse(mapped), rename=False) == canonical_text(program)


def test_canonical_model_block_puts_priors_before_the_likelihood():
    # by text alone `ab ~ ...` would sort before `p1 ~ ...`
    text = ctext("data { vector[3] ab; } parameters { real m; } model { ab ~ normal(m, 1); m ~ normal(0, 1); }")
    assert text.index("p1 ~ normal(0, 1);") < text.index("ab ~ normal(p1, 1);")


def test_generated_names_avoid_data_names():
    src = "data { real p1; real i1; } parameters { real mu; } model { for (k in 1:3) { mu ~ normal(p1, i1); } }"
    text = ctext(src)
    assert "real p1_;" in text and "for (i1_ in 1:3)" in text and "normal(p1, i1)" in text
    assert ctext(text) == text


def test_without_renaming_names_stay_but_order_and_layout_are_normalised():
    shuffled_src = EIGHT_SCHOOLS.replace("mu ~ normal(0, 5);\n  tau ~ cauchy(0, 5);", "tau ~ cauchy(0, 5);\n  mu ~ normal(0, 5);")
    plain = ctext(shuffled_src, rename=False)
    assert plain == ctext(relayout(EIGHT_SCHOOLS, random.Random(1)), rename=False)
    assert "mu ~ normal(0, 5);" in plain and "p1" not in plain
    assert h(plain) == h(EIGHT_SCHOOLS)


# ---- D ‖ P ‖ L ----------------------------------------------------------------------------------


def stmt_texts(stmts) -> list:
    return [to_stan(s) for s in stmts]


def test_eight_schools_split():
    dpl = blocks(parse(EIGHT_SCHOOLS))
    assert stmt_texts(dpl.prior_stmts) == ["mu ~ normal(0, 5);", "tau ~ cauchy(0, 5);", "theta ~ normal(mu, tau);"]
    assert stmt_texts(dpl.likelihood_stmts) == ["y ~ normal(theta, sigma);"]
    assert [b.name for b in parse(dpl.data).blocks] == ["data"]
    assert [b.name for b in parse(dpl.prior).blocks] == ["parameters", "model"]
    assert dpl.likelihood == "model {\n  y ~ normal(theta, sigma);\n}\n"
    assert dpl.generated == ""


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_rebuilding_from_the_pieces_keeps_the_hash(name):
    program = parse(PROGRAMS[name])
    assert structural_hash(join(blocks(program))) == structural_hash(program)


def test_rebuilding_puts_prior_before_likelihood():
    likelihood_first = EIGHT_SCHOOLS.replace("  y ~ normal(theta, sigma);\n", "").replace("model {\n", "model {\n  y ~ normal(theta, sigma);\n")
    rebuilt = join(blocks(parse(likelihood_first)))
    assert rebuilt == parse(EIGHT_SCHOOLS)


@pytest.mark.parametrize(
    "name, prior, likelihood",
    [
        ("poisson_glm", ["b0 ~ normal(0, 5);", "b1 ~ normal(0, 1);"], ["vector[N] eta = log_exposure + b0 + b1 * x;", "count ~ poisson_log(eta);"]),
        ("model_locals", ["w1 ~ normal(0, 1);", "w2 ~ normal(0, 1);", "eps ~ gamma(2, 0.1);"], ["vector[N] lin = w1 * x1;", "lin += w2 * x2;", "y ~ normal(lin, eps);"]),
        ("mixture", ["loc ~ normal(0, 5);", "scale ~ lognormal(0, 1);", "lambda ~ beta(2, 2);", "target += -0.5 * square(scale);"], None),
        ("hierarchical_groups", ["mu_a ~ normal(0, 10);", "sigma_a ~ normal(0, 1);", "a ~ normal(mu_a, sigma_a);", "sigma_y ~ student_t(3, 0, 1);"], None),
    ],
)
def test_split_rules(name, prior, likelihood):
    dpl = blocks(parse(PROGRAMS[name]))
    assert stmt_texts(dpl.prior_stmts) == prior
    if likelihood is not None:
        assert stmt_texts(dpl.likelihood_stmts) == likelihood
    assert all(isinstance(s, (ast.For, ast.Tilde, ast.TargetPlus, ast.Decl, ast.Assign)) for s in dpl.likelihood_stmts)
    assert len(dpl.prior_stmts) + len(dpl.likelihood_stmts) == len(parse(PROGRAMS[name]).stmts("model"))


def test_split_of_indexed_and_derived_left_sides():
    src = """
    data { int N; array[N] int<lower=1, upper=3> idx; vector[N] raw; }
    parameters { vector[3] theta; real m; }
    model {
      real s0 = 2.5;
      vector[N] z = (raw - mean(raw)) / sd(raw);
      theta[idx] ~ normal(0, s0);
      m ~ normal(0, 1);
      z ~ normal(m, 1);
      target += -log1p(square(m));
    }
    """
    dpl = blocks(parse(src))
    assert stmt_texts(dpl.prior_stmts) == ["real s0 = 2.5;", "theta[idx] ~ normal(0, s0);", "m ~ normal(0, 1);", "target += -log1p(square(m));"]
    assert stmt_texts(dpl.likelihood_stmts) == ["vector[N] z = (raw - mean(raw)) / sd(raw);", "z ~ normal(m, 1);"]


def test_generated_quantities_are_their_own_piece():
    dpl = blocks(parse(PROGRAMS["tp_and_gq"]))
    assert [b.name for b in parse(dpl.generated).blocks] == ["generated quantities"]
    assert "generated" not in dpl.likelihood and "generated" not in dpl.prior
    assert [b.name for b in parse(dpl.prior).blocks] == ["parameters", "transformed parameters", "model"]


def test_with_block_rewrites_one_piece_and_keeps_the_rest():
    program = parse(EIGHT_SCHOOLS)
    expected = parse(EIGHT_SCHOOLS.replace("y ~ normal(theta, sigma)", "y ~ student_t(4, theta, sigma)"))
    assert with_block(program, "likelihood", "y ~ student_t(4, theta, sigma);") == expected
    assert with_block(program, "L", "model { y ~ student_t(4, theta, sigma); }") == expected
    noncentered_prior = blocks(parse(EIGHT_SCHOOLS_NONCENTERED)).prior
    assert structural_hash(with_block(program, "prior", noncentered_prior)) == h(EIGHT_SCHOOLS_NONCENTERED)
    gq = with_block(program, "generated", "array[J] real y_rep = normal_rng(theta, sigma);")
    assert gq.blocks[:-1] == program.blocks and gq.blocks[-1].name == "generated quantities"


def test_with_block_rejects_what_the_piece_does_not_own():
    program = parse(EIGHT_SCHOOLS)
    with pytest.raises(ProgramError, match="likelihood piece"):
        with_block(program, "likelihood", "parameters { real nu; } model { y ~ student_t(nu, theta, sigma); }")
    with pytest.raises(ProgramError):
        with_block(program, "likelihood", "y ~ normal(theta sigma);")
    with pytest.raises(ValueError):
        with_block(program, "posterior", "")


def test_tree_rewrite_replaces_top_down_and_shares_what_it_did_not_touch():
    from boxloop.lang.printer import to_stan

    stmt = parse("y ~ normal(a + b * x, exp(log(x)));", start="statement")
    wrapped = ast.rewrite(stmt, lambda n: n if isinstance(n, ast.Call) and n.name == "exp"
                          else (ast.Call("log", (n,)) if isinstance(n, ast.Var) and n.name == "x" else None))
    assert to_stan(wrapped).strip() == "y ~ normal(a + b * log(x), exp(log(x)));"
    assert wrapped.args[1] is stmt.args[1]  # not descended into, not copied
    assert ast.rewrite(stmt, lambda n: None) is stmt


# ---- large programs ---------------------------------------------------------------------------
# How long the canonical form takes against program size is benchmarks/check_speed.py --sweep;
# these tests hold what it must still get right at sizes where the search is bounded.


def _interchangeable_priors(k: int, order: list) -> str:
    decls = "".join(f"  real b{i};\n" for i in order)
    body = "".join(f"  b{i} ~ normal(0, 1);\n  y ~ normal(b{i} * x, sigma);\n" for i in order)
    return ("data { int N; vector[N] y; vector[N] x; }\nparameters {\n" + decls + "  real<lower=0> sigma;\n}\n"
            "model {\n  sigma ~ exponential(1);\n" + body + "}\n")


def test_hundreds_of_interchangeable_priors_keep_the_hash_in_any_order():
    # 150 coefficients that swap freely: seen to be interchangeable from the statements that
    # mention them, without laying out the whole program once per coefficient
    k = 150
    order = list(range(k))
    first = _interchangeable_priors(k, order)
    random.Random(1).shuffle(order)
    reordered = renamed(_interchangeable_priors(k, order), random.Random(2))
    assert h(reordered) == h(first)
    assert h(first.replace("b7 ~ normal(0, 1)", "b7 ~ normal(0, 2)")) != h(first)


def _chain(n: int) -> str:
    decls = "".join(f"  vector[N] m{i};\n" for i in range(n + 1))
    body = "".join(f"  m{i + 1} = m{i} + x;\n" for i in range(n))
    return ("data { int N; vector[N] y; vector[N] x; }\nparameters { real mu; real<lower=0> sigma; }\n"
            f"model {{\n{decls}  m0 = mu + x;\n{body}  mu ~ normal(0, 1);\n  sigma ~ exponential(1);\n"
            f"  y ~ normal(m{n}, sigma);\n}}\n")


def test_a_program_past_the_search_budget_still_gets_a_faithful_canonical_text():
    # A chain of 120 locals needs 60 rounds of refinement to tell them apart, past the search's
    # work budget: the ties left are split in declaration order (so here, and only here, the text
    # may depend on statement order). It is still the program under new names, ignores the old
    # names, and changes when the program does.
    src = _chain(120)
    same_program = substitute(src, rename_map(parse(src)))
    assert ctext(same_program, rename=False) == ctext(ctext(src), rename=False)
    assert h(renamed(src, random.Random(3))) == h(src)
    assert h(src.replace("m60 = m59 + x", "m60 = m59 - x")) != h(src)
    assert h(src.replace("m0 = mu + x;\n", "m0 = mu + x;\n  m0 = m0 + x;\n")) != h(src)


# ---- fixed point on real programs -----------------------------------------------------------------

RECURRENCE = """
data { int<lower=1> T; array[T] real y; }
parameters { real mu; real phi; real theta; real<lower=0> sigma; }
model {
  vector[T] pred;
  vector[T] resid;
  mu ~ normal(0, 10);
  phi ~ normal(0, 2);
  theta ~ normal(0, 2);
  sigma ~ cauchy(0, 2.5);
  pred[1] = mu + phi * mu;
  resid[1] = y[1] - pred[1];
  for (t in 2:T) {
    pred[t] = mu + phi * y[t - 1] + theta * resid[t - 1];
    resid[t] = y[t] - pred[t];
  }
  resid ~ normal(0, sigma);
}
"""


def test_a_loop_body_read_by_colour_refinement_is_blind_to_the_names_it_had():
    # the body's statements used to be sorted by their text with the original names, so the
    # canonical text of the canonical text swapped the two locals (and changed the hash)
    once = ctext(RECURRENCE)
    assert ctext(once) == once
    assert h(RECURRENCE.replace("pred", "zz").replace("resid", "aa")) == h(RECURRENCE)


@pytest.mark.slow
def test_every_accepted_corpus_program_has_a_canonical_text_that_is_a_fixed_point():
    from shared_data import shared

    from boxloop.lang import check

    moved = []
    for path in sorted(shared("corpus").rglob("*.stan")):
        result = check(path.read_text())
        if result.valid:
            once = canonical_text(result.program)
            if ctext(once) != once:
                moved.append(path.name)
    assert not moved, moved
