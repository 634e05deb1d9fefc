"""Canonical form, structural hash, and the D ‖ P ‖ L split of a program.

Canonical text (DESIGN §2 "Canonical form") is the printer's text of a normalised program:

- every loop and if body is a braced block (`else { if ... }` becomes `else if`); empty blocks
  are dropped;
- statements in each block and in each nested body are in a topological order of their
  read/write dependencies, ties broken by (prior before likelihood in the model block, text);
- data variables keep their names (the dataset fixes them); every other variable is renamed by
  its block — transformed data td1.., parameters p1.., transformed parameters tp1.., model locals
  m1.., generated quantities g1.. — numbered in order of declaration in the canonical order, and
  loop variables are named by nesting depth i1, i2, ... A generated name that a data variable (or
  an undeclared name) already uses gets a trailing '_'.

The canonical names must not depend on the original names or on the order of independent
statements, so they are derived from structure alone: Weisfeiler–Lehman colour refinement over
variables (a variable's colour is its erased declaration, refined by the multiset of renderings
of the statements that mention it, with itself shown as SELF and other variables by their
colour). Variables still tied after refinement are split by individualisation: when the tied
variables are interchangeable (swapping any two leaves the program the same) all at once, since
every choice prints the same text; otherwise each member in turn, keeping the smallest text. Two
budgets bound that search, a number of colourings and an amount of rendering work proportional
to the program's size (so that the canonical form costs time linear in the program); past them
refinement stops where it is and the choice follows declaration order, so only then (variables
that refinement cannot tell apart in that much work and that are not interchangeable) could
reordering change the hash, and the text need not be its own canonical form. No program among
the 441 of the Stan corpus and the tests comes within a quarter of the work budget. Different
programs never share a canonical text.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import heapq
import re
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import ProgramError
from . import ast
from .diagnostics import error
from .parser import parse
from .printer import to_stan

PREFIX = {
    "transformed data": "td",
    "parameters": "p",
    "transformed parameters": "tp",
    "model": "m",
    "generated quantities": "g",
}
LOOP_PREFIX = "i"
HASH_DIGITS = 16
_LEAF_BUDGET = 8  # colourings tried when variables stay tied after refinement
_WORK_PER_PIECE = 64  # rendering work of the colouring search per template piece of the program
_DENSITY_SUFFIXES = ("_lpdf", "_lpmf", "_lupdf", "_lupmf", "_lcdf", "_lccdf", "_cdf")
PRIOR, LIKELIHOOD = 0, 1


# ---- resolution: every declaration gets a unique internal token ------------------------------


@dataclass(frozen=True)
class Binding:
    """One declared non-data variable. `loop_depth` is 0 for variables, d >= 1 for loop variables."""

    token: str
    name: str
    block: str
    loop_depth: int = 0


@dataclass(frozen=True)
class _Analysis:
    """The program with each non-data declaration (and its uses) renamed to a unique token.

    Tokens start with '_', which no Stan identifier does, so they clash with nothing; scoping is
    settled once here and every later step can treat names as plain strings.
    """

    program: ast.Program
    bindings: Mapping[str, Binding]
    data: frozenset  # names declared in the data block
    kept: frozenset  # names printed as written: data and undeclared names


_NAME_FIELDS = {(ast.Var, "name"), (ast.Decl, "name"), (ast.For, "var"), (ast.ForEach, "var")}
_LEAVES = (ast.IntLit, ast.RealLit, ast.Pos, str, int, float, bool, type(None))


@functools.cache
def _fields(cls) -> tuple:
    """(field name, is a variable name) for each field of an AST class except its position."""
    return tuple((f.name, (cls, f.name) in _NAME_FIELDS) for f in dataclasses.fields(cls) if f.name != "pos")


def rename(node, names: Mapping[str, str]):
    """`node` with every variable name (uses, declarations, loop variables) looked up in `names`."""
    if isinstance(node, _LEAVES):
        return node
    if isinstance(node, tuple):
        return tuple(rename(x, names) for x in node)
    if isinstance(node, ast.Var):
        return ast.Var(names[node.name], node.pos) if node.name in names else node
    changes = {}
    for name, is_var_name in _fields(type(node)):
        value = getattr(node, name)
        new = names.get(value, value) if is_var_name else rename(value, names)
        if new is not value:
            changes[name] = new
    return dataclasses.replace(node, **changes) if changes else node


class _Resolver:
    """Walks blocks in order with a scope stack, giving each declaration a fresh token."""

    def __init__(self):
        self.scopes: list[dict] = [{}]
        self.bindings: dict[str, Binding] = {}
        self.data: set[str] = set()
        self.undeclared: set[str] = set()

    def program(self, program: ast.Program) -> _Analysis:
        blocks = tuple(self.block(b) for b in program.blocks)
        return _Analysis(
            dataclasses.replace(program, blocks=blocks), self.bindings, frozenset(self.data), frozenset(self.data | self.undeclared)
        )

    def block(self, block: ast.Block) -> ast.Block:
        local = block.name in ("model", "generated quantities")  # their names are not global
        if local:
            self.scopes.append({})
        stmts = tuple(self.stmt(s, block.name, 0) for s in block.stmts)
        if local:
            self.scopes.pop()
        return dataclasses.replace(block, stmts=stmts)

    def lookup(self, name: str) -> str:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        self.undeclared.add(name)
        return name

    def expr(self, node):
        return None if node is None else rename(node, {n: self.lookup(n) for n in ast.free_names(node)})

    def declare(self, name: str, block: str, loop_depth: int = 0) -> str:
        if block == "data":
            self.data.add(name)
            token = name
        else:
            token = f"_{len(self.bindings)}"
            self.bindings[token] = Binding(token, name, block, loop_depth)
        self.scopes[-1][name] = token
        return token

    def scoped(self, s, block: str, loops: int, loop_var: str | None = None):
        """Resolve a body in its own scope, with the loop variable declared there when given."""
        self.scopes.append({})
        var = None if loop_var is None else self.declare(loop_var, block, loops + 1)
        body = self.stmt(s, block, loops + (var is not None))
        self.scopes.pop()
        return var, body

    def stmt(self, s, block: str, loops: int):
        match s:
            case ast.Decl():
                typ, init = self.expr(s.type), self.expr(s.init)  # the initialiser cannot see the name
                return dataclasses.replace(s, type=typ, init=init, name=self.declare(s.name, block))
            case ast.Tilde() | ast.TargetPlus() | ast.Assign() | ast.Return() | ast.CallStmt() | ast.Print():
                return self.expr(s)
            case ast.Break() | ast.Continue():
                return s
            case ast.While():
                cond, body = self.expr(s.cond), self.scoped(s.body, block, loops)[1]
                return dataclasses.replace(s, cond=cond, body=body)
            case ast.For():
                lo, hi = self.expr(s.lo), self.expr(s.hi)
                var, body = self.scoped(s.body, block, loops, s.var)
                return dataclasses.replace(s, var=var, lo=lo, hi=hi, body=body)
            case ast.ForEach():
                container = self.expr(s.container)
                var, body = self.scoped(s.body, block, loops, s.var)
                return dataclasses.replace(s, var=var, container=container, body=body)
            case ast.If():
                cond, then = self.expr(s.cond), self.scoped(s.then, block, loops)[1]
                other = None if s.other is None else self.scoped(s.other, block, loops)[1]
                return dataclasses.replace(s, cond=cond, then=then, other=other)
            case ast.Compound():
                self.scopes.append({})
                stmts = tuple(self.stmt(x, block, loops) for x in s.stmts)
                self.scopes.pop()
                return dataclasses.replace(s, stmts=stmts)
        raise TypeError(f"not a statement: {s!r}")


def _analyse(program: ast.Program) -> _Analysis:
    return _Resolver().program(program)


# ---- reads and writes ---------------------------------------------------------------------------


def _assigned(lhs) -> set[str]:
    while isinstance(lhs, ast.Index):
        lhs = lhs.base
    return {lhs.name} if isinstance(lhs, ast.Var) else ast.free_names(lhs)


# The log density as a pseudo-variable (no identifier looks like it): `~` and `target +=` add to
# it and commute with each other, but a `target()` call reads it and must stay on its side of them.
TARGET = "target()"


def _writes(s) -> frozenset:
    """Names a statement declares or assigns (anywhere inside it)."""
    out = set()
    for n in ast.walk(s):
        if isinstance(n, ast.Decl):
            out.add(n.name)
        elif isinstance(n, ast.Assign):
            out |= _assigned(n.lhs)
        elif isinstance(n, (ast.Tilde, ast.TargetPlus)):
            out.add(TARGET)
    return frozenset(out)


def _reads(s) -> frozenset:
    """Names a statement reads; an assigned variable counts as read too (`x[i] = ...`, `x += ...`)."""
    peeks = any(isinstance(n, ast.Call) and n.name == "target" and not n.args for n in ast.walk(s))
    return frozenset(ast.free_names(s) | ({TARGET} if peeks else set()))


def _topological(stmts: tuple, keys: list) -> tuple:
    """The order of `stmts` that keeps every dependent pair as written and otherwise takes the
    smallest key first; unique given the dependency graph, so it ignores independent reorderings."""
    n = len(stmts)
    succ = _dependency_edges([(_reads(s), _writes(s)) for s in stmts])
    indegree = [0] * len(succ)
    for js in succ:
        for j in js:
            indegree[j] += 1
    ready = [(keys[i], i) for i in range(n) if indegree[i] == 0]
    heapq.heapify(ready)
    order = []

    def release(i):
        for j in succ[i]:
            indegree[j] -= 1
            if indegree[j] == 0:
                if j < n:
                    heapq.heappush(ready, (keys[j], j))
                else:  # a barrier (see _dependency_edges) passes at once
                    release(j)

    while ready:
        _, i = heapq.heappop(ready)
        order.append(stmts[i])
        release(i)
    return tuple(order)


def _dependency_edges(effects: list) -> list:
    """Successor lists over the statements (0..n-1) and some barrier nodes (n..) whose transitive
    closure is exactly "i < j and the two are dependent" (one writes what the other reads or
    writes; two writes of TARGET commute). Kahn's algorithm gives the same order on any graph with
    that closure, and this one has O(mentions) edges where the pairwise test had n^2.

    A name other than TARGET links each use to the last write before it and each write to the
    reads since that write. TARGET is written by every `~`, so its writes between two reads form
    a group, and a barrier node after each group links it to the next one."""
    succ = [[] for _ in effects]
    last_write, reads_since = {}, defaultdict(list)
    group, group_kind, barrier = [], None, None
    for j, (reads, writes) in enumerate(effects):
        for name in (reads | writes) - {TARGET}:
            if name in last_write:
                succ[last_write[name]].append(j)
            if name in writes:
                for k in reads_since.pop(name, ()):
                    if k != j:
                        succ[k].append(j)
                last_write[name] = j
            else:
                reads_since[name].append(j)
        kind = (TARGET in reads, TARGET in writes)
        if kind == (False, False):
            continue
        if kind != group_kind or kind == (True, True):
            if group:
                barrier = len(succ)
                succ.append([])
                for k in group:
                    succ[k].append(barrier)
            group, group_kind = [], kind
        if barrier is not None:
            succ[barrier].append(j)
        group.append(j)
    return succ


# ---- prior / likelihood classification of model statements ---------------------------------------


def _variate_names(e) -> set[str]:
    """Names an expression is built from, not counting those used only as indices:
    `y[idx[n]]` is about y, `theta[group[n]]` is about theta."""
    if isinstance(e, ast.Index):
        return _variate_names(e.base)
    if isinstance(e, ast.Var):
        return {e.name}
    return set().union(*(_variate_names(c) for c in ast.children(e) if not isinstance(c, ast.Slice)))


def _leaf_class(s, datalike: set) -> int | None:
    """L for a `~` whose left side is data, or a `target +=` scoring data; P for other scoring
    statements; None for local computation (declarations and assignments)."""
    match s:
        case ast.Tilde(lhs=lhs):
            return LIKELIHOOD if _variate_names(lhs) & datalike else PRIOR
        case ast.TargetPlus(expr=e):
            densities = [c for c in ast.walk(e) if isinstance(c, ast.Call) and c.name.endswith(_DENSITY_SUFFIXES)]
            variates = [c.args[0] for c in densities if c.args] or [e]
            return LIKELIHOOD if any(_variate_names(v) & datalike for v in variates) else PRIOR
    return None


def _data_derived(stmts: tuple, datalike: set) -> set:
    """Model locals whose every definition reads only data (and other such locals)."""
    defs = defaultdict(set)
    for s in stmts:
        for n in ast.walk(s):
            if isinstance(n, ast.Decl):
                defs[n.name] |= ast.free_names(n)
            elif isinstance(n, ast.Assign):
                for target in _assigned(n.lhs):
                    defs[target] |= ast.free_names(n) - {target}
    loops = {n.var for s in stmts for n in ast.walk(s) if isinstance(n, (ast.For, ast.ForEach))}
    # The least fixed point, by counting down what each local still waits for (a round-by-round
    # iteration takes as many rounds as the longest chain of locals).
    missing = {v: used - datalike - loops for v, used in defs.items()}
    waiting = defaultdict(list)
    for v, names in missing.items():
        for name in names:
            waiting[name].append(v)
    todo = [v for v, names in missing.items() if not names]
    derived = set(todo)
    while todo:
        done = todo.pop()
        for v in waiting[done]:
            missing[v].discard(done)
            if not missing[v] and v not in derived:
                derived.add(v)
                todo.append(v)
    return derived


def _model_classes(an: _Analysis) -> tuple:
    """PRIOR or LIKELIHOOD for each top-level model statement of an analysed program.

    A statement holding any likelihood `~`/`target +=` is L; else one holding a prior one is P.
    A statement that only computes locals goes with its readers: P if any P statement reads what
    it writes (transitively), else L if an L statement does, else P.
    """
    stmts = an.program.stmts("model")
    datalike = set(an.data) | {t for t, b in an.bindings.items() if b.block == "transformed data"}
    datalike |= _data_derived(stmts, datalike)
    direct = []
    for s in stmts:
        leaves = {_leaf_class(n, datalike) for n in ast.walk(s)} - {None}
        direct.append(max(leaves) if leaves else None)
    masks = _reached_masks(stmts, direct)
    return tuple(c if c is not None else _reached_class(m) for c, m in zip(direct, masks))


def _reached_masks(stmts: tuple, direct: list) -> list:
    """For each local computation, the classes (a bit mask: 1 << PRIOR, 1 << LIKELIHOOD) of the
    scoring statements that read its results, directly or through other local computations.

    The classes flow backwards from the scoring statements, through the names they read, to the
    local computations writing those names, and on through what those read; a mask only grows
    (at most twice), so this is linear in the mentions, where a search from each local was not."""
    effects = [(_reads(s), _writes(s)) for s in stmts]
    writers = defaultdict(list)  # name -> local computations writing it
    for i, (_, writes) in enumerate(effects):
        if direct[i] is None:
            for name in writes:
                writers[name].append(i)
    masks = [0] * len(stmts)
    name_mask = defaultdict(int)
    todo = []

    def reach(name, mask):
        if name_mask[name] | mask != name_mask[name]:
            name_mask[name] |= mask
            todo.append(name)

    for i, c in enumerate(direct):
        if c is not None:
            for name in effects[i][0]:
                reach(name, 1 << c)
    while todo:
        name = todo.pop()
        for i in writers.get(name, ()):
            if masks[i] | name_mask[name] != masks[i]:
                masks[i] |= name_mask[name]
                for read in effects[i][0]:
                    reach(read, masks[i])
    return masks


def _reached_class(mask: int) -> int:
    """P if any reader is P, else L if any, else P."""
    return PRIOR if mask & (1 << PRIOR) or not mask else LIKELIHOOD


# ---- normalisation -------------------------------------------------------------------------------


def _braced(s):
    """Braces around every body; `else { if ... }` as `else if`."""
    match s:
        case ast.For() | ast.ForEach() | ast.While():
            return dataclasses.replace(s, body=_as_block(s.body))
        case ast.If(other=other):
            if isinstance(other, ast.Compound) and len(other.stmts) == 1 and isinstance(other.stmts[0], ast.If):
                other = other.stmts[0]
            other = _braced(other) if isinstance(other, ast.If) else other and _as_block(other)
            return dataclasses.replace(s, then=_as_block(s.then), other=other)
        case ast.Compound(stmts=stmts):
            return dataclasses.replace(s, stmts=tuple(_braced(x) for x in stmts))
    return s


def _as_block(s) -> ast.Compound:
    return _braced(s) if isinstance(s, ast.Compound) else ast.Compound((_braced(s),))


def normalise(program: ast.Program) -> ast.Program:
    """Drop empty blocks and brace every body: differences of layout only."""
    functions = tuple(f if f.body is None else dataclasses.replace(f, body=_braced(f.body))
                      for f in program.functions)
    return ast.Program(tuple(dataclasses.replace(b, stmts=tuple(map(_braced, b.stmts))) for b in program.blocks
                             if b.stmts), functions)


# ---- ordering ------------------------------------------------------------------------------------


def _text(s, names: Mapping[str, str]) -> str:
    """The printed text of `s` with its variables named by `names` (the others as they are)."""
    return _fill(_template(s), names)


def _fill(parts: tuple, names: Mapping[str, str], self_token: str | None = None) -> str:
    """A template's text with its tokens named by `names`, and `self_token` shown as SELF."""
    return "".join(p if k % 2 == 0 else "SELF" if p == self_token else names.get(p, p)
                   for k, p in enumerate(parts))


