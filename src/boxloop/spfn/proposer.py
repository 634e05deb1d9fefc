"""`--proposer spfn`: the trained network under semantic constrained decoding.

For a task: its variables are mapped onto role slots, the encoder reads the data once, and each
proposal is a constrained decoding run (`propose.decode`) over a tokenizer whose slot tokens spell
the task's own names, so every proposal is a checked program of the task's data block. Proposals
are sampled from the model (temperature 1: its posterior over programs), made distinct by
structural hash (up to 3 samples per program asked for, so fewer than asked come back when the
model is sure), ranked by log q(M | D): the sum of the model's log-probabilities of the
program's tokens and the end of text, with the forced data block given, read off the logits that
decoding computes anyway. Samples are decoded side by side (`propose.decode.decode_many`, at most
16 at once; `propose_many` for one program per seed, which `discover` uses to write its next
root programs in one batch). When the network writes
fewer distinct valid programs than asked (data unlike its training set), the grammar proposer
tops the list up after them, each such proposal saying so (`proposer` = "grammar"); with
`fallback=False` (the held-out evaluation, which judges the network alone) or when neither writes
a valid program, the proposer says so (`spfn.no_valid_program`).

Block rewrites (a new prior or likelihood for a fixed context) are not what the network was
trained on; they go to the grammar proposer, and the proposal says so (`proposer` = "grammar").
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.special import log_softmax
from threadpoolctl import threadpool_limits

from ..errors import ProposerError
from ..lang import check, structural_hash
from ..propose.base import Proposal
from ..propose.decode import DecodeConfig, decode_many
from ..propose.lm import TokenizerAdapter
from ..propose.target import make_target
from . import checkpoint
from .features import encode_task
from .model import Decoder, encode, to_numpy
from .vocab import BOS, EOS, VOCAB, role_names

ATTEMPTS_PER_PROPOSAL = 3  # samples drawn per distinct program asked for, at most
MAX_BATCH = 16  # programs decoded side by side (a batched step of 16 costs about 6 single steps)
# Samples at temperature 1 (the network's own posterior over programs). A statement the checker
# rejects gets 3 tries of at most 56 tokens (the corpus's longest statement is 50): once the
# network has gone off its training distribution its retries rarely recover, and a fresh sample
# costs less than the grammar's 8 tries of 64 (measured: 2.5-3x fewer tokens a proposal, as many
# valid, on four benchmark datasets).
DEFAULT_DECODE = DecodeConfig(temperature=1.0, top_p=0.98, max_tokens=480, max_tries=3, max_statement_tokens=56)


def shipped_checkpoint() -> Path:
    return Path(str(resources.files("boxloop.spfn").joinpath("weights/spfn.npz")))


@dataclass
class _State:
    tokens: list
    cache: list
    seen: int = 0  # tokens whose keys and values are in the cache
    last: np.ndarray | None = None  # the logits after tokens[:seen], when kept
    log_q: list = field(default_factory=list)  # log q(tokens[t] | tokens[:t]) once known, else None


def _identifier_starts() -> np.ndarray:
    return np.array([bool(t) and (t[0].isalnum() or t[0] == "_") for t in VOCAB.tokens])


def _words() -> np.ndarray:
    out = np.zeros(VOCAB.size, bool)
    out[list(VOCAB.word_ids.values())] = True
    return out


class SPFNLanguageModel:
    """The decoder's LanguageModel for one dataset (the memory is fixed at construction).

    The vocabulary spells every known word as one token, so in the text the model was trained on
    a word token is never followed by a token that continues an identifier; the grammar alone
    would allow `p2` + `normal` to run together into one name, so those continuations are given
    no weight here."""

    def __init__(self, params, cfg, memory: np.ndarray):
        self.decoder = Decoder(params, memory, cfg)
        self.vocab_size, self.max_length = cfg.vocab_size, cfg.max_length
        self._continues, self._word = _identifier_starts(), _words()

    def start(self, prompt_ids) -> _State:
        return _State(list(prompt_ids), self.decoder.new_cache(), log_q=[None] * len(prompt_ids))

    def append(self, state: _State, token_id: int) -> None:
        known = state.last is not None and state.seen == len(state.tokens)
        state.log_q.append(float(log_softmax(state.last)[token_id]) if known else None)
        state.tokens.append(int(token_id))

    def crop(self, state: _State, n_tokens: int) -> None:
        del state.tokens[n_tokens:], state.log_q[n_tokens:]
        if state.seen > n_tokens:
            state.seen, state.last = n_tokens, None

    def logits(self, state: _State) -> np.ndarray:
        return self.logits_many([state])[0]

    def logits_many(self, states: list) -> list:
        """Next-token logits for several sequences: tokens not yet seen are run in one pass per
        sequence up to its last, and the last tokens of all of them in one batched step."""
        stale = [state for state in states if self._catch_up(state)]
        if stale:
            rows = self.decoder.step([s.cache for s in stale], [s.tokens[-1] for s in stale],
                                     [s.seen for s in stale])
            for state, row in zip(stale, rows):
                state.last, state.seen = row, len(state.tokens)
        return [self._mask_continuations(s) for s in states]

    def sequence_log_q(self, state: _State, first: int) -> float:
        """log q of tokens[first:] and the end of text after them, from the logits decoding
        computed anyway (no second pass over the program)."""
        self.logits_many([state])
        return float(sum(state.log_q[first:]) + log_softmax(state.last)[EOS])

    def _catch_up(self, state: _State) -> bool:
        """Run all unseen tokens but the last (scoring each); True if the last is still to run."""
        lost = state.last is None and 0 < state.seen and (
            state.seen == len(state.tokens) or state.log_q[state.seen] is None)
        if lost:  # a crop dropped the logits that score the next token: run the one before again
            state.seen -= 1
        start, pending = state.seen, state.tokens[state.seen:-1]
        if pending:
            logp = log_softmax(self.decoder.extend(state.cache, pending, start), axis=-1)
            for j, t in enumerate(range(start + 1, len(state.tokens))):
                state.log_q[t] = float(logp[j, state.tokens[t]])
            state.seen = len(state.tokens) - 1
        return state.seen < len(state.tokens)

    def _mask_continuations(self, state: _State) -> np.ndarray:
        if state.tokens and self._word[state.tokens[-1]]:
            return np.where(self._continues, -np.inf, state.last)
        return state.last


class SPFNProposer:
    """Proposes whole programs with the trained SPFN (see the module docstring)."""

    name = "spfn"
    ranks_programs = True  # discover fits its first programs in this proposer's order

    def __init__(self, path: str | Path | None = None, config: DecodeConfig | None = None, fallback: bool = True):
        self.path = Path(path) if path is not None else shipped_checkpoint()
        self.fallback = fallback
        params, meta, _ = checkpoint.load(self.path)
        self.params, self.cfg, self.meta = to_numpy(params), meta["config"], meta
        self.config = config or DEFAULT_DECODE

    def propose(self, task, *, context: str | None = None, block: str = "program", n: int = 1,
                seed: int = 0) -> list[Proposal]:
        if block != "program":
            from ..propose.grammar import GrammarProposer

            return GrammarProposer().propose(task, context=context, block=block, n=n, seed=seed)
        return self.propose_many(task, [seed], n=n)[0]

    def propose_many(self, task, seeds, n: int = 1) -> list[list[Proposal]]:
        """`propose(task, n=n, seed=s)` for every s, the samples of all of them decoded side by side
        (the same programs as one call each: a seed's samples depend on that seed alone)."""
        started = time.perf_counter()
        # One BLAS thread: the decoder's matrices are small, and with a second thread the fits
        # running beside the proposer make every product wait for a busy core (10x slower).
        with threadpool_limits(limits=1, user_api="blas"):
            jobs = self._sample(self._session(task), seeds, n)
        spent = (time.perf_counter() - started) / max(sum(min(len(job.found), n) for job in jobs), 1)
        return [self._answer(task, job, n, spent) for job in jobs]

    @staticmethod
    def _sample(run, seeds, n: int) -> list["_Job"]:
        jobs = [_Job(seed) for seed in seeds]
        while True:
            # a job draws no more samples than it could still need, so it stops where one call would
            wanted = [(job, job.drawn + j) for job in jobs for j in range(job.wanted(n))]
            if not wanted:
                break
            for chunk in range(0, len(wanted), MAX_BATCH):
                part = wanted[chunk:chunk + MAX_BATCH]
                for (job, _), result in zip(part, run([np.random.default_rng([job.seed, i]) for job, i in part])):
                    job.add(result)
        return jobs

    def _answer(self, task, job: "_Job", n: int, spent: float) -> list[Proposal]:
        ranked = sorted(job.found.values(), key=lambda sp: -sp[0])[:n]
        out = [replace(p, score=round(s, 3), accounting=replace(p.accounting, seconds=spent)) for s, p in ranked]
        if len(out) < n and self.fallback:
            out += _grammar_top_up(task, n - len(out), job.seed, set(job.found))
        if not out:
            problem = next((d["message"] for d in job.last.diagnostics if d.get("severity") == "error"), "")
            raise ProposerError(f"the SPFN wrote no valid program for this data in {n * ATTEMPTS_PER_PROPOSAL} "
                                f"attempts (the last: {problem}); data this far from its training set need "
                                f"--proposer grammar", code="spfn.no_valid_program")
        return out

    def _session(self, task):
        """A function [rng] -> [(proposal, log q, structural hash or None)] for this task."""
        names = role_names(task)
        features, slots = encode_task(task, names)
        mask = np.ones(len(slots), bool)
        memory = encode(self.params, features, slots, mask, self.cfg, xp=np)
        lm = SPFNLanguageModel(self.params, self.cfg, memory)
        tokenizer = TokenizerAdapter(VOCAB.ll_tokenizer(names), lambda text: VOCAB.encode(text, names), EOS, (BOS,))
        target = make_target(task.data_block(), "program", observed=task.target)
        prefix = tokenizer.prompt_ids(target.prefix)
        room = self.cfg.max_length - len(prefix) - 2
        if room < 40:
            raise ProposerError(f"the data block of this task takes {len(prefix)} tokens, too many for the SPFN's "
                                f"window of {self.cfg.max_length}; drop variables (--drop) or use --proposer grammar",
                                code="propose.window")
        config = replace(self.config, max_tokens=min(self.config.max_tokens, room))
        data = task.stan_json()

        def many(rngs):
            return [(d.proposal("program", self.name), d.log_q,
                     structural_hash(d.program) if d.program is not None else None)
                    for d in decode_many(lm, tokenizer, target, data=data, prompt_ids=[BOS], config=config, rngs=rngs)]
        return many


@dataclass
class _Job:
    """The samples drawn so far for one seed: its distinct valid programs, best log q each."""

    seed: int
    drawn: int = 0
    found: dict = field(default_factory=dict)  # structural hash -> (log q, proposal)
    last: Proposal | None = None

    def wanted(self, n: int) -> int:
        return max(0, min(n - len(self.found), n * ATTEMPTS_PER_PROPOSAL - self.drawn))

    def add(self, result) -> None:
        proposal, score, digest = result
        self.drawn += 1
        self.last = proposal
        if digest is not None and (digest not in self.found or self.found[digest][0] < score):
            self.found[digest] = (score, proposal)


def _grammar_top_up(task, k: int, seed: int, seen: set) -> list[Proposal]:
    """Up to k valid grammar proposals whose structures the SPFN's list does not hold."""
    from ..propose.grammar import GrammarProposer

    data, out = task.stan_json(), []
    for p in GrammarProposer().propose(task, n=2 * k, seed=seed):
        digest = _digest(p.text, p.valid, data)
        if digest is not None and digest not in seen:
            seen.add(digest)
            out.append(replace(p, proposer="grammar"))
    return out[:k]


def _digest(text: str, valid: bool, data: dict) -> str | None:
    """The structural hash of a valid program (checked with the data), else None."""
    if not valid:
        return None
    result = check(text, data=data)
    return structural_hash(result.program) if result.valid else None
