"""The real Stan compiler as an oracle: is this text a Stan program stanc accepts?

stanc3 ships as the binary `stanc` inside the PyPI package `httpstan` (an optional dependency, in
the test extra). boxloop never needs it to run; tests and benchmarks use it to hold the checker to
what Stan itself accepts, and `stanc_verdict` lets a user cross-check a program by hand.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ..errors import BoxloopError

_TIMEOUT_S = 60


class StancUnavailable(BoxloopError):
    code = "stanc.unavailable"


@dataclass(frozen=True)
class StancVerdict:
    """stanc's answer: `ok` when it compiled the program to C++; `message` is what it printed
    (its syntax or semantic error, with line and column) when it did not."""

    ok: bool
    message: str


@lru_cache(maxsize=1)
def stanc_path() -> Path:
    """The stanc binary: `$BOXLOOP_STANC` if set, else the one inside the installed httpstan."""
    override = os.environ.get("BOXLOOP_STANC")
    if override:
        path = Path(override)
    else:
        spec = importlib.util.find_spec("httpstan")
        if spec is None or not spec.submodule_search_locations:
            raise StancUnavailable("stanc is not available: install httpstan (`pip install httpstan`, "
                                   "in boxloop's test extra) or point BOXLOOP_STANC at a stanc binary")
        path = Path(next(iter(spec.submodule_search_locations))) / "stanc"
    if not path.is_file() or not os.access(path, os.X_OK):
        raise StancUnavailable(f"stanc binary {path} is missing or not executable; reinstall httpstan "
                               "or set BOXLOOP_STANC to a working stanc")
    return path


def stanc_verdict(text: str, *, include_paths: tuple[str, ...] = ()) -> StancVerdict:
    """Compile `text` with stanc (to a throwaway .hpp) and report whether it was accepted."""
    with tempfile.TemporaryDirectory(prefix="boxloop-stanc-") as tmp:
        source = Path(tmp) / "program.stan"
        source.write_text(text)
        command = [str(stanc_path()), str(source), f"--o={Path(tmp) / 'program.hpp'}"]
        if include_paths:
            command.append("--include-paths=" + ",".join(include_paths))
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return StancVerdict(False, f"stanc did not finish within {_TIMEOUT_S} s")
    message = (done.stderr or done.stdout).replace(str(source), "program.stan").strip()
    return StancVerdict(done.returncode == 0, message)


@lru_cache(maxsize=1)
def math_signatures() -> tuple[str, ...]:
    """Every signature of the Stan math library as stanc prints it (`name(argtypes) => return`)."""
    done = subprocess.run([str(stanc_path()), "--dump-stan-math-signatures"], capture_output=True,
                          text=True, timeout=_TIMEOUT_S, check=True)
    return tuple(line for line in done.stdout.splitlines() if line.strip())


# ---- the library table against stanc's signatures ---------------------------------------------------


@dataclass(frozen=True)
class SignatureDifference:
    """A call whose verdict differs: the type each side gives it (None: no signature)."""

    name: str
    args: tuple
    boxloop: object
    stanc: object

    def __str__(self) -> str:
        shown = ", ".join(str(a) for a in self.args)
        return f"{self.name}({shown}): boxloop {self.boxloop or 'rejects'}, stanc {self.stanc or 'rejects'}"


@dataclass(frozen=True)
class SignatureComparison:
    names: tuple[str, ...]  # every library name compared (functions and suffixed distribution forms)
    stanc_overloads: int  # stanc's concrete signatures for those names (types boxloop represents)
    calls: int  # argument-type combinations tried
    differences: tuple[SignatureDifference, ...]

    @property
    def differing_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(d.name for d in self.differences))


@lru_cache(maxsize=1)
def stanc_signature_table() -> dict:
    """stanc's signatures by name, in boxloop's types (signatures over complex numbers, tuples or
    function arguments, which boxloop has no values of, are left out)."""
    from .signatures import parse_stanc_signature

    table: dict = {}
    for line in math_signatures():
        parsed = parse_stanc_signature(line)
        if parsed is not None:
            table.setdefault(parsed[0], []).append(parsed[1])
    return table


@lru_cache(maxsize=None)
def _stanc_index(name: str) -> dict:
    return {sig.params: sig.returns for sig in stanc_signature_table().get(name, [])}


def _stanc_resolve(name: str, args):
    """stanc's rule, written out on its own: of the signatures every argument fits (its own type,
    or int promoted to real element by element), the one with the fewest promotions."""
    from .types import ValueType

    index = _stanc_index(name)
    options = [[(a, 0)] + ([(ValueType("real", a.array_dims), 1)] if a.kind == "int" else []) for a in args]
    fitting = [(sum(cost for _, cost in combo), tuple(t for t, _ in combo))
               for combo in itertools.product(*options)]
    for _, params in sorted(fitting, key=lambda f: f[0]):
        if params in index:
            return index[params]
    return None


def library_names() -> tuple[str, ...]:
    """Every name boxloop's table answers for: its functions, and each distribution's suffixed forms
    that boxloop or Stan has."""
    from . import library

    table = stanc_signature_table()
    names = list(library.FUNCTIONS)
    for dist in library.DISTRIBUTIONS.values():
        density = "lpmf" if dist.discrete else "lpdf"
        for suffix in (density, "lcdf", "lccdf", "cdf", "rng"):
            name = f"{dist.name}_{suffix}"
            if library.resolve_suffixed(name) is not None or name in table:
                names.append(name)
    return tuple(names)


def operator_names() -> tuple[str, ...]:
    """The Stan math functions behind boxloop's operators that are not library functions."""
    from . import operators

    return tuple(operators.FUNCTIONS) + ("minus",)


