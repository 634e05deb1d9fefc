"""Random and mutated programs: the parser and checker only ever raise ProgramError, and stay fast."""

import time
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from boxloop.errors import ProgramError
from boxloop.lang import check, parse

PROGRAMS = [p.read_text() for p in sorted((Path(__file__).parents[1] / "programs" / "valid").glob("*.stan"))]
TOKENS = ["data", "parameters", "model", "{", "}", "(", ")", "[", "]", ";", ",", "~", "=", "+=", "real",
          "int", "vector", "array", "<lower=0>", "normal", "y", "mu", "sigma", "N", "1", "2.5", "+", "-",
          "*", "/", "^", "'", "|", "?", ":", "for", "in", "if", "else", "target", "T", "_lpdf", " ", "\n",
          "1e400", "9" * 400, "//", "/*", "*/", "\x00", "é"]


def _check_never_crashes(text: str) -> None:
    started = time.perf_counter()
    try:
        result = check(text)
    except ProgramError:  # check() reports, it should not even raise this
        raise AssertionError("check() raised instead of returning diagnostics")
    elapsed = time.perf_counter() - started
    assert elapsed < 1.0, f"checking took {elapsed:.2f}s"
    assert result.valid == (not result.errors)
    try:
        parse(text)
    except ProgramError as exc:
        assert exc.diagnostics and exc.diagnostics[0].predicate == "phi1"


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


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_program())
def test_mutated_programs_only_give_diagnostics(text):
    _check_never_crashes(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=80).map(" ".join))
def test_token_soup_only_gives_diagnostics(text):
    _check_never_crashes(text)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_text_only_gives_diagnostics(text):
    _check_never_crashes(text)


def _big_program(kb: int) -> str:
    body = []
    i = 0
    while sum(len(b) for b in body) < kb * 1024:
        body.append(f"  real m{i} = mu * {i}.5 + log1p(square(sigma));\n  y ~ normal(m{i}, sigma);\n")
        i += 1
    return ("data { int N; vector[N] y; }\nparameters { real mu; real<lower=0> sigma; }\n"
            "model {\n  mu ~ normal(0, 1);\n  sigma ~ exponential(1);\n" + "".join(body) + "}\n")


def test_ten_kilobyte_program_checks_within_a_second():
    text = _big_program(10)
    check(text)  # warm the parser cache
    started = time.perf_counter()
    result = check(text)
    assert time.perf_counter() - started < 1.0
    assert result.valid


def test_deeply_nested_expression_is_an_error_not_a_crash():
    text = "data { int N; vector[N] y; } parameters { real mu; } model { mu ~ normal(" + \
        "(" * 3000 + "0" + ")" * 3000 + ", 1); }"
    _check_never_crashes(text)


def test_thousands_of_terms_give_a_clear_error():
    for expr in ["- " * 3000 + "1", " + ".join(["mu"] * 3000)]:
        result = check("parameters { real mu; } model { mu ~ normal(" + expr + ", 1); }")
        assert not result.valid and result.errors[0].code == "parse.too_deep"


def test_huge_literal_is_reported():
    result = check("parameters { real mu; } model { mu ~ normal(1e999, 1); }")
    assert isinstance(result.valid, bool)


def test_keyword_guard_covers_every_word_terminal():
    from boxloop.lang.parser import _keyword_terminals, _lark

    words = {t.name for t in _lark().terminals if t.pattern.type == "str" and t.pattern.value.isidentifier()}
    assert set(_keyword_terminals()) == words
