"""`register` plugs `discover` into the main parser with the DESIGN §8 options."""

import argparse

from boxloop.cli_discover import register, run_discover


def test_register_adds_discover():
    parser = argparse.ArgumentParser(prog="boxloop")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["discover", "data.json", "--target", "y", "--describe", "schools", "--proposer",
                              "grammar", "--strategy", "average", "--budget", "7", "--seed", "3", "--out", "d",
                              "--executor", "ray:auto", "--json"])
    assert args.run is run_discover
    assert (args.data, args.target, args.describe, args.strategy, args.budget, args.seed, args.out, args.executor,
            args.json) == ("data.json", "y", "schools", "average", 7, 3, "d", "ray:auto", True)
    assert (args.chains, args.warmup, args.draws, args.alpha, args.beta, args.zeta) == (4, 1000, 1000, 2, 4, 5)


def test_the_screen_options_reach_the_search_config():
    import pytest

    from boxloop.search.config import SearchConfig, SearchError

    parser = argparse.ArgumentParser(prog="boxloop")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["discover", "data.json"])
    assert (args.screen, args.screen_after, args.screen_method) == ("auto", 16, "pathfinder")
    args = parser.parse_args(["discover", "data.json", "--screen", "on", "--screen-method", "nuts"])
    assert (args.screen, args.screen_method) == ("on", "nuts")
    with pytest.raises(SearchError, match="screen_method must be pathfinder or nuts"):
        SearchConfig(screen_method="laplace")
