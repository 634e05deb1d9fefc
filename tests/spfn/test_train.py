"""Training and checkpoints: a short run lowers the loss, a resumed run continues the step count,
and a missing or damaged checkpoint is an error that names the file and how to retrain."""

import numpy as np
import pytest

from boxloop.errors import ProposerError
from boxloop.spfn import checkpoint, examples
from boxloop.spfn.corpus import DataSpec, make_structure
from boxloop.spfn.model import ModelConfig
from boxloop.spfn.simulate import simulate_structure
from boxloop.spfn.train import TrainConfig, train

TINY = ModelConfig(width=32, heads=2, encoder_layers=1, decoder_layers=1, max_length=192)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    rng = np.random.default_rng(0)
    structure = make_structure(rng, "poisson", DataSpec("poisson", covariates=1, groups=0))
    pairs = simulate_structure(structure, rng, rows=24, designs=1, draws=16)
    path = tmp_path_factory.mktemp("spfn") / "train.npz"
    kept = examples.prepare(((p.data, {"text": structure.text, "family": "poisson"}) for p in pairs), path, 192)
    assert kept == len(pairs)
    return examples.load(path)


def test_example_forces_the_data_block(prepared):
    tokens, forced = prepared["tokens"][0], int(prepared["forced"][0])
    from boxloop.spfn.vocab import VOCAB
    text = VOCAB.decode(tokens[tokens >= 0])
    assert text.startswith("data {") and VOCAB.decode(tokens[1:forced]).rstrip().endswith("}")
    assert "y ~ poisson_log(" in VOCAB.decode(tokens[forced:][tokens[forced:] >= 0])


def test_training_lowers_the_loss_and_resumes(prepared, tmp_path):
    cfg = TrainConfig(steps=12, batch=4, learning_rate=3e-3, warmup=2, checkpoint_every=6, log_every=3, model=TINY)
    first = train(cfg, prepared, tmp_path)
    assert first["step"] == 12 and first["history"][-1][1] < first["history"][0][1]
    params, meta, _ = checkpoint.load(tmp_path / "checkpoint.npz")
    assert meta["step"] == 12 and meta["config"] == TINY
    longer = TrainConfig(**{**cfg.__dict__, "steps": 15})
    resumed = train(longer, prepared, tmp_path)
    steps = [s for s, _ in resumed["history"]]
    assert steps == [3, 6, 9, 12, 15]  # the history goes on from step 12, nothing is redone
    assert checkpoint.load(tmp_path / "checkpoint.npz")[1]["step"] == 15


def test_missing_and_corrupt_checkpoints_are_clear(tmp_path):
    missing = tmp_path / "none.npz"
    with pytest.raises(ProposerError) as err:
        checkpoint.load(missing)
    assert err.value.code == "spfn.checkpoint_missing" and str(missing) in str(err.value)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 this is not a checkpoint")
    with pytest.raises(ProposerError) as err:
        checkpoint.load(bad)
    assert err.value.code == "spfn.checkpoint_corrupt"
    assert str(bad) in str(err.value) and "boxloop spfn train" in str(err.value)
