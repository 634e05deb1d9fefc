"""Every file format and frame type gives the same data; files that are not data are refused."""

import os
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from boxloop.data import load_data, make_task
from boxloop.data.names import STAN_RESERVED, stan_identifier
from boxloop.errors import DataError

CORPUS = Path(__file__).resolve().parents[3] / "shared" / "corpus" / "example-models"
FRAME = pd.DataFrame({"y": [1.5, 2.5, 0.5, 4.0], "k": [3, 0, 2, 5], "g": ["b", "a", "b", "c"]})


def test_csv_delimiter_and_quoting_are_sniffed(tmp_path):
    expected = load_data(FRAME).data_hash
    for name, text in [
        ("comma.csv", 'y,k,g\n1.5,3,"b"\n2.5,0,a\n0.5,2,"b"\n4.0,5,c\n'),
        ("semi.csv", "y;k;g\n1,5;3;b\n2,5;0;a\n0,5;2;b\n4,0;5;c\n"),  # decimal commas
        ("tab.tsv", "y\tk\tg\n1.5\t3\tb\n2.5\t0\ta\n0.5\t2\tb\n4.0\t5\tc\n"),
        ("pipe.csv", "y|k|g\n1.5|3|b\n2.5|0|a\n0.5|2|b\n4.0|5|c\n"),
    ]:
        path = tmp_path / name
        path.write_text(text)
        assert load_data(path).data_hash == expected, name


def test_quoted_fields_may_hold_the_delimiter(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('y,place\n1.0,"Paris, FR"\n2.0,"Rome, IT"\n3.0,"Paris, FR"\n4.0,"Oslo, NO"\n')
    assert load_data(path).levels["place"] == ("Oslo, NO", "Paris, FR", "Rome, IT")


def test_parquet_feather_pandas_and_polars_give_the_same_data(tmp_path):
    pytest.importorskip("pyarrow")
    expected = load_data(FRAME).data_hash
    FRAME.to_parquet(tmp_path / "d.parquet")
    FRAME.to_feather(tmp_path / "d.feather")
    assert load_data(tmp_path / "d.parquet").data_hash == expected
    assert load_data(tmp_path / "d.feather").data_hash == expected
    pl = pytest.importorskip("polars")
    assert load_data(pl.DataFrame(FRAME.to_dict("list"))).data_hash == expected


def test_polars_enums_are_ordered_factors():
    pl = pytest.importorskip("polars")
    frame = pl.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "dose": ["hi", "lo", "mid", "lo"]},
                         schema={"y": pl.Float64, "dose": pl.Enum(["lo", "mid", "hi"])})
    task = make_task(frame, target="y")
    assert task.column("dose").levels == ("lo", "mid", "hi") and task.column("dose").ordered


def test_r_dump_reads_ints_reals_and_column_major_arrays(tmp_path):
    path = tmp_path / "m.data.R"
    path.write_text('N <- 3L\n"x" <-\nc(1, 2.5, 3)\nk <- c(1L, 2L, 3L)\nidx <- 1:3\n'
                    "M <- structure(c(1, 2, 3, 4, 5, 6), .Dim = c(2, 3))\n# a comment\nz = -2\n")
    data = load_data(path)
    assert data["N"].shape == () and data["N"].dtype == np.int64 and int(data["N"]) == 3
    assert data["x"].dtype == np.float64 and data["k"].dtype == np.int64 and data["idx"].tolist() == [1, 2, 3]
    assert data["M"].tolist() == [[1, 3, 5], [2, 4, 6]]  # R fills columns first
    assert float(data["z"]) == -2


@pytest.mark.skipif(not CORPUS.exists(), reason="shared corpus not present")
def test_r_dump_files_of_the_corpus_load():
    files = sorted(CORPUS.rglob("*.data.R"))[::6]
    loaded = 0
    for path in files:
        try:
            load_data(path)
            loaded += 1
        except DataError as err:  # a few are R scripts (rnorm, set.seed) or hold missing values
            assert err.code in ("data.bad_rdump", "data.missing_value", "data.nonfinite"), (path, err)
    assert loaded >= 0.9 * len(files)


def test_r_code_is_not_read_as_data(tmp_path):
    path = tmp_path / "sim.data.R"
    path.write_text("N <- 10\ny <- rnorm(N)\n")
    with pytest.raises(DataError) as err:
        load_data(path)
    assert err.value.code == "data.bad_rdump" and "line 2" in str(err.value)


def test_duplicate_json_keys_are_an_error_not_last_wins(tmp_path):
    path = tmp_path / "d.json"
    path.write_text('{"N": 2, "y": [1, 2], "y": [3, 4]}')
    with pytest.raises(DataError) as err:
        load_data(path)
    assert err.value.code == "data.duplicate_key" and "'y'" in str(err.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_given_as_data_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.csv"
    os.mkfifo(fifo)
    outcome = {}

    def load():
        try:
            load_data(fifo)
        except DataError as err:
            outcome["code"] = err.code

    reader = threading.Thread(target=load, daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert not reader.is_alive(), "reading a FIFO blocked"
    assert outcome == {"code": "data.not_regular_file"}


def test_a_device_given_as_data_is_refused():
    if not Path("/dev/null").exists():
        pytest.skip("no /dev/null")
    from boxloop.data.readers import require_regular_file

    with pytest.raises(DataError) as err:
        require_regular_file(Path("/dev/null"))
    assert err.value.code == "data.not_regular_file" and "a device" in str(err.value)


def test_every_word_the_checker_reserves_is_renamed_by_the_data_layer():
    from boxloop.lang import library

    assert library._RESERVED <= STAN_RESERVED  # the checker's list (private): data must cover it
    for word in sorted(library._RESERVED):
        assert not library.is_reserved(stan_identifier(word)), word
