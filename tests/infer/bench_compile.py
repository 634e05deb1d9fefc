"""Compile vs sampling time of NUTS on eight schools (non-centred), 4 chains x (1000 + 1000).

Run: python tests/infer/bench_compile.py [--repeats 2]
Each configuration runs in a fresh worker process (as boxloop fits do), so the numbers include
the one-off compiles a new process pays. Rows:
  parallel    4 XLA host devices, chains pmapped
  vectorized  1 device, chains vmapped
  parallel -O0  as parallel, with XLA's backend optimisation level 0 (cheaper compile)
  cache cold / cache warm   parallel with the JAX persistent compilation cache: first fit fills
                            it, the next fresh process refits from it
Columns: compile_s / sample_s / total_s from NutsResult.timing (see boxloop.infer.nuts), and the
worker's wall time including spawn and imports. CPU seconds are less sensitive to other load.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

from boxloop.infer.worker import FitFailure, WorkerLimits, run_in_worker

Y = np.array([28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0])
SIGMA = np.array([15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0])


def eight_schools_potential(u):
    """-log p(mu, log tau, theta_tilde | y): mu ~ N(0, 5), tau ~ half-Cauchy(0, 5), N(0, 1)."""
    import jax.numpy as jnp
    from jax.scipy import stats

    mu, log_tau, theta_tilde = u[0], u[1], u[2:]
    tau = jnp.exp(log_tau)
    log_prior = stats.norm.logpdf(mu, 0.0, 5.0) + stats.cauchy.logpdf(tau, 0.0, 5.0) + jnp.log(2.0) + log_tau
    log_prior += jnp.sum(stats.norm.logpdf(theta_tilde))
    log_lik = jnp.sum(stats.norm.logpdf(Y, mu + tau * theta_tilde, SIGMA))
    return -(log_prior + log_lik)


def fit_job(chain_method: str, seed: int) -> dict:
    from boxloop.infer.nuts import NutsSettings, run_nuts

    cpu = time.process_time()
    result = run_nuts(eight_schools_potential, 10, NutsSettings(chain_method=chain_method), seed=seed)
    t = result.timing
    return {
        "method": result.chain_method,
        "compile_s": t.compile_s,
        "sample_s": t.sample_s,
        "total_s": t.total_s,
        "cpu_s": time.process_time() - cpu,
        "divergent": result.num_divergent,
        "mu_mean": float(result.draws[..., 0].mean()),
    }


def _row(label: str, limits: WorkerLimits, method: str, seed: int) -> str:
    start = time.monotonic()
    out = run_in_worker(fit_job, (method, seed), limits=limits)
    wall = time.monotonic() - start
    if isinstance(out, FitFailure):
        return f"{label:14s} FAILED {out.code}: {out.reason}"
    return (
        f"{label:14s} {out['method']:10s} compile {out['compile_s']:5.2f}  sample {out['sample_s']:5.2f}  "
        f"total {out['total_s']:5.2f}  cpu {out['cpu_s']:5.2f}  worker wall {wall:5.2f}  "
        f"div {out['divergent']}  mu {out['mu_mean']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    repeats = parser.parse_args().repeats
    for rep in range(repeats):
        print(_row("parallel", WorkerLimits(host_devices=4), "auto", rep))
        print(_row("vectorized", WorkerLimits(host_devices=1), "auto", rep))
        fast_xla = WorkerLimits(host_devices=4, env={"XLA_FLAGS": "--xla_backend_optimization_level=0"})
        print(_row("parallel -O0", fast_xla, "auto", rep))
    with tempfile.TemporaryDirectory() as cache:
        cached = WorkerLimits(host_devices=4, compilation_cache_dir=cache)
        print(_row("cache cold", cached, "auto", 0))
        for rep in range(repeats):
            print(_row("cache warm", cached, "auto", 0))


if __name__ == "__main__":
    main()
