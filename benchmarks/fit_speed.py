"""Fit speed: boxloop (NUTS through NumPyro, compiled samplers cached) vs PyMC and pystan on six
datasets.

Run: python benchmarks/fit_speed.py [--datasets eight_schools,dugongs] [--skip-pymc] [--pystan]
     [--json out.json] [--pymc-timeout 600] [--pymc-from earlier.json]
Needs the `bench` extra (PyMC) unless --skip-pymc, and httpstan/pystan for --pystan. Everything runs
sequentially, so the samplers see the same machine load (check `uptime`: other processes skew
every number). pystan, each in a fresh subprocess: `new` with an empty httpstan cache (the model's
C++ is compiled), `precompiled` with the same cache again.

Models: the RefineStat datasets with their expert-style models (posteriordb data), written once in
our Stan subset (tests/programs/valid/) and once by hand in PyMC. Both run 4 chains x (1000 warmup +
1000 draws), default target acceptance 0.8.

boxloop, each case in a FRESH worker process (`run_in_worker`, 4 XLA host devices, chains pmapped,
float64 like PyMC: in float32 the GP's 1e-10 jitter vanishes and its Cholesky fails):
  (a) new      a structure never seen before: empty persistent compilation cache
  (b) cached   same structure and shapes, new data values, persistent cache filled by (a)
  (c) refit    same process, second call (on the new data values)
PyMC, each in a fresh subprocess, `pm.sample(draws=1000, tune=1000, chains=4, cores=2)`:
  cold         empty PyTensor compile directory
  warm         same compile directory again (what a PyMC user normally sees)

Columns: compile_s (boxloop: JAX trace + lower + XLA compile or cache load; PyMC: pm.sample wall
minus its sampling_time, i.e. compile + init + chain process start-up), sample_s, fit_s (boxloop
`fit` total; PyMC model build + pm.sample), proc_s (from starting the worker/subprocess to the end
of the fit: spawn, imports, check, fit), min bulk ESS over the parameters, ESS/s = min bulk ESS / sample_s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("BOXLOOP_POSTERIORDB", "/work/shared/benchmarks/posteriordb/data"))
PROGRAMS = ROOT / "tests" / "programs" / "valid"

# name -> (program file, posteriordb data file)
DATASETS = {
    "eight_schools": ("eight_schools_noncentered.stan", "eight_schools.json"),
    "dugongs": ("dugongs.stan", "dugongs_data.json"),
    "surgical": ("surgical.stan", "surgical_data.json"),
    "peregrine": ("peregrine_binomial.stan", "GLM_Binomial_data.json"),
    "gp_pois_regr": ("gp_pois_regr.stan", "gp_pois_regr.json"),
    "wells": ("logistic_regression.stan", "wells_data.json"),  # 3,020 rows: switched ~ distance / 100
}


def load_data(name: str) -> dict:
    data = json.loads((DATA / DATASETS[name][1]).read_text())
    if name == "wells":
        return {"N": data["N"], "x": (np.asarray(data["dist"]) / 100.0).tolist(), "y": data["switched"]}
    return data


def new_values(name: str, data: dict) -> dict:
    """Same shapes and types, different values: the observed outcome is redrawn/perturbed."""
    rng = np.random.default_rng(1)
    d = {k: np.asarray(v) for k, v in data.items()}
    if name == "eight_schools":
        d["y"] = d["y"] + rng.normal(0, 2, d["y"].shape)
    elif name == "dugongs":
        d["Y"] = d["Y"] + rng.normal(0, 0.02, d["Y"].shape)
    elif name == "surgical":
        d["r"] = rng.binomial(d["n"], np.clip(d["r"] / d["n"], 0.01, 0.99))
    elif name == "peregrine":
        d["C"] = rng.binomial(d["N"], np.clip(d["C"] / d["N"], 0.01, 0.99))
    elif name == "gp_pois_regr":
        d["k"] = rng.poisson(d["k"] + 0.5)
    elif name == "wells":
        d["y"] = np.where(rng.random(d["y"].shape) < 0.05, 1 - d["y"], d["y"])
    return {k: v.tolist() for k, v in d.items()}


# --- boxloop (runs inside worker processes) -------------------------------------------------------


def _min_bulk_ess(draws: dict, names) -> float:
    from boxloop.diagnose import summarize

    table = summarize({n: draws[n] for n in names})
    return float(min(row["ess_bulk"] for row in table.values() if row["ess_bulk"] is not None))


def _one_fit(program, data: dict, seed: int, start: float) -> dict:
    from boxloop.infer.compile import fit
    from boxloop.infer.nuts import NutsSettings

    f = fit(program, data, NutsSettings(chains=4, warmup=1000, draws=1000), seed=seed)
    proc_s = time.time() - start  # from the parent's spawn to the end of this fit
    params = [p.name for p in f.model.param_layout]
    ess = _min_bulk_ess(f.draws, params)
    t = f.timing
    return {"compile_s": t["compile_s"], "sample_s": t["sample_s"], "fit_s": t["total_s"],
            "ess": ess, "ess_per_s": ess / t["sample_s"], "divergent": int(f.stats["diverging"].sum()),
            "method": f.nuts.chain_method, "proc_s": proc_s, "means": {n: float(np.mean(f.draws[n])) for n in params}}


def boxloop_job(name: str, datasets: list, start: float) -> list:
    """Check and fit each dataset in turn in this process; returns one row per fit."""
    from boxloop.lang import check

    rows = []
    source = (PROGRAMS / DATASETS[name][0]).read_text()
    for i, data in enumerate(datasets):
        program = check(source, data=data)
        program.raise_for_errors()
        rows.append(_one_fit(program.program, data, seed=i, start=start))
    return rows


def run_boxloop(name: str, cache_root: str) -> dict:
    from boxloop.infer.worker import FitFailure, WorkerLimits, run_in_worker

    data, other = load_data(name), new_values(name, load_data(name))
    cache = os.path.join(cache_root, name)
    os.makedirs(cache)
    out = {}
    for case, limits, datasets in (
        ("a_new", WorkerLimits(host_devices=4, compilation_cache_dir=cache, enable_x64=True), [data]),
        ("b_cached", WorkerLimits(host_devices=4, compilation_cache_dir=cache, enable_x64=True), [other]),
        ("c_refit", WorkerLimits(host_devices=4, enable_x64=True), [data, other]),
    ):
        rows = run_in_worker(boxloop_job, (name, datasets, time.time()), limits=limits)
        if isinstance(rows, FitFailure):
            raise RuntimeError(f"{name} {case}: {rows.code}: {rows.reason}\n{rows.detail}")
        out[case] = rows[-1]
    return out


# --- PyMC (runs in subprocesses: `--pymc-one NAME`) -----------------------------------------------


def pymc_model(name: str, data: dict):
    import pymc as pm
    import pytensor.tensor as pt

    d = {k: np.asarray(v) for k, v in data.items()}
    with pm.Model() as model:
        if name == "eight_schools":
            mu = pm.Normal("mu", 0, 5)
            tau = pm.HalfCauchy("tau", 5)
            theta_trans = pm.Normal("theta_trans", 0, 1, shape=int(d["J"]))
            pm.Normal("y", mu + tau * theta_trans, d["sigma"], observed=d["y"])
        elif name == "dugongs":
            alpha = pm.Normal("alpha", 0, 1000)
            beta = pm.Normal("beta", 0, 1000)
            lam = pm.Uniform("lambda", 0.5, 1)
            tau = pm.Gamma("tau", 0.0001, 0.0001)
            pm.Normal("Y", alpha - beta * lam ** d["x"], 1 / pt.sqrt(tau), observed=d["Y"])
        elif name == "surgical":
            mu = pm.Normal("mu", 0, 1000)
            sigmasq = pm.InverseGamma("sigmasq", 0.001, 0.001)
            b = pm.Normal("b", mu, pt.sqrt(sigmasq), shape=int(d["N"]))
            pm.Binomial("r", n=d["n"], logit_p=b, observed=d["r"])
        elif name == "peregrine":
            alpha = pm.Normal("alpha", 0, 100)
            beta1 = pm.Normal("beta1", 0, 100)
            beta2 = pm.Normal("beta2", 0, 100)
            year = d["year"]
            pm.Binomial("C", n=d["N"], logit_p=alpha + beta1 * year + beta2 * year**2, observed=d["C"])
        elif name == "gp_pois_regr":
            rho = pm.Gamma("rho", 25, 4)
            alpha = pm.HalfNormal("alpha", 2)
            f_tilde = pm.Normal("f_tilde", 0, 1, shape=int(d["N"]))
            x = d["x"].astype(float)
            sq = (x[:, None] - x[None, :]) ** 2
            cov = alpha**2 * pt.exp(-sq / (2 * rho**2)) + 1e-10 * np.eye(len(x))
            f = pt.linalg.cholesky(cov) @ f_tilde
            pm.Poisson("k", pt.exp(f), observed=d["k"])
        elif name == "wells":
            a = pm.Normal("a", 0, 2.5)
            b = pm.Normal("b", 0, 2.5)
            pm.Bernoulli("y", logit_p=a + b * d["x"], observed=d["y"])
        else:
            raise KeyError(name)
    return model


def pymc_one(name: str, start_wall: float) -> dict:
    """One PyMC fit in this (fresh) process; prints a JSON row."""
    import arviz as az
    import pymc as pm

    data = load_data(name)
    start = time.perf_counter()
    model = pymc_model(name, data)
    with model:
        idata = pm.sample(draws=1000, tune=1000, chains=4, cores=2, random_seed=0, progressbar=False)
    fit_s = time.perf_counter() - start
    proc_s = time.time() - start_wall  # from the parent's launch to the end of pm.sample
    sample_s = float(idata.posterior.attrs["sampling_time"])
    names = [v.name for v in model.free_RVs]
    ess = float(min(float(az.ess(idata, var_names=[n], method="bulk")[n].min()) for n in names))
    return {"compile_s": fit_s - sample_s, "sample_s": sample_s, "fit_s": fit_s, "proc_s": proc_s, "ess": ess,
            "ess_per_s": ess / sample_s, "divergent": int(idata.sample_stats["diverging"].sum()),
            "means": {n: float(idata.posterior[n].mean()) for n in names}}


def _cold_then_warm(tool: str, flag: str, name: str, cases: tuple, env: dict, timeout_s: float) -> dict:
    """Each case in a fresh subprocess (`--{flag} NAME`) with `env`; a run past `timeout_s` is recorded
    as a lower bound and the later cases are skipped."""
    out = {}
    for case in cases:
        cmd = [sys.executable, __file__, f"--{flag}", name, "--start", repr(time.time())]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            out[case] = {"timeout_s": timeout_s}
            break
        if proc.returncode:
            raise RuntimeError(f"{tool} {name} {case} failed:\n{proc.stderr[-3000:]}")
        out[case] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def run_pymc(name: str, compiledir: str, timeout_s: float) -> dict:
    """cold, then warm (the same PyTensor compile directory)."""
    env = {**os.environ, "PYTENSOR_FLAGS": f"compiledir={compiledir}"}
    return _cold_then_warm("PyMC", "pymc-one", name, ("cold", "warm"), env, timeout_s)

# --- pystan (runs in subprocesses: `--pystan-one NAME`) --------------------------------------------


def pystan_one(name: str, start_wall: float) -> dict:
    """One pystan 3 fit in this (fresh) process, the same program text boxloop fits."""
    import stan

    from boxloop.diagnose import mcmc

    data = load_data(name)
    start = time.perf_counter()
    model = stan.build((PROGRAMS / DATASETS[name][0]).read_text(), data=data, random_seed=0)
    built = time.perf_counter()
    fit = model.sample(num_chains=4, num_warmup=1000, num_samples=1000)
    done = time.perf_counter()
    names = list(fit.param_names)
    # pystan gives (*shape, draws x chains), the draws of one chain after another.
    draws = {n: np.moveaxis(np.asarray(fit[n]).reshape(*np.shape(fit[n])[:-1], 4, 1000), (-2, -1), (0, 1))
             for n in names}
    ess = float(min(np.min(mcmc.ess_bulk(v)) for v in draws.values()))
    sample_s = done - built
    return {"compile_s": built - start, "sample_s": sample_s, "fit_s": done - start,
            "proc_s": time.time() - start_wall, "ess": ess, "ess_per_s": ess / sample_s,
            "divergent": int(np.sum(fit["divergent__"])), "means": {n: float(np.mean(v)) for n, v in draws.items()}}


def run_pystan(name: str, cache_dir: str, timeout_s: float) -> dict:
    """new (an empty httpstan cache: the C++ model is compiled) then precompiled (the same cache)."""
    env = {**os.environ, "XDG_CACHE_HOME": cache_dir}
    return _cold_then_warm("pystan", "pystan-one", name, ("new", "precompiled"), env, timeout_s)

# --- report ---------------------------------------------------------------------------------------


def table(results: dict) -> str:
    lines = ["| dataset | run | compile s | sample s | fit s | proc s | min bulk ESS | ESS/s | div |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, res in results.items():
        others = {f"{tool} {k}": v for tool in ("pymc", "pystan") for k, v in res.get(tool, {}).items()}
        for case, row in {**res.get("boxloop", {}), **others}.items():
            if "timeout_s" in row:
                lines.append(f"| {name} | {case} | - | - | > {row['timeout_s']:.0f} | - | - | - | - |")
                continue
            proc = "-" if case == "c_refit" else f"{row['proc_s']:.2f}"  # its process ran a fit before
            lines.append(f"| {name} | {case} | {row['compile_s']:.2f} | {row['sample_s']:.2f} | {row['fit_s']:.2f} "
                         f"| {proc} | {row['ess']:.0f} | {row['ess_per_s']:.0f} | {row['divergent']} |")
    return "\n".join(lines)


def _pystan_ratios(res: dict, a: dict, b: dict) -> str:
    stan = res.get("pystan", {})
    new, pre = stan.get("new"), stan.get("precompiled")
    if not new or "timeout_s" in new:
        return "- | -"
    pre_ratio = f"{pre['proc_s'] / b['proc_s']:.2f}" if pre and "timeout_s" not in pre else "-"
    return f"{new['proc_s'] / a['proc_s']:.2f} | {pre_ratio}"


def ratios(results: dict) -> str:
    lines = ["| dataset | (a) fit s | PyMC warm fit s | PyMC warm / (a) (target >= 3) | (a) / (b) fit s "
             "(target >= 5) | (a) / (b) proc s | (c) fit s | ESS/s boxloop (a) / PyMC warm "
             "| pystan new / (a) proc s | pystan precompiled / (b) proc s |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, res in results.items():
        box = res["boxloop"]
        a, b, c = box["a_new"], box["b_cached"], box["c_refit"]
        pymc = res.get("pymc", {})
        warm = pymc.get("warm") or pymc.get("cold")  # cold only when it timed out: a lower bound
        if warm and "timeout_s" in warm:
            pymc_s, pymc_ratio, ess_ratio = f"> {warm['timeout_s']:.0f}", f"> {warm['timeout_s'] / a['fit_s']:.0f}", "-"
        elif warm:
            pymc_s, pymc_ratio = f"{warm['fit_s']:.2f}", f"{warm['fit_s'] / a['fit_s']:.2f}"
            ess_ratio = f"{a['ess_per_s'] / warm['ess_per_s']:.2f}"
        else:
            pymc_s = pymc_ratio = ess_ratio = "-"
        lines.append(f"| {name} | {a['fit_s']:.2f} | {pymc_s} | {pymc_ratio} "
                     f"| {a['fit_s'] / b['fit_s']:.2f} | {a['proc_s'] / b['proc_s']:.2f} | {c['fit_s']:.2f} "
                     f"| {ess_ratio} | {_pystan_ratios(res, a, b)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--skip-pymc", action="store_true")
    parser.add_argument("--json", help="also write the raw results here (updated after each dataset)")
    parser.add_argument("--pymc-timeout", type=float, default=600.0, help="seconds per PyMC run")
    parser.add_argument("--pymc-from", help="reuse the PyMC rows of an earlier --json file")
    parser.add_argument("--pystan", action="store_true", help="also pystan 3, new model and precompiled")
    parser.add_argument("--pymc-one", help=argparse.SUPPRESS)
    parser.add_argument("--pystan-one", help=argparse.SUPPRESS)
    parser.add_argument("--start", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pymc_one:
        print(json.dumps(pymc_one(args.pymc_one, args.start)))
        return
    if args.pystan_one:
        print(json.dumps(pystan_one(args.pystan_one, args.start)))
        return
    results = {}
    earlier = json.loads(Path(args.pymc_from).read_text()) if args.pymc_from else {}
    with tempfile.TemporaryDirectory() as jax_cache, tempfile.TemporaryDirectory() as pytensor_dir, \
            tempfile.TemporaryDirectory() as stan_dir:
        for name in args.datasets.split(","):
            results[name] = {"boxloop": run_boxloop(name, jax_cache)}
            if name in earlier and "pymc" in earlier[name]:
                results[name]["pymc"] = earlier[name]["pymc"]
            elif not args.skip_pymc:
                results[name]["pymc"] = run_pymc(name, os.path.join(pytensor_dir, name), args.pymc_timeout)
            if args.pystan:
                results[name]["pystan"] = run_pystan(name, os.path.join(stan_dir, name), args.pymc_timeout)
            print(table({name: results[name]}), file=sys.stderr, flush=True)
            if args.json:
                Path(args.json).write_text(json.dumps(results, indent=1))
    print(table(results))
    print()
    print(ratios(results))


if __name__ == "__main__":
    main()
