"""A proposer that ranks its programs (the SPFN) sets the order of a run's first lineages."""

import search_helpers as h

from boxloop.data import make_task
from boxloop.propose.base import Accounting, Proposal
from boxloop.search.proposals import AHEAD, RANKED_FIRST, ProposalSource, request_seed
from boxloop.search.records import Request
from boxloop.search.store import RunStore


class RankedProposer:
    """Writes tiny(k) programs best first when asked for several; single draws are marked."""

    name = "ranked"
    ranks_programs = True

    def __init__(self):
        self.calls = []

    def propose(self, task, *, context=None, block="program", n=1, seed=0):
        self.calls.append(n)
        if n > 1:
            return [Proposal(h.tiny(scale=k + 1), True, block, Accounting(), (), self.name, score=-float(k))
                    for k in range(n)]
        return [Proposal(h.tiny(scale=99, marker="draw"), True, block, Accounting(), (), self.name)]


def _begin(store):
    store.begin_run("cfg", command="boxloop discover x", strategy="refine", proposer="ranked", seed=0,
                    data_hash="d", target="y", config={})


def test_first_lineages_follow_the_ranking(tmp_path):
    proposer = RankedProposer()
    with RunStore(tmp_path / "run") as store:
        _begin(store)
        source = ProposalSource(proposer, make_task(h.TINY_DATA, target="y"), store, "cfg", run_seed=0)
        texts = [source.get(Request(k)).text for k in range(RANKED_FIRST + 1)]
        redraw = source.get(Request(0, attempt=1)).text
    assert texts[:RANKED_FIRST] == [h.tiny(scale=k + 1) for k in range(RANKED_FIRST)]
    assert "draw" in texts[RANKED_FIRST] and "draw" in redraw  # past the list: ordinary draws
    assert proposer.calls == [RANKED_FIRST, 1, 1]  # the ranked list is asked for once


class BatchProposer:
    """Writes a program that names its seed; `propose_many` writes several in one call."""

    name = "batch"

    def __init__(self):
        self.batches = []

    def propose(self, task, *, context=None, block="program", n=1, seed=0):
        return [Proposal(h.tiny(marker=f"seed {seed}"), True, block, Accounting(), (), self.name)]

    def propose_many(self, task, seeds, n=1):
        self.batches.append(len(seeds))
        return [self.propose(task, seed=s) for s in seeds]


def test_root_programs_are_written_ahead_in_batches_with_their_own_seeds(tmp_path):
    task = make_task(h.TINY_DATA, target="y")
    with RunStore(tmp_path / "run") as store:
        _begin(store)
        seeds = [request_seed(3, Request(k)) for k in range(AHEAD + 4)]
        proposer = BatchProposer()
        source = ProposalSource(proposer, task, store, "cfg", run_seed=3)
        source.get(Request(3))  # stored before 0-2 are asked for: neither it nor 4-10 are written again
        texts = [source.get(Request(k)).text for k in range(AHEAD + 4)]
        rewrite = source.get(Request(0, depth=1, block="prior", context=texts[0], parent_hash="p")).text
    assert texts == [h.tiny(marker=f"seed {s}") for s in seeds]
    assert proposer.batches == [AHEAD, 3, AHEAD]
    assert rewrite == h.tiny(marker=f"seed {request_seed(3, Request(0, depth=1, block='prior'))}")
