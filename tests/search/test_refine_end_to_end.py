"""The refine loop end to end, with real fits: a deliberately misspecified first program (the
observation noise fixed at 0.05 for data spread about 2) is fitted; its failed Pareto-k check points
at the likelihood; the loop asks the proposer to rewrite that block of that program; the rewrite
(the right scale) predicts far better and is returned. Asserted on the run's own records."""

import math

import search_helpers as h
from search_helpers import FixedProposer

from boxloop.data import make_task
from boxloop.infer.nuts import NutsSettings
from boxloop.lang import parse, to_stan, with_block
from boxloop.propose.base import Accounting, Proposal
from boxloop.search.config import SearchConfig
from boxloop.search.discover import discover_task
from boxloop.search.local import LocalExecutor
from boxloop.search.store import RunStore

WRONG = """data {
  int<lower=0> N;
  vector[N] y;
}
parameters {
  real mu;
}
model {
  mu ~ normal(0, 10);
  y ~ normal(mu, 0.05);
}
"""
RIGHT_LIKELIHOOD = "y ~ normal(mu, 2);"
# A one-parameter posterior needs ~1500 draws for a bulk ESS of 400 here: the only failure left is
# then the one the misspecification causes (Pareto k > 0.7 for 85 % of the points).
SETTINGS = NutsSettings(chains=2, warmup=500, draws=1500)


class LikelihoodRewriter(FixedProposer):
    """Writes WRONG as a new program, and rewrites the likelihood of the program it is given;
    remembers every request."""

    name = "scripted"

    def __init__(self):
        super().__init__([WRONG])
        self.requests = []

    def propose(self, task, *, context=None, block="program", n=1, seed=0):
        self.requests.append((block, context))
        if block != "likelihood":
            return super().propose(task, context=context, block=block, n=n, seed=seed)
        text = to_stan(with_block(parse(context), "likelihood", RIGHT_LIKELIHOOD))
        return [Proposal(text, True, block, Accounting(tokens_generated=len(text.split())), (), self.name)]


def test_a_misspecified_likelihood_is_rewritten_into_a_better_program(tmp_path, jax_cache):
    task = make_task(dict(h.TINY_DATA))
    proposer = LikelihoodRewriter()
    # a prior rewrite is allowed too, so that it is the diagnostics that choose the likelihood
    config = SearchConfig(strategy="refine", budget=2, beta=None, alpha=1, prior_rewrites=1, settings=SETTINGS,
                          timeout_s=300.0)
    with LocalExecutor(1, host_devices=SETTINGS.chains, compilation_cache_dir=jax_cache) as pool:
        result = discover_task(task, config, out=tmp_path / "run", executor=pool, cache=False, proposer=proposer)
    assert [(c.depth, c.block) for c in result.candidates] == [(0, "program"), (1, "likelihood")]
    first, second = result.candidates
    # the first fit failed only the check that points at the likelihood ...
    assert (first.depth, first.block, first.failed) == (0, "program", ("pareto_k",))
    # ... so the loop asked for that block, with the failing program as the context ...
    assert proposer.requests[:2] == [("program", None), ("likelihood", first.program)]
    assert (second.depth, second.block, second.parent_hash, second.lineage) == (1, "likelihood", first.hash,
                                                                              first.lineage)
    assert "y ~ normal(mu, 2)" in second.program and second.reliable and not second.failed
    # ... and the rewrite predicts better, by more than twice the standard error of the difference
    # (for normal data the wrong scale's pointwise losses are chi-square: the ratio is about
    # sqrt(N / 2) = 3.2 whatever the scale)
    best, other = result.comparison
    assert best.name == second.hash == result.best.hash and other.name == first.hash
    assert other.d_loo > 2 * other.dse and second.elpd_loo > first.elpd_loo
    assert math.isfinite(second.elpd_loo_se)
    with RunStore(tmp_path / "run") as store:
        rewrite = next(p for p in store.proposals() if p.block == "likelihood")
        assert rewrite.parent_hash == first.hash and rewrite.structural_hash == second.hash
