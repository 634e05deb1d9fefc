"""The program vocabulary: canonical text round-trips, real tasks' names map onto role slots, and
the decoder's tokenizer spells the task's own names."""

import numpy as np

from boxloop.data import make_task
from boxloop.spfn.corpus import FAMILIES, make_structure
from boxloop.spfn.vocab import VOCAB, role_names


def test_corpus_text_round_trips_through_the_vocabulary():
    rng = np.random.default_rng(2)
    for family in FAMILIES:
        text = make_structure(rng, family).text
        ids = VOCAB.encode(text)
        assert VOCAB.decode(ids) == text
        assert len(ids) < len(text) / 2.2  # grammar-level tokens, not characters


def test_role_names_of_a_real_task():
    rng = np.random.default_rng(0)
    n = 40
    task = make_task({"n_obs": n, "n_school": 6, "score": rng.normal(size=n).tolist(),
                      "hours": rng.normal(size=n).tolist(), "age": rng.normal(size=n).tolist(),
                      "school": (np.arange(n) % 6 + 1).tolist()}, target="score")
    names = role_names(task)
    assert names["score"] == "y" and names["n_obs"] == "N"
    assert {names["hours"], names["age"]} == {"x1", "x2"}
    assert names["school"] == "g1" and names["n_school"] == "J1"


def test_task_tokenizer_spells_the_tasks_names():
    names = {"n_obs": "N", "count": "y", "age": "x1", "x1": "x2"}
    text = "vector[n_obs] age;\n  count ~ poisson_log(x1 * age);"
    ids = VOCAB.encode(text, names)
    assert VOCAB.slot_ids["x2"] in ids and VOCAB.slot_ids["x1"] in ids
    ll = VOCAB.ll_tokenizer(names)
    assert ll.decode_bytes(ids).decode() == text
    # an unused slot can never be written: its bytes are a control character
    assert ll.decode_bytes([VOCAB.slot_ids["g1"]]) == b"\x01"