# Internal tokens (see _Analysis) as printed: `_` and digits, not part of a longer word; string
# literals are matched first so that nothing inside one is taken for a token.
_TOKEN_OR_STRING = re.compile(r'"[^"]*"|(?<![A-Za-z0-9_])_[0-9]+(?![A-Za-z0-9_])')


@functools.lru_cache(maxsize=1 << 16)
def _template(node) -> tuple:
    """The printed text of `node` cut around its tokens: (text, token, text, ..., token, text).
    The search renders each statement many times under different names; printing it once and
    filling in the names is what keeps that affordable."""
    text, parts, start = to_stan(node), [], 0
    for m in _TOKEN_OR_STRING.finditer(text):
        if not m.group().startswith('"'):
            parts += [text[start:m.start()], m.group()]
            start = m.end()
    parts.append(text[start:])
    return tuple(parts)


def _order_nested(s, key):
    """`s` with every body inside it in canonical order."""
    match s:
        case ast.For() | ast.ForEach():
            return dataclasses.replace(s, body=_order_nested(s.body, key))
        case ast.If():
            other = None if s.other is None else _order_nested(s.other, key)
            return dataclasses.replace(s, then=_order_nested(s.then, key), other=other)
        case ast.Compound(stmts=stmts):
            return dataclasses.replace(s, stmts=_order(stmts, key, (0,) * len(stmts)))
    return s


