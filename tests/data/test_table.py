"""Tables as people have them: each column role, each override, each bad input and the exact
note or error code it produces."""

import numpy as np
import pandas as pd
import pytest

from boxloop.data import Overrides, load_data, make_task
from boxloop.data.load import read_table
from boxloop.errors import DataError


def table(frame, **overrides):
    return read_table(frame, Overrides(**{k: tuple(v) for k, v in overrides.items()}))


def roles(frame, **overrides) -> dict:
    return {c.name: (c.role, c.use) for c in table(frame, **overrides).columns}


def notes(t) -> list[str]:
    return [n.code for n in t.notes]


def repeated_measures(n_subjects=6, days=5, first=308):
    rng = np.random.default_rng(1)
    subject = np.repeat(first + np.arange(n_subjects) * 3, days)
    day = np.tile(np.arange(days), n_subjects)
    return pd.DataFrame({"Reaction": 250 + 10 * day + rng.normal(0, 5, subject.size), "Days": day,
                         "Subject": subject})


# ---- roles --------------------------------------------------------------------------------------


def test_every_role_from_values_and_the_table():
    n = 40
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "y": rng.normal(size=n),                                   # measurement
        "deaths": rng.poisson(3, n),                               # count
        "share": rng.uniform(0.1, 0.9, n),                         # proportion
        "treated": rng.integers(0, 2, n),                          # binary (0/1)
        "colour": rng.choice(["red", "green", "blue"], n),         # factor (text)
        "site": np.repeat(np.arange(1, 9), 5),                     # group (named, repeats)
        "year": np.tile(np.arange(2000, 2005), 8),                 # time (named, counts up)
        "person_years": rng.uniform(10, 100, n),                   # exposure (named, positive, beside a count)
        "constant": np.ones(n, dtype=int),                         # constant
    })
    got = roles(frame)
    assert got == {"y": ("measurement", "covariate"), "deaths": ("count", "covariate"),
                   "share": ("proportion", "covariate"), "treated": ("binary", "covariate"),
                   "colour": ("factor", "index"), "site": ("group", "index"), "year": ("time", "covariate"),
                   "person_years": ("exposure", "offset"), "constant": ("constant", "dropped")}


def test_trials_become_a_size_when_their_count_is_the_target():
    frame = pd.DataFrame({"n": [10, 12, 9, 20, 15, 11], "r": [3, 5, 2, 9, 6, 4], "x": [0.1, 0.5, 0.2, 0.9, 0.7, 0.3]})
    task = make_task(frame)
    assert task.target == "r" and "trials in 'n'" in task.target_reason
    assert (task.column("n").role, task.column("n").use) == ("size", "trials")
    assert task.variable("r").at_most == ("n",)


def test_integer_codes_that_label_groups_are_offered_as_groups_and_numbered():
    t = table(repeated_measures())
    subject = t.column("Subject")
    assert (subject.role, subject.use, subject.levels[:2]) == ("group", "index", ("308", "311"))
    assert t.values["Subject"].tolist()[:6] == [1, 1, 1, 1, 1, 2]
    assert "data.recoded" in notes(t) and t.column("Days").role == "time"
    # not named like a group: contiguous blocks of rows still say "group"
    blocks = pd.DataFrame({"y": np.arange(12.0), "code": np.repeat([7, 3, 9], 4)})
    assert table(blocks).column("code").role == "group"


def test_zero_based_codes_are_shifted_and_said_so():
    frame = pd.DataFrame({"y": np.arange(12.0), "group": np.repeat([0, 1, 2], 4)})
    t = table(frame)
    assert t.values["group"].tolist() == [1] * 4 + [2] * 4 + [3] * 4
    (note,) = [n for n in t.notes if n.code == "data.zero_based"]
    assert note.message == "'group' codes 0..2 are shifted to 1..3: Stan indexes from 1"


def test_two_levels_make_an_indicator_with_the_reference_level_stated():
    frame = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "smoker": ["yes", "no", "no", "yes"]})
    task = make_task(frame)
    smoker = task.column("smoker")
    assert (smoker.role, smoker.reference, smoker.levels) == ("binary", "no", ("no", "yes"))
    assert task.dataset["smoker"].tolist() == [1, 0, 0, 1]
    assert "smoker;  // 1 = yes, 0 = no (reference)" in task.data_block()


