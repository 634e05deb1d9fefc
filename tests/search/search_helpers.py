"""Module-level jobs, proposers and fit functions for the search tests (spawned workers import
this module by name, so everything a worker runs must live at module level here)."""

import os
import time

import numpy as np

from boxloop.infer.nuts import NutsSettings
from boxloop.propose.base import Accounting, Proposal

CI_SETTINGS = NutsSettings(chains=2, warmup=200, draws=200)  # CI-sized NUTS


def add(a, b):
    return a + b


def sleep_then(seconds, value):
    time.sleep(seconds)
    return value


def exit_now(code):
    os._exit(code)


def raise_value_error():
    raise ValueError("prior scale must be positive")


def pid_and_jax_loaded():
    import sys

    return os.getpid(), "jax" in sys.modules, os.environ.get("XLA_FLAGS", "")


# ---- a proposer that replays fixed programs, and a fit job that fails on request ----------------

TINY_DATA = {"y": np.round(np.random.default_rng(1).normal(1.5, 2.0, size=20), 3)}

_PROGRAM = """data {{
  int<lower=0> N;
  vector[N] y;
}}
parameters {{
  real mu;
  real<lower=0> sigma;
}}
model {{
  mu ~ normal(0, {scale});{marker}
  sigma ~ normal(0, 5);
  y ~ {family};
}}
"""


def tiny(scale=10, family="normal(mu, sigma)", marker=""):
    return _PROGRAM.format(scale=scale, family=family, marker=f"  // {marker}" if marker else "")


# The same structure as tiny(10): other names, other layout.
TINY_RENAMED = """data { int<lower=0> N; vector[N] y; }
parameters { real<lower=0> s; real m; }
model { y ~ normal(m, s);
  s ~ normal(0, 5); m ~ normal(0, 10); }
"""


class FixedProposer:
    """Writes programs[k] on its k-th call (whole programs only; rewrites fall back to the list)."""

    name = "fixed"

    def __init__(self, programs):
        self.programs = list(programs)
        self.calls = 0

    def propose(self, task, *, context=None, block="program", n=1, seed=0):
        text = self.programs[self.calls % len(self.programs)]
        self.calls += 1
        return [Proposal(text, True, block, Accounting(tokens_generated=len(text.split())), (), self.name)]


def faulty_fit(job):
    """run_fit, except that a program marked CRASH kills its worker and one marked HANG never ends."""
    if "CRASH" in job.program:
        os._exit(9)
    if "HANG" in job.program:
        time.sleep(3600)
    from boxloop.search.fit_task import run_fit

    return run_fit(job)


# ---- a JAX-free stand-in for fitting, for tests of what happens around fits ---------------------


def synthetic_fit(job):
    """A successful FitOutcome with diagnostics of well-mixed synthetic draws (no NUTS, no JAX)."""
    from boxloop.diagnose import diagnose
    from boxloop.search.fit_task import FitOutcome

    rng = np.random.default_rng(job.seed)
    n = len(TINY_DATA["y"])
    draws = {"mu": rng.normal(size=(2, 200))}
    stats = {"diverging": np.zeros((2, 200), bool), "energy": rng.normal(size=(2, 200))}
    log_lik = {"y": rng.normal(-1.5, 0.05, size=(2, 200, n))}
    return FitOutcome("ok", diagnostics=diagnose(draws, stats, log_lik), netcdf=f"draws {job.seed}".encode())


class InlineExecutor:
    """Runs each job in this process the moment it is submitted (one slot)."""

    slots = 1

    def __init__(self):
        from boxloop.search.executor import Done

        self._Done, self._done, self.ran = Done, [], []

    def submit(self, job):
        self.ran.append(job.key)
        self._done.append(self._Done(job.key, job.fn(*job.args), 0.01))

    def wait(self, timeout=None):
        done, self._done = self._done, []
        return done

    def cancel(self, key):
        return False

    def pending(self):
        return len(self._done)

    def close(self):
        pass


class QueuedInlineExecutor:
    """One slot, in this process: a job runs when the slot is free (its result taken by `wait`),
    the others wait in the executors' own priority queue."""

    slots = 1

    def __init__(self):
        from boxloop.search.executor import Done, JobQueue

        self._Done, self._queue, self._done, self.ran = Done, JobQueue(), [], []

    def submit(self, job):
        self._queue.append(job)
        self._dispatch()

    def _dispatch(self):
        if not self._done and self._queue:
            job = self._queue.popleft()
            self.ran.append(job.key)
            self._done.append(self._Done(job.key, job.fn(*job.args), 0.01))

    def wait(self, timeout=None):
        self._dispatch()
        done, self._done = self._done, []
        return done

    def cancel(self, key):
        return False

    def pending(self):
        return len(self._done) + len(self._queue)

    def close(self):
        pass


def note_pid_then_fit(marks_path, job):
    """Append this process's pid to `marks_path`, then run the real fit (a test kills it midway)."""
    with open(marks_path, "a") as f:
        f.write(f"{os.getpid()}\n")
    from boxloop.search.fit_task import run_fit

    return run_fit(job)


def allocate(n_bytes):
    return float(np.ones(n_bytes // 8).sum())
