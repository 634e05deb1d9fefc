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


def _skeleton(text):
    from boxloop.infer.lift import lift_constants

    return structural_hash(lift_constants(check(text).program).program)


def test_distinct_valid_programs_by_score_each_skeleton_before_its_variants():
    task = make_task(DATA / "surgical_data.json")
    proposals = SPFNProposer(fallback=False).propose(task, n=6, seed=1)
    assert 2 <= len(proposals) <= 6 and all(p.valid for p in proposals)  # a sure model repeats itself
    assert all(check(p.text, data=task.stan_json()).valid for p in proposals)
    assert len({structural_hash(check(p.text).program) for p in proposals}) == len(proposals)
    skeletons = [_skeleton(p.text) for p in proposals]
    leaders = len(set(skeletons))
    assert len(set(skeletons[:leaders])) == leaders < len(proposals)  # surgical: variants of prior constants
    for part in (proposals[:leaders], proposals[leaders:]):
        scores = [p.score for p in part]
        assert scores == sorted(scores, reverse=True) and all(s < 0 for s in scores)


@pytest.mark.parametrize("file,network", [("dugongs_data.json", 3), ("surgical_data.json", 1)])
def test_the_list_alternates_the_network_and_the_grammar(spfn, file, network):
    """A hedge for a search with a small budget: half the list is the network's best skeletons,
    between them the grammar's programs; surgical has one skeleton, so the grammar fills the rest."""
    proposals = spfn.propose(make_task(DATA / file), n=6, seed=1)
    kinds = [p.proposer for p in proposals]
    assert kinds == (["spfn", "grammar"] * network + ["grammar"] * 6)[:6]
    skeletons = [_skeleton(p.text) for p in proposals if p.proposer == "spfn"]
    assert len(set(skeletons)) == len(skeletons) == network
    assert len({structural_hash(check(p.text).program) for p in proposals}) == 6


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
    assert payload["proposers"][0] == "spfn" and payload["scores"][0] < 0  # log q(program | data)
    assert all((score is None) == (who == "grammar") for score, who in zip(payload["scores"], payload["proposers"]))
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


def test_integer_covariates_are_read_as_the_real_vectors_the_network_was_trained_on():
    """The data layer declares a binary or count covariate as an integer array, on which the
    network's `(x1 - mean(x1)) / sd(x1)` and `b1 * x1` do not type-check (Stan has no arithmetic
    on integer arrays): on data like posteriordb's kidiq it wrote no valid program in 12 tries."""
    rng = np.random.default_rng(0)
    hs, iq = rng.integers(0, 2, 120), rng.normal(100, 15, 120)
    score = np.clip(np.round(rng.normal(80 + 10 * hs + 0.6 * (iq - 100), 18)), 0, None).astype(int)
    task = make_task({"N": 120, "score": score.tolist(), "hs": hs.tolist(), "iq": iq.tolist()}, target="score")
    proposals = SPFNProposer(fallback=False).propose(task, n=4, seed=0)
    assert len(proposals) == 4
    for p in proposals:
        assert "vector<lower=0, upper=1>[N] hs;" in p.text and check(p.text, data=task.stan_json()).valid


def _declaration_names(text, taken=()):
    from boxloop.spfn.proposer import _DeclarationNames
    from boxloop.spfn.vocab import VOCAB

    names = _DeclarationNames(frozenset(taken))
    due = names.next_name([BOS, *VOCAB.encode(text)])
    return None if due is None else VOCAB.tokens[due]


