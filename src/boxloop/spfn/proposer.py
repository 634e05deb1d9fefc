"""`--proposer spfn`: the trained network under semantic constrained decoding.

For a task: its variables are mapped onto role slots, the encoder reads the data once, and each
proposal is a constrained decoding run (`propose.decode`) over a tokenizer whose slot tokens spell
the task's own names, so every proposal is a checked program of the task's data block (with its
covariates declared as real vectors, as the network was trained: `spfn_data_block`). Proposals
are sampled from the model (temperature 1: its posterior over programs), made distinct by
structural hash (up to 3 samples per program asked for, so fewer than asked come back when the
model is sure), ranked by log q(M | D): the sum of the model's log-probabilities of the
program's tokens and the end of text, with the forced data block given, read off the logits that
decoding computes anyway (a program re-printed in canonical layout is scored again as printed).
A program that differs from a better one only in its prior constants (the same skeleton, one
compiled kernel) is ranked after every other skeleton: the network is often sure of one
structure, and a search with a budget learns more from a second structure than from a second
prior scale. Samples are decoded side by side (`propose.decode.decode_many`, at most 16 at once;
`propose_many` for one program per seed, which `discover` uses to write its next root programs in
one batch).

With the fallback on (the default) a list of n is hedged: the network's best ceil(n/2)
skeletons alternate with the grammar proposer's programs, each saying who wrote it (`proposer` =
"grammar"), then the rest. On real tables the network's first program is sometimes valid and
poor (a Poisson likelihood for overdispersed counts, a covariate left out), and a `discover` with
a small budget fits only the first few. With `fallback=False` (the held-out evaluation, which
judges the network alone) or when neither writes a valid program, the proposer says so
(`spfn.no_valid_program`).

Block rewrites (a new prior or likelihood for a fixed context) are not what the network was
trained on; they go to the grammar proposer, and the proposal says so (`proposer` = "grammar").
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path

import numpy as np
from scipy.special import log_softmax
from threadpoolctl import threadpool_limits

from ..errors import ProgramError, ProposerError
from ..infer.lift import lift_constants
from ..lang import check, parse, structural_hash
from ..lang.canonical import PREFIX
from ..lang.printer import to_stan
from ..propose.base import Proposal
from ..propose.decode import DecodeConfig, decode_many, verdict
from ..propose.lm import TokenizerAdapter
from ..propose.target import make_target, one_likelihood
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

    Two things the text the model was trained on never does are given no weight here. (1) The
    vocabulary spells every known word as one token, so a word token is never followed by a token
    that continues an identifier; the grammar alone would allow `p2` + `normal` to run together
    into one name. (2) Programs are in canonical form, where a block's declarations are named in
    order (`p1`, `p2`, ... in parameters, `td1`, ... in transformed data); the network counts
    badly past a few (it re-declares `td2`, or declares `p11` after `p9`), and the checker's
    rejection of the name then throws the whole statement away, so a declaration may only take
    the next name of its block. `taken` are the task's data names (a canonical name that one of
    them already uses is left free)."""

    def __init__(self, params, cfg, memory: np.ndarray, taken=frozenset()):
        self.decoder = Decoder(params, memory, cfg)
        self.vocab_size, self.max_length = cfg.vocab_size, cfg.max_length
        self._continues, self._word = _identifier_starts(), _words()
        self._names = _DeclarationNames(taken)

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
        return [self._masked(s) for s in states]

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

    def _masked(self, state: _State) -> np.ndarray:
        if state.tokens and self._word[state.tokens[-1]]:
            return np.where(self._continues, -np.inf, state.last)
        name = self._names.next_name(state.tokens)
        if name is None:
            return state.last
        logits = np.where(self._names.mask, -np.inf, state.last)
        logits[name] = state.last[name]
        return logits


