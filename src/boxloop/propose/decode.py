"""Semantic constrained decoding (DESIGN §5; RefineStat's local rejection sampling), backend-free.

Every token is sampled under the llguidance mask of the generation grammar, so the text always
stays a prefix of some program in the grammar. Each time a statement (or declaration) ends, the
incremental checker runs phi1..phi6 on it against the symbol table of everything accepted so far;
on a violation only that statement's tokens are rolled back (matcher rollback + LM cache crop) and
the statement is resampled.

Policy when a statement keeps failing, or the budget runs out (never an endless loop):
1. up to `max_tries` attempts per statement; an attempt also fails when it grows past
   `max_statement_tokens` or past the program's remaining token room;
2. after `max_tries` failures the decoder closes the current block where it stands (forcing its
   `}`), since ending a block at a statement boundary is always legal and keeps what was accepted;
   between blocks it forces the next required header (`model {`, else `parameters {`), or ends the
   program if it is already complete;
   closing the model block is itself checked: while the program has no likelihood for the
   observed variable, or a parameter reaches no likelihood (`target.model_problems`), the `}` is
   rejected like a failing statement (reason "model") and the model writes on;
3. once `max_total_tokens` tokens (discarded ones included) were spent, or the program has only the
   room its closing needs, the decoder stops sampling and closes everything the same way.
The final text is checked as a whole with the data, and as a model of the observed variable;
`Decoded.valid` is that verdict, so a program that is not valid (a closing forced by the budget
included) is returned with `valid=False` and its diagnostics, never as a valid one.

`decode_many` writes several programs side by side, each with its own generator: every run
goes on until it needs the model's logits, then one `logits_many` call of the backend (when it
has one) serves all the waiting runs, so a small model pays one pass for all of them.

Accounting: `tokens_generated` counts every token appended after the fixed context (sampled,
grammar-forced, or re-spelled after a rollback), `tokens_discarded` those rolled back, so
generated - discarded = the tokens of the final text. The prompt and the context are not counted.
"""

from __future__ import annotations

import bisect
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import llguidance
import llguidance.numpy as llnp
import numpy as np

from ..errors import ProgramError, ProposerError
from ..lang import Checker, check, parse
from ..lang.diagnostics import Diagnostic, error
from . import segment as seg
from .base import Accounting, Proposal
from .lm import LanguageModel, TokenizerAdapter
from .sampling import allowed_ids, sample
from .target import Target, model_problems, role_error

_CLOSE = "\n}"
_HEADERS = ("\nmodel {\n", "\nparameters {\n")


@dataclass(frozen=True)
class DecodeConfig:
    """Sampling settings and budgets. `semantic=False` keeps only the grammar (the syntax-only
    ablation). What is written (and whether a generated quantities block may follow the model
    block) is the Target's business, not the config's."""

    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 400
    max_statement_tokens: int = 64
    max_tries: int = 8
    max_total_tokens: int = 4000
    semantic: bool = True
    fast_forward: bool = True


@dataclass(frozen=True)
class DecodeStats:
    """Where the tokens and the time went. `rejected_by` counts rejected statements by predicate
    ("phi1".."phi6", "length" for overlong ones, "role" for the wrong D‖P‖L side, "model" for a
    model block closed before it models the data)."""

    sampled: int = 0
    forced: int = 0
    discarded: int = 0
    kept: int = 0
    statements: int = 0
    rejected: int = 0
    fallbacks: int = 0
    rejected_by: tuple = ()
    lm_seconds: float = 0.0
    mask_seconds: float = 0.0
    check_seconds: float = 0.0
    seconds: float = 0.0

    @property
    def generated(self) -> int:
        return self.sampled + self.forced


@dataclass(frozen=True)
class Decoded:
    """One decoding run: the whole program text, the checker's verdict, what it cost, and the
    kept token ids (the text after the context is their decoding, plus a final newline)."""

    text: str
    valid: bool
    diagnostics: tuple
    stats: DecodeStats
    tokens: tuple = ()
    log_q: float | None = None  # the model's log-probability of the tokens and the end of text, if it says
    program: object = None  # the checked program (lang.ast.Program) when valid

    @property
    def accounting(self) -> Accounting:
        return Accounting(self.stats.generated, self.stats.discarded, 1, self.stats.seconds)

    def proposal(self, block: str, proposer: str) -> Proposal:
        return Proposal(self.text, self.valid, block, self.accounting,
                        tuple(d.to_dict() for d in self.diagnostics), proposer)


