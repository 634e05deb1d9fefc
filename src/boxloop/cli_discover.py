"""`boxloop discover DATA ...`: search for a reliable model of the data (DESIGN §8).

Exit 0 when a reliable program was found, 1 when none was or the proposer's server failed
(everything found is still printed, and the failure is named: code, message, server, status),
2 on usage, data or run-store errors, 130 on Ctrl-C. Progress goes to stderr (unless --json);
the result to stdout.
"""

from __future__ import annotations

import math
import sys

from .cli_io import EXIT_FAILED, EXIT_OK, ArgumentParser, add_nuts_options, emit, parse_or_fail, run_guarded


def register(subparsers) -> None:
    p = subparsers.add_parser("discover", help="propose, fit, critique and revise models of the data")
    add_arguments(p)
    p.set_defaults(run=run_discover)


def add_arguments(p: ArgumentParser) -> None:
    from .cli_data import add_data_options

    p.add_argument("data", help="a table (.csv, .tsv, .parquet, .feather), Stan-JSON or R dump file")
    add_data_options(p, target=True)
    p.add_argument("--describe", help="plain-language description of the data")
    p.add_argument("--proposer", default="grammar", help="grammar (default), spfn[:<checkpoint>], openai:<model>@<url>, hf:<path>")
    p.add_argument("--strategy", choices=("refine", "average", "best-of-n"), default="refine",
                   help="refine: rewrite what fails (default); average: weight N proposals (Large Language "
                        "Bayes); best-of-n: fit N proposals, keep the best")
    p.add_argument("--budget", type=int, default=24, help="most distinct programs fitted (R_max)")
    p.add_argument("--seed", type=int, default=0, help="random seed of proposals and fits (default: %(default)s)")
    p.add_argument("--out", help="run directory (rerun the same command with it to resume)")
    p.add_argument("--executor", default="local", help="local (default), ray or ray:<address>")
    p.add_argument("--workers", type=int, help="fits at once (default: one per core)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds allowed per fit")
    p.add_argument("--memory-gb", type=float, default=None,
                   help="memory cap per fit worker in GiB (default: 80%% of memory shared among the workers)")
    p.add_argument("--alpha", type=int, default=2, help="likelihood rewrites per lineage")
    p.add_argument("--prior-rewrites", type=int, default=2, help="prior rewrites per lineage")
    p.add_argument("--beta", type=int, default=4, help="stop after this many reliable programs (refine)")
    p.add_argument("--zeta", type=int, default=5, help="B(M) >= zeta is reliable")
    p.add_argument("--screen", choices=("auto", "on", "off"), default="auto",
                   help="on: past the first --screen-after structures, a short screen fit first and full fits "
                        "only for candidates that could be chosen or weighted (average, best-of-n); auto: the same "
                        "while it saves time; off: full fits for all")
    p.add_argument("--screen-after", type=int, default=16,
                   help="structures fully fitted before screening starts (default: %(default)s)")
    p.add_argument("--screen-method", choices=("pathfinder", "nuts"), default="pathfinder",
                   help="the screen's cheap fit: Pathfinder (compiles only the log density and its gradient) or "
                        "a short NUTS run (default: %(default)s)")
    add_nuts_options(p)
    p.add_argument("--cache-dir", help="shared fit cache (default ~/.cache/boxloop or $BOXLOOP_CACHE_DIR)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the shared fit cache")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def run_discover(args) -> int:
    from .cli_data import load_task, print_notes
    from .infer.nuts import NutsSettings
    from .search.config import SearchConfig
    from .search.discover import discover_task
    from .search.progress import ProgressLine

    task = load_task(args)
    print_notes(task, args.json)
    settings = NutsSettings(chains=args.chains, warmup=args.warmup, draws=args.draws,
                            target_accept=args.target_accept, max_tree_depth=args.max_tree_depth)
    config = SearchConfig(strategy=args.strategy, proposer=args.proposer, budget=args.budget, seed=args.seed,
                          alpha=args.alpha, prior_rewrites=args.prior_rewrites, beta=args.beta, zeta=args.zeta,
                          timeout_s=args.timeout, settings=settings, screen=args.screen,
                          screen_after=args.screen_after, screen_method=args.screen_method,
                          memory_bytes=None if args.memory_gb is None else int(args.memory_gb * 2**30))
    progress = None if args.json else ProgressLine(sys.stderr)
    cache = False if args.no_cache else (args.cache_dir or True)
    reports = []
    try:
        result = discover_task(task, config, out=args.out, executor=args.executor, workers=args.workers,
                               cache=cache, on_progress=progress, command=" ".join(["boxloop", *sys.argv[1:]]),
                               on_done=lambda run_dir: _report(run_dir, reports))
    finally:
        if progress is not None:
            progress.close()
    payload = result.to_dict()
    payload["report"] = str(reports[0].path) if reports else None
    if result.best is not None:
        payload["best"].update(program=_annotated(result.best.program, task), summary=_best_summary(result, task))
    emit(payload, args.json, _text(result, payload))
    return EXIT_OK if result.best is not None else EXIT_FAILED


