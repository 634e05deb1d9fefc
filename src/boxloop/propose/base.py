"""The proposer protocol (DESIGN §5): a task in, program text out, with honest accounting."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

BLOCKS = ("program", "prior", "likelihood")


@dataclass(frozen=True)
class Accounting:
    """What a proposal cost. `tokens_discarded` counts tokens rolled back by the semantic checker;
    `tries` counts whole attempts (a repair round with a chat server is one try)."""

    tokens_generated: int = 0
    tokens_discarded: int = 0
    tries: int = 1
    seconds: float = 0.0

    def __add__(self, other: "Accounting") -> "Accounting":
        return Accounting(self.tokens_generated + other.tokens_generated,
                          self.tokens_discarded + other.tokens_discarded,
                          self.tries + other.tries, self.seconds + other.seconds)

    def to_dict(self) -> dict:
        return {"generated": self.tokens_generated, "discarded": self.tokens_discarded,
                "tries": self.tries, "seconds": round(self.seconds, 3)}


@dataclass(frozen=True)
class Proposal:
    """One candidate. `text` is the whole program (context + the new block when a block was asked
    for); `block` names what was generated; `valid` is the checker's verdict on `text`;
    `diagnostics` holds the checker's findings (dicts, JSON-ready); `score` is the proposer's
    log-probability of the program given the data, where it defines one (higher ranks first)."""

    text: str
    valid: bool
    block: str = "program"
    accounting: Accounting = field(default_factory=Accounting)
    diagnostics: tuple = ()
    proposer: str = ""
    score: float | None = None  # the proposer's log q(program | data), when it has one (spfn)


@runtime_checkable
class Proposer(Protocol):
    """Anything that writes programs for a task.

    `context` is fixed program text to keep (D, or D‖P, as produced by `lang.canonical.blocks`);
    `block` says what to write: the whole "program", a new "prior" (P given D) or a new "likelihood"
    (L given D‖P). Implementations must be seedable: the same seed gives the same proposals.
    """

    name: str

    def propose(self, task, *, context: str | None = None, block: str = "program", n: int = 1,
                seed: int = 0) -> list[Proposal]:
        ...
