"""How long `boxloop check` takes on a 200-line program (target: under 50 ms).

Run: python benchmarks/check_speed.py
Reports the median over repeated runs of: the bare Lark parse (the peer), parse + AST, the full
semantic check, and parse + canonical form + hash; and each as a ratio to the bare parse. Times are
CPU seconds of this (single-threaded) process, which on a shared machine stand in for the wall time
an idle core would give.
"""

from __future__ import annotations

import statistics
import time

from boxloop.lang import check, parse
from boxloop.lang.canonical import canonical_text, structural_hash
from boxloop.lang.parser import _lark


def program(lines: int = 200) -> str:
    head = [
        "data {", "  int<lower=0> N;", "  int<lower=1> J;", "  array[N] int<lower=1, upper=J> g;",
        "  vector[N] x;", "  vector[N] y;", "}", "parameters {", "  real mu;", "  real<lower=0> tau;",
        "  vector[J] eta;", "  real<lower=0> sigma;",
    ]
    params, model = [], []
    k = 0
    while len(head) + 2 * len(params) + len(model) + 12 < lines:
        params.append(f"  real b{k};")
        model += [f"  b{k} ~ normal(0, {k % 5 + 1});",
                  f"  mu_{k} = mu + tau * eta[g] + b{k} * x + inv_logit(b{k}) * square(x);",
                  f"  y ~ normal(mu_{k}, sigma);"]
        k += 1
    decls = [f"  vector[N] mu_{i};" for i in range(k)]
    return "\n".join(head + params + ["}", "model {"] + decls +
                     ["  mu ~ normal(0, 5);", "  tau ~ cauchy(0, 5);", "  eta ~ std_normal();",
                      "  sigma ~ exponential(1);"] + model + ["}"]) + "\n"


def median_ms(fn, repeats: int = 50) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return 1000 * statistics.median(times)


def main() -> None:
    text = program()
    n_lines = text.count("\n")
    assert check(text).valid, check(text).errors
    rows = [
        ("Lark LALR parse only (peer)", median_ms(lambda: _lark().parse(text, start="start"))),
        ("parse to typed AST", median_ms(lambda: parse(text))),
        ("full check (parse + phi1..phi6)", median_ms(lambda: check(text))),
        ("parse + canonical text + structural hash",
         median_ms(lambda: (canonical_text(p := parse(text)), structural_hash(p)))),
    ]
    base = rows[0][1]
    print(f"program: {n_lines} lines, {len(text)} bytes\n")
    print("| step | median ms | ratio to bare parse |")
    print("|---|---:|---:|")
    for name, ms in rows:
        print(f"| {name} | {ms:.1f} | {ms / base:.2f} |")


if __name__ == "__main__":
    main()
