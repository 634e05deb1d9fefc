"""Simulation: datasets have the declared shapes and kinds, degenerate ones are rejected, the
held-out splits hold what they say, and constants are inputs of one compiled kernel."""

import numpy as np
import pytest

from boxloop.spfn.corpus import DataSpec, make_structure
from boxloop.spfn.simulate import (TRAIN_MAX_ROWS, degenerate, design, held_out_family, read_split,
                                   simulate_structure, structures_for, write_split)


def test_degenerate_data_are_recognised():
    assert degenerate(np.zeros(20), "real") and degenerate(np.full(20, 3.0), "real")
    assert degenerate(np.r_[np.zeros(99), 1], "count") and degenerate(np.r_[1.0, np.inf], "real")
    assert degenerate(np.r_[0.0, 1e9], "real")
    assert not degenerate(np.arange(20.0), "real")


def test_design_has_the_specs_shapes():
    rng = np.random.default_rng(0)
    data = design(rng, DataSpec("binomial", covariates=3, groups=2, trials=True), 64)
    assert data["N"] == 64 and all(data[f"x{j}"].shape == (64,) for j in (1, 2, 3))
    for k in (1, 2):
        codes = data[f"g{k}"]
        assert codes.min() == 1 and codes.max() == data[f"J{k}"] and len(np.unique(codes)) == data[f"J{k}"]
    assert data["trials"].shape == (64,) and data["trials"].min() >= 1


@pytest.mark.parametrize("family", ["poisson", "normal"])
def test_simulated_datasets_are_usable_and_shaped(family):
    rng = np.random.default_rng(4)
    structure = make_structure(rng, family, DataSpec(family, covariates=1, groups=1))
    pairs = simulate_structure(structure, rng, rows=24, designs=2, draws=16)
    assert len(pairs) > 16  # most prior draws are fine data
    for pair in pairs:
        y = pair.data["y"]
        assert y.shape == (24,) and pair.data["x1"].shape == (24,)
        assert not degenerate(y, "count" if family == "poisson" else "real")
        if family == "poisson":
            assert y.dtype.kind == "i" and y.min() >= 0


def test_held_out_splits():
    rng = np.random.default_rng(1)
    assert all(held_out_family(s.spec) for s in structures_for("family", rng, 6))
    assert not any(held_out_family(s.spec) for s in structures_for("train", rng, 30))


def test_shards_round_trip(tmp_path):
    result = write_split(tmp_path, "range", structures=1, designs=1, draws=8, seed=3)
    pairs = list(read_split(tmp_path, "range"))
    assert result["pairs"] == len(pairs) > 0
    for data, record in pairs:
        assert data["y"].shape == (data["N"],) and data["N"] > TRAIN_MAX_ROWS
        assert record["text"].startswith("data {")
