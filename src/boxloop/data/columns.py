"""The column-role record: what one column of the user's data is and what boxloop does with it.

This is the one place the vocabulary is defined. `describe`, the task, the proposers, the prompt,
the run store and the report all read `Column` records; the SPFN proposer reads `role` as a
model input, so the sets below are closed: a new role is a change here and in its readers.

ROLES (what the column *is*, decided from its values and the table as a whole):

    measurement  a continuous quantity (real values, or integers that can be negative)
    count        non-negative integers that count something
    proportion   reals in [0, 1], not all 0 or 1
    binary       a 0/1 indicator (written as 0/1, as true/false, or a text column with two levels)
    factor       a categorical column with three or more levels, coded 1..K (text, a categorical
                 dtype, or a few integer codes); `ordered` when its levels have an order
    group        integer codes that label groups (subjects, herds, batches), coded 1..K
    time         a time index: dates, or integers that count days, weeks, years, visits
    size         a count of trials that bounds another count row by row (r <= n)
    exposure     a positive amount of opportunity (person-years, population, duration) that a
                 count is proportional to: an offset on the log scale
    id           one value per row (row names, identifiers): never modelled
    constant     a single value (or none at all): carries no information

USES (what boxloop does with it):

    target     the variable modelled
    covariate  may enter a predictor (numbers, binary indicators, time, few-level factors)
    index      a group index 1..K (varying or fixed effects by level)
    trials     the trials of a binomial target
    offset     an exposure entering a count model as log(exposure)
    dropped    left out of the data given to Stan (`note` says why)

A `Note` is something boxloop did to the data that a person must be told about (a renamed
column, dropped rows, a shifted code); its `code` is stable for scripts and tests.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

ROLES = ("measurement", "count", "proportion", "binary", "factor", "group", "time", "size", "exposure",
         "id", "constant")
USES = ("target", "covariate", "index", "trials", "offset", "dropped")


@dataclass(frozen=True)
class Column:
    """One column as boxloop reads it.

    name: as the user wrote it; stan_name: the Stan identifier it becomes ('' when dropped).
    dtype: how the values were written: int, real, bool, text, category or date.
    levels: level names in code order (codes 1..K for a factor or group; for a binary
        indicator, the level coded 0 then the level coded 1); reference: the level every other is
        compared with (code 0 of an indicator, level 1 of a factor).
    size_name: the data variable holding K for a factor or group.
    missing: cells with no value. low/high: the range of the values as written (numbers only).
    candidate: could be the target (an outcome-like column).
    trials: for a count, the columns (as written) that bound it row by row: its possible trials.
    """

    name: str
    stan_name: str
    role: str
    dtype: str
    use: str
    levels: tuple[str, ...] = ()
    reference: str | None = None
    ordered: bool = False
    size_name: str | None = None
    missing: int = 0
    distinct: int = 0
    low: float | None = None
    high: float | None = None
    candidate: bool = False
    trials: tuple[str, ...] = ()
    note: str = ""

    def __post_init__(self):
        if self.role not in ROLES:
            raise ValueError(f"unknown role {self.role!r}; roles are {', '.join(ROLES)}")
        if self.use not in USES:
            raise ValueError(f"unknown use {self.use!r}; uses are {', '.join(USES)}")

    @property
    def kept(self) -> bool:
        return self.use != "dropped"

    def to_dict(self) -> dict:
        out = asdict(self)
        out["levels"], out["trials"] = list(self.levels), list(self.trials)
        return out

    def level_label(self, code: int) -> str | None:
        """The level a code stands for (1-based for a factor or group, 0/1 for an indicator)."""
        offset = 0 if self.role == "binary" else 1
        i = code - offset
        return self.levels[i] if self.levels and 0 <= i < len(self.levels) else None


@dataclass(frozen=True)
class Note:
    """What boxloop did to the data and why: `code` is stable, `message` is for people."""

    code: str
    message: str
    column: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)