# Statements whose place in a list is part of their meaning: control leaving a loop or function,
# output, a rejection, or a call whose effects (target, random draws) the dependency graph cannot see.
_PINNED = (ast.Break, ast.Continue, ast.Return, ast.Print, ast.CallStmt, ast.While)


def _pinned(stmts: tuple) -> bool:
    return any(isinstance(n, _PINNED) for s in stmts for n in ast.walk(s))


def _order(stmts: tuple, key, ranks: tuple) -> tuple:
    """Canonical order of one statement list, by (rank, key(statement)) where free; a list holding
    control flow or effects (see _PINNED) keeps its order."""
    stmts = tuple(_order_nested(s, key) for s in stmts)
    if _pinned(stmts):
        return stmts
    return _topological(stmts, [(r, *key(s)) for s, r in zip(stmts, ranks)])


def _arrange(program: ast.Program, key, classes: tuple) -> ast.Program:
    blocks = []
    for b in program.blocks:
        ranks = classes if b.name == "model" else (0,) * len(b.stmts)
        blocks.append(dataclasses.replace(b, stmts=_order(b.stmts, key, ranks)))
    return dataclasses.replace(program, blocks=tuple(blocks))


def _sort_key(erased: Mapping[str, str], names: Mapping[str, str]):
    """Declarations sort by their type first (names erased), so numbering follows the type;
    then everything sorts by its text under `names`."""

    def key(s) -> tuple:
        return (_text(s, erased) if isinstance(s, ast.Decl) else "", _text(s, names))

    return key


