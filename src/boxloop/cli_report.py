"""`boxloop report RUN_DIR [--out FILE]`: write the run's HTML report (DESIGN §8).

Exit 0 when the report was written (also for a run with no reliable model, one stopped half-way,
or an empty one: the report says so); 2 when RUN_DIR is not a run directory or its store is
empty or damaged, or the report cannot be written.
"""

from __future__ import annotations

from .cli_io import EXIT_OK, emit

VERDICTS = {"found": "a reliable model was chosen", "unreliable": "no reliable model",
            "empty": "no candidate was fitted"}


def register(subparsers) -> None:
    p = subparsers.add_parser("report", help="write the HTML report of a discover run")
    p.add_argument("run_dir", help="the --out directory of `boxloop discover`")
    p.add_argument("--out", help="the HTML file to write (default RUN_DIR/report.html)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_report)


def run_report(args) -> int:
    from .report import write_report

    s = write_report(args.run_dir, args.out)
    payload = {"report": str(s.path), "bytes": s.bytes, "seconds": round(s.seconds, 3), "verdict": s.verdict,
               "status": s.status, "candidates": s.candidates}
    emit(payload, args.json, f"wrote {s.path} ({s.bytes / 1024:.0f} KiB, {s.seconds:.1f} s): run {s.status}, "
                             f"{s.candidates} candidates, {VERDICTS[s.verdict]}")
    return EXIT_OK
