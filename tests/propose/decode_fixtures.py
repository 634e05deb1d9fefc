"""Fixtures for the decoder tests, which import them by name (so they do not leak into the other
tests of this folder): a byte-level BPE tokenizer trained on our own Stan programs, numpy "language
models" (random, counted bigram, scripted, and any model guided by a script), the five RefineStat
datasets (copied from posteriordb into tests/propose/data so the tests need nothing outside the
repository), and what a statistician would accept of a proposal."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from boxloop.data import make_task
from boxloop.lang import ast, parse

HERE = Path(__file__).parent
PROGRAMS = sorted((HERE.parent / "programs" / "valid").glob("*.stan"))
DATASETS = ("eight_schools", "dugongs_data", "surgical_data", "GLM_Binomial_data", "gp_pois_regr")
EOS = "<|endoftext|>"


class BigramLM:
    """A random bigram model: the next-token logits are a fixed random row per previous token.
    Deterministic in the tokens (so seeds reproduce), instant, and knows nothing about Stan."""

    max_length = None

    def __init__(self, vocab_size: int, seed: int = 0, scale: float = 2.0):
        self.vocab_size = vocab_size
        rng = np.random.default_rng(seed)
        self.table = rng.normal(0.0, scale, (vocab_size, vocab_size)).astype(np.float32)
        self.calls = 0

    @classmethod
    def fit(cls, sequences, vocab_size: int, smoothing: float = 0.01):
        """A counted bigram model of `sequences` (token id lists): Stan-flavoured but unaware of
        names, types and scopes, so it makes the checker's mistakes for real."""
        counts = np.full((vocab_size, vocab_size), smoothing)
        for ids in sequences:
            np.add.at(counts, (ids[:-1], ids[1:]), 1.0)
        lm = cls(vocab_size)
        lm.table = np.log(counts / counts.sum(axis=1, keepdims=True)).astype(np.float32)
        return lm

    def start(self, prompt_ids):
        return list(prompt_ids)

    def logits(self, state):
        self.calls += 1
        return self.table[state[-1] if state else 0].copy()

    def append(self, state, token_id):
        state.append(token_id)

    def crop(self, state, n_tokens):
        del state[n_tokens:]


class ScriptedLM:
    """A model that wants to write one text: it favours the tokens that continue `scripts[k]`
    after the context, where k is how many times it has been rolled back (so a test can script
    "first a wrong statement, then a right one"). Off the script its logits are flat. It records
    every crop, so a test can see what the rollback touched."""

    max_length = None

    def __init__(self, adapter, scripts):
        self.adapter, self.scripts = adapter, list(scripts)
        self.vocab_size = adapter.vocab_size
        self.crops: list[tuple[int, int]] = []  # (length before, length after)
        self.context_end = None

    def start(self, prompt_ids):
        self.context_end = len(prompt_ids)
        return list(prompt_ids)

    def logits(self, state):
        written = self.adapter.decode(state[self.context_end:])
        script = self.scripts[min(len(self.crops), len(self.scripts) - 1)]
        out = np.zeros(self.vocab_size, dtype=np.float32)
        if not script.startswith(written):
            return out
        rest = script[len(written):]
        if not rest:
            out[self.adapter.eos_id] = 100.0
        for token in range(self.vocab_size):
            piece = self.adapter.piece(token)
            if piece and rest.startswith(piece):
                out[token] = 10.0 + len(piece)
        return out

    def append(self, state, token_id):
        state.append(token_id)

    def crop(self, state, n_tokens):
        self.crops.append((len(state), n_tokens))
        del state[n_tokens:]


def train_tokenizer(vocab_size: int = 512, *, split_words: bool = True):
    """Byte-level BPE over tests/programs/valid/*.stan, with one special token (EOS = id 0).

    `split_words=False` merges across spaces and punctuation too, giving tokens such as `;\n  y`
    that straddle statement ends (as SentencePiece vocabularies do)."""
    tokenizers = pytest.importorskip("tokenizers")
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=split_words)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tok.train([str(p) for p in PROGRAMS], trainer)
    return tok


@pytest.fixture(scope="session")
def bpe():
    return train_tokenizer()


def make_adapter(tok):
    from boxloop.propose.lm import TokenizerAdapter

    return TokenizerAdapter.from_json(tok.to_str(), eos_id=tok.token_to_id(EOS), n_vocab=tok.get_vocab_size())


@pytest.fixture(scope="session")
def adapter(bpe):
    return make_adapter(bpe)


# Tokens that end one unit and start the next: statement|statement, statement|block end, and
# header|statement, so rollback must cut inside a token and re-spell its first part.
STRADDLING = [");\n  y", ";\n  y ~", ";\n}", "; }", ";\n  mu ~", "{\n  real", ");\n}\n"]


