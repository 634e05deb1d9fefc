"""In-process fits in the tests compile with the XLA flags boxloop's own processes use
(`boxloop.infer.xla_env`); the device count is left as it is. JAX has not started yet when
pytest imports this file."""

import os

from boxloop.infer.xla_env import compile_flags

os.environ["XLA_FLAGS"] = compile_flags(os.environ.get("XLA_FLAGS", ""))
