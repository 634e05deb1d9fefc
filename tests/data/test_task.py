"""Task: the Stan data block, the prompt summary and the Stan-JSON agree with the data."""

import json
import re

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shared_data import shared

from boxloop.data import DataDecl, Task, check_data_against, load_data, make_task
from boxloop.lang import check

BENCH = shared("benchmarks")
POSTERIORDB = sorted(shared("benchmarks", "posteriordb", "data").glob("*.json"))
DECLARATION = re.compile(r"(?:array\[(?P<array>[^\]]*)\] )?(?P<kind>int|real|vector|matrix)"
                         r"(?:<(?P<bounds>[^>]*)>)?(?:\[(?P<sizes>[^\]]*)\])? (?P<name>\w+);")


def bench(*parts):
    return shared("benchmarks", *parts)


def decls_of(task: Task) -> list[DataDecl]:
    """Read our own data block back into DataDecls, evaluating sizes and bounds from the data,
    and insisting that every size is declared before it is used."""
    body = task.data_block().splitlines()
    assert body[0] == "data {" and body[-1] == "}"
    declared, decls = {}, []

    def value(token):
        token = token.strip()
        if token.lstrip("-").isdigit():
            return int(token)
        assert token in declared, f"{token} used before it is declared"
        return int(task.dataset[token])

    for line in body[1:-1]:
        m = DECLARATION.fullmatch(line.strip())
        assert m, line
        sizes = lambda text: tuple(value(t) for t in text.split(",")) if text else ()
        bounds = dict(b.strip().split("=") for b in m["bounds"].split(",")) if m["bounds"] else {}
        decls.append(DataDecl(m["name"], m["kind"], array_sizes=sizes(m["array"]), sizes=sizes(m["sizes"]),
                              lower=value(bounds["lower"]) if "lower" in bounds else None,
                              upper=value(bounds["upper"]) if "upper" in bounds else None))
        declared[m["name"]] = True
    return decls


def test_eight_schools_data_block():
    block = make_task(bench("posteriordb", "data", "eight_schools.json")).data_block()
    lines = [line.strip() for line in block.splitlines()]
    assert {"int<lower=0> J;", "vector[J] y;", "vector<lower=0>[J] sigma;"} == set(lines[1:-1])
    assert lines.index("int<lower=0> J;") < lines.index("vector[J] y;")


@pytest.mark.parametrize("file, expected", [
    ("surgical_data.json", ["array[N] int<lower=0> r;", "array[N] int<lower=0> n;"]),
    ("kidiq.json", ["array[N] int<lower=0, upper=1> mom_hs;", "vector<lower=0>[N] mom_iq;"]),
    ("radon_mn.json", ["array[N] int<lower=1, upper=J> county_idx;", "vector[N] log_radon;"]),
    ("irt_2pl.json", ["array[I, J] int<lower=0, upper=1> y;"]),
    ("hudson_lynx_hare.json", ["matrix<lower=0>[N, N_y_init] y;", "array[N] int<lower=1> ts;"]),
])
def test_declarations_on_benchmarks(file, expected):
    block = make_task(bench("posteriordb", "data", file)).data_block()
    for line in expected:
        assert f"  {line}\n" in block


@pytest.mark.parametrize("path", POSTERIORDB, ids=lambda p: p.stem)
def test_data_block_and_stan_json_agree_with_the_data(path):
    task = make_task(path)
    assert check_data_against(decls_of(task), task.dataset) == []
    text = json.dumps(task.stan_json())
    assert load_data(json.loads(text)).data_hash == task.dataset.data_hash


def test_missing_sizes_are_added_to_the_data():
    task = make_task({"x": [0.5, 1.5, 2.5], "y": [1.0, 2.0, 3.0], "z": [1, 2]})
    assert int(task.dataset["N"]) == 3 and int(task.dataset["N_z"]) == 2
    assert task.dataset.added == ("N", "N_z")
    assert task.stan_json()["N"] == 3 and task.stan_json()["N_z"] == 2
    block = task.data_block()
    assert "vector<lower=0>[N] x;" in block and "array[N_z] int<lower=0> z;" in block
    assert check_data_against(decls_of(task), task.dataset) == []


