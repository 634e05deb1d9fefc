"""The modeling language: a Stan subset with a parser, a semantic checker and a canonical form."""

from .ast import Program
from .canonical import DPL, blocks, canonical_text, rename_map, structural_hash, with_block
from .checker import Checker, CheckResult, check
from .diagnostics import Diagnostic
from .parser import grammar_text, parse
from .printer import to_stan

__all__ = [
    "Program", "Checker", "CheckResult", "check", "Diagnostic", "grammar_text", "parse", "to_stan",
    "DPL", "blocks", "canonical_text", "rename_map", "structural_hash", "with_block",
]