# ---- colour refinement ---------------------------------------------------------------------------


def _digest(*parts) -> str:
    return hashlib.sha256("\x1f".join(map(str, parts)).encode()).hexdigest()[:HASH_DIGITS]


def _bodies_sorted(s, shown: Mapping[str, str], self_token: str | None):
    """`s` with the statements of each nested body sorted by their text under `shown` (with
    `self_token` as SELF). The order comes from the colours alone, never from the names or the
    order the statements had, so two programs that differ only in those render the same."""
    match s:
        case ast.For() | ast.ForEach():
            return dataclasses.replace(s, body=_bodies_sorted(s.body, shown, self_token))
        case ast.If():
            other = None if s.other is None else _bodies_sorted(s.other, shown, self_token)
            return dataclasses.replace(s, then=_bodies_sorted(s.then, shown, self_token), other=other)
        case ast.Compound(stmts=stmts):
            inner = [_bodies_sorted(c, shown, self_token) for c in stmts]
            return dataclasses.replace(s, stmts=tuple(sorted(inner, key=lambda c: _fill(_template(c), shown,
                                                                                          self_token))))
    return s


def _has_body(s) -> bool:
    return any(isinstance(n, ast.Compound) for n in ast.walk(s))


def _mentions(s) -> set[str]:
    return {n.name for n in ast.walk(s) if isinstance(n, (ast.Var, ast.Decl))}


