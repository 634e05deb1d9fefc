"""check_data_against: each disagreement between a data block and the data is reported once,
with a code, the variable, what was declared, what was found, and the declaration's position."""

import numpy as np
import pytest

from boxloop.data import DataDecl, DataMismatch, check_data_against, load_data

EIGHT = load_data({"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]})
GOOD = [DataDecl("J", "int", lower=0), DataDecl("y", "vector", sizes=(8,)),
        DataDecl("sigma", "vector", sizes=(8,), lower=0)]


def only(found: list[DataMismatch]) -> DataMismatch:
    assert len(found) == 1, found
    return found[0]


def test_matching_declarations_pass():
    assert check_data_against(GOOD, EIGHT) == []
    # a plain mapping works too, and unknown sizes are not checked
    assert check_data_against([DataDecl("y", "vector", sizes=(None,))], {"y": [1.0, 2.0]}) == []


def test_missing_variable_lists_what_the_data_has_and_suggests_a_name():
    found = only(check_data_against([DataDecl("sigmas", "vector", sizes=(8,), line=4, column=3)], EIGHT))
    assert (found.code, found.name, found.line, found.column) == ("data.missing_variable", "sigmas", 4, 3)
    assert "'sigma'" in found.message and "J, y, sigma" in found.message


def test_int_declared_but_reals_given():
    data = load_data({"k": [1.0, 2.5, 3.0], "m": [1.0, 2.0]})
    found = only(check_data_against([DataDecl("k", "int", array_sizes=(3,))], data))
    assert found.code == "data.type_mismatch" and "k[2] = 2.5" in found.message
    found = only(check_data_against([DataDecl("m", "int", array_sizes=(2,))], data))
    assert found.code == "data.type_mismatch" and "decimal point" in found.message
    # ints are fine where reals are declared
    assert check_data_against([DataDecl("y", "real", array_sizes=(8,))], EIGHT) == []


def test_shape_and_size_mismatches_say_expected_and_found():
    found = only(check_data_against([DataDecl("y", "vector", sizes=(10,))], EIGHT))
    assert found.code == "data.shape_mismatch" and "size 10" in found.message and "has 8" in found.message
    found = only(check_data_against([DataDecl("y", "matrix", sizes=(8, 2))], EIGHT))
    assert found.code == "data.shape_mismatch" and "8 x 2" in found.message
    found = only(check_data_against([DataDecl("J", "vector", sizes=(1,))], EIGHT))
    assert found.code == "data.shape_mismatch" and "single number" in found.message
    nested = load_data({"x": [[1, 2, 3], [4, 5, 6]]})
    found = only(check_data_against([DataDecl("x", "vector", array_sizes=(2,), sizes=(4,))], nested))
    assert "dimension 2" in found.message


def test_empty_array_matches_any_declaration_with_a_zero_size():
    assert check_data_against([DataDecl("z", "matrix", sizes=(0, 3))], {"z": np.zeros((0,))}) == []


def test_bounds_name_the_first_offending_element():
    data = load_data({"r": [3, 0, -1, -2], "p": 1.5})
    found = only(check_data_against([DataDecl("r", "int", array_sizes=(4,), lower=0)], data))
    assert found.code == "data.bounds"
    assert "r[3] = -1" in found.message and "<lower=0>" in found.message and "1 more" in found.message
    found = only(check_data_against([DataDecl("p", "real", lower=0, upper=1)], data))
    assert "p = 1.5" in found.message and "<upper=1>" in found.message
    assert check_data_against([DataDecl("r", "int", array_sizes=(4,), lower=-2, upper=3)], data) == []


@pytest.mark.parametrize("kind, value, words", [
    ("simplex", [0.2, 0.3, 0.4], ["sum to 0.9"]),
    ("simplex", [1.2, -0.2], ["negative"]),
    ("ordered", [1.0, 3.0, 2.0], ["entry 3"]),
    ("positive_ordered", [-1.0, 2.0], ["<= 0"]),
    ("unit_vector", [1.0, 1.0], ["length"]),
    ("cov_matrix", [[1.0, 2.0], [2.0, 1.0]], ["positive definite"]),
    ("cov_matrix", [[1.0, 0.5], [0.2, 1.0]], ["symmetric"]),
    ("corr_matrix", [[2.0, 0.0], [0.0, 1.0]], ["diagonal"]),
    ("cholesky_factor_cov", [[1.0, 0.3], [0.2, 1.0]], ["lower triangular"]),
    ("cholesky_factor_corr", [[1.0, 0.0], [0.5, 0.5]], ["unit length"]),
])
def test_constrained_types_are_checked(kind, value, words):
    n = len(value)
    found = only(check_data_against([DataDecl("v", kind, sizes=(n,))], {"v": value}))
    assert found.code == "data.constraint" and kind in found.message
    for word in words:
        assert word in found.message


@pytest.mark.parametrize("kind, value", [
    ("simplex", [0.2, 0.3, 0.5]), ("ordered", [-1.0, 0.0, 2.0]), ("positive_ordered", [0.5, 2.0]),
    ("unit_vector", [0.6, 0.8]), ("cov_matrix", [[2.0, 0.5], [0.5, 1.0]]),
    ("corr_matrix", [[1.0, 0.3], [0.3, 1.0]]), ("cholesky_factor_corr", [[1.0, 0.0], [0.6, 0.8]]),
])
def test_valid_constrained_values_pass(kind, value):
    assert check_data_against([DataDecl("v", kind, sizes=(len(value),))], {"v": value}) == []


def test_constraint_inside_an_array_names_the_element():
    found = only(check_data_against([DataDecl("w", "simplex", array_sizes=(2,), sizes=(2,))],
                                    {"w": [[0.5, 0.5], [0.7, 0.7]]}))
    assert found.message.startswith("w[2] is declared simplex")


def test_every_problem_is_reported_in_declaration_order():
    decls = [DataDecl("a", "int"), DataDecl("y", "vector", sizes=(3,)),
             DataDecl("sigma", "vector", sizes=(8,), upper=10)]
    found = check_data_against(decls, EIGHT)
    assert [m.code for m in found] == ["data.missing_variable", "data.shape_mismatch", "data.bounds"]
