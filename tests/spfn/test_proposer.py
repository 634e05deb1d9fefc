"""`--proposer spfn` with the shipped checkpoint: K distinct valid programs ranked by log q(M | D),
reported by `propose --json`; odd data still get valid proposals or a clear message."""

import json
from pathlib import Path

import jax
import numpy as np
import pytest
from scipy.special import log_softmax

from boxloop.cli import main
from boxloop.data import make_task
from boxloop.errors import ProposerError
from boxloop.lang import check, structural_hash
from boxloop.spfn.model import ModelConfig, init, logits, to_numpy
from boxloop.spfn.proposer import SPFNLanguageModel, SPFNProposer, shipped_checkpoint
from boxloop.spfn.vocab import BOS, EOS

DATA = Path(__file__).parents[1] / "propose" / "data"


@pytest.fixture(scope="module")
def spfn():
    return SPFNProposer()


def test_shipped_checkpoint_is_small_and_loads(spfn):
    assert shipped_checkpoint().stat().st_size < 20 * 2 ** 20
    assert spfn.meta["step"] > 0


def test_distinct_valid_programs_sorted_by_score(spfn):
    task = make_task(DATA / "surgical_data.json")
    proposals = spfn.propose(task, n=3, seed=1)
    assert 2 <= len(proposals) <= 3 and all(p.valid for p in proposals)  # a sure model repeats itself
    assert len({structural_hash(check(p.text).program) for p in proposals}) == len(proposals)
    scores = [p.score for p in proposals]
    assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)
    assert all(check(p.text, data=task.stan_json()).valid for p in proposals)


def test_same_seed_same_proposals(spfn):
    task = make_task(DATA / "surgical_data.json")
    a, b = spfn.propose(task, n=1, seed=3), spfn.propose(task, n=1, seed=3)
    assert [p.text for p in a] == [p.text for p in b]


def test_log_q_is_the_full_forward_after_crops_and_forced_tokens():
    """The score summed while decoding (tokens scored as their logits are computed, whether
    sampled, forced in a block or re-run after a crop) equals one full pass over the final text."""
    cfg = ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=2, max_length=64)
    params = to_numpy(init(jax.random.PRNGKey(1), cfg))
    memory = np.random.default_rng(0).normal(size=(2, cfg.width)).astype(np.float32)
    lm = SPFNLanguageModel(params, cfg, memory)
    rng = np.random.default_rng(4)
    state = lm.start([BOS, 7, 8, 9])
    # rollbacks of 2 or 3 tokens go back past the last token whose logits were computed
    for n_forced, rollback in ((3, 0), (1, 2), (0, 1), (0, 3), (2, 0), (1, 2), (4, 1)):
        for _ in range(n_forced):  # tokens appended with no logits asked for
            lm.append(state, int(rng.integers(10, cfg.vocab_size)))
        lm.logits(state)
        lm.append(state, int(rng.integers(10, cfg.vocab_size)))
        lm.crop(state, len(state.tokens) - rollback)
    ids = [*state.tokens, EOS]
    full = np.asarray(logits(params, np.array([ids[:-1]]), memory[None], np.ones((1, 2), bool), cfg))[0]
    want = log_softmax(full, axis=-1)[np.arange(3, len(ids) - 1), ids[4:]].sum()
    assert lm.sequence_log_q(state, 4) == pytest.approx(want, abs=1e-3)


def test_propose_many_is_one_call_per_seed(spfn):
    task = make_task(DATA / "surgical_data.json")
    together = spfn.propose_many(task, [5, 6, 7], n=2)
    alone = [spfn.propose(task, n=2, seed=s) for s in (5, 6, 7)]
    assert [[p.text for p in ps] for ps in together] == [[p.text for p in ps] for ps in alone]
    assert _scores(together) == pytest.approx(_scores(alone), abs=1e-3)


def _scores(lists):
    return [p.score for ps in lists for p in ps]


