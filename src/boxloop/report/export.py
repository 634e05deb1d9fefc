"""`export`: a checked program in the tools people already use, with its data loading.

- `stan`: the program as boxloop prints it (the printer over the syntax tree), preceded by how to
  run it with CmdStan on the data;
- `numpyro`: a NumPyro script (`export_numpyro`);
- `pymc`: a PyMC script (`export_pymc`), the same reading of the program in PyMC's terms.
With a table as data, the data are written as Stan-JSON, encoded as `discover` encodes them, so
the exported program reads exactly what boxloop fitted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..lang import check, to_stan
from .export_numpyro import to_numpyro
from .export_pymc import to_pymc
from .pyexpr import ExportError

TARGETS = ("stan", "numpyro", "pymc")


@dataclass(frozen=True)
class Exported:
    code: str
    data_json: str | None = None  # Stan-JSON text of a table's encoded data, to save beside the code


def export_program(source: str, to: str, *, program_name: str = "program.stan", data_path: str | None = None,
                   data: dict | None = None) -> Exported:
    """The program `source` written for `to` ("stan", "numpyro" or "pymc"). `data_path` names the Stan-JSON
    file the code reads by default; `data` (name -> values) is given when that file must be written."""
    if to not in TARGETS:
        raise ExportError(f"cannot export to {to!r}; choose one of {', '.join(TARGETS)}", code="export.target")
    result = check(source, data=data)
    result.raise_for_errors()
    data_json = _stan_json(data) if data is not None else None
    if to == "stan":
        return Exported(_stan(result.program, program_name, data_path), data_json)
    write = to_numpyro if to == "numpyro" else to_pymc
    return Exported(write(result.program, data_path, program_name), data_json)


def _stan(program, name: str, data_path: str | None) -> str:
    data = data_path or "DATA.json"
    head = (f"// {name}, as boxloop checked it. Run with CmdStan:\n"
            f"//   make path/to/{Path(name).stem} && ./{Path(name).stem} sample data file={data}\n"
            f"// or with CmdStanPy: CmdStanModel(stan_file=...).sample(data={data!r})\n")
    return head + to_stan(program)


def _stan_json(data: dict) -> str:
    import numpy as np

    def plain(v):
        a = np.asarray(v)
        return a.tolist() if a.ndim else a.item()

    return json.dumps({k: plain(v) for k, v in data.items()}, indent=1)
