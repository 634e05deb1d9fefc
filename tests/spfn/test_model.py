"""The network: the encoder does not care how rows or variables are ordered (except through its
declared order statistics), and the incremental decoder computes what the training one does."""

import jax
import numpy as np
import pytest

from boxloop.data import make_task
from boxloop.spfn.features import ORDER_FEATURES, encode_task
from boxloop.spfn.model import Decoder, ModelConfig, encode, init, logits, pooled, to_numpy
from boxloop.spfn.vocab import role_names

CFG = ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=2, max_length=64)


@pytest.fixture(scope="module")
def params():
    return to_numpy(init(jax.random.PRNGKey(0), CFG))


def _task(order):
    rng = np.random.default_rng(5)
    n = 30
    data = {"N": n, "J1": 5, "y": rng.poisson(3, n), "x1": rng.normal(size=n), "x2": rng.uniform(size=n),
            "g1": np.arange(n) % 5 + 1}
    data = {k: (v[order].tolist() if isinstance(v, np.ndarray) else v) for k, v in data.items()}
    return make_task(data, target="y")


def test_row_order_changes_only_the_order_statistics(params):
    base = encode_task(_task(np.arange(30)))[0]
    shuffled = encode_task(_task(np.random.default_rng(0).permutation(30)))[0]
    keep = np.setdiff1d(np.arange(base.shape[1]), ORDER_FEATURES)
    np.testing.assert_allclose(base[:, keep], shuffled[:, keep], rtol=1e-5, atol=1e-6)
    assert not np.allclose(base[:, list(ORDER_FEATURES)], shuffled[:, list(ORDER_FEATURES)])


def test_encoder_is_equivariant_over_variables(params):
    task = _task(np.arange(30))
    features, slots = encode_task(task, role_names(task))
    mask = np.ones(len(slots), bool)
    memory = encode(params, features, slots, mask, CFG, xp=np)
    perm = np.random.default_rng(1).permutation(len(slots))
    permuted = encode(params, features[perm], slots[perm], mask, CFG, xp=np)
    np.testing.assert_allclose(permuted, memory[perm], atol=1e-5)
    np.testing.assert_allclose(pooled(permuted, mask, np), pooled(memory, mask, np), atol=1e-5)


def test_incremental_decoding_matches_the_training_forward(params):
    rng = np.random.default_rng(2)
    features = rng.normal(size=(1, 4, CFG.features)).astype(np.float32)
    slots, mask = np.array([[1, 2, 3, 0]]), np.array([[True, True, True, False]])
    memory = encode(params, features, slots, mask, CFG, xp=np)
    tokens = rng.integers(0, CFG.vocab_size, (1, 20))
    full = np.asarray(logits(params, tokens, memory, mask, CFG))[0]
    dec = Decoder(params, memory[0][mask[0]], CFG)
    cache = dec.new_cache()
    block = dec.extend(cache, tokens[0][:12], 0)  # forced tokens: one pass
    steps = [dec.extend(cache, [int(t)], 12 + i)[0] for i, t in enumerate(tokens[0][12:])]
    np.testing.assert_allclose(np.concatenate([block, np.stack(steps)]), full, atol=1e-4)
    # a crop is a length reset: re-extending from position 15 gives the same logits again
    again = dec.extend(cache, tokens[0][15:], 15)
    np.testing.assert_allclose(again, full[15:], atol=1e-4)


def test_batched_step_matches_the_training_forward(params):
    """Several sequences of different lengths, one token each in one step: each row is what the
    training forward gives at that sequence's position."""
    rng = np.random.default_rng(3)
    memory = rng.normal(size=(3, CFG.width)).astype(np.float32)
    dec = Decoder(params, memory, CFG)
    lengths = [5, 17, 9]
    seqs = [rng.integers(0, CFG.vocab_size, n + 1) for n in lengths]
    caches = [dec.new_cache() for _ in seqs]
    for cache, seq, n in zip(caches, seqs, lengths):
        dec.extend(cache, seq[:n], 0)
    rows = dec.step(caches, [seq[n] for seq, n in zip(seqs, lengths)], lengths)
    for row, seq, n in zip(rows, seqs, lengths):
        full = np.asarray(logits(params, seq[None, :n + 1], memory[None], np.ones((1, 3), bool), CFG))[0]
        np.testing.assert_allclose(row, full[n], atol=1e-4)
    assert rows.dtype == np.float32


def test_extreme_values_give_finite_features():
    n = 3
    task = make_task({"N": n, "y": [1e12, 2e12, 1e12], "x1": [5.0, 5.0, 5.0]}, target="y")
    features, _ = encode_task(task)
    assert np.all(np.isfinite(features))


def test_the_in_place_numpy_gelu_is_the_training_one_and_leaves_its_input():
    from boxloop.spfn.model import _gelu

    x = np.random.default_rng(7).normal(0, 3, size=(2, 64)).astype(np.float32)
    before = x.copy()
    out = _gelu(x, np)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(out, np.asarray(_gelu(jax.numpy.asarray(x), jax.numpy)), atol=1e-6)
    assert out.dtype == np.float32