def _report(run_dir, reports: list) -> None:
    from .report import report_after_run

    report_after_run(run_dir, reports)


def _annotated(program: str, task) -> str:
    from .report import annotate_program

    return annotate_program(program, task)


def _best_summary(result, task) -> dict:
    """The best program's posterior summary, each element a factor's level indexes labelled."""
    from .cli_summary import labelled_summary
    from .diagnose import summarize

    idata = result.inference_data()
    return labelled_summary(summarize(idata), result.best.program, task.columns) if idata is not None else {}


SUMMARY_ROWS = 30  # rows of the best program's posterior summary printed (all are in --json)


def _text(result, payload: dict) -> str:
    from .cli_summary import summary_rows

    lines = []
    if result.error is not None:
        e = result.error
        status = f", HTTP {e['status']}" if e.get("status") else ""
        lines += [f"the proposer failed [{e['code']}{status}] at {e.get('server') or '?'}: {e['message']}",
                  "rerun the same command once it answers: the run resumes where it stopped", ""]
    if result.best is None:
        lines.append(f"no reliable program among {len(result.candidates)} candidates")
    else:
        b, best = result.best, payload["best"]
        lines += [f"best: {b.hash}  B(M) = {b.score}/7  elpd_loo = {b.elpd_loo:.2f} (se {b.elpd_loo_se:.2f})", "",
                  best["program"].rstrip(), ""]
        summary = best.get("summary") or {}
        shown = dict(list(summary.items())[:SUMMARY_ROWS])
        if shown:
            lines += summary_rows(shown)
            if len(summary) > SUMMARY_ROWS:
                lines.append(f"... {len(summary) - SUMMARY_ROWS} more (all in --json)")
            lines.append("")
    lines.append(f"{'hash':<18}{'status':<8}{'B(M)':>5}{'elpd_loo':>11}{'se':>8}  {'block':<11}failed")
    shown = [c for c in result.candidates if c.status != "screened_out"]
    for c in sorted(shown, key=lambda c: (-c.reliable, -_finite(c.elpd_loo))):
        lines.append(f"{c.hash:<18}{c.status:<8}{c.score:>5}{_num(c.elpd_loo, 11)}{_num(c.elpd_loo_se, 8)}  "
                     f"{c.block:<11}{','.join(c.failed) or (c.code or '')}")
    if result.screening is not None:
        sc = result.screening
        lines.append(f"screening: {sc['screened']} screened, {sc['promoted']} promoted to a full fit, "
                     f"{sc['screened_out']} screened out (each with its reason in --json and the report)")
    rate = "-" if result.run_rate is None else f"{result.run_rate:.2f}"
    lines += ["", f"run rate {rate}; {result.counts['proposals']} proposals, {len(result.candidates)} fitted, "
                  f"{result.counts['reliable']} reliable; {result.timing['wall_s']:.1f} s; store {result.store}"]
    if payload.get("report"):
        lines.append(f"report: {payload['report']} (open it in a browser)")
    return "\n".join(lines)


def _finite(x: float) -> float:
    return x if math.isfinite(x) else -math.inf


def _num(x: float, width: int) -> str:
    return f"{x:>{width}.2f}" if math.isfinite(x) else f"{'-':>{width}}"


def main(argv=None) -> int:
    """`python -m boxloop.cli_discover DATA ...`, the same as `boxloop discover DATA ...`."""
    parser = ArgumentParser(prog="boxloop discover", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args, status = parse_or_fail(parser, argv, "discover")
    if args is None:
        return status
    return run_guarded("discover", run_discover, args, args.json)


if __name__ == "__main__":
    sys.exit(main())
