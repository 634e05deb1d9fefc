"""The subset's Lark grammar as GBNF, the grammar format of llama.cpp's server (`grammar` field).

Lark compiles the grammar file to plain BNF rules and terminals; this module prints those:
- string terminals become GBNF literals; regex terminals (identifiers, numbers) are translated
  by a small regex -> GBNF translator that handles what the grammar uses (classes, groups,
  alternation, * + ?) and refuses anything else;
- Lark's `%ignore` becomes an explicit `ws` (spaces, tabs, newlines; no comments) after every
  terminal, since GBNF has no implicit whitespace;
- left recursion (Lark writes `x*` as `x_star: x_star x | x`, and operators as `e: e op t | t`)
  is rewritten to `A ::= (base) (tail)*`, because llama.cpp rejects left-recursive grammars.

The result is a little looser than the Lark grammar (a keyword may touch the identifier after
it: `realx` reads as `real x`); the checker catches anything the grammar lets through.
"""

from __future__ import annotations

import functools
import re

import lark

from ..lang import grammar_text

_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\x0C", '"': '\\"', "\\": "\\\\"}
_CLASS_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r", "\f": "\\x0C", "]": "\\]", "\\": "\\\\"}


class GrammarConversionError(ValueError):
    """The Lark grammar uses something this converter cannot express in GBNF."""


@functools.cache
def stan_gbnf() -> str:
    """The boxloop Stan subset as a GBNF grammar with root `root`."""
    return lark_to_gbnf(grammar_text())


def lark_to_gbnf(text: str, start: str = "start") -> str:
    parser = lark.Lark(text, parser="lalr", start=start, maybe_placeholders=False)
    names = _names(parser)
    rules: dict[str, list[list[str]]] = {}
    for rule in parser.rules:
        alt = [names[(s.name, s.is_term)] for s in rule.expansion]
        rules.setdefault(names[(rule.origin.name, False)], []).append(alt)
    _check_no_indirect_left_recursion(rules)
    lines = [f"root ::= ws {names[(start, False)]}", "ws ::= [ \\t\\n\\r]*"]
    lines += [f"{name} ::= {_rule_body(name, alts)}" for name, alts in rules.items()]
    ignored = set(parser.ignore_tokens)
    for t in parser.terminals:
        if t.name not in ignored:
            lines.append(f"{names[(t.name, True)]} ::= {_terminal(t.pattern)} ws")
    return "\n".join(lines) + "\n"


def _names(parser) -> dict:
    """GBNF names (letters, digits, dashes) for Lark's rules (r-...) and terminals (t-...)."""
    out = {}
    for rule in parser.rules:
        out[(rule.origin.name, False)] = "r-" + _dashed(rule.origin.name)
    for t in parser.terminals:
        out[(t.name, True)] = "t-" + _dashed(t.name)
    if len(set(out.values())) != len(out):
        raise GrammarConversionError("two grammar names map to the same GBNF name")
    return out