def test_a_declaration_takes_the_next_canonical_name_of_its_block():
    """The network counts names badly past a few (it declared `td2` twice, or `p11` after `p9`),
    and the checker then throws the statement away; canonical form names a block's declarations
    in order, so only the next name is given weight."""
    data = "data {\n  int<lower=0> N;\n  vector[N] y;\n  vector[N] x1;\n}\n"
    tdata = data + "transformed data {\n  vector[N] td1 = (x1 - mean(x1)) / sd(x1);\n  vector[N] td2 = td1;\n"
    assert _declaration_names(tdata + "  vector[N] ") == "td3"
    params = tdata + "}\nparameters {\n  real p1;\n  vector<lower=0>[N] p2;\n  real<lower=0, upper=1> "
    assert _declaration_names(params) == "p3"
    assert _declaration_names(params + "p3;\n  array[N] vector[2] ") == "p4"
    assert _declaration_names(params + "p3;\n}\ntransformed parameters {\n  vector[N] ") == "tp1"
    model = params + "p3;\n}\nmodel {\n  "
    assert _declaration_names(model + "vector[N] ") == "m1"
    assert _declaration_names(model) is None and _declaration_names(model + "p1 ~ normal(") is None
    assert _declaration_names(params, taken={"p3"}) is None  # a data name holds it: canonical form picks another


def test_the_language_model_gives_other_names_no_weight_where_a_declaration_is_named():
    from boxloop.spfn.vocab import VOCAB

    cfg = ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=2, max_length=96)
    params = to_numpy(init(jax.random.PRNGKey(1), cfg))
    lm = SPFNLanguageModel(params, cfg, np.zeros((2, cfg.width), np.float32))
    state = lm.start([BOS, *VOCAB.encode("data {\n  vector[3] y;\n}\nparameters {\n  real p1;\n  real ")])
    logits = lm.logits(state)
    names = [VOCAB.word_ids[n] for n in ("p1", "p2", "p3", "tp1", "td1", "m1")]
    assert np.isfinite(logits[names[1]]) and np.isneginf(logits[[names[0], *names[2:]]]).all()
    assert np.isfinite(logits).sum() == VOCAB.size - len(lm._names.number) + 1


def test_a_stray_outcome_prior_is_dropped_and_the_program_scored_as_printed(spfn):
    """The network now and then writes `r ~ normal(0, 1);` among its priors and runs of spaces;
    the proposal is the printed program without it, scored by the network as printed."""
    from types import SimpleNamespace

    from boxloop.propose import Accounting, Proposal
    from boxloop.propose.lm import TokenizerAdapter
    from boxloop.propose.target import make_target
    from boxloop.spfn.features import encode_task
    from boxloop.spfn.model import encode
    from boxloop.spfn.proposer import _canonical
    from boxloop.spfn.vocab import VOCAB, role_names

    task = make_task(DATA / "surgical_data.json")
    names = role_names(task)
    features, slots = encode_task(task, names)
    memory = encode(spfn.params, features, slots, np.ones(len(slots), bool), spfn.cfg, xp=np)
    lm = SPFNLanguageModel(spfn.params, spfn.cfg, memory)
    tokenizer = TokenizerAdapter(VOCAB.ll_tokenizer(names), lambda t: VOCAB.encode(t, names), EOS, (BOS,))
    target = make_target(task.data_block(), "program", observed=task.target)
    text = target.prefix + "\nparameters {\n  real p1;\n}\nmodel {\n  p1 ~ normal(0, 2);\n" \
        "  r ~ normal(0, 1)    ;\n  r ~ binomial_logit(n, p1);\n}\n"
    decoded = SimpleNamespace(text=text, program=None, log_q=-99.0,
                              proposal=lambda block, who: Proposal(text, False, block, Accounting(), (), who))
    proposal, log_q, digest, skeleton = _canonical(decoded, "spfn", lm, tokenizer, target, task.stan_json())
    assert proposal.valid and "normal(0, 1)" not in proposal.text and "    ;" not in proposal.text
    assert check(proposal.text, data=task.stan_json()).valid and None not in (digest, skeleton)
    context, body = [BOS, *tokenizer.encode(target.prefix)], tokenizer.encode(proposal.text[len(target.prefix):])
    ids = [*context, *body, EOS]
    full = np.asarray(logits(spfn.params, np.array([ids[:-1]]), memory[None], np.ones((1, len(memory)), bool),
                             spfn.cfg))[0]
    want = log_softmax(full, axis=-1)[np.arange(len(context) - 1, len(ids) - 1), ids[len(context):]].sum()
    assert log_q == pytest.approx(want, abs=1e-3)
