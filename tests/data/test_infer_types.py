"""Variable kinds, size links and the default target, on real benchmark data and small cases."""


import numpy as np
import pandas as pd
import pytest
from shared_data import shared

from boxloop.data import load_data, make_task
from boxloop.data.infer_types import choose_target, infer_variables
from boxloop.errors import DataError

BENCH = shared("benchmarks")


def bench(*parts):
    return shared("benchmarks", *parts)


def kinds(source):
    return {v.name: v for v in infer_variables(load_data(source))}


def test_eight_schools():
    v = kinds(bench("posteriordb", "data", "eight_schools.json"))
    assert v["y"].kind == "real"  # whole numbers, but negative: treatment effects, not counts
    assert v["sigma"].kind == "positive_real"  # whole numbers, but a standard error
    assert v["J"].kind == "size" and set(v["J"].size_of) == {"y", "sigma"}
    assert v["y"].dims == ("J",) and v["y"].shape == (8,)


def test_surgical_counts_and_binomial_pairing():
    task = make_task(bench("posteriordb", "data", "surgical_data.json"))
    v = {x.name: x for x in task.variables}
    assert v["r"].kind == "count" and v["n"].kind == "count"
    assert v["r"].at_most == ("n",) and v["n"].at_most == ()
    assert task.target == "r"


def test_glm_binomial_and_seeds_pick_the_successes_as_target():
    assert kinds(bench("posteriordb", "data", "GLM_Binomial_data.json"))["C"].kind == "count"
    assert make_task(bench("posteriordb", "data", "GLM_Binomial_data.json")).target == "C"
    # seeds: n successes of N trials; x1, x2 are binary covariates
    assert make_task(bench("posteriordb", "data", "seeds_data.json")).target == "n"


def test_kidiq():
    v = kinds(bench("posteriordb", "data", "kidiq.json"))
    assert v["mom_hs"].kind == "binary"
    assert v["mom_iq"].kind == "positive_real"
    assert v["kid_score"].kind == "count"
    assert make_task(bench("posteriordb", "data", "kidiq.json")).target == "kid_score"


@pytest.mark.parametrize("name", ["rain.json", "rain.csv"])
def test_rain_is_a_binary_series(name):
    task = make_task(bench("llb", name))
    v = {x.name: x for x in task.variables}
    assert v["rain"].kind == "binary" and task.target == "rain"
    if "day" in v:
        assert v["day"].kind == "time_index"


def test_group_indices_link_to_their_number_of_levels():
    v = kinds(bench("posteriordb", "data", "radon_mn.json"))
    assert v["county_idx"].kind == "categorical"
    assert (v["county_idx"].levels, v["county_idx"].levels_var) == (85, "J")
    assert v["J"].kind == "size" and v["J"].levels_of == ("county_idx",)
    assert v["floor_measure"].kind == "binary"
    # GLMM: site index of missing cells covers only some of the 235 sites, still a group index
    v = kinds(bench("posteriordb", "data", "GLMM_data.json"))
    assert (v["missite"].kind, v["missite"].levels_var) == ("categorical", "nsite")
    assert (v["obsyear"].kind, v["obsyear"].levels_var, v["obsyear"].dims) == ("categorical", "nyear", ("nobs",))
    assert v["obs"].kind == "count"


def test_proportion_and_grid_dimensions():
    assert kinds(bench("posteriordb", "data", "state_wide_presidential_votes.json"))["y"].kind == "proportion"
    # n1 = n2 = 30: the two axes of the grid get the two different size variables
    assert kinds(bench("posteriordb", "data", "synthetic_grid_RBF_kernels.json"))["y"].dims == ("n1", "n2")


def test_size_names_follow_the_array_they_measure_and_test_data_is_not_the_target():
    task = make_task(bench("llb", "city_temperature.json"))
    v = {x.name: x for x in task.variables}
    assert v["day1_temp_test"].dims == ("num_cities", "num_days_test")
    assert v["day1_temp_train"].dims == ("num_cities", "num_days_train")
    assert task.target == "day2_temp_train"


