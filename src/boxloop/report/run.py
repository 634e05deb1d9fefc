"""A run directory read back for the report: its last run, the proposals and fits of that run.

Reading never locks or writes (`RunStore(read_only=True)`), so a run still in progress, or one
killed half-way, can be reported. A directory with no `run.sqlite` is refused (`report.not_a_run`);
a store that is empty or damaged is refused by the store itself (`store.empty`, `store.corrupt`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import BoxloopError
from ..search.records import FitRecord, ProposalRecord
from ..search.store import DB_NAME, RunStore

DEFAULT_ZETA = 5


class ReportError(BoxloopError):
    """A report cannot be written for this directory (not a run directory, unreadable output)."""

    code = "report.invalid"


@dataclass(frozen=True)
class Candidate:
    """One distinct structure of the run: its first proposal and its fit (None: never finished)."""

    hash: str
    proposal: ProposalRecord = field(repr=False)
    fit: FitRecord | None = field(repr=False)
    multiplicity: int
    reliable: bool
    screen: dict | None = None  # the screening rule's decision for it (decision, reason, weight_bound)

    @property
    def program(self) -> str:
        return self.proposal.text

    @property
    def screened_out(self) -> bool:
        return self.fit is None and (self.screen or {}).get("decision") == "screened_out"

    @property
    def status(self) -> str:
        if self.screened_out:
            return "screened_out"
        return self.fit.status if self.fit is not None else "not fitted"

    @property
    def elpd_loo(self) -> float:
        return self.fit.elpd_loo if self.fit is not None else math.nan

    @property
    def elpd_loo_se(self) -> float:
        return self.fit.elpd_loo_se if self.fit is not None else math.nan


@dataclass(frozen=True)
class RunView:
    """What the report shows. `run` is the last run's row (None: nothing was ever started)."""

    directory: Path
    run: dict | None = field(repr=False)
    config: dict = field(repr=False)
    summary: dict = field(repr=False)
    data: dict = field(repr=False)  # data.json: how the data were read
    proposals: tuple[ProposalRecord, ...] = field(repr=False)
    candidates: tuple[Candidate, ...] = field(repr=False)

    @property
    def status(self) -> str:
        return (self.run or {}).get("status") or "empty"

    @property
    def zeta(self) -> int:
        return int(self.config.get("zeta", DEFAULT_ZETA))

    @property
    def best(self) -> Candidate | None:
        reliable = [c for c in self.candidates if c.reliable and math.isfinite(c.elpd_loo)]
        return max(reliable, key=lambda c: c.elpd_loo, default=None)

    @property
    def fitted(self) -> tuple[Candidate, ...]:
        return tuple(c for c in self.candidates if c.fit is not None)

    def netcdf_path(self, candidate: Candidate) -> Path | None:
        if candidate.fit is None or not candidate.fit.netcdf:
            return None
        path = self.directory / candidate.fit.netcdf
        return path if path.is_file() else None


def load_run(directory: str | Path) -> RunView:
    """Read the last run stored in `directory` (the --out of `boxloop discover`)."""
    directory = Path(directory)
    if not (directory / DB_NAME).is_file():
        what = "does not exist" if not directory.exists() else f"has no {DB_NAME}"
        raise ReportError(f"{directory} is not a boxloop run directory (it {what}); pass the --out directory of "
                          "`boxloop discover DATA --out DIR`", code="report.not_a_run")
    with RunStore(directory, read_only=True) as store:
        runs = store.runs()
        run = runs[-1] if runs else None
        proposals = tuple(store.proposals(run["config_hash"])) if run else ()
        fits = _latest_fits(store.fits(), run)
        screening = store.screening(run["id"]) if run else {}
    config = _json(run, "config_json")
    zeta = int(config.get("zeta", DEFAULT_ZETA))
    return RunView(directory=directory, run=run, config=config, summary=_json(run, "summary_json"),
                   data=_data_json(directory), proposals=proposals,
                   candidates=_candidates(proposals, fits, zeta, screening))


def _json(run: dict | None, column: str) -> dict:
    if not run or not run.get(column):
        return {}
    try:
        value = json.loads(run[column])
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _data_json(directory: Path) -> dict:
    path = directory / "data.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _latest_fits(fits: list[FitRecord], run: dict | None) -> dict[str, FitRecord]:
    """The newest full fit of each structure on this run's data (fits come oldest first); screen
    fits are left out: they only decide which candidates get a full fit."""
    out = {}
    for rec in fits:
        if rec.fidelity == "full" and (run is None or rec.data_hash == run.get("data_hash")):
            out[rec.structural_hash] = rec
    return out


def _candidates(proposals, fits: dict[str, FitRecord], zeta: int,
                screening: dict[str, dict] | None = None) -> tuple[Candidate, ...]:
    first, count = {}, {}
    for p in proposals:
        if p.valid and p.structural_hash:
            first.setdefault(p.structural_hash, p)
            count[p.structural_hash] = count.get(p.structural_hash, 0) + 1
    screening = screening or {}
    return tuple(Candidate(h, p, fits.get(h), count[h], bool(fits.get(h) and fits[h].reliable(zeta)),
                           screening.get(h)) for h, p in first.items())
