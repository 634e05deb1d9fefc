"""Prior constants as data, so that programs differing only in those numbers share one kernel.

Programs proposed for one dataset often differ only in the numbers of their priors (`normal(0, 5)`
against `normal(0, 2)`). Written into the trace, each number makes its own XLA program; read from
the data, which the kernel takes as arguments, they make one. `lift_constants` rewrites each
eligible literal into a `real` data variable `__c0`, `__c1`, ... (in source order; a Stan identifier
starts with a letter, so no program declares these) and returns the values to add to the data.

Eligible, conservatively: a number (or its negation) written directly as an argument of a library
distribution, in a `~` of the model block or a `target += foo_lpdf(y | ...)` (`_lpmf`), at an
argument that the distribution table types as real and never int. Stan promotes an int literal
there to real, so the density is unchanged. Binomial's N, sizes, bounds, indices, loop bounds and
arithmetic (where 1/2 is integer division) keep their literals.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..lang import ast, library
from ..lang.consteval import literal_number
from ..lang.signatures import choices
from ..lang.types import REAL, Arg

_PREFIX = "__c"


@dataclass(frozen=True)
class Lifted:
    program: ast.Program  # the skeleton: the program reading its lifted constants from data
    constants: dict  # data name -> float, in source order


def lift_constants(program: ast.Program) -> Lifted:
    """The program with its eligible prior constants read from `real` data, and their values; the
    program itself when it has none."""
    model = program.block("model")
    if model is None:
        return Lifted(program, {})
    constants: dict = {}
    # The program's own foo_lpdf is what `~ foo(...)` calls (as in `statements`), not the library's.
    own = frozenset(f.name.rpartition("_")[0] for f in program.functions
                    if f.name.endswith(("_lpdf", "_lpmf")))

    def lift(e):
        value = literal_number(e)
        if value is None:
            return e
        name = f"{_PREFIX}{len(constants)}"
        constants[name] = value
        return ast.Var(name, e.pos)

    def lift_args(args: tuple, params: tuple) -> tuple:
        return tuple(lift(a) if _real_only(p) else a for a, p in zip(args, params)) + args[len(params):]

    def visit(node):
        if isinstance(node, ast.Tilde):
            spec = library.distribution(node.dist)
            if spec is None or spec.name in own:
                return node
            return dataclasses.replace(node, args=lift_args(node.args, spec.args))
        if isinstance(node, ast.TargetPlus) and (spec := _density_call(node.expr, own)) is not None:
            c = node.expr
            call = dataclasses.replace(c, args=(c.args[0], *lift_args(c.args[1:], spec.args)))
            return dataclasses.replace(node, expr=call)
        return None

    lifted = ast.rewrite(model, visit)
    if not constants:
        return Lifted(program, {})
    blocks = tuple(lifted if b is model else b for b in program.blocks)
    return Lifted(_declare(dataclasses.replace(program, blocks=blocks), tuple(constants)), constants)


def _real_only(arg: Arg) -> bool:
    # An argument that also takes int might bind an int literal to another overload.
    types = choices(arg.shape)
    return REAL in types and not any(t.is_int for t in types)


def _density_call(e, own: frozenset):
    """The library distribution of `foo_lpdf(y | ...)` / `foo_lpmf(y | ...)`, else None."""
    if not (isinstance(e, ast.Call) and e.conditional):
        return None
    resolved = library.resolve_suffixed(e.name)
    if resolved is None or resolved[1] not in ("lpdf", "lpmf") or resolved[0].name in own:
        return None
    return resolved[0]


def _declare(program: ast.Program, names: tuple) -> ast.Program:
    decls = tuple(ast.Decl(ast.TypeSpec("real"), n) for n in names)
    data = program.block("data")
    if data is None:
        return dataclasses.replace(program, blocks=(ast.Block("data", decls), *program.blocks))
    blocks = tuple(dataclasses.replace(b, stmts=b.stmts + decls) if b is data else b for b in program.blocks)
    return dataclasses.replace(program, blocks=blocks)
