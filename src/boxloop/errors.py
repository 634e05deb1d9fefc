"""The exceptions boxloop raises on purpose. Anything else escaping is a bug."""

from __future__ import annotations


class BoxloopError(Exception):
    """Base class. `code` is a stable machine-readable identifier; the message names the fix."""

    code = "boxloop.error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class DataError(BoxloopError):
    """The data cannot be used as given (missing, NaN, wrong type or shape, unreadable file)."""

    code = "data.invalid"


class ProgramError(BoxloopError):
    """A program failed to parse or check. `diagnostics` holds every problem found."""

    code = "program.invalid"

    def __init__(self, message: str, diagnostics=(), *, code: str | None = None):
        super().__init__(message, code=code)
        self.diagnostics = tuple(diagnostics)


class FitError(BoxloopError):
    """A fit could not be completed (compile failure, bad initial values, timeout, crash)."""

    code = "fit.failed"


class ProposerError(BoxloopError):
    """A proposer backend could not produce a program (server down, model missing, budget spent)."""

    code = "propose.failed"
