"""What the constrained decoder needs from a backend: a language model and a tokenizer adapter.

Backends (hf:, the built-in SPFN, test doubles) implement `LanguageModel`; the decoder never imports
torch. The state object is the backend's own (token ids plus, say, a KV cache) and is mutated in
place: `append` records a token, `crop` forgets everything after the first n tokens (the decoder's
rollback), `logits` returns next-token scores for the tokens so far, running the model on whatever
it has not seen yet (so several forced tokens cost one forward pass).

Two optional methods: `logits_many(states)` serves several sequences at once (the decoder then
writes programs side by side), and `sequence_log_q(state, first)` gives the model's
log-probability of tokens[first:] and the end of text (a proposal's score).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import llguidance
import numpy as np


@runtime_checkable
class LanguageModel(Protocol):
    """A causal LM seen one sequence at a time. `max_length` is its context window (None: none)."""

    vocab_size: int
    max_length: int | None

    def start(self, prompt_ids: Sequence[int]) -> Any: ...

    def logits(self, state: Any) -> np.ndarray: ...

    def append(self, state: Any, token_id: int) -> None: ...

    def crop(self, state: Any, n_tokens: int) -> None: ...


@dataclass(frozen=True)
class TokenizerAdapter:
    """An llguidance tokenizer plus the model's own encoder.

    `encode` is the canonical tokenization (used for the prompt and the fixed context, so the model
    sees text the way it was trained); forced repairs use `exact`, which spells text byte for byte.
    """

    ll: llguidance.LLTokenizer
    encode: Callable[[str], list[int]]
    eos_id: int
    bos_ids: tuple[int, ...] = ()
    _pieces: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_json(cls, tokenizer_json: str, *, eos_id: int, n_vocab: int | None = None,
                  bos_ids: Sequence[int] = ()) -> "TokenizerAdapter":
        """From a Hugging Face `tokenizer.json` text; needs neither transformers nor torch."""
        ll = llguidance.LLTokenizer(tokenizer_json, n_vocab=n_vocab, eos_token=eos_id)
        return cls(ll, ll.tokenize_str, eos_id, tuple(bos_ids))

    @property
    def vocab_size(self) -> int:
        return self.ll.vocab_size

    def piece(self, token_id: int) -> str:
        """The text of one token (the grammar is ASCII, so a token never splits a character)."""
        text = self._pieces.get(token_id)
        if text is None:
            text = self._pieces[token_id] = self.ll.decode_bytes([token_id]).decode("utf-8", "replace")
        return text

    def exact(self, text: str) -> list[int]:
        """Tokens whose bytes are exactly `text` (no added prefix space, unlike some encoders)."""
        return self.ll.greedy_tokenize(text)

    def decode(self, ids: Sequence[int]) -> str:
        return self.ll.decode_bytes(list(ids)).decode("utf-8", "replace")

    def prompt_ids(self, text: str) -> list[int]:
        return [*self.bos_ids, *self.encode(text)]