@pytest.fixture(scope="session")
def raw_adapter():
    tok = train_tokenizer(split_words=False)
    tok.add_tokens(STRADDLING)
    return make_adapter(tok)


@pytest.fixture(scope="session")
def counted_lm(bpe, adapter):
    """The counted bigram model of the corpus, over the word-split tokenizer."""
    corpus = [bpe.encode(p.read_text()).ids + [adapter.eos_id] for p in PROGRAMS]
    return BigramLM.fit(corpus, adapter.vocab_size)


@pytest.fixture(scope="session")
def tasks():
    return {name: make_task(HERE / "data" / f"{name}.json") for name in DATASETS}


# ---- what a statistician would accept, and a model helped to write it ---------------------------


def _base(e):
    while isinstance(e, ast.Index):
        e = e.base
    return e.name if isinstance(e, ast.Var) else None


def acceptance_problems(text: str, target: str) -> list[str]:
    """Why a statistician would send this program back, worked out here from the syntax tree
    (independently of boxloop's own rule): no likelihood for the target in the model block, or a
    parameter that appears nowhere but in its declaration and on the left of its own prior."""
    program = parse(text)
    scored = set()  # ids of Var nodes that are the variate of a density
    has_likelihood = False
    for s in program.stmts("model"):
        for node in ast.walk(s):
            variate = node.lhs if isinstance(node, ast.Tilde) else (
                node.args[0] if isinstance(node, ast.Call) and node.conditional and node.args else None)
            if variate is not None:
                has_likelihood |= _base(variate) == target
                scored |= {id(n) for n in ast.walk(variate) if isinstance(n, ast.Var) and n.name == _base(variate)}
    uses = Counter(n.name for block in program.blocks for s in block.stmts for n in ast.walk(s)
                   if isinstance(n, ast.Var) and id(n) not in scored)
    problems = [] if has_likelihood else [f"no likelihood for {target}"]
    return problems + [f"parameter {d.name} is never used" for d in program.stmts("parameters") if not uses[d.name]]


class GuidedLM:
    """A language model steered by a ScriptedLM: its own logits plus the script's, weighted so that
    the script wins (at temperature 1 a tiny model's own logits would otherwise lead it off the
    script every hundred tokens or so); the model's state, rollbacks and cache crops still go
    through it. The scripts restart with every decoding run."""

    STRENGTH = 3.0

    def __init__(self, lm, adapter, scripts):
        self.lm, self.adapter, self.scripts = lm, adapter, list(scripts)
        self.vocab_size = lm.vocab_size
        self.max_length = getattr(lm, "max_length", None)
        self.guide = None

    def start(self, prompt_ids):
        self.guide = ScriptedLM(self.adapter, self.scripts)
        return self.lm.start(prompt_ids), self.guide.start(prompt_ids)

    def logits(self, state):
        return np.asarray(self.lm.logits(state[0]), dtype=np.float32) + self.STRENGTH * self.guide.logits(state[1])

    def append(self, state, token_id):
        self.lm.append(state[0], token_id)
        self.guide.append(state[1], token_id)

    def crop(self, state, n_tokens):
        self.lm.crop(state[0], n_tokens)
        self.guide.crop(state[1], n_tokens)


_LIKELIHOOD_LINE = r"^\s*(for \(.*\)\s*)?{target}(\[[^\]]*\])? ~ (\w+)\(.*$"


def guided_scripts(task, prefix: str) -> list[str]:
    """Three attempts at a sensible program for `task` (one the grammar proposer writes): first
    the model block closed before any likelihood, then the likelihood with an unknown
    distribution, then the program as it should be. Each shares the part before the likelihood,
    so each rollback moves the model on to the next attempt."""
    from boxloop.propose.grammar import GrammarProposer

    pattern = re.compile(_LIKELIHOOD_LINE.format(target=re.escape(task.target)), re.M)
    for seed in range(20):
        text = GrammarProposer().propose(task, n=1, seed=seed)[0].text
        line = pattern.search(text)
        if line and text.startswith(prefix) and not acceptance_problems(text, task.target):
            break
    else:
        raise AssertionError(f"no grammar program for {task.target} with a one-line likelihood")
    good = "\n" + text[len(prefix):].split("\ngenerated quantities")[0].strip("\n")  # the target ends at the model
    cut = good.index(line.group(0))
    unknown = line.group(0).replace(f" ~ {line.group(3)}(", f" ~ {line.group(3)}x(")
    return [good[:cut] + "}", good[:cut] + unknown + good[cut + len(line.group(0)):], good]
