"""A Proposer over any `LanguageModel`: prompt from the task, context forced, constrained decoding.

Backends (hf:, the SPFN) only supply the model and the tokenizer adapter; everything else — the
prompt, the block operations, seeding, accounting — is shared here.
"""

from __future__ import annotations

import numpy as np

from .base import Proposal
from .decode import DecodeConfig, decode, decode_free
from .lm import LanguageModel, TokenizerAdapter
from .target import make_target

_ASK = {
    "program": "Write a Stan program for these data: parameters, priors, and a likelihood for '{target}'.",
    "prior": "Write the parameters and their priors (parameters and model blocks) for these data.",
    "likelihood": "Write the likelihood of '{target}' given the data and parameters below.",
}


def prompt_text(task, block: str = "program") -> str:
    """A plain-text prompt, written as Stan line comments so the program can follow directly."""
    lines = ["Bayesian model discovery. The data:", *task.summary().splitlines()]
    if task.description:
        lines += ["Description:", *task.description.splitlines()]
    lines.append(_ASK[block].format(target=task.target))
    return "".join(f"// {line}\n" for line in lines)


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
                             generated_quantities=self.generated_quantities)
        data, prompt = task.stan_json(), self.tokenizer.prompt_ids(prompt_text(task, block))
        run = decode if self.constrained else decode_free
        return [run(self.lm, self.tokenizer, target, data=data, prompt_ids=prompt, config=self.config,
                    rng=np.random.default_rng([seed, i])).proposal(block, self.name)
                for i in range(n)]
