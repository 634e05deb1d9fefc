"""The `boxloop` command line (DESIGN §8).

Every command accepts --json (exactly one JSON object on stdout, also on error) and exits 0 on
success, 1 when the input is well-formed but fails (an invalid program, no reliable model), 2 on
usage, I/O, data or run-store errors (with a one-line message on stderr), 130 on Ctrl-C (`cli_io`).
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import cli_average, cli_data, cli_discover, cli_export, cli_propose, cli_report, cli_spfn
from .api import DEFAULT_FIT_TIMEOUT_S, host_devices
from .userdirs import compilation_cache_dir
from .cli_data import add_data_options, read_data, read_program
from .cli_summary import format_number, labelled_summary, summary_rows
from .cli_io import (EXIT_FAILED, EXIT_OK, EXIT_USAGE, ArgumentParser, UsageError, add_nuts_options, emit,
                     parse_or_fail, run_guarded, wants_json)

__all__ = ["main", "emit", "UsageError", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE"]


def main(argv=None) -> int:
    parser = _build_parser()
    args, status = parse_or_fail(parser, argv, "")
    if args is None:
        return status
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    return run_guarded(args.command, args.run, args, getattr(args, "json", False) or wants_json(argv))


def _build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="boxloop", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    for register in (_register_check, _register_fit, _register_evidence, cli_propose.register,
                     cli_discover.register, cli_data.register, cli_report.register, cli_average.register,
                     cli_export.register, cli_spfn.register):
        register(sub)
    return parser


# ---- check -------------------------------------------------------------------------------------


def _register_check(sub) -> None:
    p = sub.add_parser("check", help="parse and check a program (phi1..phi6), print its canonical form")
    p.add_argument("program", help="a .stan file in the boxloop Stan subset")
    p.add_argument("--data", help="data (Stan-JSON, R dump, or a table) to check the data block against")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_options(p)
    p.set_defaults(run=run_check)


def run_check(args) -> int:
    from .lang import check
    from .lang.canonical import blocks, canonical_text, structural_hash

    source = read_program(args.program)
    data = read_data(args, source)
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


# ---- fit / evidence --------------------------------------------------------------------------


def _add_sampler_options(p) -> None:
    p.add_argument("program", help="a .stan file in the boxloop Stan subset")
    p.add_argument("data", help="Stan-JSON, R dump, or a table (.csv, .tsv, .parquet, .feather)")
    add_nuts_options(p)
    p.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=DEFAULT_FIT_TIMEOUT_S,
                   help="stop the fit after this many seconds (default: %(default)g)")
    p.add_argument("--memory-gb", type=float, default=None,
                   help="address-space cap of the fit's worker process in GiB (default: 80%% of memory)")
    p.add_argument("--cache-dir", help="keep JAX's compiled programs in DIR/jax, so the next fit of the same "
                                       "structure and data shapes skips compiling (default ~/.cache/boxloop or "
                                       "$BOXLOOP_CACHE_DIR)")
    p.add_argument("--no-cache", action="store_true", help="compile afresh; neither read nor write the cache")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_options(p)


def _register_fit(sub) -> None:
    p = sub.add_parser("fit", help="fit a program with NUTS and report the posterior and diagnostics")
    _add_sampler_options(p)
    p.set_defaults(run=run_fit)


def _register_evidence(sub) -> None:
    p = sub.add_parser("evidence", help="estimate the log marginal likelihood log p(data | program)")
    _add_sampler_options(p)
    p.add_argument("--method", choices=("auto", "bridge", "is", "smc"), default="auto",
                   help="auto (default: bridge sampling cross-checked by importance sampling, tempered SMC "
                        "when they disagree or a diagnostic fails), bridge, is (Student-t importance "
                        "sampling) or smc (likelihood-tempered SMC from the prior)")
    p.set_defaults(run=run_evidence)


def _settings(args):
    from .infer.nuts import NutsSettings

    return NutsSettings(chains=args.chains, warmup=args.warmup, draws=args.draws,
                        target_accept=args.target_accept, max_tree_depth=args.max_tree_depth)


def _fit(args, evidence: str | None):
    """Run the fit in a worker process (so Ctrl-C, the timeout and the memory cap always hold);
    return its FitResult or FitFailure."""
    from .infer.pipeline import checked_program, fit_isolated, fit_worker
    from .infer.progress import ProgressBar
    from .infer.worker import GiB, WorkerLimits, default_memory_bytes

    memory = default_memory_bytes() if args.memory_gb is None else int(args.memory_gb * GiB)
    limits = WorkerLimits(timeout_s=args.timeout, memory_bytes=memory, host_devices=host_devices(args.chains),
                          compilation_cache_dir=compilation_cache_dir(False if args.no_cache else args.cache_dir or True))
    bar = None if args.json else ProgressBar(sys.stderr, label=Path(args.program).name)
    worker = fit_worker(limits, on_progress=bar)  # its imports overlap the reading and checking below
    try:
        source = read_program(args.program)
        data = read_data(args, source)
        checked_program(source, data, evidence)  # every diagnostic, here, before the worker gets a job
        _progress(args, f"fitting {args.program}: {args.chains} chains x ({args.warmup} warmup + "
                        f"{args.draws} draws)")
        return fit_isolated(source, data, _settings(args), args.seed, evidence, on_progress=bar, worker=worker)
    finally:
        worker.close()
        if bar:
            bar.close()


def _progress(args, message: str) -> None:
    if not args.json:
        print(message, file=sys.stderr, flush=True)


def _failed(args, exc_or_failure) -> int:
    from .errors import ProgramError

    if isinstance(exc_or_failure, ProgramError):
        diags = [d.to_dict() for d in exc_or_failure.diagnostics]
        emit({"error": {"code": exc_or_failure.code, "message": str(exc_or_failure)}, "diagnostics": diags},
             args.json, "\n".join(f"{args.program}:{d['line']}:{d['column']}: {d['severity']} [{d['code']}] "
                                   f"{d['message']}" for d in diags))
        return EXIT_FAILED
    code, message = exc_or_failure.code, getattr(exc_or_failure, "reason", None) or str(exc_or_failure)
    emit({"error": {"code": code, "message": message}}, args.json, f"fit failed [{code}]: {message}")
    return EXIT_USAGE if code.startswith("data.") else EXIT_FAILED  # the worker found the data unusable


def _run_fit_or_fail(args, evidence: str | None):
    from .errors import FitError, ProgramError
    from .infer.worker import FitFailure

    try:
        result = _fit(args, evidence)
    except (ProgramError, FitError) as exc:
        return None, _failed(args, exc)
    if isinstance(result, FitFailure):
        return None, _failed(args, result)
    return result, EXIT_OK


def run_fit(args) -> int:
    result, code = _run_fit_or_fail(args, None)
    if result is None:
        return code
    d = result.diagnostics.to_dict()
    keys = ("rhat_max", "ess_bulk_min", "ess_tail_min", "divergences", "bfmi_min", "pareto_k_bad_frac",
            "elpd_loo", "elpd_loo_se", "score")
    payload = {
        "summary": labelled_summary(result.summary(), read_program(args.program), getattr(args, "columns", ())),
        "diagnostics": {k: d.get(k) for k in keys},
        "timing": {k: round(v, 3) for k, v in result.timing.items()},
        "warnings": list(result.warnings),
    }
    emit(payload, args.json, _fit_text(payload, result))
    # an unreliable fit is well-formed input that failed: the payload is still printed in full
    return EXIT_OK if result.diagnostics.reliable else EXIT_FAILED


def _fit_text(payload: dict, result) -> str:
    rows = summary_rows(payload["summary"])
    d = result.diagnostics
    rows.append("")
    rows.append(f"reliability score B(M) = {d.score}/7 ({'reliable' if d.reliable else 'NOT reliable'})")
    for check, reason in d.reasons.items():
        rows.append(f"  failed {check}: {reason}")
    rows.append(f"elpd_loo = {format_number(d.elpd_loo, 0, 2).strip()} (se {format_number(d.elpd_loo_se, 0, 2).strip()}), "
                f"p_loo = {format_number(d.p_loo, 0, 2).strip()}")
    t = payload["timing"]
    rows.append(f"compile {t.get('compile_s', 0):.1f} s, sampling {t.get('sample_s', 0):.1f} s")
    rows += [f"warning: {w}" for w in payload["warnings"]]
    return "\n".join(rows)


def run_evidence(args) -> int:
    result, code = _run_fit_or_fail(args, args.method)
    if result is None:
        return code
    ev = result.evidence
    payload = {"log_evidence": ev.log_evidence, "se": ev.se, "method": ev.method, "pareto_k": ev.pareto_k,
               "reliable": ev.reliable, "warnings": list(ev.warnings)}
    emit(payload, args.json, _evidence_text(ev))
    # as with `fit`: an estimate that is not reliable is printed in full and exits 1
    return EXIT_OK if ev.reliable else EXIT_FAILED


def _evidence_text(ev) -> str:
    rows = [f"log p(data | program) = {ev.log_evidence:.3f} (se {ev.se:.3f}, {ev.method}): "
            f"{'reliable' if ev.reliable else 'NOT reliable'}"]
    if ev.pareto_k is not None:
        rows.append(f"importance-weight Pareto k = {ev.pareto_k:.2f}")
    rows += [f"warning: {w}" for w in ev.warnings]
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
