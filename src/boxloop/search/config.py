"""What a search run is asked to do: strategy, budget, RefineStat's α/β/ζ, NUTS settings.

`SearchConfig` is frozen and hashable into two keys:
- `config_hash`: everything that decides *which proposals* a run makes (proposer, seed, strategy,
  α/β/ζ, settings, data, target). The budget is left out on purpose: rerunning with a bigger
  budget replays the smaller run's proposals from the store and continues from there.
- `settings_hash`: everything that decides *what a fit returns* (NUTS settings, evidence
  method, the fit-seed rule). Together with the structural hash of a program and the data hash
  it keys the fit cache, so fits are shared across runs, strategies and seeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

from .. import __version__
from ..diagnose.verdict import METHODS as EVIDENCE_METHODS
from ..errors import BoxloopError
from ..infer.nuts import NutsSettings
from ..redact import redact

STRATEGIES = ("refine", "average", "best-of-n")
# Bump when a fit of the same program, data and settings would come out differently (engine or
# diagnostics change that matters, fit-seed rule): old cache entries then stop matching.
FIT_CACHE_VERSION = 2  # 2: evidence fits look for unvisited modes and resample diverged centred groups


# Stopping rules and limits: they decide when a run ends, not which proposals it makes.
# Screening changes which fits are run, never which proposals are made.
_NOT_IN_CONFIG_HASH = frozenset({"budget", "max_proposals", "timeout_s", "memory_bytes", "beta", "zeta", "settings",
                                 "evidence", "proposer", "screen", "screen_after", "screen_method"})


class SearchError(BoxloopError):
    """A search was asked for with unusable settings."""

    code = "search.invalid"


@dataclass(frozen=True)
class SearchConfig:
    """How a discovery run searches.

    budget: R_max, the most distinct programs evaluated (fitted, or reused from a cache).
    alpha: likelihood rewrites per lineage; prior_rewrites: prior rewrites per lineage.
    beta: stop once this many reliable programs were found (refine only; None: use the budget).
    zeta: B(M) >= zeta counts as reliable.
    duplicate_retries: a rewrite that reproduces a known structure is redrawn this many times.
    max_proposals: hard cap on proposer calls (invalid and duplicate proposals cost no fit, so a
        proposer that keeps repeating itself must still stop); None means 4 * budget + 8.
    timeout_s: wall-clock limit of one fit, in its worker.
    memory_bytes: memory cap of one fit's worker (None: 80 % of memory shared among the workers).
    evidence: None, "auto", "bridge", "is" or "smc"; "average" needs one and defaults to "auto".
    screen: "on" (multi-fidelity: a short screen fit first, full fits for the candidates the rule
        in `screen` promotes; average and best-of-n only), "auto" (the same while it saves time:
        `screen.screening_pays`) or "off" (full fits for all).
    screen_after: with "auto", the first this many distinct structures get full fits unscreened.
    screen_method: "pathfinder" (the default: compiles only the log density and its gradient) or
        "nuts" (a short NUTS run).
    """

    strategy: str = "refine"
    proposer: str = "grammar"
    budget: int = 24
    seed: int = 0
    alpha: int = 2
    prior_rewrites: int = 2
    beta: int | None = 4
    zeta: int = 5
    duplicate_retries: int = 3
    max_proposals: int | None = None
    timeout_s: float = 300.0
    memory_bytes: int | None = None
    evidence: str | None = None
    settings: NutsSettings = field(default_factory=NutsSettings)
    screen: str = "auto"
    screen_after: int = 16
    screen_method: str = "pathfinder"

    def __post_init__(self):
        problems = [msg for ok, msg in (
            (self.strategy in STRATEGIES, f"strategy must be one of {', '.join(STRATEGIES)}"),
            (self.budget >= 1, "budget must be >= 1"),
            (self.alpha >= 0 and self.prior_rewrites >= 0, "alpha and prior_rewrites must be >= 0"),
            (self.beta is None or self.beta >= 1, "beta must be >= 1 (or None)"),
            (0 <= self.zeta <= 7, "zeta must be in 0..7"),
            (self.timeout_s > 0, "timeout_s must be > 0"),
            (self.evidence in (None, *EVIDENCE_METHODS),
             f"evidence must be None or one of {', '.join(EVIDENCE_METHODS)}"),
            (self.seed >= 0, "seed must be >= 0"),
            (self.screen in ("auto", "on", "off"), "screen must be auto, on or off"),
            (self.screen_after >= 0, "screen_after must be >= 0"),
            (self.screen_method in ("pathfinder", "nuts"), "screen_method must be pathfinder or nuts"),
        ) if not ok]
        if problems:
            raise SearchError("invalid search settings: " + "; ".join(problems))

    @property
    def proposal_cap(self) -> int:
        return self.max_proposals if self.max_proposals is not None else 4 * self.budget + 8

    @property
    def fit_evidence(self) -> str | None:
        """The evidence method fits run with: averaging needs log p(x|M)."""
        return self.evidence or ("auto" if self.strategy == "average" else None)

    @property
    def stop_at(self) -> int | None:
        """Reliable programs that end the run early (β); only refine stops early."""
        return self.beta if self.strategy == "refine" else None

    def settings_hash(self) -> str:
        return settings_hash(self.settings, self.fit_evidence)

    def config_hash(self, data_hash: str, target: str, description: str | None) -> str:
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in _NOT_IN_CONFIG_HASH}
        # The proposer enters with its credentials masked: a rotated API key is the same run.
        return _digest({**fields, "proposer": redact(self.proposer), "settings": self.settings_hash(),
                        "data": data_hash, "target": target, "description": description})


def settings_hash(settings: NutsSettings, evidence: str | None) -> str:
    # A new release may fit differently: its fits are keyed apart.
    return _digest({"nuts": dataclasses.asdict(settings), "evidence": evidence, "version": FIT_CACHE_VERSION,
                    "boxloop": __version__})


def screen_settings_hash(settings: NutsSettings, evidence: str | None) -> str:
    """The key part of a screen fit: apart from every full fit's, even with equal NUTS settings."""
    return _digest({"screen": settings_hash(settings, evidence)})


def fit_key(structural_hash: str, data_hash: str, settings_hash_: str) -> str:
    """The fit-cache key; short enough to be a file name."""
    return _digest([structural_hash, data_hash, settings_hash_])[:32]


def fit_seed(structural_hash: str) -> int:
    """The NUTS seed of a structure: fixed per structure (not per run), so the same program gets
    the same draws in every run and a cached fit is exactly what a refit would give."""
    return int(hashlib.sha256(structural_hash.encode()).hexdigest()[:8], 16) & 0x7FFFFFFF


def _digest(value) -> str:
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
