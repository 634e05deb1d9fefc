"""`hf:<path>`: a local Hugging Face causal LM under semantic constrained decoding.

Loads with `local_files_only=True` (nothing is ever downloaded) and needs a fast tokenizer
(`tokenizer.json`), which llguidance reads. torch and transformers are imported here only, inside
functions, so `import boxloop.propose` works without them; `pip install 'boxloop[hf]'` adds them.
The KV cache is cropped on every rollback, so a rejected statement costs only its own tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ProposerError
from .constrained import DecodingProposer
from .decode import DecodeConfig
from .lm import TokenizerAdapter

PREFIX = "hf:"
_INSTALL = "pip install 'boxloop[hf]'"


@dataclass
class _State:
    """Token ids so far, and the KV cache holding the first `cached` of them."""

    tokens: list
    cache: Any = None
    cached: int = 0


class HFLanguageModel:
    """The decoder's LanguageModel over a transformers causal LM, one sequence, KV-cached."""

    def __init__(self, model, device: str | None = None):
        torch = _torch()
        self.model = model.eval()
        self.device = device or next(model.parameters()).device
        self.vocab_size = int(model.get_output_embeddings().weight.shape[0])
        self.max_length = _window(model.config)
        self._no_grad = torch.inference_mode

    def start(self, prompt_ids) -> _State:
        return _State(list(prompt_ids))

    def append(self, state: _State, token_id: int) -> None:
        state.tokens.append(int(token_id))

    def crop(self, state: _State, n_tokens: int) -> None:
        del state.tokens[n_tokens:]
        self._trim_cache(state, n_tokens)

    def logits(self, state: _State) -> np.ndarray:
        torch = _torch()
        if not state.tokens:
            raise ProposerError("the model needs at least one token of prompt; pass a prompt",
                                code="propose.empty_prompt")
        # The last token's logits are never cached, so always re-run at least that token.
        self._trim_cache(state, len(state.tokens) - 1)
        fresh = torch.tensor([state.tokens[state.cached:]], device=self.device)
        with self._no_grad():
            out = self.model(input_ids=fresh, past_key_values=state.cache, use_cache=True)
        state.cache, state.cached = out.past_key_values, len(state.tokens)
        return out.logits[0, -1].float().cpu().numpy()

    @staticmethod
    def _trim_cache(state: _State, keep: int) -> None:
        if state.cache is not None and state.cached > keep:
            # A negative count removes that many positions (transformers 4.x and 5.x agree on it).
            state.cache.crop(-(state.cached - keep))
            state.cached = keep


def hf_tokenizer_adapter(hf_tokenizer, n_vocab: int) -> TokenizerAdapter:
    """llguidance's view of a fast HF tokenizer, with the model's own encoder for prompts."""
    try:
        from llguidance.hf import from_tokenizer

        ll = from_tokenizer(hf_tokenizer, n_vocab=n_vocab)
    except ValueError as exc:
        raise ProposerError(f"constrained decoding needs a fast tokenizer (a tokenizer.json next to "
                            f"the model): {exc}", code="propose.hf_tokenizer") from None
    eos = hf_tokenizer.eos_token_id
    if eos is None:
        raise ProposerError("the tokenizer has no EOS token; set eos_token in tokenizer_config.json",
                            code="propose.hf_tokenizer")
    bos = hf_tokenizer.bos_token_id
    return TokenizerAdapter(ll, lambda text: hf_tokenizer.encode(text, add_special_tokens=False), eos,
                            (bos,) if bos is not None and bos != eos else ())


class HFProposer(DecodingProposer):
    """`hf:<path>`: propose programs with a local causal LM. Build from a directory (`HFProposer(
    "hf:/models/qwen")`) or from objects already in memory (`HFProposer.from_objects`)."""

    def __init__(self, spec: str, config: DecodeConfig | None = None, *, device: str | None = None,
                 constrained: bool = True, generated_quantities: bool = False, **settings):
        """`settings` are DecodeConfig fields (temperature=0.3, max_tokens=600, ...)."""
        config = _config(config, settings)
        path = Path(spec[len(PREFIX):] if spec.startswith(PREFIX) else spec).expanduser()
        model, tokenizer = _load(path, device)
        self._init(f"{PREFIX}{path}", model, tokenizer, config, device,
                   constrained=constrained, generated_quantities=generated_quantities)

    @classmethod
    def from_objects(cls, model, tokenizer, config: DecodeConfig = DecodeConfig(), *, name: str = "hf:memory",
                     device: str | None = None, **options) -> "HFProposer":
        """From a model and a fast tokenizer already in memory; `options` as in the constructor."""
        self = cls.__new__(cls)
        self._init(name, model, tokenizer, config, device, **options)
        return self

    def _init(self, name, model, tokenizer, config, device, **options) -> None:
        lm = HFLanguageModel(model, device)
        super().__init__(name, lm, hf_tokenizer_adapter(tokenizer, lm.vocab_size), config, **options)


def _config(config: DecodeConfig | None, settings: dict) -> DecodeConfig:
    try:
        return replace(config or DecodeConfig(), **settings)
    except TypeError:
        known = ", ".join(f.name for f in fields(DecodeConfig))
        raise ProposerError(f"unknown hf: setting among {sorted(settings)}; known: {known}",
                            code="propose.bad_spec") from None


def _load(path: Path, device: str | None):
    if not path.is_dir():
        raise ProposerError(f"no model directory at {str(path)!r}: hf:<path> loads a local model "
                            "(config.json, weights, tokenizer.json) and never downloads; pass an "
                            "existing directory", code="propose.hf_missing")
    _torch()
    try:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise ProposerError(f"could not load a causal LM from {str(path)!r}: {exc}",
                            code="propose.hf_load_failed") from None
    return (model.to(device) if device else model), tokenizer


def _torch():
    try:
        import torch
        import transformers  # noqa: F401  (checked together: the extra installs both)
    except ImportError:
        raise ProposerError(f"the hf: proposer needs torch and transformers: {_INSTALL}",
                            code="propose.hf_unavailable") from None
    return torch


def _window(config) -> int | None:
    for key in ("max_position_embeddings", "n_positions"):
        value = getattr(config, key, None)
        if isinstance(value, int) and value > 0:
            return value
    return None
