"""load_data: every supported source gives the same arrays; every unusable input a specific error."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from shared_data import shared

from boxloop.data import Dataset, load_data
from boxloop.errors import DataError

BENCH = shared("benchmarks")
POSTERIORDB = sorted(shared("benchmarks", "posteriordb", "data").glob("*.json"))


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("path", POSTERIORDB, ids=lambda p: p.stem)
def test_every_posteriordb_file_loads_and_round_trips(path, tmp_path):
    data = load_data(path)
    raw = json.loads(path.read_text())
    assert data.names == tuple(raw)
    for name, value in raw.items():
        assert data[name].shape == np.shape(value)
    again = write(tmp_path, "again.json", json.dumps(data.stan_json()))
    assert load_data(again).data_hash == data.data_hash


def test_ints_stay_ints_and_reals_stay_reals_as_written(tmp_path):
    data = load_data(write(tmp_path, "d.json", '{"a": 1.0, "b": [1, 2], "c": [1, 2.0], "d": 3, "e": [[1, 2], [3, 4]]}'))
    assert data["a"].dtype == np.float64 and data["a"].shape == ()
    assert data["b"].dtype == np.int64
    assert data["c"].dtype == np.float64
    assert data["d"].dtype == np.int64 and data["d"].shape == ()
    assert data["e"].shape == (2, 2) and data["e"][1, 0] == 3


def test_csv_columns_become_variables_with_row_count_N(tmp_path):
    data = load_data(write(tmp_path, "d.csv", "age,height\n31,1.70\n45,1.82\n28,1.65\n"))
    assert data.names[0] == "N" and int(data["N"]) == 3 and data.added == ("N",)
    assert data["age"].dtype == np.int64 and data["age"].tolist() == [31, 45, 28]
    assert data["height"].dtype == np.float64


def test_csv_column_named_N_is_renamed_so_N_stays_the_row_count(tmp_path):
    data = load_data(write(tmp_path, "d.csv", "N,y\n10,3\n12,5\n"))
    assert int(data["N"]) == 2 and data["N_"].tolist() == [10, 12] and data.added == ("N",)
    assert [n.code for n in data.notes] == ["data.renamed"] and "'N' is called N_" in data.notes[0].message


def test_hash_is_the_same_for_json_dict_and_dataframe(tmp_path):
    as_json = load_data(write(tmp_path, "d.json", '{"N": 3, "x": [0.5, 1.5, 2.0], "k": [1, 0, 4]}'))
    as_dict = load_data({"k": [1, 0, 4], "x": [0.5, 1.5, 2.0], "N": 3})
    as_frame = load_data(pd.DataFrame({"x": [0.5, 1.5, 2.0], "k": [1, 0, 4]}))
    as_csv = load_data(write(tmp_path, "d.csv", "x,k\n0.5,1\n1.5,0\n2.0,4\n"))
    assert as_json.data_hash == as_dict.data_hash == as_frame.data_hash == as_csv.data_hash


def test_hash_changes_with_one_value_or_with_int_versus_real():
    base = load_data({"y": [1, 2, 3]}).data_hash
    assert load_data({"y": [1, 2, 4]}).data_hash != base
    assert load_data({"y": [1.0, 2.0, 3.0]}).data_hash != base
    assert load_data({"y": [1, 2, 3], "N": 3}).data_hash != base


def test_text_categories_become_codes_with_their_level_names(tmp_path):
    data = load_data(write(tmp_path, "d.csv", "city,temp\nOslo,3.5\nRome,14.0\nOslo,2.0\nLima,9.0\n"))
    assert data["city"].tolist() == [2, 3, 2, 1] and data.levels["city"] == ("Lima", "Oslo", "Rome")
    assert int(data["K_city"]) == 3
    in_json = load_data(write(tmp_path, "d.json", '{"g": ["b", "a", "b"]}'))
    assert in_json["g"].tolist() == [2, 1, 2] and in_json.levels["g"] == ("a", "b")


def test_llb_problem_file_reads_its_data_member_and_text():
    path = shared("benchmarks", "llb", "rain.json")
    data = load_data(path)
    assert set(data.names) == {"num_days", "rain"} and int(data["num_days"]) == data["rain"].size
    assert "rain" in data.description


BAD_INPUTS = [
    # (file name, content, expected code, words the message must contain)
    ("empty.json", "", "data.empty", ["empty"]),
    ("empty.csv", "x,y\n", "data.empty", ["no rows"]),
    ("bad.json", '{"N": 3,\n "y": [1, 2,, 3]}', "data.bad_json", ["line 2", "column"]),
    ("list.json", "[1, 2, 3]", "data.bad_json", ["object"]),
    ("null.json", '{"y": [1, null, 3]}', "data.missing_value", ["'y'", "y[2]", "impute"]),
    ("nan.json", '{"y": [[1.0, "NaN"], [2.0, 3.0]]}', "data.missing_value", ["y[1, 2]"]),
    ("ragged.json", '{"m": [[1, 2], [3, 4], [5]]}', "data.ragged", ["'m'", "depth 1", "element 3", "rectangular"]),
    ("ragged2.json", '{"m": [[[1], [2]], [[3], [4, 5]]]}', "data.ragged", ["depth 2"]),
    ("inf.json", '{"y": [1.0, "Inf"]}', "data.nonfinite", ["y[2]"]),
    ("inf.csv", "y\n1.0\ninf\n", "data.nonfinite", ["column 'y'", "rows 2"]),
    ("reserved.json", '{"for": 1}', "data.bad_name", ["reserved"]),
    ("name.json", '{"kid score": 1}', "data.bad_name", ["'kid score'", "kid_score"]),
    ("data.txt", "1 2 3", "data.bad_format", [".json", ".csv"]),
]


@pytest.mark.parametrize("name, content, code, words", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_inputs_give_specific_errors(tmp_path, name, content, code, words):
    with pytest.raises(DataError) as err:
        load_data(write(tmp_path, name, content))
    assert err.value.code == code
    for word in words:
        assert word in str(err.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError) as err:
        load_data(tmp_path / "nowhere.json")
    assert err.value.code == "data.not_found" and "nowhere.json" in str(err.value)


def test_size_cap_is_enforced_and_configurable():
    with pytest.raises(DataError) as err:
        load_data({"y": list(range(6))}, max_elements=5)
    assert err.value.code == "data.too_large" and "'y'" in str(err.value) and "max_elements" in str(err.value)
    assert load_data({"y": list(range(6))}, max_elements=6)["y"].size == 6


def test_dataframe_missing_cells_leave_their_rows_out_and_say_so():
    data = load_data(pd.DataFrame({"n": pd.array([1, None, 3, 4], dtype="Int64"), "x": [0.5, 1.5, None, 2.5]}))
    assert int(data["N"]) == 2 and data["n"].tolist() == [1, 4] and data["n"].dtype == np.int64
    (note,) = data.notes
    assert note.code == "data.rows_dropped" and note.message.startswith("2 of 4 rows left out") and "n 1, x 1" in note.message
    flags = load_data(pd.DataFrame({"flag": [True, False, True], "y": [1.0, 2.0, 3.5]}))
    assert flags["flag"].dtype == np.int64 and flags["flag"].tolist() == [1, 0, 1]


def test_loaded_arrays_cannot_be_modified():
    data = load_data({"y": [1, 2, 3]})
    with pytest.raises(ValueError):
        data["y"][0] = 5
    assert load_data(data) is data and isinstance(data, Dataset)


def test_importing_the_package_loads_neither_pandas_nor_jax():
    code = "import sys, boxloop.data; print(sorted(m for m in ('pandas', 'jax') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
