"""The XLA flags boxloop starts JAX with. Importing this module does not import JAX.

XLA reads XLA_FLAGS once, when JAX starts its CPU backend, so every process that fits (the CLI,
the one-shot worker, the pool and Ray workers) sets them first, through `xla_flags`.

* One CPU device per chain (`--xla_force_host_platform_device_count`), so chains run in parallel.
* `--xla_cpu_use_fusion_emitters=false`: XLA's newer CPU fusion emitters spend 30-45 % more time
  compiling NumPyro's NUTS than the classic emitters, and the compiled sampler is no faster
  (docs/benchmarks.md, "Where a new structure's seconds go"); for a search, which compiles every new program, compile
  time is the cost that counts. A flag the caller already set wins.
"""

from __future__ import annotations

DEVICE_FLAG = "--xla_force_host_platform_device_count"
COMPILE_FLAGS = ("--xla_cpu_use_fusion_emitters=false",)

__all__ = ["DEVICE_FLAG", "COMPILE_FLAGS", "xla_flags", "compile_flags", "device_count"]


def xla_flags(host_devices: int, inherited: str = "") -> str:
    """XLA_FLAGS for a process with `host_devices` CPU devices: the inherited flags, with the device
    count replaced and boxloop's compile flags added unless the inherited ones set them."""
    kept = " ".join(f for f in inherited.split() if not f.startswith(DEVICE_FLAG))
    return f"{compile_flags(kept)} {DEVICE_FLAG}={max(1, int(host_devices))}".strip()


def compile_flags(inherited: str = "") -> str:
    """`inherited` plus each of boxloop's compile flags that it does not already set."""
    flags = inherited.split()
    named = {f.split("=", 1)[0] for f in flags}
    return " ".join(flags + [f for f in COMPILE_FLAGS if f.split("=", 1)[0] not in named])


def device_count(flags: str) -> int | None:
    """The CPU device count XLA_FLAGS `flags` asks for, if any."""
    for f in flags.split():
        if f.startswith(DEVICE_FLAG + "="):
            return int(f.split("=", 1)[1])
    return None