def test_propose_json_reports_scores(capsys):
    code = main(["propose", str(DATA / "surgical_data.json"), "--proposer", "spfn", "-n", "2", "--seed", "1", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and len(payload["programs"]) == 2 and all(payload["valid"])
    assert payload["scores"] == sorted(payload["scores"], reverse=True)
    assert payload["tokens"]["seconds"] > 0


def _odd_tasks():
    rng = np.random.default_rng(0)
    yield make_task({"y": rng.normal(size=30).tolist()}, target="y")  # one column
    yield make_task({"N": 3, "y": [1.0, 2.5, 0.5], "x": [1.0, 2.0, 3.0]}, target="y")  # three rows
    yield make_task({"N": 20, "y": (1e12 * (1 + rng.random(20))).tolist()}, target="y")  # values of 1e12
    yield make_task({"N": 20, "y": [4] * 20, "x": [1.0] * 20}, target="y")  # all ties


@pytest.mark.parametrize("k", range(4))
def test_odd_data_get_valid_programs_or_a_clear_message(spfn, k):
    task = list(_odd_tasks())[k]
    try:
        proposals = spfn.propose(task, n=1, seed=0)
    except ProposerError as err:
        assert err.code == "spfn.no_valid_program" and "--proposer grammar" in str(err)
    else:
        assert proposals[0].valid and check(proposals[0].text, data=task.stan_json()).valid


def test_too_many_columns_is_a_clear_message(spfn):
    rng = np.random.default_rng(0)
    data = {"N": 40, "y": rng.normal(size=40).tolist(), **{f"c{j}": rng.normal(size=40).tolist() for j in range(200)}}
    task = make_task(data, target="y")
    try:
        proposals = spfn.propose(task, n=1)
    except ProposerError as err:
        assert err.code == "propose.window" and "--proposer grammar" in str(err)
    else:
        assert proposals[0].valid


def test_grammar_tops_up_what_the_network_cannot_write():
    from boxloop.propose.decode import DecodeConfig

    task = make_task(DATA / "surgical_data.json")
    starved = DecodeConfig(temperature=1.0, top_p=0.98, max_tokens=8, max_total_tokens=40)  # never a whole program
    with pytest.raises(ProposerError) as err:
        SPFNProposer(config=starved, fallback=False).propose(task, n=2)
    assert err.value.code == "spfn.no_valid_program"
    proposals = SPFNProposer(config=starved).propose(task, n=2, seed=4)
    assert len(proposals) == 2 and all(p.valid and p.proposer == "grammar" and p.score is None for p in proposals)
    assert len({structural_hash(check(p.text).program) for p in proposals}) == 2


def test_a_program_may_end_with_the_close_token_the_network_learnt():
    """The corpus's programs end in one token "\\n}\\n". If the grammar refused the newline after
    the last `}`, that token would be masked at every program's end: the network would pay ~22
    nats for "\\n" + "}" and, sampling, could write on past the end of its program."""
    import llguidance
    import llguidance.numpy as llnp

    from boxloop.propose.decode import allowed_ids
    from boxloop.propose.target import make_target
    from boxloop.spfn.vocab import VOCAB, role_names

    task = make_task(DATA / "surgical_data.json")
    names = role_names(task)
    tokenizer = VOCAB.ll_tokenizer(names)
    target = make_target(task.data_block(), "program", observed=task.target)
    body = "parameters {\n  real p1;\n}\nmodel {\n  p1 ~ normal(0, 1);\n  r ~ binomial_logit(n, p1);"
    matcher = llguidance.LLMatcher(tokenizer, target.grammar, log_level=0)
    assert matcher.consume_tokens(VOCAB.encode(target.prefix, names) + VOCAB.encode(body, names))
    close = VOCAB.encode("\n}\n", names)
    assert len(close) == 1
    mask = llnp.allocate_token_bitmask(1, VOCAB.size)
    llnp.fill_next_token_bitmask(matcher, mask)
    assert close[0] in allowed_ids(mask[0], VOCAB.size)
    assert matcher.consume_token(close[0]) and matcher.is_accepting()
