"""Checker diagnostics: one problem, its stable code, the predicate it violates, and where."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# The six semantic predicates of RefineStat, as the checker names them.
PREDICATES = {
    "phi1": "parsability",
    "phi2": "distribution exists",
    "phi3": "arguments valid",
    "phi4": "dependency",
    "phi5": "support",
    "phi6": "types",
}


@dataclass(frozen=True)
class Diagnostic:
    """One finding. `severity` is "error" (the program is rejected) or "warning" (undecided)."""

    code: str
    predicate: str
    message: str
    line: int = 0
    column: int = 0
    severity: str = "error"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def to_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        where = f"{self.line}:{self.column}: " if self.line else ""
        return f"{where}{self.severity} [{self.code}] {self.message}"


def error(code: str, predicate: str, message: str, pos=None) -> Diagnostic:
    line, column = (pos.line, pos.column) if pos is not None else (0, 0)
    return Diagnostic(code, predicate, message, line, column, "error")


def warning(code: str, predicate: str, message: str, pos=None) -> Diagnostic:
    line, column = (pos.line, pos.column) if pos is not None else (0, 0)
    return Diagnostic(code, predicate, message, line, column, "warning")