@dataclass(frozen=True)
class _Use:
    """A top-level statement mentioning a variable: its block, position, rank in that block's
    order (P before L in the model block), the statement and its template."""

    block: str
    index: int
    rank: int
    stmt: object
    template: tuple
    nested: bool  # it holds a body, whose statement order the rendering must not see


class _Work:
    """Rendering work the colouring search may still do (in template pieces, see `_template`).
    Past it, refinement stops where it is and the remaining ties are split in statement order, so
    only programs that need that much search can get a text that depends on statement order."""

    def __init__(self, limit: int):
        self.left = limit

    def spend(self, amount: int) -> bool:
        self.left -= amount
        return self.left >= 0

    @property
    def exhausted(self) -> bool:
        return self.left < 0


class _Colouring:
    """Colour refinement over the non-loop variables of an analysed program."""

    def __init__(self, an: _Analysis, loop_names: Mapping[str, str], classes: tuple):
        self.program, self.classes = an.program, classes
        self.loop_names = loop_names
        self.tokens = [t for t, b in an.bindings.items() if not b.loop_depth]
        self.uses = defaultdict(list)  # token -> [_Use of each top-level statement mentioning it]
        self.decls = {}
        tokens, self.size = set(self.tokens), 0
        for b in an.program.blocks:
            for i, s in enumerate(b.stmts):
                use = _Use(b.name, i, classes[i] if b.name == "model" else 0, s, _template(s), _has_body(s))
                for token in _mentions(s) & tokens:
                    self.uses[token].append(use)
                self.decls.update({n.name: n for n in ast.walk(s) if isinstance(n, ast.Decl)})
                self.size += len(_template(s))
        self.block = {t: an.bindings[t].block for t in self.tokens}
        self.round_cost = sum(len(u.template) for t in self.tokens for u in self.uses[t])
        self.work = _Work(_WORK_PER_PIECE * self.size + self.round_cost)
        self._free = None

    def initial(self) -> dict:
        erased = {**self.loop_names, **{t: f"<{self.block[t]}>" for t in self.tokens}}
        return {t: _digest(self.block[t], _fill(_template(self.decls[t]), erased, t)) for t in self.tokens}

    def refine(self, colours: dict) -> dict:
        """Refine until the partition stops splitting (or the work runs out)."""
        while self.work.spend(self.round_cost):
            shown = {**self.loop_names, **{t: f"<{c}>" for t, c in colours.items()}}
            new = {t: _digest(colours[t], *self._contexts(t, shown)) for t in self.tokens}
            if len(set(new.values())) == len(set(colours.values())):
                return colours
            colours = new
        return colours

    def _contexts(self, token: str, shown: Mapping[str, str]) -> list[str]:
        return sorted(u.block + ":" + self._render(u, shown, token) for u in self.uses[token])

    @staticmethod
    def _render(use: _Use, shown: Mapping[str, str], token: str) -> str:
        if not use.nested:
            return _fill(use.template, shown, token)
        return _fill(_template(_bodies_sorted(use.stmt, shown, token)), shown, token)

    def leaves(self, colours: dict, budget: list, depth: int = 0) -> list[dict]:
        """Colourings with no ties. The first tied class is split by individualising each member
        in turn (while the budget lasts), or all at once when its members are interchangeable,
        since then every choice prints the same program."""
        colours = self.refine(colours)
        if self.work.exhausted:
            budget[0] -= 1
            return [self._split_in_order(colours, depth)]
        classes = defaultdict(list)
        for t in self.tokens:
            classes[colours[t]].append(t)
        tied = next((members for _, members in sorted(classes.items()) if len(members) > 1), None)
        if tied is None:
            budget[0] -= 1
            return [colours]
        if budget[0] <= 0 or self._symmetric(tied):
            split = {t: _digest(colours[t], "*", depth, k) for k, t in enumerate(tied)}
            return self.leaves({**colours, **split}, budget, depth + 1)
        out = []
        for k, token in enumerate(tied):
            if k and budget[0] <= 0:
                break
            out += self.leaves({**colours, token: _digest(colours[token], "*", depth)}, budget, depth + 1)
        return out

    def _split_in_order(self, colours: dict, depth: int) -> dict:
        """Every remaining tie split at once, members numbered in declaration order."""
        seen = defaultdict(int)
        split = {}
        for t in self.tokens:
            split[t] = _digest(colours[t], "*", depth, seen[colours[t]])
            seen[colours[t]] += 1
        return split

    def _symmetric(self, members: list) -> bool:
        """Whether swapping the first member with each other one leaves the program the same up
        to the order of independent statements (then the swaps generate every permutation)."""
        first, layout = members[0], None
        for m in members[1:]:
            swap = {first: m, m: first}
            near = list({id(u.stmt): u for u in self.uses[first] + self.uses[m]}.values())
            # cheap necessary condition first: the statements that mention either look the same
            if sorted(f"{u.block}:{_text(u.stmt, {})}" for u in near) != \
                    sorted(f"{u.block}:{_text(u.stmt, swap)}" for u in near):
                return False
            if self._swap_keeps_free_statements(near, swap):
                continue
            if not self.work.spend(2 * self.size):
                return False
            layout = layout or self._layout(self.program)
            if self._layout(rename(self.program, swap)) != layout:
                return False
        return True

    def _swap_keeps_free_statements(self, near: list, swap: dict) -> bool:
        """A sufficient condition for the swap to keep the layout, without laying the program out:
        every statement it touches is free (no dependency on any other statement of its block)
        and the swap permutes their (block, rank, text) keys. Only these statements mention the
        swapped variables, so no other statement shares their keys, and the ordering picks the
        same texts at every step."""
        free = self._free_statements()
        if not all(free[u.block][u.index] for u in near):
            return False
        before = sorted((u.block, u.rank, _arranged_text(u.stmt)) for u in near)
        return before == sorted((u.block, u.rank, _arranged_text(rename(u.stmt, swap))) for u in near)

    def _free_statements(self) -> dict:
        """Per block, whether each top-level statement depends on no other statement of it."""
        if self._free is None:
            self._free = {}
            for b in self.program.blocks:
                succ = _dependency_edges([(_reads(s), _writes(s)) for s in b.stmts])
                linked = {i for i, js in enumerate(succ) if js} | {j for js in succ for j in js}
                self._free[b.name] = [i not in linked for i in range(len(b.stmts))]
        return self._free

    def _layout(self, program: ast.Program) -> str:
        return to_stan(_arrange(program, _sort_key({}, {}), self.classes))