def decode(lm: LanguageModel, tokenizer: TokenizerAdapter, target: Target, *, data: dict | None = None,
           prompt_ids: Sequence[int] = (), config: DecodeConfig = DecodeConfig(),
           rng: np.random.Generator | None = None) -> Decoded:
    """Write `target` (see `make_target`) after the prompt, under the grammar and the checker."""
    return decode_many(lm, tokenizer, target, data=data, prompt_ids=prompt_ids, config=config,
                       rngs=[rng or np.random.default_rng(0)])[0]


def decode_many(lm: LanguageModel, tokenizer: TokenizerAdapter, target: Target, *, data: dict | None = None,
                prompt_ids: Sequence[int] = (), config: DecodeConfig = DecodeConfig(),
                rngs: Sequence[np.random.Generator]) -> list[Decoded]:
    """One program per generator, written side by side: whenever every unfinished run waits for
    the model, one `logits_many` call (where the backend has it) serves them all, which costs a
    small model about as much as serving one. Each run samples from its own generator only, so
    its program does not depend on the others."""
    started = time.perf_counter()
    runs = [_Run(lm, tokenizer, target, config, rng, prompt_ids, data) for rng in rngs]
    batched = getattr(lm, "logits_many", None)
    active = runs
    while active:
        for run in active:
            run.advance()
        waiting = [run for run in active if run.waiting is not None]
        if waiting:
            tick = time.perf_counter()
            states = [run.state for run in waiting]
            scores = batched(states) if batched is not None else [lm.logits(s) for s in states]
            share = (time.perf_counter() - tick) / len(waiting)
            for run, logits in zip(waiting, scores):
                run.timers["lm"] += share
                run.resume(logits)
        active = [run for run in active if not run.finished]
    spent = (time.perf_counter() - started) / len(runs)  # side by side: each program's share of the wall
    return [run.result(spent) for run in runs]


def decode_free(lm: LanguageModel, tokenizer: TokenizerAdapter, target: Target, *,
                data: dict | None = None, prompt_ids: Sequence[int] = (),
                config: DecodeConfig = DecodeConfig(), rng: np.random.Generator | None = None) -> Decoded:
    """The unconstrained baseline: the same model and context, plain sampling until EOS or
    `max_tokens`, checked at the end."""
    rng = rng or np.random.default_rng(0)
    started = time.perf_counter()
    prefix_ids = tokenizer.encode(target.prefix)
    state = lm.start([*_fit_prompt(lm, prompt_ids, prefix_ids, config), *prefix_ids])
    everything, tokens, lm_seconds = np.arange(lm.vocab_size), [], 0.0
    while len(tokens) < config.max_tokens:
        tick = time.perf_counter()
        logits = lm.logits(state)
        lm_seconds += time.perf_counter() - tick
        token = sample(logits, everything, temperature=config.temperature, top_p=config.top_p, rng=rng)
        if token == tokenizer.eos_id:
            break
        tokens.append(token)
        lm.append(state, token)
    text = target.prefix + tokenizer.decode(tokens)
    stats = DecodeStats(sampled=len(tokens), kept=len(tokens), lm_seconds=lm_seconds,
                        seconds=time.perf_counter() - started)
    valid, diagnostics, program = verdict(target, text, data)
    return Decoded(text, valid, diagnostics, stats, tuple(tokens), program=program)


def verdict(target: Target, text: str, data) -> tuple[bool, tuple, object]:
    """Valid when the checker finds no error and the program models the observed variable; the
    checked program comes with a valid verdict."""
    checked = check(text, data)
    diagnostics = checked.diagnostics
    if checked.valid:
        diagnostics += tuple(model_problems(target, checked.program))
    valid = not any(d.is_error for d in diagnostics)
    return valid, diagnostics, checked.program if valid else None


class _Abort(Exception):
    """The run cannot continue (matcher error, no legal repair); becomes an invalid result."""


