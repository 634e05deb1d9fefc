"""Inference: compile a checked program to a JAX log density and sample it with NUTS.

Importing this package does not start JAX (a worker's parent must not, and a worker must set its
device count first), so the public names load on first use.
"""

_EXPORTS = {
    "fit_program": "pipeline", "fit_isolated": "pipeline", "FitResult": "pipeline",
    "NutsSettings": "nuts", "FitFailure": "worker", "WorkerLimits": "worker",
    "run_in_worker": "worker", "compile_program": "compile",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'boxloop.infer' has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f".{_EXPORTS[name]}", __name__), name)
