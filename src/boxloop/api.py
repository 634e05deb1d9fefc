"""The Python entry point: `boxloop.discover(data, ...)` -> DiscoveryResult.

    result = boxloop.discover("eight_schools.json", budget=12)
    print(result.program)                  # best reliable program (Stan text), or None
    result.best.elpd_loo, result.best.elpd_loo_se
    idata = result.inference_data()        # its posterior, read back from the run store
    result.comparison                      # az.compare-style rows, best first
"""

from __future__ import annotations

from .infer.nuts import NutsSettings
from .search.config import SearchConfig
from .search.result import DiscoveryResult


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


__all__ = ["discover", "DiscoveryResult"]
