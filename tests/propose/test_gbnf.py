"""The grammars sent to servers accept the programs boxloop writes and reject broken ones.

llguidance (the engine behind vLLM's guidance backend and llama.cpp's optional one) plays the
server: it reads the Lark grammar as vLLM would, and reads our GBNF through its own GBNF parser,
and is driven byte by byte."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from boxloop.errors import ProgramError
from boxloop.lang import grammar_text, parse
from boxloop.propose.gbnf import GrammarConversionError, lark_to_gbnf, stan_gbnf

llguidance = pytest.importorskip("llguidance")
from llguidance.gbnf_to_lark import gbnf_to_lark  # noqa: E402

PROGRAMS = sorted((Path(__file__).resolve().parents[1] / "programs" / "valid").glob("*.stan"))
BROKEN = ["data { int N }", "model { y ~ normal(mu sigma); }", "parameters { real 2x; }",
          "model { y ~ normal(mu, sigma) }"]


class _Bytes:
    """A tokenizer whose tokens are the 256 bytes: grammars are then checked character by character."""

    eos_token_id, bos_token_id = 256, None
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]

    def __call__(self, s):
        return list(s if isinstance(s, bytes) else s.encode())


@pytest.fixture(scope="module")
def tokenizer():
    return llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Bytes()))


@pytest.fixture(scope="module")
def grammars():
    return {"lark (vllm)": grammar_text(), "gbnf (llama.cpp)": gbnf_to_lark(stan_gbnf())}


def _accepts(tokenizer, grammar: str, text: str) -> bool:
    matcher = llguidance.LLMatcher(tokenizer, grammar, log_level=0)
    assert not matcher.is_error(), matcher.get_error()
    matcher.consume_tokens(list(text.encode()))
    return not matcher.is_error() and matcher.is_accepting()


def _uncommented(path) -> str:
    # our GBNF has no comments, and llguidance lets nothing (not even whitespace) precede the first token
    return "\n".join(line.split("//")[0] for line in path.read_text().splitlines()).lstrip()


@pytest.mark.parametrize("kind", ["lark (vllm)", "gbnf (llama.cpp)"])
def test_grammar_accepts_every_program_and_rejects_broken_text(kind, grammars, tokenizer):
    assert len(PROGRAMS) >= 38
    for path in PROGRAMS:
        assert _accepts(tokenizer, grammars[kind], _uncommented(path)), path.name
    for text in BROKEN:
        assert not _accepts(tokenizer, grammars[kind], text), text


def test_both_server_grammars_agree_with_the_parser_on_damaged_programs(grammars, tokenizer):
    # Every third program with one character dropped at a spread of places: the parser (the
    # grammar as boxloop reads it) and both server grammars give one verdict.
    for path in PROGRAMS[::3]:
        text = _uncommented(path)
        for i in range(1, len(text), max(1, len(text) // 6)):
            damaged = text[:i] + text[i + 1:]
            try:
                parse(damaged)
                parsed = True
            except ProgramError:
                parsed = False
            for kind, grammar in grammars.items():
                assert _accepts(tokenizer, grammar, damaged) == parsed, (kind, path.name, i, damaged[max(0, i - 20):i + 20])


def _left_symbols(gbnf: str) -> dict:
    """rule -> rules that can come first in one of its alternatives (where an alternative or a
    group starts: the rule's start, after '(' or after '|')."""
    rules = dict(line.split(" ::= ", 1) for line in gbnf.splitlines() if " ::= " in line)
    first = {}
    for name, body in rules.items():
        starts = re.findall(r"(?:^|[(|])\s*\(*\s*([a-z][a-z0-9-]*)", body)
        first[name] = {s for s in starts if s in rules}
    return first


def test_gbnf_has_no_left_recursion():
    # llama.cpp refuses left-recursive rules; Lark writes repetition and operators that way, so
    # the converter must have rewritten every one of them
    first = _left_symbols(stan_gbnf())
    for rule in first:
        seen, stack = set(), list(first[rule])
        while stack:
            other = stack.pop()
            assert other != rule, f"{rule} can begin with itself"
            if other not in seen:
                seen.add(other)
                stack.extend(first[other])
    assert "r-a" in _left_symbols("r-a ::= r-a t-x | t-y\nt-x ::= \"x\"\nt-y ::= \"y\"")["r-a"]  # the check itself sees it


def test_conversion_refuses_what_gbnf_cannot_say():
    with pytest.raises(GrammarConversionError):
        lark_to_gbnf('start: WORD\nWORD: /(?=a)b/\n')
