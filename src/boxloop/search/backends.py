"""The executor named on the command line (`--executor local|ray[:address]`), built with the
run's limits. Kept apart from `executor` (the interface) so that the implementations import the
interface and nothing imports back."""

from __future__ import annotations

import os

from ..infer.worker import default_memory_bytes
from .config import SearchError
from .executor import Executor


def parse_executor_spec(spec: str) -> tuple[str, str | None]:
    """"local" -> ("local", None); "ray" -> ("ray", None); "ray:<address>" -> ("ray", address)."""
    name, _, address = spec.partition(":")
    name = name.strip().lower()
    if name not in ("local", "ray") or (name == "local" and address):
        raise SearchError(f"unknown executor {spec!r}; use local, ray or ray:<address>", code="search.bad_executor")
    return name, address or None


def make_executor(spec: str = "local", *, host_devices: int = 4, workers: int | None = None,
                  compilation_cache_dir: str | None = None, log_dir: str | None = None,
                  memory_bytes: int | None = None) -> Executor:
    """Build the executor; every fit it runs is capped at `memory_bytes` of address space
    (default: 80 % of memory shared among the workers, `infer.worker.default_memory_bytes`)."""
    name, address = parse_executor_spec(spec)
    if name == "ray":
        try:
            from .ray_executor import RayExecutor
        except ImportError:
            raise SearchError("the ray executor needs Ray: pip install 'boxloop[ray]'",
                              code="search.ray_unavailable") from None
        return RayExecutor(address=address, host_devices=host_devices, slots=workers, memory_bytes=memory_bytes)
    from .local import LocalExecutor

    workers = workers or default_workers()
    return LocalExecutor(workers=workers, host_devices=host_devices, compilation_cache_dir=compilation_cache_dir,
                         log_dir=log_dir, memory_bytes=memory_bytes or default_memory_bytes(workers))


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)
