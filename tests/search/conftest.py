"""Shared fixtures: every test gets its own fit cache; a JAX compilation cache is shared by the
session so that the same small structures compile once across tests."""

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BOXLOOP_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("jax-cache"))


@pytest.fixture(scope="session")
def ray_cluster():
    """A two-CPU Ray cluster on 127.0.0.1, for the tests/search/test_ray_*.py files. They run inside
    a network namespace that has only loopback (see .ci/run); elsewhere they skip, and with
    BOXLOOP_RAY_TESTS=1 (as in CI) not being able to run them is a failure."""
    import importlib.util
    import os
    import secrets

    from boxloop.search.ray_local import LocalRayCluster, only_loopback

    reason = None
    if importlib.util.find_spec("ray") is None:
        reason = "Ray is not installed (pip install -e '.[test]')"
    elif not only_loopback():
        reason = ("the Ray tests run inside a loopback-only network namespace: "
                  "unshare -n sh -c 'ip link set lo up; python -m pytest tests/search/test_ray_*.py'")
    if reason:
        pytest.fail(reason) if os.environ.get("BOXLOOP_RAY_TESTS") == "1" else pytest.skip(reason)
    token = secrets.token_hex(32)
    os.environ.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token)  # before anything imports ray
    helpers = os.path.dirname(os.path.abspath(__file__))
    with LocalRayCluster(num_cpus=2, token=token, env={"PYTHONPATH": helpers}) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def ray_executor(ray_cluster):
    from boxloop.search.ray_executor import RayExecutor

    executor = RayExecutor(address=ray_cluster.address, host_devices=2)
    yield executor
    executor.close()