class _Run:
    """One program being written. Mutable on purpose: the matcher, the LM state, the token list and
    the text move together, and `_rewind` is the only way back."""

    def __init__(self, lm, tok: TokenizerAdapter, target: Target, config: DecodeConfig, rng,
                 prompt_ids, data):
        if lm.vocab_size != tok.vocab_size:
            raise ProposerError(f"the model has {lm.vocab_size} logits but the tokenizer adapter "
                                f"{tok.vocab_size} tokens; build the adapter with n_vocab="
                                f"{lm.vocab_size}", code="propose.vocab_mismatch")
        self.lm, self.tok, self.target, self.cfg, self.rng, self.data = lm, tok, target, config, rng, data
        self.matcher = llguidance.LLMatcher(tok.ll, target.grammar, log_level=0)
        prefix_ids = tok.encode(target.prefix)
        self._consume_prefix(prefix_ids)
        prompt_ids = _fit_prompt(lm, prompt_ids, prefix_ids, config)
        self.state = lm.start([*prompt_ids, *prefix_ids])
        self.base = len(prompt_ids) + len(prefix_ids)
        self.checker = _primed_checker(target, data)
        self.reserve = len(tok.exact(_CLOSE)) * 2 + max(len(tok.exact(h)) for h in _HEADERS) + 2
        self.bitmask = llnp.allocate_token_bitmask(1, tok.vocab_size)
        self.block = target.open_block
        self.tokens: list[int] = []
        self.ends: list[int] = []  # text offset after each token
        self.text = ""
        self.seg = 0  # where the current unit (statement, header) starts in `text`
        self.attempt = self.tries = 0
        self.finished, self.failure = False, None
        self.waiting: np.ndarray | None = None  # the allowed tokens, while the run waits for logits
        self.forced_close = False  # the budget closes this block: no more checks on closing it
        self.counts, self.rejected_by = Counter(), Counter()
        self.timers = Counter()

    # ---- driving -------------------------------------------------------------------------------

    def advance(self) -> None:
        """Write on until the next token needs the model's logits, or the program is done."""
        self._guarded(self._advance)

    def resume(self, logits: np.ndarray) -> None:
        """Take the token sampled from `logits` under the mask the run is waiting with."""
        allowed, self.waiting = self.waiting, None
        token = sample(logits, allowed, temperature=self.cfg.temperature, top_p=self.cfg.top_p, rng=self.rng)
        self._guarded(lambda: self._take(token, "sampled"))

    def _advance(self) -> None:
        while not self.finished and self.waiting is None:
            self._tick()

    def _guarded(self, step) -> None:
        try:
            step()
        except _Abort as exc:
            self.failure = error("propose.decode_failed", "phi1", f"constrained decoding stopped: {exc}")
            self.finished, self.waiting = True, None

    def result(self, seconds: float) -> Decoded:
        text = self.target.prefix + self.text + ("" if self.text.endswith("\n") else "\n")
        if self.failure is not None:
            valid, diagnostics, program = False, (self.failure,), None
        else:
            valid, diagnostics, program = verdict(self.target, text, self.data)
        score = getattr(self.lm, "sequence_log_q", None)
        log_q = score(self.state, self.base) if score is not None else None
        return Decoded(text, valid, diagnostics, self._stats(seconds), tuple(self.tokens), log_q, program)

    def _tick(self) -> None:
        cap = self._cap()
        event = self._scan(final=self.attempt >= cap)
        if not isinstance(event, seg.Open):
            self._handle(event)
        elif cap <= 0 or self.counts["generated"] >= self.cfg.max_total_tokens:
            self._restart_unit()
            self._fallback()
        elif self.attempt >= cap:
            self._fail("length")
        else:
            self._step()

    def _cap(self) -> int:
        """Tokens this unit may still use: the per-statement cap, within the program's room."""
        before = len(self.tokens) - self.attempt
        return min(self.cfg.max_statement_tokens, self.cfg.max_tokens - self.reserve - before)

    def _scan(self, final: bool):
        tick = time.perf_counter()
        rest = self.text[self.seg:]
        if self.block is None:
            event = seg.scan_outside(rest)
        else:
            event = seg.scan_block(rest, self.block, final=final)
        self.timers["check"] += time.perf_counter() - tick
        return event

    def _handle(self, event) -> None:
        match event:
            case seg.Header(end=end, block=block):
                self._accept(end)
                self.block = block
            case seg.Close(end=end):
                if self._unfinished_model(end):
                    self._fail("model")
                    return
                closed, self.block = self.block, None
                self.forced_close = False
                self._accept(end)
                self.finished = self.target.done_after(closed)
            case seg.Statement(end=end, node=node):
                problems = self._check(node)
                if problems:
                    self._fail(_reason(problems))
                else:
                    self.counts["statements"] += 1
                    self._accept(end)
            case seg.Broken():
                self._fail("phi1")

    def _accept(self, end: int) -> None:
        self.seg += end
        self.attempt = self.tries = 0

    # ---- one token -----------------------------------------------------------------------------

    def _step(self) -> None:
        if self.cfg.fast_forward:
            forced = self.matcher.compute_ff_tokens()
            if forced:
                for token in forced:
                    self._push(token, "forced")
                return
        allowed = self._allowed()
        if len(allowed) == 0:
            raise _Abort(f"the grammar allows no token after {self.text[-40:]!r}")
        if len(allowed) == 1:
            self._take(int(allowed[0]), "forced")
        else:
            self.waiting = allowed  # the driver brings the model's logits: `resume`

    def _take(self, token: int, how: str) -> None:
        if token == self.tok.eos_id:
            self._end_of_text()
        else:
            self._push(token, how)

    def _allowed(self) -> np.ndarray:
        tick = time.perf_counter()
        llnp.fill_next_token_bitmask(self.matcher, self.bitmask)
        allowed = allowed_ids(self.bitmask[0], self.tok.vocab_size)
        self.timers["mask"] += time.perf_counter() - tick
        return allowed

    def _end_of_text(self) -> None:
        if not self.matcher.is_accepting():
            raise _Abort("the model ended the text before the program was complete")
        self.finished = True

    def _push(self, token: int, how: str) -> None:
        if not self.matcher.consume_token(token):
            raise _Abort(f"the matcher refused token {token}: {self.matcher.get_error()}")
        self.lm.append(self.state, token)
        self.tokens.append(token)
        self.text += self.tok.piece(token)
        self.ends.append(len(self.text))
        self.attempt += 1
        self.counts[how] += 1
        self.counts["generated"] += 1

    # ---- checking and rolling back -------------------------------------------------------------

    def _check(self, node) -> tuple[Diagnostic, ...]:
        """Error diagnostics for a complete statement; the checker keeps it only when there is none."""
        if not self.cfg.semantic:
            return ()
        tick = time.perf_counter()
        try:
            role = role_error(self.target, self.block, node, self._origin)
            if role is not None:
                return (role,)
            self.checker.enter_block(self.block)
            return tuple(d for d in self.checker.check_statement(node) if d.is_error)
        finally:
            self.timers["check"] += time.perf_counter() - tick

    def _unfinished_model(self, end: int) -> bool:
        """Closing the model block now would leave a program that does not model the data."""
        if self.block != "model" or self.forced_close or not self.cfg.semantic:
            return False
        tick = time.perf_counter()
        try:
            program = parse(self.target.prefix + self.text[:self.seg + end])
        except ProgramError:
            return False  # the final check reports it
        finally:
            self.timers["check"] += time.perf_counter() - tick
        # more statements cannot undo a second distribution for the data: that is for the verdict
        return any(d.code != "propose.modelled_twice" for d in model_problems(self.target, program))

    def _origin(self, name: str) -> str | None:
        symbol = self.checker.scope.lookup(name)
        return symbol.origin if symbol is not None else None

    def _fail(self, reason: str) -> None:
        self.counts["rejected"] += 1
        self.rejected_by[reason] += 1
        self.tries += 1
        self._restart_unit()
        if self.tries >= self.cfg.max_tries:
            self._fallback()

    def _restart_unit(self) -> None:
        """Throw away the unit in progress: back to where it started."""
        self._rewind(self.seg)
        # Re-spelling a token that straddled the boundary may differ in layout; the unit starts
        # wherever the text now ends.
        self.seg = len(self.text)
        self.attempt = 0

    def _rewind(self, pos: int) -> None:
        """Roll back to text offset `pos`: drop the tokens past it, re-spell a partial last one."""
        keep = bisect.bisect_right(self.ends, pos)
        drop = len(self.tokens) - keep
        wanted = self.text[:pos]
        if drop:
            if not self.matcher.rollback(drop):
                raise _Abort(f"the matcher could not roll back {drop} tokens: {self.matcher.get_error()}")
            self.lm.crop(self.state, self.base + keep)
            del self.tokens[keep:], self.ends[keep:]
            self.counts["discarded"] += drop
        self.text = self.text[: self.ends[-1] if self.ends else 0]
        if len(wanted) > len(self.text) and not self._force(wanted[len(self.text):]):
            raise _Abort(f"could not re-spell {wanted[len(self.text):]!r} after a rollback")

    def _force(self, text: str) -> bool:
        """Append exactly `text` if the grammar allows it here; False (and no change) otherwise."""
        ids = self.tok.exact(text)
        if self.matcher.validate_tokens(ids) != len(ids):
            return False
        for token in ids:
            self._push(token, "forced")
        return True

    def _fallback(self) -> None:
        """Give up on the current unit: close the block, or supply the next header, or finish."""
        self.counts["fallbacks"] += 1
        self.tries = self.attempt = 0
        if self.block is not None:
            ok = self.forced_close = self._force(_CLOSE)
        elif self.matcher.is_accepting():
            self.finished = True
            return
        else:
            ok = any(self._force(h) for h in _HEADERS)
        if not ok:
            raise _Abort(f"no legal way to close the program after {self.text[-40:]!r}")

    # ---- setup and summary ---------------------------------------------------------------------

    def _consume_prefix(self, prefix_ids: list[int]) -> None:
        if self.matcher.is_error():
            raise ProposerError(f"the generation grammar is broken: {self.matcher.get_error()}",
                                code="propose.grammar")
        legal = self.matcher.validate_tokens(prefix_ids) == len(prefix_ids)
        if not (legal and self.matcher.consume_tokens(prefix_ids)):
            raise ProposerError("the fixed context is not a legal start of a program for this block; "
                                "pass D for a program or a prior, D‖P for a likelihood",
                                code="propose.bad_context")

    def _stats(self, seconds: float) -> DecodeStats:
        c = self.counts
        return DecodeStats(c["sampled"], c["forced"], c["discarded"], len(self.tokens), c["statements"],
                           c["rejected"], c["fallbacks"], tuple(sorted(self.rejected_by.items())),
                           self.timers["lm"], self.timers["mask"], self.timers["check"], seconds)


