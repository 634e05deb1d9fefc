"""`boxloop export PROGRAM.stan --to stan|numpyro|pymc [--data DATA] [--out FILE]`: the program as
code for Stan, NumPyro or PyMC, with its data loading, printed from the syntax tree.

With a table (CSV, Parquet, ...) as DATA, the data are encoded as `discover` encodes them and
written as Stan-JSON beside the output (`<out stem>.data.json`, or `<program stem>.data.json`),
which the exported code reads. Exit 0 on success, 1 when the program does not check or uses what
the target has no counterpart for here (the message names it), 2 on usage and file errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .cli_data import add_data_options, read_data, read_program
from .cli_io import EXIT_OK, emit


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="write a program as Stan, NumPyro or PyMC code with its data loading")
    p.add_argument("program", help="a .stan file")
    p.add_argument("--to", required=True, choices=("stan", "numpyro", "pymc"), help="the target language")
    p.add_argument("--data", help="the data it will read (Stan-JSON; a table is encoded and written as Stan-JSON)")
    p.add_argument("--out", help="write the code here (default: stdout)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_options(p)
    p.set_defaults(run=run_export)


def run_export(args) -> int:
    from .report.export import export_program

    source = read_program(args.program)
    data_path, data = args.data, None
    if args.data is not None and not args.data.endswith(".json"):
        data = read_data(args, source)
        base = Path(args.out) if args.out else Path(args.program)
        data_path = str(base.with_name(base.stem + ".data.json"))
    exported = export_program(source, args.to, program_name=Path(args.program).name, data_path=data_path, data=data)
    if exported.data_json is not None:
        Path(data_path).write_text(exported.data_json)
    if args.out:
        Path(args.out).write_text(exported.code)
    payload = {"to": args.to, "out": args.out, "data": data_path, **({} if args.out else {"code": exported.code})}
    if args.json:
        emit(payload, True, "")
    elif args.out:
        written = f" and the data to {data_path}" if exported.data_json is not None else ""
        print(f"wrote {args.out}{written}", file=sys.stderr)
    else:
        print(exported.code, end="")
    return EXIT_OK