def test_ordered_levels_from_the_frame_or_from_their_names():
    frame = pd.DataFrame({"y": np.arange(8.0),
                          "dose": pd.Categorical(["hi", "lo", "mid", "lo"] * 2, categories=["lo", "mid", "hi"],
                                                 ordered=True),
                          "age": ["25-34", "75+", "35-44", "<25"] * 2, "tension": ["H", "L", "M", "L"] * 2,
                          "colour": ["red", "green", "blue", "red"] * 2})
    t = table(frame)
    assert t.column("dose").levels == ("lo", "mid", "hi") and t.column("dose").ordered
    assert t.column("age").levels == ("<25", "25-34", "35-44", "75+") and t.column("age").ordered
    assert t.column("tension").levels == ("L", "M", "H") and t.column("tension").ordered
    assert t.column("colour").levels == ("blue", "green", "red") and not t.column("colour").ordered


def test_dates_become_a_time_index():
    frame = pd.DataFrame({"y": [1.0, 2.0, 4.0], "when": ["2020-01-01", "2020-01-02", "2020-01-05"]})
    t = table(frame)
    assert (t.column("when").role, t.values["when"].tolist()) == ("time", [1, 2, 5])
    assert "data.date_as_time" in notes(t)


def test_row_names_from_pandas_and_r_are_dropped_and_said_so(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"rownames": [1, 2, 3, 4], "y": [0.5, 1.5, 2.5, 0.1]}).to_csv(path)  # index written too
    data = load_data(path)
    assert set(data.names) == {"N", "y"}
    dropped = [n for n in data.notes if n.code == "data.row_names"]
    assert [n.column for n in dropped] == ["Unnamed: 0", "rownames"]


def test_names_become_legal_stan_identifiers_and_the_mapping_is_kept():
    frame = pd.DataFrame({"Solar.R": [1.0, 2.0, 3.5], "model": [1, 2, 3], "lower": [0.1, 0.2, 0.4],
                          "2019": [1.5, 2.5, 3.0]})
    t = table(frame)
    assert [c.stan_name for c in t.columns] == ["Solar_R", "model_", "lower_", "v_2019"]
    assert {n.column for n in t.notes if n.code == "data.renamed"} == {"Solar.R", "model", "lower", "2019"}


def test_names_that_collide_after_sanitising_get_distinct_identifiers():
    frame = pd.DataFrame({"Solar.R": [1.0, 2.0, 3.5], "Solar_R": [1.5, 2.5, 3.0], "Solar R": [4.0, 5.0, 6.5]})
    t = table(frame)
    assert [c.stan_name for c in t.columns] == ["Solar_R_2", "Solar_R", "Solar_R_3"]
    renamed = [n.message for n in t.notes if n.code == "data.renamed"]
    assert renamed == ["'Solar.R' is called Solar_R_2 in Stan programs (the data keep both names)",
                       "'Solar R' is called Solar_R_3 in Stan programs (the data keep both names)"]


def test_overrides_set_roles_by_hand():
    frame = repeated_measures()
    got = roles(frame, numeric=["Subject"], factor=["Days"], drop=["Reaction"])
    assert got == {"Reaction": ("measurement", "dropped"), "Days": ("factor", "index"),
                   "Subject": ("measurement", "covariate")}
    assert table(frame, group=["Days"]).column("Days").role == "group"
    assert table(frame, time=["Subject"]).column("Subject").role == "time"


# ---- missing values -----------------------------------------------------------------------------


def test_rows_missing_the_target_or_a_covariate_are_left_out_with_counts_per_column():
    frame = pd.DataFrame({"y": [1.0, None, 3.0, 4.0, 5.0], "x": [1.0, 2.0, None, None, 5.0],
                          "g": ["a", "b", "a", "b", None]})
    task = make_task(frame, target="y")
    assert int(task.dataset["N"]) == 1
    (note,) = [n for n in task.notes if n.code == "data.rows_dropped"]
    assert note.message.startswith("4 of 5 rows left out for missing cells (y 1, x 2, g 1)")
    kept = make_task(frame, target="y", overrides=Overrides(drop=("x", "g")))
    assert int(kept.dataset["N"]) == 4