def _arranged_text(s) -> str:
    """The text of a statement with its nested bodies in layout order."""
    return _text(_order_nested(s, _sort_key({}, {})), {})


# ---- canonical text ------------------------------------------------------------------------------


def _fresh(base: str, taken: frozenset) -> str:
    """`base`, or the first of base_, base_x, base_xx, ... that no kept name uses ('__' is
    reserved in Stan identifiers, so no second underscore)."""
    name, extra = base, 0
    while name in taken:
        name, extra = base + "_" + "x" * extra, extra + 1
    return name


def _loop_names(an: _Analysis) -> dict:
    return {t: _fresh(f"{LOOP_PREFIX}{b.loop_depth}", an.kept) for t, b in an.bindings.items() if b.loop_depth}


def _numbered(program: ast.Program, an: _Analysis, loop_names: Mapping[str, str]) -> dict:
    """Names by block prefix, numbered in order of declaration in `program`."""
    names, counts = dict(loop_names), defaultdict(int)
    for b in program.blocks:
        for s in b.stmts:
            for n in ast.walk(s):
                if isinstance(n, ast.Decl) and n.name in an.bindings and n.name not in names:
                    block = an.bindings[n.name].block
                    counts[block] += 1
                    names[n.name] = _fresh(f"{PREFIX[block]}{counts[block]}", an.kept)
    return names


