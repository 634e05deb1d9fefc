"""Bad input gives a clear, structured failure, and the process that asked stays healthy.

* a density that is NaN wherever it is evaluated -> FitError / FitFailure "fit.bad_init";
* data missing a declared variable -> an error naming it, raised before anything is compiled;
* a density that makes NUTS diverge nearly everywhere -> a finished fit whose diagnostics report
  the divergences and a low reliability score (no exception);
* a fit that would run for many minutes, given 5 s in a worker -> FitFailure "fit.timeout" soon
  after, and the parent then fits a model normally.

Jobs sent to workers are module-level functions: the spawned child imports this module.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import time

import numpy as np
import pytest

from boxloop.diagnose import diagnose
from boxloop.errors import DataError, FitError, ProgramError
from boxloop.infer.compile import compile_program, fit
from boxloop.infer.nuts import NutsSettings
from boxloop.infer.worker import FitFailure, WorkerLimits, run_in_worker
from boxloop.lang import check, parse

TINY = NutsSettings(chains=2, warmup=10, draws=10, init_tries=20)
SMALL = dict(chains=2, chain_method="sequential")  # one single-chain compile: the cheapest here

# log of a negative number at every x. The checker rejects it (phi5), so this is what the engine
# does when a program reaches it unchecked.
NAN_UNCHECKED = "parameters { real x; } model { x ~ normal(0, 1); target += log(-1 - exp(x)); }"
# Accepted by the checker, yet inf - inf = NaN at every x (lgamma(0) = inf).
NAN_CHECKED = "parameters { real x; } model { x ~ normal(0, 1); target += lgamma(x - x) - lgamma(x - x); }"

NORMAL_MEAN = """
data { int<lower=0> N; vector[N] y; real<lower=0> sigma; }
parameters { real mu; }
model { mu ~ normal(0, 10); y ~ normal(mu, sigma); }
"""
NORMAL_DATA = {"N": 5, "y": [0.3, -0.2, 1.1, 0.5, 0.9], "sigma": 1.0}

# Log density jumps by 4000 (past NumPyro's 1000-nat divergence limit) between the plateaus of
# round(sin(50 mu)), 0.06 apart: a trajectory that leaves its plateau downhill diverges.
CLIFFS = """
data { int<lower=0> N; vector[N] y; }
parameters { real mu; }
model {
  mu ~ normal(0, 1);
  target += 2000 * round(sin(50 * mu));
  y ~ normal(mu, 1);
}
"""


@contextlib.contextmanager
def _jax_compiles():
    """Collects the names of JAX trace/compile events that happen inside the block."""
    import jax.monitoring

    seen: list[str] = []

    def record(event, duration, **_):
        if event.startswith("/jax/core/compile") or event.startswith("/jax/compilation_cache"):
            seen.append(event)

    jax.monitoring.register_event_duration_secs_listener(record)
    try:
        yield seen
    finally:
        jax.monitoring.unregister_event_duration_listener(record)


# ---- worker jobs -------------------------------------------------------------------------------------


def _fit_job(source: str, data: dict, settings: NutsSettings, seed: int = 0) -> dict:
    f = fit(parse(source), data, settings, seed=seed)
    return {k: np.asarray(v) for k, v in f.draws.items()}


def _assert_no_children():
    deadline = time.monotonic() + 5
    while multiprocessing.active_children() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert multiprocessing.active_children() == []


def _healthy_fit():
    """A normal small fit in this (the parent) process, checked against the conjugate answer."""
    f = fit(check(NORMAL_MEAN, NORMAL_DATA).program, NORMAL_DATA,
            NutsSettings(warmup=200, draws=300, **SMALL), seed=5)
    y = np.asarray(NORMAL_DATA["y"])
    post_var = 1 / (1 / 100 + len(y))
    post_mean = post_var * y.sum()
    assert abs(f.draws["mu"].mean() - post_mean) < 0.15
    assert abs(f.draws["mu"].std() / post_var**0.5 - 1) < 0.2


# ---- NaN everywhere -------------------------------------------------------------------------------------


@pytest.mark.parametrize("source", [NAN_UNCHECKED, NAN_CHECKED], ids=["log-of-negative", "inf-minus-inf"])
def test_nan_density_everywhere_is_bad_init(source):
    start = time.monotonic()
    with pytest.raises(FitError) as err:
        fit(parse(source), {}, TINY)
    assert err.value.code == "fit.bad_init"
    message = str(err.value)
    assert "NaN/inf" in message and "initial" in message  # says what was wrong, and where
    assert time.monotonic() - start < 60


def test_checker_flags_the_unchecked_program():
    assert not check(NAN_UNCHECKED).valid
    assert check(NAN_CHECKED).valid


@pytest.mark.slow  # ~8 s (spawn + JAX import + compile); error codes crossing workers: test_worker.py
def test_nan_density_in_a_worker_is_a_bad_init_failure():
    limits = WorkerLimits(timeout_s=120, memory_bytes=None, host_devices=2)
    result = run_in_worker(_fit_job, (NAN_CHECKED, {}, TINY), limits=limits)
    assert isinstance(result, FitFailure), result
    assert result.code == "fit.bad_init"
    assert "NaN/inf" in result.reason
    _assert_no_children()


# ---- data missing a variable ---------------------------------------------------------------------------


def test_missing_data_variable_is_named_before_anything_compiles():
    data = {"N": 5, "y": NORMAL_DATA["y"]}  # no sigma
    # The checker, given the data, says so as a diagnostic...
    result = check(NORMAL_MEAN, data)
    [diag] = [d for d in result.errors if d.code == "data.missing_variable"]
    assert "'sigma'" in diag.message and diag.line == 2
    # ...and the compiler and `fit` raise DataError naming it, without tracing anything.
    program = parse(NORMAL_MEAN)
    with _jax_compiles() as compiles:
        for call in (lambda: compile_program(program, data), lambda: fit(program, data, TINY)):
            with pytest.raises(DataError, match="'sigma'") as err:
                call()
            assert err.value.code == "data.missing"
            assert "declared in the data block" in str(err.value)
    assert compiles == []


def test_missing_data_through_the_pipeline_is_a_program_error_naming_it():
    from boxloop.infer.pipeline import fit_program

    with _jax_compiles() as compiles, pytest.raises(ProgramError) as err:
        fit_program(NORMAL_MEAN, {"N": 5, "sigma": 1.0}, TINY)
    assert compiles == []
    assert any(d.code == "data.missing_variable" and "'y'" in d.message for d in err.value.diagnostics)


# ---- divergent everywhere --------------------------------------------------------------------------------


def test_density_that_diverges_everywhere_is_scored_not_raised():
    data = {"N": 8, "y": [0.3, -0.2, 1.1, 0.5, 0.9, -0.4, 0.2, 0.7]}
    program = check(CLIFFS, data).program
    assert program is not None
    f = fit(program, data, NutsSettings(warmup=200, draws=200, **SMALL), seed=0)
    assert f.draws["mu"].shape == (2, 200) and np.all(np.isfinite(f.draws["mu"]))
    d = diagnose(f.draws, f.stats, f.log_lik)
    # Seeds 0-2 gave 267-299 divergent transitions of 400; half a chain's worth is a safe floor.
    assert d.divergences >= 100, d.divergences
    assert not d.checks["divergences"] and "divergences" in d.failed
    assert "divergent" in d.reasons["divergences"]
    # It also mixes badly (chains stuck on different plateaus): well short of reliable.
    assert not d.reliable and d.score <= 4, (d.score, d.failed)


# ---- timeout -----------------------------------------------------------------------------------------------


def test_ten_minute_fit_times_out_and_the_parent_keeps_working():
    # Four chains of two million iterations each: many minutes of sampling for this model.
    endless = NutsSettings(chains=4, warmup=1_000_000, draws=1_000_000)
    limits = WorkerLimits(timeout_s=5, memory_bytes=None, host_devices=4, grace_s=1.0)
    start = time.monotonic()
    result = run_in_worker(_fit_job, (NORMAL_MEAN, NORMAL_DATA, endless), limits=limits)
    elapsed = time.monotonic() - start
    assert isinstance(result, FitFailure), type(result)
    assert result.code == "fit.timeout", (result.code, result.reason, (result.detail or "")[-2000:])
    assert "5 s" in result.reason
    assert elapsed < 15 and result.elapsed_s < 15, elapsed
    _assert_no_children()
    _healthy_fit()


# ---- integer data used as indices ---------------------------------------------------------------

_GROUPS = """
data { int<lower=1> N; int<lower=1> J; array[N] int g; array[N, 2] int pair; vector[N] y; }
parameters { vector[J] a; vector[2] b; real<lower=0> s; }
model {
  a ~ normal(0, 1); b ~ normal(0, 1); s ~ normal(0, 1);
  for (i in 1:N) y[i] ~ normal(a[g[i]] + b[pair[i, 2]] + a[pair[i, 1]], s);
}
"""


def _groups(g, pair_first=(1, 2, 3, 1, 2, 3)):
    return {"N": 6, "J": 3, "g": list(g), "pair": [[p, 1 + i % 2] for i, p in enumerate(pair_first)],
            "y": [1.0, 2.0, 3.0, 1.5, 2.5, 3.5]}


@pytest.mark.parametrize("g, found, hint", [
    ((0, 1, 2, 0, 1, 2), "g[1] = 0", "add 1 to it"),  # counted from 0: would wrap to the last element
    ((1, 2, 3, 1, 2, 4), "g[6] = 4", "must lie in 1..3"),  # would be clamped to 3
])
def test_an_index_array_outside_what_it_indexes_is_a_data_error(g, found, hint):
    from boxloop.errors import DataError
    from boxloop.infer.compile import compile_program
    from boxloop.lang import check

    with pytest.raises(DataError) as err:
        compile_program(check(_GROUPS).program, _groups(g))
    assert err.value.code == "data.index_range"
    assert "g indexes a" in str(err.value) and found in str(err.value) and hint in str(err.value)


def test_a_column_of_an_index_table_is_checked_against_what_that_column_indexes():
    from boxloop.errors import DataError
    from boxloop.infer.compile import compile_program
    from boxloop.lang import check

    program = check(_GROUPS).program
    compile_program(program, _groups((1, 2, 3, 1, 2, 3)))  # column 2 holds 1..2 and indexes b: fine
    with pytest.raises(DataError) as err:
        compile_program(program, _groups((1, 2, 3, 1, 2, 3), pair_first=(1, 2, 3, 1, 2, 5)))
    assert "pair indexes a" in str(err.value) and "pair[6, 1] = 5" in str(err.value)


_GUARDED = """
data { int N; int J; array[N] int g; vector[N] y; }
parameters { vector[J] a; }
model {
  a ~ normal(0, 1);
  for (n in 1:N) {
    if (g[n] != -1) y[n] ~ normal(a[g[n]], 1);
  }
}
"""


def test_an_index_under_a_condition_on_itself_is_a_warning_and_the_program_fits():
    # -1 marks a missing code that the program steps round (posteriordb's bones model does this)
    from boxloop.infer.compile import compile_program
    from boxloop.lang import check

    data = {"N": 4, "J": 2, "g": [1, -1, 2, -1], "y": [0.5, 9.0, -0.5, 9.0]}
    result = check(_GUARDED, data=data)
    [diag] = [d for d in result.diagnostics if d.code.startswith("data.index")]
    assert result.valid and diag.code == "data.index_guarded" and "g[2] = -1" in diag.message
    compile_program(result.program, data)  # no DataError
    unguarded = _GUARDED.replace("if (g[n] != -1) ", "")
    assert [d.code for d in check(unguarded, data=data).errors] == ["data.index_range"]


def test_checking_against_the_data_reports_the_bad_index_with_its_place():
    from boxloop.lang import check

    result = check(_GROUPS, data=_groups((0, 1, 2, 0, 1, 2)))
    [diag] = [d for d in result.diagnostics if d.code == "data.index_range"]
    assert diag.is_error and diag.line == 6 and "add 1 to it" in diag.message
    assert not [d for d in check(_GROUPS, data=_groups((1, 2, 3, 1, 2, 3))).diagnostics if d.is_error]
