"""A proposer that ranks its programs (the SPFN) sets the order of a run's first lineages."""

import search_helpers as h

from boxloop.data import make_task
from boxloop.propose.base import Accounting, Proposal
from boxloop.search.proposals import RANKED_FIRST, ProposalSource
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
