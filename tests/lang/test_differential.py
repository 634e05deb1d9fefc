"""Random small programs (calls from stanc's signature table, operators over type pairs,
assignments, declarations, conditions, indexing) on which boxloop and stanc must agree. Seeded and
short here; `python benchmarks/differential.py --n N` runs a wider sweep by hand."""

import pytest

from boxloop.lang import differential

pytest.importorskip("httpstan", reason="stanc ships in httpstan (boxloop's test extra)")

N_CASES, SEED = 150, 20240612


def test_boxloop_and_stanc_agree_on_random_programs():
    batch = differential.cases(N_CASES, SEED)
    assert len({c.kind for c in batch}) >= 8  # every kind of statement was drawn
    found = differential.disagreements(batch)
    shown = "\n".join(f"{d.case.kind} {d.case.subject}: boxloop {d.boxloop}, stanc {d.stanc}: {d.message}\n"
                      f"{d.case.program}" for d in found[:5])
    assert not found, f"{len(found)} of {N_CASES} programs judged differently:\n{shown}"


def test_the_generator_is_reproducible_and_reaches_both_verdicts():
    first, second = differential.cases(40, 7), differential.cases(40, 7)
    assert first == second and first != differential.cases(40, 8)
    from boxloop.lang import check

    verdicts = {check(c.program).valid for c in first}
    assert verdicts == {True, False}  # the batch tests acceptance and rejection, not one of them
