"""Data reach XLA as arguments, never as constants: a captured array is folded into the program
(a 10-million-point evidence fit grew past 7 GB that way)."""

import numpy as np

from boxloop.infer.compile import compile_program
from boxloop.infer.pipeline import batched_log_density
from boxloop.lang import check

N = 200_000
PROGRAM = """data { int N; vector[N] x; vector[N] y; } parameters { real a; real b; real<lower=0> s; }
model { a ~ normal(0, 1); b ~ normal(0, 1); s ~ normal(0, 1); y ~ normal(a + b * x, s); }"""


def test_the_evidence_density_takes_the_data_as_an_argument():
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    data = {"N": N, "x": rng.normal(size=N), "y": rng.normal(size=N)}
    model = compile_program(check(PROGRAM, data=data).program, data)
    density, dyn = batched_log_density(model)
    text = density.lower(jnp.zeros((2, model.dim)), dyn).as_text()
    assert len(text) < 100_000  # 2 x 200k doubles as constants would be over 3 MB of HLO text
    u = np.array([[0.5, 1.5, 0.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(np.asarray(density(u, dyn)), [model.log_density(jnp.asarray(r)) for r in u],
                               rtol=1e-9)
