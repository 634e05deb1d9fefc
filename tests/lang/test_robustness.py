"""Random and mutated programs: the parser, the checker and what `boxloop check` prints from a
valid program (canonical text, hash, D ‖ P ‖ L) only ever report diagnostics, never raise.

In CI the examples are fixed (the derandomized "ci" profile of tests/conftest.py). A wider,
freshly random search is run by hand:

    BOXLOOP_FUZZ=wide python -m pytest tests/lang/test_robustness.py -q

(20 times the examples). How checking time grows with program size is measured by
`python benchmarks/check_speed.py --sweep`, not asserted here.
"""

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxloop.errors import ProgramError
from boxloop.lang import blocks, canonical_text, check, parse, structural_hash
from boxloop.lang.parser import MAX_NESTING

PROGRAMS = [p.read_text() for p in sorted((Path(__file__).parents[1] / "programs" / "valid").glob("*.stan"))]
TOKENS = ["data", "parameters", "model", "{", "}", "(", ")", "[", "]", ";", ",", "~", "=", "+=", "real",
          "int", "vector", "array", "<lower=0>", "normal", "y", "mu", "sigma", "N", "1", "2.5", "+", "-",
          "*", "/", "^", "'", "|", "?", ":", "for", "in", "if", "else", "target", "T", "_lpdf", " ", "\n",
          "1e400", "9" * 400, "2147483648", "1e200 ^ 2", "10 ^ 400", "(" * 60, "-" * 120, "//", "/*",
          "*/", "\x00", "é"]
SCALE = 20 if os.environ.get("BOXLOOP_FUZZ") == "wide" else 1


def _check_never_crashes(text: str) -> None:
    result = check(text)  # reports; raising anything (ProgramError included) fails the test
    assert result.valid == (not result.errors)
    if result.valid:
        # what `boxloop check` prints for a valid program, and the canonical text is a fixed point
        canonical = canonical_text(result.program)
        assert structural_hash(parse(canonical)) == structural_hash(result.program)
        blocks(result.program)
    try:
        parse(text)
    except ProgramError as exc:  # a text that does not parse: check reports exactly that
        assert exc.diagnostics and tuple(exc.diagnostics) == result.diagnostics
        assert result.program is None and not result.valid


@st.composite
def mutated_program(draw):
    text = draw(st.sampled_from(PROGRAMS))
    for _ in range(draw(st.integers(1, 6))):
        i = draw(st.integers(0, len(text)))
        j = draw(st.integers(i, min(len(text), i + 12)))
        action = draw(st.sampled_from(["delete", "insert", "duplicate", "swap"]))
        if action == "delete":
            text = text[:i] + text[j:]
        elif action == "insert":
            text = text[:i] + draw(st.sampled_from(TOKENS)) + text[i:]
        elif action == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        else:
            text = text[:i] + text[j:] + text[i:j]
    return text


@settings(max_examples=300 * SCALE, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_program())
def test_mutated_programs_only_give_diagnostics(text):
    _check_never_crashes(text)


@settings(max_examples=200 * SCALE)
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map(" ".join))
def test_token_soup_only_gives_diagnostics(text):
    _check_never_crashes(text)


@settings(max_examples=100 * SCALE)
@given(st.text(max_size=300))
def test_arbitrary_text_only_gives_diagnostics(text):
    _check_never_crashes(text)


HEAD = "parameters { real mu; } model { "
NESTED = {
    "parentheses around a call": lambda n: HEAD + "mu ~ normal(" + "exp(" * n + "0" + ")" * n + ", 1); }",
    "unary minus": lambda n: HEAD + "mu ~ normal(" + "- " * n + "1, 1); }",
    "a long sum": lambda n: HEAD + "mu ~ normal(" + " + ".join(["mu"] * n) + ", 1); }",
    "braces": lambda n: HEAD + "{ " * n + "mu ~ normal(0, 1);" + " }" * n + " }",
    "if statements": lambda n: HEAD + "if (1) " * n + "mu ~ normal(0, 1); }",
    "array literals": lambda n: HEAD + "mu ~ normal(" + "{" * n + "0" + "}" * n + ", 1); }",
}


@pytest.mark.parametrize("shape", NESTED)
def test_nesting_past_the_limit_is_reported_as_too_deep(shape):
    for n in (MAX_NESTING + 1, 3000):  # 3000 ifs used to come back as parse.invalid_literal
        result = check(NESTED[shape](n))
        assert [d.code for d in result.diagnostics] == ["parse.too_deep"], (shape, n)
        diag = result.errors[0]
        assert diag.line == 1 and f"more than {MAX_NESTING} levels" in diag.message


def test_an_unbraced_if_body_counts_as_its_canonical_braces():
    # 60 nested ifs are 60 levels as written but 120 in canonical form, which must parse again
    result = check(NESTED["if statements"](MAX_NESTING * 3 // 5))
    assert [d.code for d in result.diagnostics] == ["parse.too_deep"]


@pytest.mark.parametrize("shape, n", [("unary minus", MAX_NESTING - 10), ("a long sum", MAX_NESTING - 10),
                                      ("braces", MAX_NESTING - 10), ("if statements", MAX_NESTING // 2 - 5)])
def test_nesting_within_the_limit_checks_and_prints(shape, n):
    # The limit leaves every later stage room: the canonical form of a program near it (which
    # recurses deeper than the checker) is computed and parses again; an unbraced if body counts
    # as the two levels its canonical braces take.
    text = NESTED[shape](n)
    _check_never_crashes(text)
    assert check(text).valid


def test_integer_literal_beyond_stans_int_is_an_error_not_a_crash():
    # a 400-digit literal used to raise OverflowError from the interval analysis
    for literal in ("9" * 400, "2147483648"):
        result = check(HEAD + f"mu ~ normal({literal}, 1); }}")
        assert result.errors[0].code == "type.int_too_large", literal
        assert "2,147,483,647" in result.errors[0].message
    assert check(HEAD + "mu ~ normal(2147483647, 1); }").valid  # the largest int is fine


@pytest.mark.parametrize("expr", ["1e999", "1e200 ^ 2", "10 ^ 400", "(-10) ^ 401"])
def test_infinite_constants_are_a_support_violation_not_a_crash(expr):
    # an overflowing power used to raise OverflowError; an infinite location is outside normal's support
    result = check(HEAD + f"mu ~ normal({expr}, 1); }}")
    assert [d.code for d in result.errors] == ["support.violation"], expr


@pytest.mark.parametrize("text", ["", "  \n// only a comment\n", "model { }", "data { } parameters { } model { }"])
def test_empty_program_is_reported_as_empty(text):
    result = check(text)
    assert not result.valid and [d.code for d in result.errors] == ["program.empty"]
    assert "nothing to fit" in result.errors[0].message


def test_data_only_program_is_not_empty():
    assert check("data { int N; }").valid


def test_keyword_guard_covers_every_word_terminal():
    from boxloop.lang.parser import _keyword_terminals, _lark

    words = {t.name for t in _lark().terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()}
    assert set(_keyword_terminals()) == words
