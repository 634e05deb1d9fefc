"""Data in, task out: load data, classify its variables, declare it to Stan, check it against a
program's data block. Imports numpy only (pandas lazily, never jax): `boxloop check` uses it."""

from boxloop.data.check import DataDecl, DataMismatch, check_data_against
from boxloop.data.infer_types import VariableInfo
from boxloop.data.load import Dataset, load_data
from boxloop.data.task import Task, make_task

__all__ = [
    "load_data",
    "Dataset",
    "VariableInfo",
    "Task",
    "make_task",
    "DataDecl",
    "DataMismatch",
    "check_data_against",
]
