"""One discovery run, wired together: task + config -> store, cache, executor, loop, result.

The run directory is the unit of resumption: the same command (same data, proposer, seed,
strategy, settings) pointed at the same directory replays what is stored and continues. Without
an explicit directory the run goes to `boxloop-runs/<data>-<config hash>` under the current
directory, so rerunning the same command finds it.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from contextlib import ExitStack, closing
from pathlib import Path

from ..userdirs import compilation_cache_dir
from .cache import FitCache, default_cache_dir
from .config import SearchConfig, screen_settings_hash
from .driver import run_search
from .backends import make_executor, parse_executor_spec
from .executor import Executor
from .fit_task import run_fit
from .fitter import FitPlan, Fitter
from .proposals import ProposalSource
from .result import DiscoveryResult, build_result
from .screen import screen_settings
from .screen_task import SCREEN_EVIDENCE
from .store import RunStore, write_atomic


def default_run_dir(task, config_hash: str) -> Path:
    source = getattr(task.dataset, "source", None)
    stem = Path(source).stem if source else "data"
    return Path.cwd() / "boxloop-runs" / f"{stem}-{config_hash[:10]}"


def discover_task(task, config: SearchConfig, *, out: str | Path | None = None, executor: str | Executor = "local",
                  workers: int | None = None, cache: bool | str | Path = True, on_progress=None,
                  command: str | None = None, fit_fn=run_fit, proposer=None,
                  compilation_cache: bool | str | Path = True, on_done=None) -> DiscoveryResult:
    """Run the search for `task`; everything is stored under `out` as it finishes.

    executor: "local", "ray", "ray:<address>", or an Executor (then the caller closes it).
    cache: True for the default shared fit cache, a directory, or False for none.
    fit_fn: the job run per fit (tests substitute one that crashes or hangs on purpose).
    proposer: a Proposer object, overriding `config.proposer` (which is resolved by name).
    compilation_cache: JAX's persistent compilation cache for the local workers: True for
        `<fit cache>/jax`, a directory, or False.
    on_done: called with the run directory once the run has closed its store, however it ended
        (finished, stopped, interrupted, failed): the CLI and the API write the report there.
    """
    data_hash = task.dataset.data_hash
    config_hash = config.config_hash(data_hash, task.target, task.description)
    run_dir = Path(out) if out is not None else default_run_dir(task, config_hash)
    cache_dir = _cache_dir(cache)
    proposer = proposer if proposer is not None else _proposer(config.proposer)
    if isinstance(executor, str):
        parse_executor_spec(executor)  # a bad spec is refused before the run directory is touched
    opened = []  # set once this process holds the run directory (not when it was refused)
    try:
        return _discover(task, config, config_hash, run_dir, cache_dir, proposer, executor, workers, on_progress,
                         command, fit_fn, compilation_cache, opened)
    finally:
        if on_done is not None and opened:
            on_done(run_dir)


def _discover(task, config: SearchConfig, config_hash: str, run_dir: Path, cache_dir, proposer, executor, workers,
              on_progress, command, fit_fn, compilation_cache, opened: list) -> DiscoveryResult:
    data_hash = task.dataset.data_hash
    with ExitStack() as stack:
        store = stack.enter_context(RunStore(run_dir))
        opened.append(run_dir)
        fit_cache = stack.enter_context(closing(FitCache(cache_dir))) if cache_dir is not None else None
        if isinstance(executor, str):
            jax_cache = _jax_cache_dir(compilation_cache, cache_dir)
            executor = stack.enter_context(_executor(executor, config, workers, jax_cache, run_dir))
        if hasattr(task, "report"):
            write_atomic(run_dir / "data.json", json.dumps(task.report(), indent=1).encode())
        store.begin_run(config_hash, command=command or " ".join(sys.argv), strategy=config.strategy,
                        proposer=config.proposer, seed=config.seed, data_hash=data_hash, target=task.target,
                        config=_config_dict(config))
        stack.push(_unfinished(store))  # a run that raised (or was interrupted) says so in the store
        plan = FitPlan(dict(task.dataset.values), data_hash, config.settings, config.settings_hash(),
                       config.fit_evidence, config.timeout_s)
        fitter = Fitter(plan, store, executor, fit_cache, fit_fn, screen=_screen_plan(plan, config))
        source = ProposalSource(proposer, task, store, config_hash, config.seed)
        session = run_search(config, source, fitter, slots=executor.slots, on_progress=on_progress,
                             on_decision=lambda digest, decision: store.add_screening(
                                 digest, decision.to_dict(), fitter.key(digest, "screen")))
        result = dataclasses.replace(build_result(config, session, run_dir, fitter.counts()), data=_data_report(task))
        store.finish_run("proposer_failed" if result.error else "finished",
                         {k: v for k, v in result.to_dict().items() if k != "candidates"})
        return result


def _screen_plan(plan: FitPlan, config: SearchConfig) -> FitPlan | None:
    """The screens' plan: Pathfinder or short NUTS, and a cheap evidence estimate when the run
    needs evidence."""
    if config.screen == "off" or config.strategy not in ("average", "best-of-n"):
        return None
    settings = screen_settings(config.settings, config.screen_method)
    evidence = SCREEN_EVIDENCE if config.fit_evidence else None
    return dataclasses.replace(plan, settings=settings, settings_hash=screen_settings_hash(settings, evidence),
                               evidence=evidence)


def _data_report(task) -> dict:
    """How the data were read (columns, levels, notes), also kept beside the store as data.json."""
    return task.report() if hasattr(task, "report") else {}


def _unfinished(store: RunStore):
    def mark(exc_type, exc, tb) -> bool:
        if exc_type is not None:
            store.finish_run("interrupted" if issubclass(exc_type, KeyboardInterrupt) else "failed",
                             {"error": f"{exc_type.__name__}: {exc}"})
        return False  # never swallow the exception

    return mark


def _cache_dir(cache) -> Path | None:
    if cache is False or cache is None:
        return None
    return default_cache_dir() if cache is True else Path(cache)


def _proposer(spec: str):
    from ..propose import get_proposer

    return get_proposer(spec)


def _jax_cache_dir(choice, cache_dir: Path | None) -> str | None:
    """True: `jax/` beside the fit cache (none when the fit cache is off); a path: that folder."""
    if choice is True:
        return compilation_cache_dir(cache_dir) if cache_dir is not None else None
    return None if choice is False or choice is None else str(choice)


def _executor(spec: str, config: SearchConfig, workers: int | None, jax_cache: str | None, run_dir: Path):
    return make_executor(spec, host_devices=config.settings.chains, workers=workers,
                         compilation_cache_dir=jax_cache, log_dir=str(run_dir / "logs"),
                         memory_bytes=config.memory_bytes)


def _config_dict(config: SearchConfig) -> dict:
    out = dataclasses.asdict(config)
    out["settings"] = dataclasses.asdict(config.settings)
    return out
