"""In-process fits in the tests compile with the XLA flags boxloop's own processes use
(`boxloop.infer.xla_env`); the device count is left as it is. JAX has not started yet when
pytest imports this file.

Property-based tests are reproducible: the "ci" hypothesis profile is derandomized and keeps no
example database, so every machine runs the same examples and a failure in CI fails again here.
`BOXLOOP_FUZZ=wide` selects a fresh random search instead (run by hand; see
tests/lang/test_robustness.py)."""

import os

from hypothesis import settings

from boxloop.infer.xla_env import compile_flags

os.environ["XLA_FLAGS"] = compile_flags(os.environ.get("XLA_FLAGS", ""))

settings.register_profile("ci", derandomize=True, database=None, deadline=None, print_blob=True)
settings.register_profile("wide", derandomize=False, deadline=None, print_blob=True)
settings.load_profile("wide" if os.environ.get("BOXLOOP_FUZZ") == "wide" else "ci")
