"""A Proposer over any `LanguageModel`: prompt from the task, context forced, constrained decoding.

Backends (hf:, the SPFN) only supply the model and the tokenizer adapter; everything else — the
block operations, seeding, accounting — is shared here (the prompt comes from `prompt`).
"""

from __future__ import annotations

import numpy as np

from .base import Proposal
from .decode import DecodeConfig, decode, decode_free
from .lm import LanguageModel, TokenizerAdapter
from .prompt import completion_prompt
from .target import make_target

class DecodingProposer:
    """Proposes programs from `lm` under semantic constrained decoding (or, with
    `constrained=False`, plain sampling: the unconstrained baseline). With
    `generated_quantities=True` a whole program may end with that block (the model decides)."""

    def __init__(self, name: str, lm: LanguageModel, tokenizer: TokenizerAdapter,
                 config: DecodeConfig = DecodeConfig(), *, constrained: bool = True,
                 generated_quantities: bool = False):
        self.name, self.lm, self.tokenizer, self.config = name, lm, tokenizer, config
        self.constrained, self.generated_quantities = constrained, generated_quantities

    def propose(self, task, *, context: str | None = None, block: str = "program", n: int = 1,
                seed: int = 0) -> list[Proposal]:
        """`n` proposals; proposal i draws from numpy Generator([seed, i]), so one seed gives one
        answer and proposals are independent of `n`."""
        target = make_target(task.data_block() if context is None else context, block,
                             generated_quantities=self.generated_quantities, observed=task.target)
        data, prompt = task.stan_json(), self.tokenizer.prompt_ids(completion_prompt(task, block))
        run = decode if self.constrained else decode_free
        return [run(self.lm, self.tokenizer, target, data=data, prompt_ids=prompt, config=self.config,
                    rng=np.random.default_rng([seed, i])).proposal(block, self.name)
                for i in range(n)]
