"""Diagnostics kernels (diagnose/mcmc.py, diagnose/psis.py) beside ArviZ 0.23, same draws, same run.

Run: python benchmarks/diagnostics_speed.py [--repeats 3]

Rows: bulk ESS + tail ESS + rank R-hat of 4 chains x 1000 draws for 20 and 2,000 scalar
quantities; PSIS-LOO of 4,000 draws x 2,000 and x 20,000 observations. Each figure is the best of
--repeats wall times; the ratio is ArviZ over ours. Also prints the largest difference in the
numbers (they should agree to rounding).
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

from boxloop.diagnose import mcmc, psis

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import arviz as az

az.Numba.disable_numba()


def _best(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


def convergence(k: int, repeats: int) -> tuple[float, float, float]:
    x = np.random.default_rng(k).normal(size=(4, 1000, k))
    ds = az.convert_to_dataset({"x": x})
    ours_s, ours = _best(lambda: (mcmc.ess_bulk(x), mcmc.ess_tail(x), mcmc.rhat(x)), repeats)
    theirs_s, theirs = _best(lambda: (az.ess(ds, method="bulk")["x"].values, az.ess(ds, method="tail")["x"].values,
                                      az.rhat(ds)["x"].values), repeats)
    diff = max(float(np.max(np.abs(a - b) / np.abs(b))) for a, b in zip(ours, theirs))
    return ours_s, theirs_s, diff


def loo(n: int, repeats: int) -> tuple[float, float, float]:
    rng = np.random.default_rng(n)
    ll = rng.normal(-1.0, 0.5, size=(4, 1000, n)) - rng.exponential(0.3, size=(4, 1000, 1))
    idata = az.from_dict(posterior={"mu": rng.normal(size=(4, 1000))}, log_likelihood={"y": ll})
    ours_s, ours = _best(lambda: psis.loo(ll.reshape(4000, n), 0.8), repeats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs_s, theirs = _best(lambda: az.loo(idata, reff=0.8), repeats)
    return ours_s, theirs_s, abs(ours.elpd_loo - float(theirs["elpd_loo"]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args(argv)
    print("| computation | ours s | ArviZ s | ArviZ / ours | largest difference |\n|---|---:|---:|---:|---:|")
    for k in (20, 2000):
        a, b, d = convergence(k, args.repeats)
        print(f"| bulk + tail ESS + R-hat, {k:,} quantities | {a:.3f} | {b:.3f} | {b / a:.1f} | {d:.1e} (relative) |")
    for n in (2000, 20000):
        a, b, d = loo(n, args.repeats)
        print(f"| PSIS-LOO, 4,000 draws x {n:,} observations | {a:.2f} | {b:.2f} | {b / a:.1f} | {d:.1e} nats |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