@dataclass(frozen=True)
class _Canonical:
    text: str
    names: Mapping[str, str]  # token -> printed name
    an: _Analysis


@functools.lru_cache(maxsize=1024)
def _canonical(program: ast.Program, rename_vars: bool) -> _Canonical:
    an = _analyse(normalise(program))
    classes = _model_classes(an)
    if not rename_vars:
        names = {t: b.name for t, b in an.bindings.items()}
        return _Canonical(_text(_arrange(an.program, _sort_key(names, names), classes), names), names, an)
    loop_names = _loop_names(an)
    erased = {**loop_names, **{t: f"<{b.block}>" for t, b in an.bindings.items() if not b.loop_depth}}
    colouring = _Colouring(an, loop_names, classes)
    best = None
    for colours in colouring.leaves(colouring.initial(), [_LEAF_BUDGET]):
        shown = {**loop_names, **{t: f"<{c}>" for t, c in colours.items()}}
        # number the variables in a name-free order, then settle the order with the final names
        names = _numbered(_arrange(an.program, _sort_key(erased, shown), classes), an, loop_names)
        text = _text(_arrange(an.program, _sort_key(erased, names), classes), names)
        if best is None or text < best.text:
            best = _Canonical(text, names, an)
    return best


def canonical_text(program: ast.Program, rename: bool = True) -> str:
    """The canonical Stan text of `program` (see the module docstring). With rename=False the
    variables keep their names and only layout and statement order are normalised."""
    return _canonical(program, rename).text


def structural_hash(program: ast.Program) -> str:
    """First 16 hex digits of the sha256 of the renamed canonical text."""
    return hashlib.sha256(canonical_text(program).encode()).hexdigest()[:HASH_DIGITS]


def rename_map(program: ast.Program) -> dict[str, str]:
    """Original name -> canonical name, for data (unchanged) and every declared variable whose
    name is unambiguous; a local or loop name reused in separate scopes with different canonical
    names is left out."""
    result = _canonical(program, True)
    targets = defaultdict(set)
    for token, b in result.an.bindings.items():
        targets[b.name].add(result.names[token])
    out = {name: name for name in sorted(result.an.data)}
    out.update({name: next(iter(canon)) for name, canon in targets.items() if len(canon) == 1})
    return out


# ---- D ‖ P ‖ L -----------------------------------------------------------------------------------

_PIECE_BLOCKS = {
    "data": ("data", "transformed data"),
    "prior": ("parameters", "transformed parameters", "model"),
    "likelihood": ("model",),
    "generated": ("generated quantities",),
}
_ALIASES = {"d": "data", "p": "prior", "l": "likelihood", "g": "generated"}


