"""`boxloop export`: code a person would write by hand, which runs and gives boxloop's posterior."""

import ast as pyast
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from boxloop.cli import main
from boxloop.lang import parse
from boxloop.report.export import export_program
from boxloop.report.pyexpr import ExportError
from boxloop.report.export_pymc import to_pymc

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
EIGHT = (EXAMPLES / "eight_schools.stan").read_text()
SETTINGS = dict(chains=2, warmup=500, draws=1000)

LOOPED = """data { int<lower=1> N; int<lower=1> K; array[N] int<lower=1, upper=K> g; array[N] int<lower=0> y;
  vector[N] x; }
parameters { vector[K] a; real b; real<lower=0> s; }
model {
  a ~ normal(0, s);
  s ~ exponential(1);
  b ~ student_t(3, 0, 2.5);
  for (n in 1:N) {
    y[n] ~ poisson_log(a[g[n]] + b * x[n]);
  }
}
"""


def _model_source(code: str) -> str:
    tree = pyast.parse(code)  # parsed, never run here
    fn = next(n for n in tree.body if isinstance(n, pyast.FunctionDef) and n.name == "model")
    return pyast.get_source_segment(code, fn)


def test_eight_schools_reads_as_written_by_hand():
    model = _model_source(export_program(EIGHT, "numpyro").code)
    assert 'mu = numpyro.sample("mu", dist.Normal(loc=0, scale=5))' in model
    assert 'tau = numpyro.sample("tau", dist.HalfCauchy(5))' in model  # real<lower=0> + cauchy: half-Cauchy
    assert 'theta = numpyro.deterministic("theta", mu + tau * theta_trans)' in model
    assert 'numpyro.sample("y", dist.Normal(loc=theta, scale=sigma), obs=y)' in model
    assert "factor" not in model and "ImproperUniform" not in model


def test_priors_come_after_what_they_use_and_loops_are_vectorised():
    model = _model_source(export_program(LOOPED, "numpyro").code)
    lines = [line.strip() for line in model.splitlines()[1:]]
    assert lines.index('s = numpyro.sample("s", dist.Exponential(rate=1))') < lines.index(
        'a = numpyro.sample("a", dist.Normal(loc=0, scale=s).expand([K]))')
    assert 'numpyro.sample("y", dist.Poisson(rate=jnp.exp(a[g - 1] + b * x)), obs=y)' in lines  # 0-based index


def test_a_parameter_without_a_single_prior_keeps_its_support_and_gets_factors():
    program = LOOPED.replace("a ~ normal(0, s);", "a ~ normal(0, s); a ~ normal(0, 10);").replace(
        "real<lower=0> s;", "real<lower=0, upper=5> s;").replace("s ~ exponential(1);", "")
    model = _model_source(export_program(program, "numpyro").code)
    assert 'a = numpyro.sample("a", dist.ImproperUniform(dist.constraints.real, (K,), ()))' in model
    assert 's = numpyro.sample("s", dist.ImproperUniform(dist.constraints.interval(0, 5), (), ()))' in model
    assert model.count("numpyro.factor(") == 2


def _build_model_source(code: str) -> str:
    tree = pyast.parse(code)
    fn = next(n for n in tree.body if isinstance(n, pyast.FunctionDef) and n.name == "build_model")
    return pyast.get_source_segment(code, fn)


def test_pymc_reads_as_written_by_hand():
    model = _build_model_source(to_pymc(EIGHT))
    assert "J, y, sigma = data['J'], data['y'], data['sigma']" in model
    assert 'tau = pm.HalfCauchy("tau", beta=5)' in model
    assert 'theta_trans = pm.Normal("theta_trans", mu=0.0, sigma=1.0, shape=(J,))' in model
    assert 'pm.Normal("y", mu=theta, sigma=sigma, observed=y)' in model
    looped = _build_model_source(to_pymc(LOOPED))
    assert 'a = pm.Normal("a", mu=0, sigma=s, shape=(K,))' in looped
    assert 'pm.Poisson("y", mu=pt.exp(a[g - 1] + b * x), observed=y)' in looped
    bounded = LOOPED.replace("real<lower=0> s;", "real<lower=1> s;")
    with pytest.raises(ExportError, match="s: a parameter bounded on one side.*export to Stan"):
        to_pymc(bounded)


def test_stan_export_is_the_same_program():
    code = export_program(EIGHT, "stan", program_name="eight_schools.stan", data_path="eight_schools.json").code
    assert code.startswith("// eight_schools.stan") and "sample data file=eight_schools.json" in code
    assert parse(code) == parse(EIGHT)


def test_what_has_no_counterpart_is_named():
    program = EIGHT.replace("tau ~ cauchy(0, 5);", "tau ~ scaled_inv_chi_square(3, 1);")
    with pytest.raises(ExportError, match="scaled_inv_chi_square has no NumPyro counterpart.*--to stan"):
        export_program(program, "numpyro")


