"""The modeling language: a Stan subset with a parser, a semantic checker and a canonical form."""

from .ast import Program
from .checker import Checker, CheckResult, check
from .diagnostics import Diagnostic
from .parser import grammar_text, parse

__all__ = ["Program", "Checker", "CheckResult", "check", "Diagnostic", "grammar_text", "parse"]
