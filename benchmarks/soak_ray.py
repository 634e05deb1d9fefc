"""Soak: a discovery run of N distinct candidates across a two-CPU Ray cluster on loopback, with a
Ray worker that is running a fit killed (SIGKILL) every K seconds. Reports what was lost.

Run it inside a loopback-only network namespace (as root), as the Ray tests are:

    unshare -n sh -c 'ip link set lo up && python benchmarks/soak_ray.py --candidates 200 --kill-every 60'

"Lost" means: a candidate without a stored fit, a fit that did not succeed (every program here is
fittable), a successful fit without intact draws, or a proposal that is not in the store. A fit
whose worker was killed on each of its three attempts is recorded as `fit.worker_lost`; the run is
then resumed once, without kills, as a user would rerun the command, and what is still missing
after that is what was lost. The goal is zero.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parents[1] / "tests" / "search"))  # the tests' small normal model
from search_helpers import tiny  # noqa: E402

FAMILIES = ("normal(mu, sigma)", "student_t(4, mu, sigma)", "cauchy(mu, sigma)", "logistic(mu, sigma)")


class DistinctProposer:
    """The k-th call writes the k-th of many distinct, fittable programs (prior scale x family)."""

    name = "soak"

    def __init__(self):
        self.calls = 0

    def propose(self, task, *, context=None, block="program", n=1, seed=0):
        from boxloop.propose.base import Accounting, Proposal

        k, self.calls = self.calls, self.calls + 1
        text = tiny(scale=5 + k // len(FAMILIES), family=FAMILIES[k % len(FAMILIES)])
        return [Proposal(text, True, block, Accounting(tokens_generated=1), (), self.name)]


class Killer(threading.Thread):
    """Every `every_s` seconds, SIGKILL one Ray worker process that is running a fit."""

    def __init__(self, cluster, every_s: float, seed: int = 0):
        super().__init__(daemon=True)
        self.cluster, self.every_s, self.rng = cluster, every_s, random.Random(seed)
        self.kills: list[tuple[float, int]] = []
        self.stop = threading.Event()
        self.started = time.monotonic()

    def run(self):
        while not self.stop.wait(self.every_s):
            busy = self.cluster.worker_pids()
            if busy:
                pid = self.rng.choice(busy)
                try:
                    os.kill(pid, signal.SIGKILL)
                    self.kills.append((round(time.monotonic() - self.started, 1), pid))
                except ProcessLookupError:
                    pass


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidates", type=int, default=200)
    parser.add_argument("--kill-every", type=float, default=60.0, help="seconds between worker kills")
    parser.add_argument("--warmup", type=int, default=150)
    parser.add_argument("--draws", type=int, default=150)
    parser.add_argument("--out", help="run directory (default: a temporary one)")
    args = parser.parse_args()

    from boxloop.search.ray_local import LocalRayCluster, only_loopback

    if not only_loopback():
        print("run this inside a loopback-only network namespace: unshare -n sh -c 'ip link set lo up && "
              "python benchmarks/soak_ray.py'", file=sys.stderr)
        return 2
    token = secrets.token_hex(32)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)  # before ray is imported
    out = Path(args.out or tempfile.mkdtemp(prefix="boxloop-soak-"))
    with LocalRayCluster(num_cpus=2, token=token) as cluster:
        report = soak(cluster, args, out)
    print(json.dumps(report, indent=2))
    return 0 if report["lost"]["total"] == 0 else 1


def soak(cluster, args, out: Path) -> dict:
    from boxloop.data import make_task
    from boxloop.infer.nuts import NutsSettings
    from boxloop.search.config import SearchConfig
    from boxloop.search.discover import discover_task
    from boxloop.search.ray_executor import RayExecutor
    from boxloop.search.store import RunStore, draws_problem

    y = np.round(np.random.default_rng(1).normal(1.5, 2.0, size=40), 3)
    task = make_task({"y": y})
    settings = NutsSettings(chains=2, warmup=args.warmup, draws=args.draws)
    config = SearchConfig(strategy="best-of-n", budget=args.candidates, settings=settings, timeout_s=600.0)
    executor = RayExecutor(address=cluster.address, host_devices=settings.chains)

    def run():
        return discover_task(task, config, out=out, executor=executor, cache=False, proposer=DistinctProposer())

    killer = Killer(cluster, args.kill_every)
    started = time.monotonic()
    killer.start()
    try:
        first = run()
        killer.stop.set()
        wall = time.monotonic() - started
        worker_lost = sum(c.code == "fit.worker_lost" for c in first.candidates)
        result = run() if worker_lost else first  # the same command again: refits what lost its worker
    finally:
        killer.stop.set()
        executor.close()
    with RunStore(out, read_only=True) as store:
        fits = {f.structural_hash: f for f in store.fits()}
        proposals = store.proposals()
        bad_draws = [h for h, f in fits.items() if f.ok and (not f.netcdf or draws_problem(out, f))]
    codes = Counter(f.code or "ok" for f in fits.values())
    missing = [c.hash for c in result.candidates if c.hash not in fits]
    lost = {"candidates_without_fit": len(missing), "fits_not_ok": sum(not f.ok for f in fits.values()),
            "bad_draws": len(bad_draws), "proposals_not_stored": result.counts["proposals"] - len(proposals)}
    lost["total"] = sum(lost.values())
    return {"candidates": len(result.candidates), "fits_stored": len(fits), "fit_outcomes": dict(codes),
            "workers_killed": len(killer.kills), "fits_rerun_after_a_worker_died": executor.retried,
            "worker_lost_in_the_killed_run": worker_lost, "refitted_by_the_resume": result.counts["fits_executed"]
            if worker_lost else 0, "kills_at_s": [t for t, _ in killer.kills], "lost": lost,
            "wall_s_killed_run": round(wall, 1), "fit_s_total": first.timing["fit_s"], "store": str(out)}


if __name__ == "__main__":
    sys.exit(main())