def _boxloop_call(name: str, args):
    from .operators import function_overloads
    from .supports import call_type

    if name in operator_names():
        sig = function_overloads(name).resolve(args)
        return None if sig is None else sig.returns
    return call_type(name, list(args))


def _boxloop_signatures(name: str):
    from . import library
    from .operators import function_overloads

    if name in operator_names():
        return tuple(function_overloads(name))
    resolved = library.resolve_suffixed(name)
    if resolved is None:
        spec = library.function(name)
        return () if spec is None else spec.signatures
    spec, suffix = resolved
    overloads = library.rng_overloads(spec.name) if suffix == "rng" else library.density_overloads(spec.name)
    return tuple(overloads)


def _candidate_calls(signatures):
    """Argument tuples that can bind to some signature: per position, every parameter type seen
    there and the int types that promote to it."""
    from .types import ValueType

    by_arity: dict = {}
    for sig in signatures:
        slots = by_arity.setdefault(len(sig.params), [set() for _ in sig.params])
        for slot, p in zip(slots, sig.params):
            slot.add(p)
            if p.kind == "real":
                slot.add(ValueType("int", p.array_dims))
    for slots in by_arity.values():
        yield from itertools.product(*(sorted(s, key=str) for s in slots))


def compare_signatures(names=None) -> SignatureComparison:
    """Every call to a library name (or an operator's function) that boxloop or stanc accepts, with
    the type each gives it."""
    table = stanc_signature_table()
    names = tuple(names) if names is not None else library_names() + operator_names()
    differences, calls, overloads = [], 0, 0
    for name in names:
        stanc_sigs = table.get(name, [])
        overloads += len(stanc_sigs)
        for args in _candidate_calls(list(stanc_sigs) + list(_boxloop_signatures(name))):
            calls += 1
            ours, theirs = _boxloop_call(name, args), _stanc_resolve(name, args)
            if ours != theirs:
                differences.append(SignatureDifference(name, args, ours, theirs))
    return SignatureComparison(names, overloads, calls, tuple(differences))
