"""Held-out evaluation: is the generating structure the first proposal, or among the first five?

A program's structure is what a statistician would name: the likelihood family (with zero
inflation, a mixture, an AR(1) or a change point where present), the covariates it uses, the
groups it has effects for, and whether slopes vary by a group. Priors, parameterisations
(centred or not), link spellings (`poisson_log(eta)` or `poisson(exp(eta))`) and covariate
transforms do not count. `structure_of` reads it off any program written against role-named data
(the held-out sets are simulated with those names), so the proposers are judged by one rule.
"""

from __future__ import annotations

import re
import time
from collections import defaultdict
from dataclasses import dataclass

_FAMILY_OF = (("neg_binomial", "neg_binomial"), ("beta_binomial", "beta_binomial"), ("binomial", "binomial"),
              ("bernoulli", "bernoulli"), ("poisson", "poisson"), ("student_t", "student_t"),
              ("lognormal", "lognormal"), ("gamma", "gamma"), ("normal", "normal"))
_MARKERS = ("zero_inflation", "mixture", "ar1", "change_point", "measurement_error", "growth")


@dataclass(frozen=True)
class Structure:
    family: str
    parts: frozenset

    def __str__(self) -> str:
        return f"{self.family}({', '.join(sorted(self.parts))})"


def _body(text: str) -> str:
    start = text.find("\n}\n")
    return text[start + 3:] if text.startswith("data {") and start >= 0 else text


def structure_of(text: str, outcome: str = "y") -> Structure:
    """The structure of a program (see the module docstring)."""
    body = _body(text)
    model = body[body.find("model {"):]
    y = re.escape(outcome)
    dist = re.search(rf"\b{y}(?:\[[^\]]*\])? ~ (\w+)\(", model)
    logpdf = re.search(rf"(\w+)_lp[dm]f\({y}\b", model)
    name = dist.group(1) if dist else (logpdf.group(1) if logpdf else "none")
    family = next((f for key, f in _FAMILY_OF if key in name), name)
    if "log_mix(" in model and "normal" in family:
        family = "mixture"
    elif ("log_sum_exp(" in model or "log_mix(" in model) and family == "poisson":
        family = "zero_inflated_poisson"
    elif re.search(rf"\b{y}\[\w+ - 1\]|\b{y}\[1:\(", model):
        family = "ar1"
    elif re.search(r"inv_logit\(\d+ \* \(|\bstep\(", model):
        family = "change_point"
    elif family == "normal" and re.search(rf"\b{y} ~ normal\(.*, se\);", model):
        family = "measurement_error"
    elif family == "normal" and re.search(r"\bexp\(-", model):
        family = "growth"
    parts = set(re.findall(r"\bx\d\b", body))
    parts |= {f"group:{g}" for g in re.findall(r"\bg\d\b", body)}
    parts |= {f"slope:{g}" for g in re.findall(r"\[(g\d)\] \.\* ", body)}
    return Structure(family, frozenset(parts))


def generating_structure(text: str, parts) -> Structure:
    """The structure of a corpus program from its recorded parts (the truth to match)."""
    family = structure_of(text).family
    return Structure(family, frozenset(p if not p.startswith("slope:") else ":".join(p.split(":")[:2])
                                       for p in parts if p not in _MARKERS))


@dataclass(frozen=True)
class Outcome:
    family: str
    first: bool
    top5: bool
    valid: int
    seconds: float


def judge(proposer, task, truth: Structure, *, n: int = 5, seed: int = 0) -> Outcome:
    """Whether the proposer's first (and first five) proposals have the generating structure; a
    proposer that writes no valid program for the dataset misses it."""
    from ..errors import ProposerError

    started = time.perf_counter()
    try:
        proposals = proposer.propose(task, n=n, seed=seed)
    except ProposerError as err:
        if err.code != "spfn.no_valid_program":
            raise
        proposals = []
    found = [structure_of(p.text) == truth if p.valid else False for p in proposals]
    return Outcome(truth.family, bool(found and found[0]), any(found[:5]), sum(p.valid for p in proposals),
                   time.perf_counter() - started)


def table(outcomes: list[Outcome]) -> dict:
    """family -> {"n", "first", "top5"} rates, plus "all"."""
    by: dict = defaultdict(list)
    for o in outcomes:
        by[o.family].append(o)
        by["all"].append(o)
    return {f: {"n": len(os), "first": round(sum(o.first for o in os) / len(os), 3),
                "top5": round(sum(o.top5 for o in os) / len(os), 3),
                "seconds": round(sum(o.seconds for o in os) / len(os), 3)} for f, os in sorted(by.items())}
