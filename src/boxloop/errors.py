"""The exceptions boxloop raises on purpose. Anything else escaping is a bug."""

from __future__ import annotations


class BoxloopError(Exception):
    """Base class. `code` is a stable machine-readable identifier; the message names the fix."""

    code = "boxloop.error"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(BoxloopError):
    """The call itself is wrong: a missing file, a bad option or argument."""

    code = "usage"


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
    """A proposer backend could not produce a program (server down, model missing, budget spent).

    `server` (the redacted base URL) and `status` (the HTTP status, if one came back) say where it
    failed. `transport` is True when no answer came back at all (refused, timed out, 5xx, not an
    answer): such a failure says nothing about the request and must never be stored as its result.
    """

    code = "propose.failed"
    TRANSPORT_CODES = frozenset({"propose.server_down", "propose.timeout", "propose.http_error",
                                 "propose.bad_reply"})

    def __init__(self, message: str, *, code: str | None = None, server: str | None = None,
                 status: int | None = None):
        super().__init__(message, code=code)
        self.server, self.status = server, status

    @property
    def transport(self) -> bool:
        return self.code in self.TRANSPORT_CODES

    def to_dict(self) -> dict:
        return {"code": self.code, "message": str(self), "server": self.server, "status": self.status}