def _reason(problems) -> str:
    first = problems[0]
    return "role" if first.code.startswith("propose.") else first.predicate


def _primed_checker(target: Target, data: dict | None) -> Checker:
    """A checker whose symbol table holds the context's names."""
    checker = Checker(data=data)
    for block in target.context.blocks:
        checker.enter_block(block.name)
        for stmt in block.stmts:
            errors = [d for d in checker.check_statement(stmt) if d.is_error]
            if errors:
                raise ProposerError(f"the fixed context has an error: {errors[0]}; fix the context "
                                    "(boxloop check) before proposing", code="propose.bad_context")
    return checker


def _fit_prompt(lm, prompt_ids: Sequence[int], prefix_ids: Sequence[int], config: DecodeConfig) -> list[int]:
    """Drop the oldest prompt tokens when prompt + context + program exceed the model's window."""
    window = getattr(lm, "max_length", None)
    if window is None:
        return list(prompt_ids)
    room = window - len(prefix_ids) - config.max_tokens - 1
    if room < 0:
        raise ProposerError(f"the model's context window ({window} tokens) cannot hold the context "
                            f"({len(prefix_ids)} tokens) and a {config.max_tokens}-token program; lower "
                            "max_tokens or use a model with a longer window", code="propose.window")
    return list(prompt_ids)[len(prompt_ids) - room:] if len(prompt_ids) > room else list(prompt_ids)