@dataclass(frozen=True)
class DPL:
    """A program split into data ‖ prior ‖ likelihood (‖ generated quantities).

    D = the data and transformed data blocks. P = the parameters and transformed parameters
    blocks and the prior model statements. L = the likelihood model statements. Which model
    statement goes where (rule of `_model_classes`): a `~` whose left side is data (possibly
    indexed, or an expression of data), or a `target +=` whose density variates are data, is L,
    and so is any loop or if holding one; other `~`/`target +=` are P; statements computing
    locals go with the statements that read those locals (P if any P statement does). Data here
    means data, transformed data and model locals computed from data alone.

    Generated quantities are kept apart in `generated_blocks`: they neither define the prior nor
    score data, and a caller who rewrites L should regenerate or drop them.

    The text fields are program fragments `parse` accepts (P's model statements sit in a
    `model { }` block of their own); an empty piece is "".
    """

    data_blocks: tuple
    prior_blocks: tuple
    prior_stmts: tuple
    likelihood_stmts: tuple
    generated_blocks: tuple
    functions: tuple = ()  # the functions block, shared context of every piece

    @property
    def data(self) -> str:
        return _fragment(self.data_blocks)

    @property
    def prior(self) -> str:
        return _fragment(self.prior_blocks + _model_block(self.prior_stmts))

    @property
    def likelihood(self) -> str:
        return _fragment(_model_block(self.likelihood_stmts))

    @property
    def generated(self) -> str:
        return _fragment(self.generated_blocks)


def _model_block(stmts: tuple) -> tuple:
    return (ast.Block("model", tuple(stmts)),) if stmts else ()


def _fragment(blocks: tuple) -> str:
    return to_stan(ast.Program(tuple(blocks))) if blocks else ""


def blocks(program: ast.Program) -> DPL:
    """Split a program into D ‖ P ‖ L; statements keep their text and relative order."""
    classes = _model_classes(_analyse(program))
    model = program.stmts("model")

    def pick(names):
        return tuple(b for b in program.blocks if b.name in names)

    return DPL(
        data_blocks=pick(("data", "transformed data")),
        prior_blocks=pick(("parameters", "transformed parameters")),
        prior_stmts=tuple(s for s, c in zip(model, classes) if c == PRIOR),
        likelihood_stmts=tuple(s for s, c in zip(model, classes) if c == LIKELIHOOD),
        generated_blocks=pick(("generated quantities",)),
        functions=program.functions,
    )


def join(dpl: DPL) -> ast.Program:
    """The whole program again: blocks in BLOCK_ORDER, prior model statements before likelihood."""
    pieces = dpl.data_blocks + dpl.prior_blocks + _model_block(dpl.prior_stmts + dpl.likelihood_stmts)
    pieces += dpl.generated_blocks
    return ast.Program(tuple(sorted(pieces, key=lambda b: ast.BLOCK_ORDER.index(b.name))), dpl.functions)


def with_block(program: ast.Program, which: str, text: str) -> ast.Program:
    """`program` with one piece ("data", "prior", "likelihood" or "generated"; or D/P/L/G)
    replaced by new text, the rest fixed. The text is a fragment like the DPL fields and replaces
    the whole piece (a prior without a parameters block has no parameters); for the likelihood
    and generated pieces bare statements are accepted too.

    Raises ProgramError when the text does not parse or holds a block the piece does not own.
    """
    which = _ALIASES.get(which.lower(), which.lower())
    if which not in _PIECE_BLOCKS:
        raise ValueError(f"unknown piece {which!r}; expected one of {', '.join(_PIECE_BLOCKS)}")
    new = _parse_piece(which, text)
    stray = [b.name for b in new.blocks if b.name not in _PIECE_BLOCKS[which]]
    if stray:
        diag = error(
            "blocks.wrong_piece",
            "phi4",
            f"the {which} piece may hold only {' / '.join(_PIECE_BLOCKS[which])} blocks, not {', '.join(stray)}",
        )
        raise ProgramError(str(diag), [diag], code=diag.code)
    old, given = blocks(program), blocks(new)
    match which:
        case "data":
            dpl = dataclasses.replace(old, data_blocks=given.data_blocks)
        case "prior":
            model = new.stmts("model")
            dpl = dataclasses.replace(old, prior_blocks=given.prior_blocks, prior_stmts=model)
        case "likelihood":
            dpl = dataclasses.replace(old, likelihood_stmts=new.stmts("model"))
        case _:
            dpl = dataclasses.replace(old, generated_blocks=given.generated_blocks)
    return join(dpl)


def _parse_piece(which: str, text: str) -> ast.Program:
    try:
        return parse(text)
    except ProgramError:
        wrapper = {"likelihood": "model", "generated": "generated quantities"}.get(which)
        if wrapper is None:
            raise
    # bare statements: read them as the body of the block the piece owns
    try:
        return parse(f"{wrapper} {{\n{text}\n}}")
    except ProgramError:
        return parse(text)  # report the error against the text as given