_DECLARED_TYPE = re.compile(
    r"\s*(?:array\s*\[[^\]]*\]\s*)?(?:int|real|complex|vector|row_vector|matrix|simplex|ordered|positive_ordered|"
    r"unit_vector|sum_to_zero_vector|cov_matrix|corr_matrix|cholesky_factor_corr|cholesky_factor_cov)"
    r"\s*(?:<[^>]*>)?\s*(?:\[[^\]]*\])?\s+")
_HEADER_WORDS = ("data", "parameters", "model", "quantities")


class _DeclarationNames:
    """The one canonical name a declaration being written may take next (see SPFNLanguageModel)."""

    def __init__(self, taken):
        self.taken = frozenset(taken)
        self.pieces = VOCAB.tokens
        self.number = {}  # token id -> (prefix, k) of each canonical declaration name
        for prefix in PREFIX.values():
            for word, i in VOCAB.word_ids.items():
                if re.fullmatch(rf"{prefix}[1-9][0-9]*", word):
                    self.number[i] = (prefix, int(word[len(prefix):]))
        self.mask = np.zeros(VOCAB.size, bool)
        self.mask[list(self.number)] = True
        self.header = {VOCAB.word_ids[w]: w for w in (*_HEADER_WORDS, "transformed")}

    def next_name(self, tokens) -> int | None:
        """The token id of the name due now, or None where no declaration's name is due."""
        at = len(tokens)
        statement = []
        while at > 0:
            at -= 1
            piece = self.pieces[tokens[at]]
            cut = max(piece.rfind(c) for c in ";{}")
            if cut >= 0:
                statement.append(piece[cut + 1:])
                break
            statement.append(piece)
        if not _DECLARED_TYPE.fullmatch("".join(reversed(statement))):
            return None
        block, start = self._block(tokens, at)
        prefix = PREFIX.get(block)
        if prefix is None or block == "generated quantities":
            return None
        numbers = (self.number.get(t, (None, 0)) for t in tokens[start:])
        name = f"{prefix}{max((k for p, k in numbers if p == prefix), default=0) + 1}"
        return None if name in self.taken else VOCAB.word_ids.get(name)

    def _block(self, tokens, at: int) -> tuple[str | None, int]:
        """The block whose header is the last before token `at`, and where its body starts."""
        while at > 0:
            at -= 1
            word = self.header.get(tokens[at])
            if word in _HEADER_WORDS:
                before = next((self.header.get(t) for t in reversed(tokens[max(at - 3, 0):at])
                               if self.pieces[t].strip()), None)
                name = {"quantities": "generated quantities"}.get(word, word)
                return ("transformed " + name if before == "transformed" else name), at + 1
        return None, 0


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
        leaders, variants = ([replace(p, score=round(s, 3), accounting=replace(p.accounting, seconds=spent))
                              for s, p in pairs] for pairs in job.ranked())
        if self.fallback:  # a hedge: the network's half of the list, the grammar's between
            kept = leaders[:n - n // 2]
            grammar = _grammar_top_up(task, n - len(kept), job.seed, set(job.found))
            leaders = _alternate(kept, grammar) + leaders[len(kept):]
        out = (leaders + variants)[:n]
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
        data = task.stan_json()
        lm = SPFNLanguageModel(self.params, self.cfg, memory, taken=data.keys())
        tokenizer = TokenizerAdapter(VOCAB.ll_tokenizer(names), lambda text: VOCAB.encode(text, names), EOS, (BOS,))
        target = make_target(spfn_data_block(task, names), "program", observed=task.target)
        prefix = tokenizer.prompt_ids(target.prefix)
        room = self.cfg.max_length - len(prefix) - 2
        if room < 40:
            raise ProposerError(f"the data block of this task takes {len(prefix)} tokens, too many for the SPFN's "
                                f"window of {self.cfg.max_length}; drop variables (--drop) or use --proposer grammar",
                                code="propose.window")
        config = replace(self.config, max_tokens=min(self.config.max_tokens, room))

        def many(rngs):
            return [_canonical(d, self.name, lm, tokenizer, target, data)
                    for d in decode_many(lm, tokenizer, target, data=data, prompt_ids=[BOS], config=config, rngs=rngs)]
        return many


@dataclass
class _Job:
    """The samples drawn so far for one seed: its distinct valid programs, best log q each."""

    seed: int
    drawn: int = 0
    found: dict = field(default_factory=dict)  # structural hash -> (log q, proposal)
    skeletons: dict = field(default_factory=dict)  # structural hash -> that of its prior constants lifted
    last: Proposal | None = None

    def wanted(self, n: int) -> int:
        return max(0, min(n - len(set(self.skeletons.values())), n * ATTEMPTS_PER_PROPOSAL - self.drawn))

    def add(self, result) -> None:
        proposal, score, digest, skeleton = result
        self.drawn += 1
        self.last = proposal
        if digest is not None and (digest not in self.found or self.found[digest][0] < score):
            self.found[digest] = (score, proposal)
            self.skeletons[digest] = skeleton

    def ranked(self) -> tuple[list, list]:
        """(log q, proposal) pairs by log q: the best of each skeleton, then the programs that
        differ from a better one only in prior constants (which refinement tunes anyway)."""
        leaders, variants, seen = [], [], set()
        for digest, pair in sorted(self.found.items(), key=lambda item: -item[1][0]):
            (variants if self.skeletons[digest] in seen else leaders).append(pair)
            seen.add(self.skeletons[digest])
        return leaders, variants


def _canonical(d, name: str, lm, tokenizer, target, data) -> tuple:
    """(proposal, log q, structural hash, skeleton hash), the hashes None for an invalid program;
    the program in the canonical printer's layout and scored as that text. At temperature 1 the
    network now and then spends tokens on spaces (`bernoulli_logit(p1)       ;`), whose low
    probability is no fact about the program, or writes a stray `y ~ normal(0, 1);` among its
    priors before the likelihood (`one_likelihood` drops it)."""
    proposal, program = d.proposal("program", name), d.program
    if program is None:
        program = _repaired(target, d.text, data)
        if program is None:
            return proposal, d.log_q, None, None
        proposal = replace(proposal, valid=True, diagnostics=())
    text, log_q = to_stan(program), d.log_q
    if text != d.text:
        proposal, log_q = replace(proposal, text=text), _log_q(lm, tokenizer, target, text, d.log_q)
    return proposal, log_q, structural_hash(program), structural_hash(lift_constants(program).program)


def _repaired(target, text: str, data) -> object | None:
    """The checked program without a second distribution for the data, or None."""
    try:
        program = parse(text)
    except ProgramError:
        return None
    fixed = one_likelihood(target, program)
    if fixed is program:
        return None
    return verdict(target, to_stan(fixed), data)[2]


def _log_q(lm, tokenizer, target, text: str, fallback: float | None) -> float | None:
    """log q of `text`'s program tokens after the data block, from one pass of the network."""
    if not text.startswith(target.prefix):
        return fallback
    context = [BOS, *tokenizer.encode(target.prefix)]
    body = tokenizer.encode(text[len(target.prefix):])
    if len(context) + len(body) >= lm.max_length:
        return fallback
    state = lm.start(context)
    for token in body:
        lm.append(state, token)
    return lm.sequence_log_q(state, len(context))


def spfn_data_block(task, names: dict) -> str:
    """The task's data block as the network was trained to read it: every covariate slot (x1 ...
    x6) is a real vector, as in the simulated corpus. Declared as the integer array the data
    layer gives a binary or count covariate, the network's `(x1 - mean(x1)) / sd(x1)` and
    `b1 * x1` do not type-check (Stan has no arithmetic on integer arrays), and on data such as
    posteriordb's kidiq it wrote no valid program at all."""
    covariates = frozenset(name for name, slot in names.items() if re.fullmatch(r"x\d", slot))
    return task.data_block(as_real=covariates)


def _alternate(first: list, second: list) -> list:
    """first[0], second[0], first[1], second[1], ..., then what is left of the longer."""
    out = [x for pair in zip(first, second) for x in pair]
    return out + first[len(second):] + second[len(first):]


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
