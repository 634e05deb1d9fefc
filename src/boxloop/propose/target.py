"""What one constrained decoding run writes: the grammar, the forced prefix, the block to open.

Three operations (DESIGN §5, RefineStat's L_cd):
- "program": after the data block D, write the rest (parameters ... model, optionally generated
  quantities);
- "prior": after D, write a new P (parameters, transformed parameters, a model block of priors);
- "likelihood": after D‖P, write a new L (more statements inside P's model block, which the
  prefix leaves open).
The context is re-printed through the canonical printer, so comments and layout in it do not matter,
and the generation grammar is the project grammar with its `start` rule narrowed to the operation
and comments turned off (they cost tokens, carry no meaning, and could run on without end).

A program or likelihood is only a model of the data when it has a likelihood for the observed
variable and every parameter reaches a likelihood (`model_problems`): the decoder does not close
the model block before that holds, and a result without it is not valid.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from ..errors import ProgramError, ProposerError
from ..lang import ast, blocks, grammar_text, parse
from ..lang.diagnostics import Diagnostic, error
from ..lang.printer import to_stan
from .base import BLOCKS

DATA_BLOCKS = ("data", "transformed data")
_START = re.compile(r"(?m)^start:.*$")
_COMMENTS = re.compile(r"(?m)^%ignore (LINE|BLOCK)_COMMENT\s*$")

# Text a model learnt from ends with a newline after the last `}`, and a tokenizer often spells
# that close as one token ("\n}\n"). llguidance allows no ignored whitespace after the grammar's
# last lexeme, so without this the model's own way of ending a program is masked: the SPFN then
# paid about 22 nats a program for "\n" + "}", and its scores were off by that much.
_FINAL_NEWLINE = "\nFINAL_NEWLINE: /\\n/\n"

_STARTS = {
    "program": "start: data_block tdata_block? params_block tparams_block? model_block",
    "prior": "start: data_block tdata_block? params_block tparams_block? model_block",
    "likelihood": "start: data_block tdata_block? params_block? tparams_block? model_block",
}


@dataclass(frozen=True)
class Target:
    """`prefix` is forced through the matcher; `open_block` is the block the prefix leaves open
    (None: generation starts between blocks); `context` is the parsed context, fed to the checker
    first so the symbol table knows its names."""

    operation: str
    grammar: str
    prefix: str
    open_block: str | None
    context: ast.Program
    generated_quantities: bool = False
    observed: str | None = None  # the variable the program must model (the task's target)

    def done_after(self, block: str) -> bool:
        """Does closing `block` end the program?"""
        if block == "generated quantities":
            return True
        return block == "model" and not (self.operation == "program" and self.generated_quantities)


def make_target(context: str, operation: str = "program", *, generated_quantities: bool = False,
                observed: str | None = None) -> Target:
    """The decoding target for `operation` after the fixed `context` text; with `observed`, the
    written program must give that variable a likelihood."""
    if operation not in BLOCKS:
        raise ProposerError(f"unknown block {operation!r}; pass block= one of {', '.join(BLOCKS)}",
                            code="propose.bad_block")
    program = _parse_context(context)
    names = [b.name for b in program.blocks]
    if operation == "likelihood":
        _require(set(names) <= {*DATA_BLOCKS, "parameters", "transformed parameters", "model"}
                 and "parameters" in names,
                 "a likelihood is written after D‖P: pass a context with the data and parameters "
                 "blocks (and the prior's model block), without generated quantities")
        prefix, open_block = _open_model(program), "model"
    else:
        _require(set(names) <= set(DATA_BLOCKS) and "data" in names,
                 f"a {operation} is written after the data: pass a context holding only the data "
                 "(and transformed data) blocks")
        prefix, open_block = to_stan(program), None
    with_gq = generated_quantities and operation == "program"
    return Target(operation, generation_grammar(operation, with_gq), prefix, open_block, program, with_gq,
                  observed)


@functools.cache
def generation_grammar(operation: str, generated_quantities: bool = False) -> str:
    """The project grammar, narrowed to `operation`, without comments (llguidance Lark text)."""
    start = _STARTS[operation] + (" gq_block?" if generated_quantities else "") + " FINAL_NEWLINE?"
    text = grammar_text()
    if len(_START.findall(text)) != 1 or len(_COMMENTS.findall(text)) != 2:
        raise ProposerError("the grammar file no longer has one `start:` rule and two comment "
                            "%ignore lines; update propose/target.py to match it",
                            code="propose.grammar_changed")
    return _COMMENTS.sub("", _START.sub(start, text)) + _FINAL_NEWLINE


def _parse_context(context: str) -> ast.Program:
    try:
        return parse(context)
    except ProgramError as exc:
        raise ProposerError(f"the fixed context does not parse: {exc}; pass program text such as "
                            "task.data_block()", code="propose.bad_context") from None


def _open_model(program: ast.Program) -> str:
    """Context text whose model block is left open (added when the context has none)."""
    text = to_stan(program).rstrip()
    if program.block("model") is None:
        return text + "\nmodel {\n"
    # The printer puts the model block last (after the parameter blocks), so its `}` ends the text.
    return text[:-1].rstrip() + "\n"


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ProposerError(message, code="propose.bad_context")


# ---- which statements belong to the operation ---------------------------------------------------

_DATA_ORIGINS = ("data", "transformed data")
_PARAM_ORIGINS = ("parameter", "transformed parameter")


def role_error(target: Target, block: str, stmt, origin_of) -> Diagnostic | None:
    """A model statement on the wrong side of the D‖P‖L split for this operation, or None.

    A new prior must not score data (that is L's job), and a new likelihood must not give a
    parameter a second prior. `origin_of(name)` gives a declared name's origin (or None).
    """
    if block != "model" or target.operation == "program":
        return None
    for tilde in _tildes(stmt):
        name = ast.base_name(tilde.lhs)
        origin = origin_of(name) if name else None
        if target.operation == "prior" and origin in _DATA_ORIGINS:
            return error("propose.likelihood_in_prior", "phi4",
                         f"`{name} ~ ...` scores data, which is the likelihood's job; a new prior "
                         "may only give parameters distributions", tilde.pos)
        if target.operation == "likelihood" and origin in _PARAM_ORIGINS:
            return error("propose.prior_in_likelihood", "phi4",
                         f"`{name} ~ ...` gives the parameter '{name}' a second prior; a likelihood "
                         "must score the data", tilde.pos)
    return None


def _tildes(stmt):
    match stmt:
        case ast.Tilde():
            yield stmt
        case ast.For() | ast.ForEach():
            yield from _tildes(stmt.body)
        case ast.If():
            yield from _tildes(stmt.then)
            yield from _tildes(stmt.other)
        case ast.Compound():
            for s in stmt.stmts:
                yield from _tildes(s)


# ---- is it a model of the data? ----------------------------------------------------------------


def model_problems(target: Target, program: ast.Program) -> list[Diagnostic]:
    """Why `program` is not yet a model of the observed data, for a program or likelihood target
    with an observed variable (else nothing): it has no likelihood for that variable, or a
    parameter is not used: it reaches no likelihood, directly, through transformed parameters and
    locals, or through the prior of a parameter that does (a hierarchy's hyperparameters), so
    only its own prior speaks for it."""
    if target.observed is None or target.operation == "prior":
        return []
    likelihood = blocks(program).likelihood_stmts
    problems = []
    if target.observed not in {name for s in likelihood for name, _ in _scored(s)}:
        problems.append(error("propose.no_likelihood", "phi4", f"the program does not model "
                              f"'{target.observed}': add a likelihood such as `{target.observed} ~ ...;`"))
    twice = _whole_tildes(program, target.observed)[:-1]
    if twice:
        problems.append(error("propose.modelled_twice", "phi4", f"'{target.observed}' is given a distribution "
                              f"{len(twice) + 1} times, first by `{to_stan(twice[0]).strip()}`: a program models "
                              "each observation once; keep its likelihood and drop the others", twice[0].pos))
    reached = _reached(program, set().union(*(ast.free_names(s) for s in likelihood)))
    for decl in program.stmts("parameters"):
        if decl.name not in reached:
            problems.append(error("propose.unused_parameter", "phi4", f"parameter '{decl.name}' is not "
                                  "used by any likelihood (nor by the prior of a parameter that is), so "
                                  "the data say nothing about it; use it or drop it", decl.pos))
    return problems


def one_likelihood(target: Target, program: ast.Program) -> ast.Program:
    """`program` without the earlier of two or more `y ~ ...` statements on the whole observed
    variable, when what is left is a model of the data (else `program` unchanged). A language
    model that writes its priors first sometimes writes a stray `y ~ normal(0, 1);` among them
    before the likelihood; canonical programs put the likelihood last."""
    stray = _whole_tildes(program, target.observed)[:-1]
    if not stray:
        return program
    model = tuple(st for st in program.stmts("model") if not any(st is x for x in stray))
    kept = replace(program, blocks=tuple(replace(b, stmts=model) if b.name == "model" else b for b in program.blocks))
    return kept if not model_problems(target, kept) else program


def _whole_tildes(program: ast.Program, observed: str | None) -> list:
    """The model block's top-level `observed ~ ...;` statements on the whole variable, in order."""
    return [st for st in program.stmts("model")
            if isinstance(st, ast.Tilde) and isinstance(st.lhs, ast.Var) and st.lhs.name == observed]


def _scored(stmt):
    """(variate name, the expressions its density depends on) for each `~` and density call."""
    return [score for node in ast.walk(stmt) if (score := _score(node)) is not None]


def _score(node):
    if isinstance(node, ast.Tilde):
        return ast.base_name(node.lhs), node.args + ((node.truncation,) if node.truncation else ())
    if isinstance(node, ast.Call) and node.conditional and node.args:
        return ast.base_name(node.args[0]), node.args[1:]
    return None


def _reached(program: ast.Program, names: set) -> set:
    """`names` and everything they depend on: what they are computed from, and the arguments of
    their own distributions."""
    sources = {}
    for node in (n for block in program.blocks for s in block.stmts for n in ast.walk(s)):
        if isinstance(node, ast.Decl):
            sources.setdefault(node.name, set()).update(ast.free_names(node))
        elif isinstance(node, ast.Assign) and (name := ast.base_name(node.lhs)) is not None:
            sources.setdefault(name, set()).update(ast.free_names(node.rhs) | ast.free_names(node.lhs))
        if (score := _score(node)) is not None:
            sources.setdefault(score[0], set()).update(*(ast.free_names(a) for a in score[1]))
    reached, todo = set(), list(names)
    while todo:
        name = todo.pop()
        if name not in reached:
            reached.add(name)
            todo.extend(sources.get(name, ()))
    return reached
