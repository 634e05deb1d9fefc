"""The Python entry points, one per command that does the work (docs/api.md has examples):

    boxloop.check(program, data=None) -> CheckResult     # as `boxloop check`
    boxloop.fit(program, data, ...) -> FitResult         # as `boxloop fit` / `boxloop evidence`
    boxloop.discover(data, ...) -> DiscoveryResult       # as `boxloop discover`

A program is Stan text or a path to a `.stan` file; data is anything `boxloop.data.load_data`
reads (a path, a dict of arrays, a data frame). Failures raise `boxloop.errors.BoxloopError`
subclasses whose `code` is the code the CLI prints for the same failure.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import FitError, ProgramError, UsageError

if TYPE_CHECKING:  # the CLI imports this module; the search stack (pandas, ArviZ) loads on first use
    from .infer.nuts import NutsSettings
    from .search.result import DiscoveryResult

DEFAULT_FIT_TIMEOUT_S = 3600.0


def read_program(program) -> str:
    """Stan text from `program`: a path (a `Path`, or a one-line string ending in `.stan`) or text."""
    if isinstance(program, str) and ("\n" in program or not program.rstrip().endswith(".stan")):
        return program
    path = Path(program)
    if not path.is_file():
        raise UsageError(f"program file {str(program)!r} not found")
    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read program {str(program)!r}: {exc}") from None


def program_data(data, source: str | None, *, overrides=None, max_elements: int | None = None):
    """The Dataset a program is fitted to: a table's columns encoded as `discover` encodes them, on
    the rows with a value in every column the program's data block declares."""
    from .data import load_data
    from .data.load import DEFAULT_MAX_ELEMENTS

    return load_data(data, overrides=overrides, max_elements=max_elements or DEFAULT_MAX_ELEMENTS,
                     columns=declared_data(source))


def declared_data(source: str | None) -> set[str] | None:
    """Names the program's data block declares (None when it does not parse: then every column)."""
    if source is None:
        return None
    from .lang import ast, parse

    try:
        program = parse(source)
    except ProgramError:
        return None
    return {d.name for d in program.stmts("data") if isinstance(d, ast.Decl)}


def check(program, data=None):
    """Parse and check `program` (phi1..phi6); with `data`, also check the data against its data
    block. Returns the CheckResult (never raises for an invalid program: see `.valid`,
    `.diagnostics`, `.raise_for_errors()`)."""
    from .lang import check as check_source

    source = read_program(program)
    values = None if data is None else dict(program_data(data, source).values)
    return check_source(source, data=values)


def fit(program, data, *, chains: int = 4, warmup: int = 1000, draws: int = 1000, seed: int = 0,
        target_accept: float = 0.8, max_tree_depth: int = 10, evidence: str | None = None,
        timeout_s: float = DEFAULT_FIT_TIMEOUT_S, memory_gb: float | None = None, cache: bool | str = True,
        progress=None):
    """Fit `program` to `data` with NUTS in a worker process (killed at `timeout_s` seconds or
    `memory_gb` GiB of address space, default 80 % of memory) and return the FitResult: draws,
    `summary()`, `diagnostics` (the seven checks, PSIS-LOO, `score`, `reliable`),
    `inference_data()` and, with `evidence` set to a method ("auto", "bridge", "is", "smc"),
    `evidence` (log p(data | program) with its verdict).

    Raises ProgramError for an invalid program (code of its first error), EvidenceError
    ("evidence.improper_prior") when evidence is asked of a program with an improper prior,
    DataError for unusable data and FitError (fit.timeout, fit.out_of_memory, fit.crashed, ...)
    when the fit itself fails. `progress` receives the worker's FitProgress events. `cache` keeps
    JAX's compiled programs (True: in ~/.cache/boxloop/jax or $BOXLOOP_CACHE_DIR/jax; a folder: in
    folder/jax; False: none), so a later fit of the same structure and data shapes skips compiling.
    """
    from .infer.nuts import NutsSettings
    from .infer.pipeline import checked_program, fit_isolated, fit_worker
    from .infer.worker import GiB, FitFailure, WorkerLimits, default_memory_bytes
    from .userdirs import compilation_cache_dir

    memory = default_memory_bytes() if memory_gb is None else int(memory_gb * GiB)
    limits = WorkerLimits(timeout_s=timeout_s, memory_bytes=memory, host_devices=host_devices(chains),
                          compilation_cache_dir=compilation_cache_dir(cache))
    settings = NutsSettings(chains=chains, warmup=warmup, draws=draws, target_accept=target_accept,
                            max_tree_depth=max_tree_depth)
    with fit_worker(limits, on_progress=progress) as worker:  # imports while the input is read and checked
        source = read_program(program)
        values = dict(program_data(data, source).values)
        checked_program(source, values, evidence)  # every diagnostic, here, before the worker gets a job
        result = fit_isolated(source, values, settings, seed, evidence, on_progress=progress, worker=worker)
    if isinstance(result, FitFailure):
        raise FitError(result.reason, code=result.code)
    return result


