"""Statement-end detection: the decoder's unit of checking and rollback must match the parser's."""

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boxloop.lang import parse
from boxloop.lang.printer import to_stan
from boxloop.propose import segment as seg

PROGRAMS = sorted((Path(__file__).parent.parent / "programs" / "valid").glob("*.stan"))


def units(text: str, cuts) -> list:
    """Feed `text` in pieces (ending at `cuts`) the way tokens arrive; return what the scanner
    reports, unit by unit: ("header", name) / ("close",) / ("stmt", text)."""
    found, start, block, fed = [], 0, None, 0
    for cut in [*sorted(cuts), len(text)]:
        fed = max(fed, cut)
        while True:
            rest = text[start:fed]
            final = fed == len(text)
            event = seg.scan_outside(rest) if block is None else seg.scan_block(rest, block, final=final)
            if isinstance(event, seg.Header):
                found.append(("header", event.block))
                block = event.block
            elif isinstance(event, seg.Close):
                found.append(("close",))
                block = None
            elif isinstance(event, seg.Statement):
                found.append(("stmt", " ".join(rest[:event.end].split())))
            else:
                assert not isinstance(event, seg.Broken), rest
                break
            start += event.end
    return found


def expected_units(program) -> list:
    out = []
    for block in program.blocks:
        out.append(("header", block.name))
        out += [("stmt", " ".join(to_stan(s).split())) for s in block.stmts]
        out.append(("close",))
    return out


@pytest.mark.parametrize("path", PROGRAMS, ids=lambda p: p.stem)
def test_every_statement_of_the_corpus_is_one_unit(path):
    text = to_stan(parse(path.read_text()))
    assert units(text, range(len(text))) == expected_units(parse(text))


@settings(max_examples=40, deadline=None)
@given(index=st.integers(0, len(PROGRAMS) - 1), cuts=st.lists(st.integers(0, 2000), max_size=60))
def test_units_do_not_depend_on_how_the_text_is_cut(index, cuts):
    text = to_stan(parse(PROGRAMS[index].read_text()))
    assert units(text, [c for c in cuts if c < len(text)]) == expected_units(parse(text))


def test_an_if_waits_to_see_whether_else_follows():
    assert seg.scan_block("if (a > 0) x = 1;", "model") == seg.OPEN
    assert seg.scan_block("if (a > 0) x = 1; el", "model") == seg.OPEN
    whole = seg.scan_block("if (a > 0) x = 1; else x = 2; y", "model")
    assert isinstance(whole, seg.Statement) and whole.end == len("if (a > 0) x = 1; else x = 2;")
    for after in ("  elsewhere = 3;", " }", " y ~ normal(0, 1);"):
        event = seg.scan_block("if (a > 0) x = 1;" + after, "model")
        assert isinstance(event, seg.Statement) and event.end == len("if (a > 0) x = 1;")
    assert isinstance(seg.scan_block("if (a > 0) x = 1;", "model", final=True), seg.Statement)


def test_array_literal_braces_do_not_end_a_statement():
    assert seg.scan_block("x = {1, 2}", "transformed data") == seg.OPEN
    assert isinstance(seg.scan_block("x = {1, 2};", "transformed data"), seg.Statement)


def test_unreadable_statement_is_broken_at_its_semicolon():
    # llguidance lexes `real` here as an identifier; Lark (and Stan) read it as the type keyword.
    event = seg.scan_block("  real ~ normal(0, 1);", "model")
    assert isinstance(event, seg.Broken) and event.diagnostics[0].predicate == "phi1"


def test_headers_and_block_ends():
    header = "\n transformed \n parameters  {"
    assert seg.scan_outside(header + "\n") == seg.Header(len(header), "transformed parameters")
    assert seg.scan_outside("\nmod") == seg.OPEN
    assert seg.scan_block("  \n}\n", "model") == seg.Close(4)


@pytest.mark.parametrize("text", ["realx;", "array[N] intn;"])
def test_keyword_glued_to_a_name_is_broken(text):
    # Lark and llguidance both read `realx` as `real x` where only a type may stand; Stan does not.
    event = seg.scan_block(text, "parameters")
    assert isinstance(event, seg.Broken) and event.diagnostics[0].code == "parse.glued_keyword"


@pytest.mark.parametrize("text", ["vector[N]theta;", "int<lower=0>n;"])
def test_punctuation_separates_keywords_from_names(text):
    assert isinstance(seg.scan_block(text, "parameters"), seg.Statement)


def test_number_exponents_are_not_names():
    assert isinstance(seg.scan_block("x = 1e5 * 2.5E-3;", "transformed data"), seg.Statement)
