"""hf:<path> with a randomly initialised tiny transformer and a BPE tokenizer trained on our Stan
programs, saved to a directory and loaded back the way a user's model would be. Left to itself
the model writes no model of the data, and no proposal of it is called valid unless a
statistician would accept it; steered by a script (its logits plus the script's, its KV cache
rolled back by the decoder), every proposal is valid and accepted; unconstrained, it writes almost
nothing valid."""

import numpy as np
import pytest
from decode_fixtures import (DATASETS, EOS, GuidedLM, acceptance_problems, guided_scripts,  # noqa: F401
                             tasks, train_tokenizer)

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from boxloop.errors import ProposerError  # noqa: E402
from boxloop.lang import check  # noqa: E402
from boxloop.propose import get_proposer  # noqa: E402
from boxloop.propose.decode import DecodeConfig  # noqa: E402
from boxloop.propose.hf import HFLanguageModel, HFProposer  # noqa: E402
from boxloop.propose.target import make_target  # noqa: E402

# Budgets sized for a model that knows nothing; a real model uses the defaults.
CONFIG = DecodeConfig(temperature=1.0, top_p=1.0, max_statement_tokens=24, max_tries=4,
                      max_tokens=160, max_total_tokens=500)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # A 64-wide model is dominated by thread hand-offs on a busy machine: 1 thread is ~25x faster.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    bpe = train_tokenizer()
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=bpe.get_vocab_size(), n_positions=1024, n_embd=64,
                                     n_layer=2, n_head=2, bos_token_id=0, eos_token_id=0)
    path = tmp_path_factory.mktemp("tiny-gpt2")
    transformers.GPT2LMHeadModel(config).save_pretrained(path)
    transformers.PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token=EOS).save_pretrained(path)
    return path


def sweep(proposer, tasks, n):
    return [p for name in DATASETS for p in proposer.propose(tasks[name], n=n, seed=0)]


def check_sweep(model_dir, tasks, n, n_free):
    constrained = sweep(HFProposer(f"hf:{model_dir}", CONFIG), tasks, n)
    targets = [tasks[name].target for name in DATASETS for _ in range(n)]
    for p, target in zip(constrained, targets):
        assert not p.valid or (check(p.text).valid and not acceptance_problems(p.text, target)), p.text
    assert sum(p.accounting.tokens_discarded for p in constrained) > 0
    assert all(p.accounting.tokens_generated >= p.accounting.tokens_discarded for p in constrained)
    free = sweep(HFProposer(f"hf:{model_dir}", CONFIG, constrained=False), tasks, n_free)
    assert np.mean([p.valid for p in free]) < 0.1
    return constrained


def test_tiny_transformer_proposals_are_never_called_valid_wrongly(model_dir, tasks):
    props = check_sweep(model_dir, tasks, n=5, n_free=3)
    assert {p.proposer for p in props} == {f"hf:{model_dir}"}


def test_tiny_transformer_guided_by_a_script_writes_programs_a_statistician_accepts(model_dir, tasks):
    # Each script first closes the model block before any likelihood, then misspells the
    # likelihood's distribution: two rollbacks through the transformer's KV cache per proposal.
    config = DecodeConfig(temperature=1.0, top_p=1.0, max_statement_tokens=96, max_tries=6,
                          max_tokens=640, max_total_tokens=2400)
    proposer = HFProposer(f"hf:{model_dir}", config)
    model = proposer.lm
    for name in DATASETS:
        task = tasks[name]
        prefix = make_target(task.data_block()).prefix
        proposer.lm = GuidedLM(model, proposer.tokenizer, guided_scripts(task, prefix))
        for p in proposer.propose(task, n=2, seed=0):
            assert p.valid and check(p.text, data=task.stan_json()).valid, p.diagnostics
            assert not acceptance_problems(p.text, task.target), p.text
            assert p.accounting.tokens_discarded > 0


@pytest.mark.slow
def test_tiny_transformer_sweep_50_per_dataset(model_dir, tasks):
    check_sweep(model_dir, tasks, n=50, n_free=50)


def test_kv_cache_crop_matches_a_fresh_run(model_dir):
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    lm = HFLanguageModel(model)
    ids = list(range(1, 40))
    state = lm.start(ids[:10])
    lm.logits(state)
    for t in ids[10:]:
        lm.append(state, t)
        lm.logits(state)
    lm.crop(state, 25)  # roll back 14 tokens, then take another branch
    lm.append(state, 7)
    lm.append(state, 8)
    fresh = lm.start([*ids[:25], 7, 8])
    np.testing.assert_allclose(lm.logits(state), lm.logits(fresh), atol=1e-4)


def test_get_proposer_builds_hf_with_settings(model_dir, tasks):
    proposer = get_proposer(f"hf:{model_dir}", temperature=0.5, max_tokens=120)
    assert proposer.config.temperature == 0.5 and proposer.config.max_tokens == 120
    with pytest.raises(ProposerError) as info:
        get_proposer(f"hf:{model_dir}", temprature=0.5)
    assert info.value.code == "propose.bad_spec"


def test_missing_model_directory_is_a_clear_error(tmp_path):
    with pytest.raises(ProposerError) as info:
        HFProposer(f"hf:{tmp_path / 'no-such-model'}")
    assert info.value.code == "propose.hf_missing" and "never downloads" in str(info.value)