def host_devices(chains: int) -> int:
    """XLA CPU devices for a fit's worker: one per chain, so the chains run in parallel, unless the
    caller's XLA_FLAGS already set a count (kept, and exported so the worker inherits it)."""
    from .infer.xla_env import device_count, xla_flags

    inherited = os.environ.get("XLA_FLAGS", "")
    devices = device_count(inherited) or chains
    os.environ["XLA_FLAGS"] = xla_flags(devices, inherited)
    return devices


def discover(data, target: str | None = None, describe: str | None = None, proposer="grammar",
             strategy: str = "refine", budget: int = 24, seed: int = 0, out=None, *,
             settings: NutsSettings | None = None, executor="local", workers: int | None = None,
             cache=True, progress=None, factor=(), numeric=(), group=(), time=(), drop=(), report=True,
             **search_options) -> DiscoveryResult:
    """Discover a reliable Bayesian model of `data`.

    data: a table (.csv, .tsv, .parquet, .feather path, or a pandas or polars DataFrame), a
        Stan-JSON (.json) or R dump (.R) path, a dict of arrays, or a Dataset.
    target: the variable to model (default: boxloop's guess); describe: plain-language context.
    factor, numeric, group, time, drop: column names whose role you set by hand (tables only),
        as the CLI's --factor/--numeric/--group/--time/--drop; `result.data` says how each
        column was read.
    proposer: "grammar" (default), "openai:<model>@<url>", "hf:<path>", or a Proposer object.
    strategy: "refine" (RefineStat), "average" (Large Language Bayes) or "best-of-n".
    budget: the most distinct programs fitted. out: the run directory (resumable).
    settings: NUTS settings (default 4 chains x 1000 warmup + 1000 draws).
    executor: "local", "ray", "ray:<address>" or an Executor; workers: parallel fits.
    cache: True (shared fit cache), a directory, or False.
    progress: a callable receiving SearchProgress updates (e.g. search.progress.ProgressLine()).
    report: write `report.html` into the run directory when the run ends (however it ends).
    search_options: further SearchConfig fields (alpha, beta, zeta, prior_rewrites, timeout_s, ...).
    """
    from .data import make_task
    from .data.table import Overrides
    from .infer.nuts import NutsSettings
    from .search.config import SearchConfig
    from .search.discover import discover_task

    overrides = Overrides(*(tuple([names] if isinstance(names, str) else names)
                            for names in (factor, numeric, group, time, drop)))
    task = make_task(data, target=target, description=describe, overrides=overrides)
    name = proposer if isinstance(proposer, str) else getattr(proposer, "name", type(proposer).__name__)
    config = SearchConfig(strategy=strategy, proposer=name, budget=budget, seed=seed,
                          settings=settings or NutsSettings(), **search_options)
    return discover_task(task, config, out=out, executor=executor, workers=workers, cache=cache,
                         on_progress=progress, command=f"boxloop.discover({_describe_source(data)!r})",
                         proposer=None if isinstance(proposer, str) else proposer,
                         on_done=_write_report if report else None)


def _write_report(run_dir) -> None:
    from .report import report_after_run

    report_after_run(run_dir)


def _describe_source(data) -> str:
    return str(data) if isinstance(data, str) else type(data).__name__


__all__ = ["check", "fit", "discover", "read_program", "program_data"]
