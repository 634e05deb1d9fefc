"""A single-node Ray cluster on loopback, started and stopped as one process group.

    with LocalRayCluster(num_cpus=2) as cluster:
        executor = RayExecutor(address=cluster.address)  # with cluster.client_env set before `import ray`

Why not `ray.init()` in the caller: that starts Ray's daemons from a process that may already run
JAX threads, and it binds the machine's network address. Here `ray start --head --block` runs in a
fresh session of its own, bound to 127.0.0.1 with its own temporary directory; stopping it kills
that session's processes only (never `ray stop`, which would end every Ray on the machine). Ray
still probes the network to find the node address: inside a network namespace that has only
loopback (`unshare -n`) it settles on 127.0.0.1 and sends nothing anywhere else.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LOOPBACK = "127.0.0.1"


def only_loopback() -> bool:
    """True inside a network namespace whose only interface is loopback."""
    return [name for _, name in socket.if_nameindex()] == ["lo"]


class LocalRayCluster:
    def __init__(self, num_cpus: int = 2, *, env: dict | None = None, start_timeout_s: float = 120.0,
                 temp_dir: str | None = None, token: str | None = None):
        self.num_cpus, self.start_timeout_s = num_cpus, start_timeout_s
        self.port = _free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        # Ray's socket paths must stay short (AF_UNIX allows ~107 bytes): a short temporary root.
        self._own_temp = temp_dir is None
        self.temp_dir = temp_dir or tempfile.mkdtemp(prefix="bxray-", dir="/tmp")
        # Token authentication with a token of this cluster's own: nothing else on the machine can
        # join it, and no token file in the home directory is read or written. A driver must have
        # `client_env` in its environment before it imports ray (Ray reads it at import).
        self.client_env = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token or secrets.token_hex(32)}
        self.env = {**os.environ, "RAY_worker_niceness": "0", "RAY_USAGE_STATS_ENABLED": "0", **self.client_env,
                    **(env or {})}
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "LocalRayCluster":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        ray = str(Path(sys.executable).with_name("ray"))
        command = [ray, "start", "--head", "--block", f"--node-ip-address={LOOPBACK}", f"--port={self.port}",
                   f"--num-cpus={self.num_cpus}", "--include-dashboard=false", "--disable-usage-stats",
                   f"--temp-dir={self.temp_dir}"]
        log = open(Path(self.temp_dir) / "head.log", "wb")
        self.proc = subprocess.Popen(command, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self._wait_until_up()

    def _wait_until_up(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"ray start exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection((LOOPBACK, self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Ray head did not listen on {self.address} within {self.start_timeout_s:g} s")

    def log_tail(self) -> str:
        try:
            return (Path(self.temp_dir) / "head.log").read_text(errors="replace")[-2000:]
        except OSError:
            return ""

    def worker_pids(self, running: str = "_call") -> list[int]:
        """Ray worker processes of this cluster now running a task named `running`."""
        return [pid for pid in self._session_pids() if _cmdline(pid).startswith(f"ray::{running}")]

    def _session_pids(self) -> list[int]:
        if self.proc is None:
            return []
        out = []
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    if os.getsid(int(entry)) == self.proc.pid:
                        out.append(int(entry))
                except OSError:
                    pass
        return out

    def stop(self) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        for pid in self._session_pids():  # whatever ignored SIGTERM, or left the process group
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None
        if self._own_temp:
            shutil.rmtree(self.temp_dir, ignore_errors=True)


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]
