"""The `boxloop` command line (DESIGN §8).

Every command accepts --json (exactly one JSON object on stdout) and exits 0 on success, 1 when the
input is well-formed but fails (an invalid program, no reliable model), 2 on usage, I/O or data errors
(with a one-line message on stderr).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from .errors import BoxloopError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(BoxloopError):
    code = "usage"


def main(argv=None) -> int:
    parser = _build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return args.run(args)
    except BoxloopError as exc:
        print(f"boxloop {args.command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"boxloop {args.command}: interrupted", file=sys.stderr)
        return 130


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="boxloop", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    for register in (_register_check,):
        register(sub)
    return parser


def emit(payload: dict, as_json: bool, human: str) -> None:
    """Print the machine-readable payload or the human-readable text, never both."""
    if as_json:
        print(json.dumps(_jsonable(payload)))
    else:
        print(human)


def _jsonable(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and callable(x.item):  # numpy scalars
        return _jsonable(x.item())
    return x


def read_program(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"program file {path!r} not found")
    try:
        return p.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read program {path!r}: {exc}") from None


def read_data(path: str | None) -> dict | None:
    if path is None:
        return None
    from .data import load_data

    return dict(load_data(path).values)


# ---- check -------------------------------------------------------------------------------------


def _register_check(sub) -> None:
    p = sub.add_parser("check", help="parse and check a program (phi1..phi6), print its canonical form")
    p.add_argument("program", help="a .stan file in the boxloop Stan subset")
    p.add_argument("--data", help="Stan-JSON or CSV data to check the data block against")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_check)


def run_check(args) -> int:
    from .lang import check
    from .lang.canonical import blocks, canonical_text, structural_hash

    source = read_program(args.program)
    data = read_data(args.data)
    result = check(source, data=data)
    payload = {
        "valid": result.valid,
        "diagnostics": [d.to_dict() for d in result.diagnostics],
        "canonical": None,
        "hash": None,
        "blocks": None,
    }
    if result.valid:
        dpl = blocks(result.program)
        payload.update(canonical=canonical_text(result.program), hash=structural_hash(result.program),
                       blocks={"data": dpl.data, "prior": dpl.prior, "likelihood": dpl.likelihood})
    emit(payload, args.json, _check_text(args.program, result, payload))
    return EXIT_OK if result.valid else EXIT_FAILED


def _check_text(path: str, result, payload: dict) -> str:
    lines = [f"{path}:{d.line}:{d.column}: {d.severity} [{d.code}] {d.message}" for d in result.diagnostics]
    if result.valid:
        lines.append(f"{path}: valid (hash {payload['hash']})")
    else:
        lines.append(f"{path}: invalid ({len(result.errors)} error{'s' if len(result.errors) > 1 else ''})")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
