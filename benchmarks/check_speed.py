"""How long `boxloop check` takes on a 200-line program (target: under 50 ms), and how that grows
with the size of the program.

Run: python benchmarks/check_speed.py [--sweep [--sizes 250,1000,4000]]
Reports the median over repeated runs of: the bare Lark parse (the peer), parse + AST, the full
semantic check, and parse + canonical form + hash; and each as a ratio to the bare parse. Times are
CPU seconds of this (single-threaded) process, which on a shared machine stand in for the wall time
an idle core would give.

`--sweep` times everything `boxloop check` does for a valid program (check, canonical text,
structural hash, D ‖ P ‖ L) on programs of several shapes and sizes, once each, against the bare
parse of the same text: a ratio that stays flat as the program grows means checking is linear.
The shapes are the ones that used to be quadratic: many similar coefficients (`regression`), one
variable per statement (`locals`), interchangeable priors (`priors`), a chain of locals each
computed from the last (`chain`), and one local reassigned again and again (`accumulate`).
"""

from __future__ import annotations

import argparse
import statistics
import time

from boxloop.lang import check, parse
from boxloop.lang import canonical
from boxloop.lang.canonical import blocks, canonical_text, structural_hash
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


HEAD = "data { int N; vector[N] y; vector[N] x; }\n"


def locals_(lines: int) -> str:
    body = "".join(f"  real m{i} = mu * {i}.5 + log1p(square(sigma));\n  y ~ normal(m{i}, sigma);\n"
                   for i in range(lines // 2))
    return (HEAD + "parameters { real mu; real<lower=0> sigma; }\n"
            "model {\n  mu ~ normal(0, 1);\n  sigma ~ exponential(1);\n" + body + "}\n")


def priors(lines: int) -> str:
    k = lines // 3
    decls = "".join(f"  real b{i};\n" for i in range(k))
    body = "".join(f"  b{i} ~ normal(0, 1);\n  y ~ normal(b{i} * x, sigma);\n" for i in range(k))
    return (HEAD + "parameters {\n" + decls + "  real<lower=0> sigma;\n}\nmodel {\n"
            "  sigma ~ exponential(1);\n" + body + "}\n")


def chain(lines: int) -> str:
    n = lines // 2
    decls = "".join(f"  vector[N] m{i};\n" for i in range(n + 1))
    body = "".join(f"  m{i + 1} = m{i} + x;\n" for i in range(n))
    return (HEAD + "parameters { real mu; real<lower=0> sigma; }\nmodel {\n" + decls + "  m0 = mu + x;\n"
            + body + f"  mu ~ normal(0, 1);\n  sigma ~ exponential(1);\n  y ~ normal(m{n}, sigma);\n}}\n")


def accumulate(lines: int) -> str:
    body = "  vector[N] m = mu + x;\n" + "".join(f"  m = m + {i} * x;\n" for i in range(lines))
    return (HEAD + "parameters { real mu; real<lower=0> sigma; }\nmodel {\n" + body
            + "  mu ~ normal(0, 1);\n  sigma ~ exponential(1);\n  y ~ normal(m, sigma);\n}\n")


SHAPES = {"regression": program, "locals": locals_, "priors": priors, "chain": chain, "accumulate": accumulate}


def check_command(text: str) -> None:
    """What `boxloop check` computes for a valid program."""
    result = check(text)
    assert result.valid, result.errors[:3]
    canonical_text(result.program), structural_hash(result.program), blocks(result.program)


def cold_caches() -> None:
    # the canonical form is memoised by program structure: a repeat would otherwise cost nothing
    for memo in (canonical._canonical, getattr(canonical, "_template", None)):  # (no _template before)
        if memo is not None:
            memo.cache_clear()


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        cold_caches()
        t = time.process_time()
        fn()
        times.append(time.process_time() - t)
    return min(times)


def sweep(sizes: list[int]) -> None:
    print("| shape | lines | statements | bare parse s | `boxloop check` s | ms per statement | ratio to bare parse |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    _lark().parse(program(), start="start")
    for name, make in SHAPES.items():
        for lines in sizes:
            text = make(lines)
            statements = text.count(";")
            parse_s = best_of(lambda: _lark().parse(text, start="start"))
            check_s = best_of(lambda: check_command(text))
            print(f"| {name} | {text.count(chr(10))} | {statements} | {parse_s:.2f} | {check_s:.2f} | "
                  f"{1000 * check_s / statements:.2f} | {check_s / parse_s:.1f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="time check against program size")
    parser.add_argument("--sizes", default="250,1000,4000,16000", help="lines per program, for --sweep")
    args = parser.parse_args()
    if args.sweep:
        sweep([int(n) for n in args.sizes.split(",")])
        return
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
