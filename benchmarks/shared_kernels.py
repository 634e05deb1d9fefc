"""Programs that differ only in their prior constants share one compiled kernel (issue 17).

    python benchmarks/shared_kernels.py [--fits 6] [--pathfinder]

In one process, dugongs (27 rows): (a) FITS programs of one structure whose prior constants
differ, then (b) FITS programs whose priors differ in family (normal, student_t, cauchy, gamma,
lognormal, ...), which no lifting can share. Each is fitted with NUTS, 2 chains x (500 + 500)
(or screened with Pathfinder with --pathfinder); printed: compile and wall seconds per fit and
in all, and the kernels in the cache.
"""

import argparse
import json
import os
import time
from pathlib import Path

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "posteriordb" / "data" / \
    "dugongs_data.json"
TEMPLATE = ("data {{ int<lower=0> N; vector[N] x; vector[N] Y; }} parameters {{ real p1; real<lower=0> p2; "
            "real<lower=0> p3; real<lower=0> p4; }} model {{ p1 ~ normal(0, {a}); p2 ~ {p2}; "
            "p3 ~ exponential({c}); p4 ~ normal(0, {d}); Y ~ normal(p1 - p4 * exp(-p2 * x), p3); }}")
CONSTANTS = [(5, 1, 2, 2), (2, 0.5, 2, 2), (10, 2, 1, 5), (3, 0.2, 0.5, 1), (1, 1, 1, 1), (2.5, 0.1, 10, 3)]
FAMILIES = ["normal(0, 1)", "student_t(3, 0, 1)", "cauchy(0, 1)", "gamma(2, 2)", "lognormal(0, 1)",
            "weibull(2, 1)", "inv_gamma(2, 1)"]


def programs(kind: str, n: int) -> list[str]:
    if kind == "constants":
        return [TEMPLATE.format(a=a, p2=f"exponential({b})", c=c, d=d) for a, b, c, d in CONSTANTS[:n]]
    return [TEMPLATE.format(a=5, p2=family, c=2, d=2) for family in FAMILIES[:n]]


def run(kind: str, n: int, pathfinder: bool, data: dict) -> None:
    from boxloop.infer import compile as C
    from boxloop.infer.nuts import NutsSettings
    from boxloop.infer.pathfinder import PathfinderSettings
    from boxloop.lang import check

    total_c = total_w = 0.0
    for i, text in enumerate(programs(kind, n)):
        program = check(text, data=data).program
        started = time.perf_counter()
        if pathfinder:
            fit = C.approximate(program, data, PathfinderSettings(), seed=i)
        else:
            fit = C.fit(program, data, NutsSettings(chains=2, warmup=500, draws=500), seed=i)
        wall = time.perf_counter() - started
        total_c, total_w = total_c + fit.timing["compile_s"], total_w + wall
        print(f"  {kind} {i}: compile {fit.timing['compile_s']:6.2f} s, wall {wall:6.2f} s", flush=True)
    print(f"{kind}: {n} fits, compile {total_c:.2f} s, wall {total_w:.2f} s, kernels cached {len(C._KERNELS)}",
          flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fits", type=int, default=6)
    p.add_argument("--pathfinder", action="store_true")
    args = p.parse_args()
    from boxloop.infer.xla_env import compile_flags

    os.environ["XLA_FLAGS"] = compile_flags(os.environ.get("XLA_FLAGS", ""))
    import jax

    jax.config.update("jax_enable_x64", True)
    data = json.loads(DATA.read_text())
    for kind in ("constants", "families"):
        run(kind, args.fits, args.pathfinder, data)


if __name__ == "__main__":
    main()