def _dashed(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", name.lower()).strip("-") or "x"


def _rule_body(name: str, alts: list[list[str]]) -> str:
    recursive = [alt[1:] for alt in alts if alt and alt[0] == name]
    base = [alt for alt in alts if not alt or alt[0] != name]
    if not recursive:
        return _alternation(base)
    if not base:
        raise GrammarConversionError(f"rule {name} only recurses into itself")
    return f"({_alternation(base)}) ({_alternation(recursive)})*"


def _alternation(alts: list[list[str]]) -> str:
    present = [" ".join(alt) for alt in alts if alt]
    text = " | ".join(present)
    return f"({text})?" if len(present) < len(alts) else text


def _check_no_indirect_left_recursion(rules: dict) -> None:
    """After immediate left recursion is removed, no rule may reach itself leftmost."""
    nullable = _nullable(rules)
    left = {name: set() for name in rules}
    for name, alts in rules.items():
        for alt in alts:
            start = 1 if alt and alt[0] == name else 0  # immediate recursion is rewritten
            for sym in alt[start:] if start == 0 else []:
                if sym in rules:
                    left[name].add(sym)
                if sym not in nullable:
                    break
    for name in rules:
        seen, stack = set(), list(left[name])
        while stack:
            other = stack.pop()
            if other == name:
                raise GrammarConversionError(f"rule {name} is indirectly left-recursive")
            if other not in seen:
                seen.add(other)
                stack.extend(left[other])


def _nullable(rules: dict) -> set[str]:
    nullable: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, alts in rules.items():
            if name not in nullable and any(all(s in nullable for s in alt) for alt in alts):
                nullable.add(name)
                changed = True
    return nullable


# ---- terminals ----------------------------------------------------------------------------------


def _terminal(pattern) -> str:
    if pattern.flags:
        raise GrammarConversionError(f"regex flags {sorted(pattern.flags)} have no GBNF form")
    if pattern.type == "str":
        return _literal(pattern.value)
    return _RegexTranslator(pattern.value).translate()


def _literal(text: str) -> str:
    return '"' + "".join(_ESCAPES.get(c, c) for c in text) + '"'


class _RegexTranslator:
    """Recursive descent over a small regex dialect: alternation, groups, classes, escapes and
    the quantifiers * + ?. Anything else (anchors, lookarounds, {m,n}, backreferences) raises."""

    def __init__(self, regex: str):
        self.s, self.i = regex, 0

    def translate(self) -> str:
        out = self._alternation()
        if self.i != len(self.s):
            raise GrammarConversionError(f"cannot translate regex {self.s!r} at {self.i}")
        return out

    def _peek(self) -> str | None:
        return self.s[self.i] if self.i < len(self.s) else None

    def _alternation(self) -> str:
        parts = [self._sequence()]
        while self._peek() == "|":
            self.i += 1
            parts.append(self._sequence())
        return parts[0] if len(parts) == 1 else "(" + " | ".join(parts) + ")"

    def _sequence(self) -> str:
        items = []
        while self._peek() not in (None, "|", ")"):
            atom = self._atom()
            if self._peek() in ("*", "+", "?"):
                atom += self.s[self.i]
                self.i += 1
            items.append(atom)
        return " ".join(items) if items else '""'

    def _atom(self) -> str:
        c = self._peek()
        if c == "(":
            self.i += 1
            if self.s.startswith("?:", self.i):
                self.i += 2
            elif self._peek() == "?":
                raise GrammarConversionError(f"regex group syntax in {self.s!r} has no GBNF form")
            inner = self._alternation()
            if self._peek() != ")":
                raise GrammarConversionError(f"unbalanced group in {self.s!r}")
            self.i += 1
            return f"({inner})"
        if c == "[":
            return self._char_class()
        if c == "\\":
            return _literal(self._escape())
        if c in "^$.{}*+?":
            raise GrammarConversionError(f"regex operator {c!r} in {self.s!r} is not supported")
        self.i += 1
        return _literal(c)

    def _escape(self) -> str:
        c = self.s[self.i + 1]
        self.i += 2
        if c in "dDwWsSbB":
            raise GrammarConversionError(f"regex escape \\{c} in {self.s!r} is not supported")
        return {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}.get(c, c)

    def _char_class(self) -> str:
        end = self.i + 1
        if self.s[end:end + 1] == "^":
            end += 1
        if self.s[end:end + 1] == "]":
            end += 1
        while self.s[end] != "]":
            end += 2 if self.s[end] == "\\" else 1
        body, self.i = self.s[self.i + 1:end], end + 1
        negated = body.startswith("^")
        chars, j = [], 1 if negated else 0
        while j < len(body):
            if body[j] == "\\":
                chars.append(_CLASS_ESCAPES.get(_unescape(body[j + 1]), _unescape(body[j + 1])))
                j += 2
            else:
                chars.append(_CLASS_ESCAPES.get(body[j], body[j]) if body[j] != "-" else "-")
                j += 1
        return "[" + ("^" if negated else "") + "".join(chars) + "]"


def _unescape(c: str) -> str:
    return {"n": "\n", "t": "\t", "r": "\r", "f": "\f"}.get(c, c)