def test_kinds_from_values():
    v = kinds({"N": 4, "b": [0, 1, 1, 0], "c": [0, 3, 7, 2], "neg": [-1, 2, 0, 5],
               "p": [0.1, 0.5, 0.9, 1.0], "pos": [0.1, 2.0, 3.5, 9.0], "whole": [1.0, 2.0, 3.0, 4.0],
               "t": [1, 2, 3, 4], "flag": 1, "scale": 2.5, "shift": -1.5})
    expected = {"N": "size", "b": "binary", "c": "count", "neg": "real", "p": "proportion",
                "pos": "positive_real", "whole": "positive_real", "t": "time_index",
                "flag": "binary", "scale": "positive_real", "shift": "real"}
    assert {name: info.kind for name, info in v.items()} == expected
    assert v["whole"].stats.integer_valued and v["whole"].dtype == "real"


def test_group_index_needs_repeats_or_a_telling_name():
    # values 1..3 over 3 rows with K = 3: a count, not groups (no repeats, no group-like name)
    assert kinds({"N": 3, "K": 3, "y": [1, 2, 3], "v": [3, 1, 2]})["v"].kind == "count"
    groups = kinds({"N": 6, "K": 3, "v": [3, 1, 2, 1, 2, 3]})["v"]
    assert (groups.kind, groups.levels_var) == ("categorical", "K")
    # a table: N = 6 rows is not the number of schools
    named = kinds(pd.DataFrame({"school": [1, 2, 2, 1, 3, 3], "y": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]}))["school"]
    assert (named.kind, named.levels, named.levels_var) == ("categorical", 3, "K_school")


def test_stats_summarise_all_values():
    info = kinds({"y": [[1.0, 2.0], [3.0, 4.0]]})["y"]
    assert info.stats.minimum == 1.0 and info.stats.maximum == 4.0
    assert info.stats.mean == pytest.approx(2.5) and info.stats.sd == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert info.stats.n_distinct == 4 and info.stats.quantiles[2] == pytest.approx(2.5)


def test_default_target_rules():
    assert make_task({"N": 3, "x": [1.0, 2.0, 3.0], "y_obs": [0.3, 0.1, 0.2]}).target == "y_obs"
    assert make_task({"N": 3, "height": [1.0, 2.0, 3.0], "weight": [3.0, 1.0, 2.0]}).target == "weight"
    assert make_task({"N": 3, "w": [1.0, 2.0, 3.0], "x": [3.0, 1.0, 2.0]}).target == "w"


def test_an_attribute_of_the_groups_is_not_the_target():
    """posteriordb's radon_mn lists each house's log radon, then its county's log uranium: one
    value per county. The last array is the group attribute, so the house measurement is chosen."""
    county = [1, 1, 1, 2, 2, 3, 3, 3, 4, 4]
    uranium = {1: -0.3, 2: 0.1, 3: 0.4, 4: -0.1}
    data = {"N": 10, "J": 4, "county": county, "log_radon": [0.5, 1.1, 0.2, 1.9, 1.4, 0.8, 0.9, 2.2, 0.1, 0.6],
            "log_uppm": [uranium[c] for c in county]}
    assert make_task(data).target == "log_radon"
    assert make_task(bench("posteriordb", "data", "radon_mn.json")).target == "log_radon"
    # one row per level: every column is constant within its level, so the rule says nothing
    single = {"N": 4, "J": 4, "unit": [1, 2, 3, 4], "a": [0.5, 1.1, 0.2, 1.9], "b": [0.3, 0.1, 0.4, 0.2]}
    assert make_task(single).target == "b"


def test_explicit_target_is_used_and_checked():
    data = load_data({"N": 2, "height": [1.5, 1.7], "weight": [60.0, 72.5]})
    variables = infer_variables(data)
    assert choose_target(variables, "height") == "height"
    with pytest.raises(DataError) as err:
        choose_target(variables, "wieght")
    message = str(err.value)
    assert err.value.code == "data.unknown_target"
    assert "'weight'" in message and "N, height, weight" in message
