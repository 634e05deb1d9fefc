"""Data in, task out: read data (tables, Stan-JSON, R dump, data frames), decide each column's
role, declare it to Stan, check it against a program's data block. Imports numpy only (pandas
lazily, never jax): `boxloop check` uses it. The role vocabulary is `columns.ROLES`/`USES`."""

from boxloop.data.check import DataDecl, DataMismatch, check_data_against
from boxloop.data.columns import ROLES, USES, Column, Note
from boxloop.data.infer_types import VariableInfo
from boxloop.data.load import Dataset, load_data
from boxloop.data.table import Overrides
from boxloop.data.task import Task, make_task

__all__ = [
    "load_data",
    "Dataset",
    "VariableInfo",
    "Task",
    "make_task",
    "Column",
    "Note",
    "ROLES",
    "USES",
    "Overrides",
    "DataDecl",
    "DataMismatch",
    "check_data_against",
]
