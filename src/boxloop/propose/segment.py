"""Where statements, block headers and blocks end in program text that is still being written.

The constrained decoder checks and rolls back one statement at a time, so it must know, after every
token, whether the text since the last boundary now holds a complete statement. Two pure functions
answer that: `scan_outside` (between blocks: has a block header `name {` appeared?) and `scan_block`
(inside a block: has the block closed, or a statement ended?). A statement may end in the middle of
a token; every result carries the character offset where the unit ends, and the caller keeps the
rest for the next unit.

Statement ends are found by bracket depth (a `;` or a closing `}` at depth zero) and confirmed by the
Lark parser, which is what the checker uses, so "complete" means "Lark can read it". The one
ambiguity of the grammar is the dangling `else`: `if (c) x = 1;` is complete, but an `else` may
follow, so a statement that contains an `if` is only final once the next word is known.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from ..errors import ProgramError
from ..lang import parse
from ..lang.diagnostics import error
from ..lang.printer import to_stan

BLOCK_NAMES = ("data", "transformed data", "parameters", "transformed parameters", "model",
               "generated quantities")
DECLARATION_BLOCKS = ("data", "parameters")
_IF = re.compile(r"\bif\b")
_WORD = re.compile(r"[A-Za-z0-9_]*")
# Names and keywords, but not the exponent letters of number literals (1e5).
_NAME = re.compile(r"(?<![0-9.A-Za-z_])[A-Za-z][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Open:
    """The unit is not complete yet: more text is needed."""


@dataclass(frozen=True)
class Header:
    """A block header `name {` ends at `end`."""

    end: int
    block: str


@dataclass(frozen=True)
class Close:
    """The enclosing block's closing `}` ends at `end`."""

    end: int


@dataclass(frozen=True)
class Statement:
    """A complete statement (or declaration) ends at `end`; `node` is its syntax tree."""

    end: int
    node: object


@dataclass(frozen=True)
class Broken:
    """The unit ended (a `;` at depth zero) but Lark cannot read it."""

    end: int
    diagnostics: tuple


OPEN = Open()


def start_rule(block: str) -> str:
    """The grammar rule one unit of `block` must match."""
    return "var_decl" if block in DECLARATION_BLOCKS else "statement"


def scan_outside(text: str) -> Open | Header | Broken:
    """Between blocks: the header ends at the first `{`."""
    brace = text.find("{")
    if brace < 0:
        return OPEN
    name = " ".join(text[:brace].split())
    if name not in BLOCK_NAMES:
        return Broken(brace + 1, ())
    return Header(brace + 1, name)


def scan_block(text: str, block: str, *, final: bool = False) -> Open | Close | Statement | Broken:
    """Inside `block`: the block closes, a statement ends, or more text is needed.

    `final` says no more text will come (the unit's token budget is spent), which settles a
    pending `else` question as "no else".
    """
    body = text.lstrip()
    if body.startswith("}"):
        return Close(len(text) - len(body) + 1)
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if depth != 0 or ch not in ";}":
            continue
        found = _candidate(text, i + 1, block, ch, final)
        if found is not None:
            return found
    return OPEN


def _candidate(text: str, end: int, block: str, ch: str, final: bool):
    """Judge a possible statement end; None means "not an end, keep scanning"."""
    node, diagnostics = _parse(text[:end], start_rule(block))
    if node is None:
        # A `;` at depth zero always ends a statement, so an unreadable one stays unreadable;
        # a `}` at depth zero may close an array literal inside a longer statement.
        return Broken(end, diagnostics) if ch == ";" else None
    if _IF.search(text, 0, end):
        follows = _else_follows(text[end:], final)
        if follows is None:
            return OPEN
        if follows:
            return None
    return Statement(end, node)


def _else_follows(rest: str, final: bool) -> bool | None:
    """Does `else` come next? None when the text does not tell yet."""
    rest = rest.lstrip()
    word = _WORD.match(rest).group()
    undecided = len(word) == len(rest) and "else".startswith(word)
    if undecided and not final:
        return None
    return word == "else" and len(rest) > len(word)


@functools.lru_cache(maxsize=1024)
def _parse(text: str, start: str):
    # Scanning is repeated after every token, so the same prefix is parsed many times.
    try:
        node = parse(text, start=start)
    except ProgramError as exc:
        return None, tuple(exc.diagnostics)
    glued = _glued_word(text, node)
    if glued is not None:
        return None, (error("parse.glued_keyword", "phi1",
                            f"'{glued}' is read as a keyword followed by a name, which Stan reads as one "
                            "name; put a space after the keyword"),)
    return node, ()


def _glued_word(text: str, node) -> str | None:
    """A word of `text` that the parser split into a keyword and a name (`realx` as `real x`).

    Both parsers only look for a keyword where no name may stand, so they accept this; Stan's lexer
    does not. The printer spaces every token, so a word of the text that the printed statement
    lacks was split.
    """
    printed = set(_NAME.findall(to_stan(node)))
    return next((w for w in _NAME.findall(text) if w not in printed), None)
