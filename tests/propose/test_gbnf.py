"""The grammars sent to servers accept the programs boxloop writes and reject broken ones.

llguidance (the engine behind vLLM's guidance backend and llama.cpp's optional one) plays the
server: it reads the Lark grammar as vLLM would, and reads our GBNF through its own GBNF parser,
and is driven byte by byte."""

from __future__ import annotations

from pathlib import Path

import pytest

from boxloop.lang import grammar_text
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


@pytest.mark.parametrize("kind", ["lark (vllm)", "gbnf (llama.cpp)"])
def test_grammar_accepts_programs_and_rejects_broken_text(kind, grammars, tokenizer):
    for path in PROGRAMS[:12]:
        # our GBNF has no comments, and llguidance lets nothing (not even whitespace) precede the first token
        text = "\n".join(line.split("//")[0] for line in path.read_text().splitlines()).lstrip()
        assert _accepts(tokenizer, grammars[kind], text), path.name
    for text in BROKEN:
        assert not _accepts(tokenizer, grammars[kind], text), text


def test_gbnf_shape():
    g = stan_gbnf()
    assert g.startswith("root ::= ws r-start\n") and "t-ident ::= [a-zA-Z] [a-zA-Z0-9_]* ws" in g
    assert "r-or-expr ::= (r-and-expr) (t-anon-6 r-and-expr)*" in g  # left recursion rewritten


def test_conversion_refuses_what_gbnf_cannot_say():
    with pytest.raises(GrammarConversionError):
        lark_to_gbnf('start: WORD\nWORD: /(?=a)b/\n')
