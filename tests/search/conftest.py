"""Shared fixtures: every test gets its own fit cache; a JAX compilation cache is shared by the
session so that the same small structures compile once across tests."""

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BOXLOOP_CACHE_DIR", str(tmp_path / "user-cache"))


@pytest.fixture(scope="session")
def jax_cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("jax-cache"))
