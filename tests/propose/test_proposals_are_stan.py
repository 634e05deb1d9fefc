"""Every program the grammar proposer writes on the benchmark datasets, and every prior and
likelihood rewrite of one, is a program stanc (the real Stan compiler) accepts."""

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from boxloop.data import make_task
from boxloop.errors import ProposerError
from boxloop.propose.grammar import GrammarProposer

pytest.importorskip("httpstan", reason="stanc ships in httpstan (boxloop's test extra)")

SHARED = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
DATASETS = sorted((SHARED / "posteriordb" / "data").glob("*.json")) + sorted((SHARED / "llb").glob("*.json")) \
    + [SHARED / "llb" / "rain.csv"]
PER_DATASET, SEED = 2, 11

pytestmark = pytest.mark.skipif(not (SHARED / "posteriordb").is_dir(), reason="benchmark data not present")


def _rewrite(proposer, task, program: str, block: str) -> list[str]:
    try:
        return [proposer.propose(task, context=program, block=block, seed=SEED)[0].text]
    except ProposerError as exc:  # no family change fits some targets (a categorical one)
        assert exc.code == "propose.cannot_rewrite", exc
        return []


def _proposals():
    proposer = GrammarProposer()
    out = []
    for path in DATASETS:
        task = make_task(path)
        programs = [p.text for p in proposer.propose(task, n=PER_DATASET, seed=SEED)]
        rewrites = [t for block in ("prior", "likelihood") for t in _rewrite(proposer, task, programs[0], block)]
        out += [(path.name, text) for text in programs + rewrites]
    return out


def test_every_proposal_and_rewrite_on_the_benchmarks_is_accepted_by_stanc():
    from boxloop.lang.stanc import stanc_verdict

    proposals = _proposals()
    assert len(DATASETS) >= 30 and len(proposals) >= len(DATASETS) * (PER_DATASET + 1.5)
    with ThreadPoolExecutor(max_workers=2) as pool:
        verdicts = list(pool.map(lambda p: stanc_verdict(p[1]), proposals))
    rejected = [(name, text, v.message) for (name, text), v in zip(proposals, verdicts) if not v.ok]
    assert not rejected, "\n\n".join(f"{n}:\n{t}\n{m}" for n, t, m in rejected[:3])


def test_replicated_draws_name_only_stan_samplers():
    # binomial_logit has no _rng in Stan: its replicates must be drawn some other way, or not at all
    task = make_task(SHARED / "posteriordb" / "data" / "GLM_Binomial_data.json")
    texts = [p.text for p in GrammarProposer().propose(task, n=60, seed=3)]
    assert all("binomial_logit_rng" not in t for t in texts)
    assert any("_rng(" in t for t in texts)  # replicates are still drawn where Stan can
