"""Proposers: given a task (and optionally a fixed context), write candidate programs.

`get_proposer(spec)` builds one from its command-line name:
- "grammar"                      the typed probabilistic grammar (no language model)
- "openai:<model>@<base_url>"    any OpenAI-compatible chat server (options after '#')
- "hf:<path>"                    a local Hugging Face causal LM (needs the `hf` extra)
- "spfn" or "spfn:<checkpoint>"  the built-in trained proposer (boxloop.spfn; the shipped checkpoint
                                 unless one is named)
"""

from __future__ import annotations

from ..errors import ProposerError
from .base import BLOCKS, Accounting, Proposal, Proposer

__all__ = ["Accounting", "Proposal", "Proposer", "BLOCKS", "get_proposer", "GrammarProposer", "OpenAIProposer",
           "build_prompt", "extract_program", "repair_message"]


def get_proposer(spec: str, **options) -> Proposer:
    """The proposer named by `spec`; `options` go to its constructor (for openai: ChatSettings fields)."""
    name = spec.split(":", 1)[0].strip().lower()
    if name == "grammar":
        from .grammar import GrammarProposer

        return GrammarProposer(**options)
    if name == "openai":
        from .openai import OpenAIProposer, parse_spec

        return OpenAIProposer(parse_spec(spec, **options))
    if name == "hf":
        return _hf(spec, options)
    if name == "spfn":
        from ..spfn.proposer import SPFNProposer

        path = spec.split(":", 1)[1] if ":" in spec else None
        return SPFNProposer(path or None, **options)
    raise ProposerError(f"unknown proposer {spec!r}; use grammar, openai:<model>@<base_url>, hf:<path> or spfn",
                        code="propose.unknown")


def _hf(spec: str, options: dict) -> Proposer:
    path = spec.split(":", 1)[1] if ":" in spec else ""
    if not path:
        raise ProposerError("hf proposer needs a model: hf:<path or hub id>", code="propose.bad_spec")
    try:
        from . import hf
    except ImportError as exc:
        raise ProposerError(f"the hf proposer is not available ({exc}); install the extra with "
                            f"`pip install boxloop[hf]`, or use grammar / openai:<model>@<url>",
                            code="propose.unavailable") from None
    factory = getattr(hf, "HFProposer", None)
    if factory is None:
        raise ProposerError("boxloop.propose.hf has no HFProposer; the hf backend is incomplete",
                            code="propose.unavailable")
    return factory(spec, **options)


def __getattr__(name: str):
    # heavy or optional pieces load on first use, so `import boxloop.propose` stays cheap
    if name == "GrammarProposer":
        from .grammar import GrammarProposer

        return GrammarProposer
    if name == "OpenAIProposer":
        from .openai import OpenAIProposer

        return OpenAIProposer
    if name in ("build_prompt", "extract_program", "repair_message"):
        from . import prompt

        return getattr(prompt, name)
    raise AttributeError(name)
