"""Search (DESIGN §6): propose, fit, critique and revise until reliable models are found.

- `refine`: RefineStat's Algorithm 1 with diagnostics choosing the block to rewrite.
- `average`: Large Language Bayes, evidence-weighted averaging over deduplicated proposals
  (`recombine` weighs a run's fits, also after the run; `mixture` pools their stored draws).
- `best-of-n`: the ablation baseline, independent proposals with the same fit budget.

Everything a run finds goes to a run store (SQLite, see `store`); fits are shared across runs
through a fit cache (`cache`); fits run on an `Executor` (a local persistent process pool, or Ray).
Names load lazily: spawned pool workers import this package and must not pay for what they don't use.
"""

from importlib import import_module

_EXPORTS = {
    "SearchConfig": "config", "SearchError": "config", "STRATEGIES": "config",
    "RunStore": "store", "StoreError": "store", "LocalRayCluster": "ray_local", "FitCache": "cache", "default_cache_dir": "cache",
    "Job": "executor", "Done": "executor", "Executor": "executor", "as_completed": "executor",
    "make_executor": "backends", "LocalExecutor": "local", "RayExecutor": "ray_executor",
    "FitJob": "fit_task", "FitOutcome": "fit_task", "run_fit": "fit_task",
    "FitRecord": "records", "ProposalRecord": "records", "Request": "records",
    "choose_block": "moves", "run_search": "driver", "SearchProgress": "driver",
    "DiscoveryResult": "result", "Candidate": "result",
    "evidence_weights": "average", "mixture_elpd": "average", "effective_models": "average", "mix_draws": "average",
    "mixture_lpd": "average", "mixture_draws": "mixture", "Weighting": "recombine", "AverageError": "recombine",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'boxloop.search' has no attribute {name!r}")
    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