def test_integer_arrays_asked_for_as_reals_keep_their_bounds_and_data():
    task = make_task({"y": [1.0, 2.0, 0.5, 3.0], "hs": [0, 1, 1, 0], "kids": [0, 2, 5, 1]}, target="y")
    block = task.data_block(as_real=frozenset({"hs", "kids", "N"}))
    assert "vector<lower=0, upper=1>[N] hs;" in block and "vector<lower=0>[N] kids;" in block
    assert "int<lower=0> N;" in block  # a scalar size stays an integer
    assert "array[N] int<lower=0, upper=1> hs;" in task.data_block()
    program = block + "\nparameters { real a; real b; real<lower=0> s; }\n" \
        "model { a ~ normal(0, 1); b ~ normal(0, 1); s ~ normal(0, 1); y ~ normal(a + b * hs + kids, s); }"
    assert check(program, data=task.stan_json()).valid


def test_csv_task_declares_its_row_count(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("dose,deaths,n\n-0.86,0,5\n-0.3,1,5\n-0.05,3,5\n0.73,5,5\n")
    task = make_task(path)
    assert task.target == "deaths"
    assert "array[N] int<lower=0> deaths;" in task.data_block() and "vector[N] dose;" in task.data_block()


def test_summary_has_one_line_per_variable_and_flags_the_target():
    task = make_task(bench("posteriordb", "data", "eight_schools.json"))
    lines = task.summary().splitlines()
    assert len(lines) == 3
    (y_line,) = [line for line in lines if line.startswith("y")]
    assert y_line.startswith("y (target): real [J=8]")
    assert "min -3" in y_line and "max 28" in y_line and "8 distinct" in y_line and "mean 8.75" in y_line
    assert sum("(target)" in line for line in lines) == 1
    assert any(line.startswith("J: size = 8") for line in lines)


def test_summary_shows_group_levels_and_explicit_target():
    frame = pd.DataFrame({"city": ["Oslo", "Rome", "Oslo", "Lima"], "temp": [3.5, 14.0, 2.0, 19.0]})
    task = make_task(frame, target="temp")
    line = next(t for t in task.summary().splitlines() if t.startswith("city"))
    assert line.startswith("city: categorical") and "1=Lima, 2=Oslo, 3=Rome" in line
    assert "array[N] int<lower=1, upper=K_city> city;  // 1 = Lima, 2 = Oslo, 3 = Rome" in task.data_block()


def test_description_comes_from_the_file_unless_given():
    path = bench("llb", "rain.json")
    assert "rain" in make_task(path).description
    assert make_task(path, description="daily rain").description == "daily rain"
    assert make_task({"y": [1.0, 2.0]}).description is None


# Random rectangular data: whatever boxloop infers, its own data block must accept the data.
_values = st.one_of(
    st.lists(st.integers(-3, 40), min_size=1, max_size=12),
    st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=1, max_size=12),
    st.lists(st.sampled_from([0, 1]), min_size=1, max_size=12),
    st.lists(st.floats(0, 1), min_size=1, max_size=12),
    st.integers(0, 20),
    st.lists(st.lists(st.integers(0, 5), min_size=3, max_size=3), min_size=1, max_size=4),
    st.lists(st.lists(st.floats(0.1, 9), min_size=2, max_size=2), min_size=2, max_size=5),
)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["y", "x", "k", "g_idx", "N", "J", "sigma", "t"]), _values, min_size=1))
def test_generated_data_block_always_accepts_its_data(raw):
    task = make_task(raw)
    assert check_data_against(decls_of(task), task.dataset) == []
    assert task.target in task.dataset


def test_a_tables_summary_gives_roles_original_names_levels_and_what_was_left_out():
    frame = pd.DataFrame({"Solar.R": [1.0, 2.5, 3.0, 4.5, 2.0, 1.0], "g": ["a", "b", "c", "a", "b", "c"],
                          "id": [1, 2, 3, 4, 5, 6], "yes": ["no", "yes", "no", "no", "yes", "yes"]})
    task = make_task(frame, target="Solar.R")
    summary = task.summary()
    assert "Solar_R (target): positive_real (column 'Solar.R', measurement)" in summary
    assert "levels 1=a, 2=b, 3=c" in summary and "1 = yes, 0 = no (reference)" in summary
    assert summary.splitlines()[-1] == "left out: id (holds row names: dropped)"


def test_stan_json_variables_get_column_records_too():
    task = make_task({"N": 4, "y": [1.5, 2.0, 0.5, 3.0], "g": [1, 2, 1, 2], "J": 2})
    roles = {c.name: (c.role, c.use) for c in task.columns}
    assert roles == {"N": ("size", "covariate"), "y": ("measurement", "target"), "g": ("group", "index"),
                     "J": ("size", "covariate")}