def test_missing_markers_in_a_csv(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("y,x\n1.5,NA\n2.5,.\n3.5,null\n4.5,NaN\n5.5,\n6.5,2\n7.5,3\n")
    t = read_table(path, Overrides())
    assert t.column("x").missing == 5 and t.column("x").dtype == "int"


# ---- bad input: the exact error or note ---------------------------------------------------------


def test_all_cells_missing_is_an_error():
    with pytest.raises(DataError) as err:
        table(pd.DataFrame({"a": [None, None], "b": [np.nan, np.nan]}))
    assert err.value.code == "data.all_missing"


def test_a_column_with_no_values_is_dropped_with_a_note():
    t = table(pd.DataFrame({"y": [1.0, 2.0, 3.0], "empty": [None, None, None]}))
    assert (t.column("empty").use, notes(t)) == ("dropped", ["data.all_missing"])


def test_a_factor_with_one_level_is_dropped_with_a_note():
    t = table(pd.DataFrame({"y": [1.0, 2.0, 3.0], "lab": ["A", "A", "A"]}))
    (note,) = t.notes
    assert (note.code, t.column("lab").role) == ("data.single_level", "constant")
    assert note.message == "'lab' has a single level ('A'): dropped, it cannot explain anything"


def test_a_factor_with_as_many_levels_as_rows_is_an_id():
    t = table(pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "name": ["ann", "bob", "cy", "di"]}))
    assert (t.column("name").role, t.column("name").use, notes(t)) == ("id", "dropped", ["data.id_column"])


def test_mixed_numbers_and_text_in_one_column():
    few = table(pd.DataFrame({"y": np.arange(12.0), "dose": ["1", "2", "?"] + ["3"] * 9}))
    assert few.column("dose").role == "count" and few.column("dose").missing == 1
    assert notes(few) == ["data.text_in_numbers"]
    many = table(pd.DataFrame({"y": np.arange(12.0), "dose": ["1", "2", "none", "low", "3", "high"] * 2}))
    assert many.column("dose").role == "factor" and notes(many) == ["data.mixed_as_factor"]
    forced = table(pd.DataFrame({"y": np.arange(12.0), "dose": ["1", "2", "none", "low", "3", "high"] * 2}),
                   numeric=["dose"])
    assert forced.column("dose").missing == 6 and notes(forced) == ["data.text_in_numbers"]


def test_an_override_naming_no_column_is_an_error_that_lists_the_columns():
    with pytest.raises(DataError) as err:
        table(repeated_measures(), group=["Subjekt"])
    assert err.value.code == "data.unknown_column" and "did you mean 'Subject'" in str(err.value)


def test_contradicting_overrides_are_an_error():
    with pytest.raises(DataError) as err:
        table(repeated_measures(), group=["Days"], numeric=["Days"])
    assert err.value.code == "data.conflicting_overrides"


def test_a_table_over_the_row_limit_is_refused_before_it_is_read_whole(tmp_path):
    path = tmp_path / "big.csv"
    path.write_text("y,x\n" + "".join(f"{i},{i % 7}\n" for i in range(1001)))
    with pytest.raises(DataError) as err:
        read_table(path, Overrides(), max_elements=1000)
    assert err.value.code == "data.too_large" and "--max-elements" in str(err.value)
    assert read_table(path, Overrides(), max_elements=1001).n_rows == 1001


def test_infinite_values_are_an_error_naming_the_rows():
    with pytest.raises(DataError) as err:
        table(pd.DataFrame({"y": [1.0, np.inf, 2.0]}))
    assert err.value.code == "data.nonfinite" and "rows 2" in str(err.value)


def test_target_choice_never_picks_an_id_index_size_or_time_column():
    task = make_task(repeated_measures())
    assert task.target == "Reaction"
    assert task.alternatives == ()
    with pytest.raises(DataError) as err:
        make_task(pd.DataFrame({"g": ["a", "b"] * 3, "t": [1, 2, 3, 4, 5, 6]}).assign(g=lambda f: f.g),
                  overrides=Overrides(drop=("g",)))
    assert err.value.code == "data.no_target"


def test_a_dropped_target_is_an_error_saying_why():
    with pytest.raises(DataError) as err:
        make_task(pd.DataFrame({"y": [1.0, 2.0, 3.0], "lab": ["A", "A", "A"]}), target="lab")
    assert err.value.code == "data.target_dropped" and "single level" in str(err.value)
