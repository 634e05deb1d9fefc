"""What every command shares: exit codes, output, and how a failure is reported.

Exit codes: 0 success; 1 well-formed input that fails (an invalid program, a failed or unreliable
fit, no reliable model, a proposer server that did not answer, an internal error); 2 usage, file,
data or run-store errors; 130 interrupted (Ctrl-C); 141 when the reader of stdout went away (`| head`),
quietly, as a shell tool killed by SIGPIPE would. With --json, stdout carries exactly one JSON
object also on error: {"error": {"code", "message"}}; the one-line message goes to stderr too.
Every message is passed through `redact` first: no credential reaches the terminal or a log.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback

from .errors import BoxloopError, FitError, ProgramError, ProposerError, UsageError
from .redact import redact, redact_all

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 0, 1, 2, 130, 141


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing and exiting, so that a bad flag under
    --json still answers with one JSON object."""

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def add_nuts_options(p) -> None:
    """The sampler flags of every command that fits (NutsSettings' fields, with its defaults)."""
    p.add_argument("--chains", type=int, default=4, help="Markov chains, run in parallel (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=1000, help="adaptation draws per chain (default: %(default)s)")
    p.add_argument("--draws", type=int, default=1000, help="kept draws per chain (default: %(default)s)")
    p.add_argument("--target-accept", type=float, default=0.8,
                   help="NUTS step-size adaptation target (default: %(default)s)")
    p.add_argument("--max-tree-depth", type=int, default=10, help="NUTS tree depth limit (default: %(default)s)")


def exit_code(exc: BoxloopError) -> int:
    # a run that cannot be averaged as asked (no evidence, no reliable model) is a finished run that fails
    if isinstance(exc, (ProgramError, FitError)) or exc.code.startswith(("evidence.", "average.")):
        return EXIT_FAILED
    # no answer from a server, or a proposer that answered but wrote nothing valid: the input was fine
    if isinstance(exc, ProposerError) and (exc.transport or exc.code.endswith(".no_valid_program")):
        return EXIT_FAILED
    return EXIT_USAGE


def emit(payload: dict, as_json: bool, human: str) -> None:
    """Print the machine-readable payload or the human-readable text, never both."""
    if as_json:
        print(json.dumps(jsonable(payload)), flush=True)
    else:
        print(human, flush=True)


def jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return jsonable(x.item())
    return x


def fail(command: str, code: str, message: str, exit_status: int, as_json: bool, **extra) -> int:
    """Report a failure on stderr (and as the JSON object on stdout); return the exit code."""
    message, extra = redact(message), redact_all(extra)
    print(f"{' '.join(('boxloop', command)).strip()}: {message}", file=sys.stderr, flush=True)
    if as_json:
        print(json.dumps(jsonable({"error": {"code": code, "message": message, **extra}})), flush=True)
    return exit_status


def run_guarded(command: str, run, args, as_json: bool) -> int:
    """`run(args)` with every way out mapped to its exit code and message."""
    try:
        return run(args)
    except BoxloopError as exc:
        extra = {k: v for k, v in exc.to_dict().items() if k not in ("code", "message")} \
            if isinstance(exc, ProposerError) else {}
        return fail(command, exc.code, str(exc), exit_code(exc), as_json, **extra)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except KeyboardInterrupt:
        return fail(command, "interrupted", "interrupted (Ctrl-C); what had finished is kept", EXIT_INTERRUPTED,
                    as_json)
    except Exception as exc:  # noqa: BLE001 - a bug: still one JSON object and a clear exit code
        print(redact("".join(traceback.format_exception(exc))), file=sys.stderr)
        return fail(command, "internal.error", f"{type(exc).__name__}: {exc} (a bug in boxloop; please report "
                    "it with the traceback above)", EXIT_FAILED, as_json)


def _silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush does not fail again."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # stdout is not a real file (captured, closed)
        pass


def wants_json(argv) -> bool:
    return "--json" in (sys.argv[1:] if argv is None else argv)


def parse_or_fail(parser: argparse.ArgumentParser, argv, command: str):
    """(args, None) or (None, exit code) after reporting a usage error."""
    try:
        return parser.parse_args(argv), None
    except UsageError as exc:
        return None, fail(command, exc.code, str(exc), EXIT_USAGE, wants_json(argv))