def test_cli_export_writes_code_and_a_table_as_stan_json(tmp_path, capsys):
    table = tmp_path / "counts.csv"
    table.write_text("y,x\n" + "\n".join(f"{i % 4},{i / 10}" for i in range(12)) + "\n")
    program = tmp_path / "m.stan"
    program.write_text("data { int<lower=0> N; array[N] int<lower=0> y; vector[N] x; }\nparameters { real a; "
                       "real b; }\nmodel { a ~ normal(0, 2); b ~ normal(0, 2); y ~ poisson_log(a + b * x); }\n")
    out = tmp_path / "m.py"
    assert main(["export", str(program), "--to", "numpyro", "--data", str(table), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    data = json.loads(Path(payload["data"]).read_text())
    assert data["N"] == 12 and data["y"][:5] == [0, 1, 2, 3, 0] and len(data["x"]) == 12
    assert f"default={payload['data']!r}" in out.read_text()
    assert main(["export", str(program), "--to", "julia"]) == 2
    capsys.readouterr()
    assert main(["export", str(tmp_path / "missing.stan"), "--to", "stan"]) == 2


@pytest.fixture(scope="module")
def boxloop_fit():
    from boxloop.infer.nuts import NutsSettings
    from boxloop.infer.pipeline import fit_program

    data = json.loads((EXAMPLES / "eight_schools.json").read_text())
    return fit_program(EIGHT, {k: np.asarray(v) for k, v in data.items()}, NutsSettings(**SETTINGS), seed=3)


def test_exported_numpyro_runs_and_matches_boxloop_within_monte_carlo_error(boxloop_fit, tmp_path):
    _run_and_compare("numpyro", boxloop_fit, tmp_path)


@pytest.mark.slow
def test_exported_pymc_runs_and_matches_boxloop_within_monte_carlo_error(boxloop_fit, tmp_path):
    """Needs the pymc extra (pip install -e ".[test,pymc]"); BOXLOOP_PYMC_TESTS=1 makes its absence a failure."""
    import importlib.util
    import os

    if importlib.util.find_spec("pymc") is None:
        reason = 'PyMC is not installed (pip install -e ".[test,pymc]")'
        pytest.fail(reason) if os.environ.get("BOXLOOP_PYMC_TESTS") == "1" else pytest.skip(reason)
    _run_and_compare("pymc", boxloop_fit, tmp_path)


CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "posteriordb" / "models"
DATA = Path(__file__).resolve().parents[3] / "shared" / "benchmarks" / "posteriordb" / "data"
OTHERS = {  # program, data, the quantities compared (sigmasq's heavy tail leaves its MCSE unreliable)
    "surgical": (CORPUS / "surgical_model.stan", DATA / "surgical_data.json", ("mu", "b", "p", "pop_mean")),
    "gp": (EXAMPLES.parent / "tests" / "programs" / "valid" / "gp_pois_regr.stan", DATA / "gp_pois_regr.json",
           ("rho", "alpha", "f")),
}


# PyTensor's GP costs about 0.25 s an iteration a chain here (the Cholesky's gradient), so the
# PyMC GP runs shorter chains; boxloop's fit uses the same lengths, so the MCSEs stay comparable.
SHORT = dict(chains=2, warmup=300, draws=500)


@pytest.mark.slow
@pytest.mark.parametrize("name, to", [("surgical", "numpyro"), ("surgical", "pymc"), ("gp", "numpyro"), ("gp", "pymc")])
def test_exported_surgical_and_gp_match_boxloop(name, to, tmp_path):
    import importlib.util

    from boxloop.infer.nuts import NutsSettings
    from boxloop.infer.pipeline import fit_program

    if to == "pymc" and importlib.util.find_spec("pymc") is None:
        pytest.skip('PyMC is not installed (pip install -e ".[test,pymc]")')
    program, data_path, names = OTHERS[name]
    data = {k: np.asarray(v) for k, v in json.loads(data_path.read_text()).items()}
    source = program.read_text()
    settings = SHORT if (name, to) == ("gp", "pymc") else SETTINGS
    fit = fit_program(source, data, NutsSettings(**settings), seed=3)
    _run_and_compare(to, fit, tmp_path, source=source, data_path=data_path, names=names, settings=settings)


def _run_and_compare(to: str, boxloop_fit, tmp_path, *, source=EIGHT, data_path=EXAMPLES / "eight_schools.json",
                     names=("mu", "tau", "theta"), settings=SETTINGS):
    from boxloop.diagnose import summarize

    script = tmp_path / "exported.py"
    script.write_text(export_program(source, to).code)
    draws = tmp_path / "draws.npz"
    run = subprocess.run([sys.executable, str(script), str(data_path), "--chains", str(settings["chains"]),
                          "--warmup", str(settings["warmup"]), "--draws", str(settings["draws"]), "--seed", "1",
                          "--save", str(draws)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    with np.load(draws) as f:
        theirs = summarize({k: f[k] for k in names})
    ours = summarize({k: boxloop_fit.draws[k] for k in names})
    assert set(theirs) == set(ours)
    for name, a in ours.items():
        b = theirs[name]
        error = math.hypot(a["mcse_mean"], b["mcse_mean"])
        assert abs(a["mean"] - b["mean"]) < 4 * error, (name, a["mean"], b["mean"], error)
