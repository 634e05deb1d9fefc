"""The typed syntax tree: frozen dataclasses with source positions.

Positions never take part in equality, so two trees that differ only in layout compare equal.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pos:
    line: int = 0
    column: int = 0


NOWHERE = Pos()


def _pos() -> Pos:
    return field(default=NOWHERE, compare=False, repr=False)


# ---- expressions -------------------------------------------------------------------------------


@dataclass(frozen=True)
class IntLit:
    value: int
    pos: Pos = _pos()


@dataclass(frozen=True)
class RealLit:
    value: float
    pos: Pos = _pos()


@dataclass(frozen=True)
class Var:
    name: str
    pos: Pos = _pos()


@dataclass(frozen=True)
class Call:
    """A function call. `conditional` marks Stan's `foo_lpdf(y | a, b)` form: args[0] is y."""

    name: str
    args: tuple
    conditional: bool = False
    pos: Pos = _pos()


@dataclass(frozen=True)
class Binary:
    op: str
    left: object
    right: object
    pos: Pos = _pos()


@dataclass(frozen=True)
class Unary:
    op: str  # "-", "!", "+", or "'" (transpose)
    operand: object
    pos: Pos = _pos()


@dataclass(frozen=True)
class Ternary:
    cond: object
    then: object
    other: object
    pos: Pos = _pos()


@dataclass(frozen=True)
class Slice:
    lo: object | None
    hi: object | None
    pos: Pos = _pos()


@dataclass(frozen=True)
class Index:
    base: object
    indices: tuple  # of Expr or Slice
    pos: Pos = _pos()


@dataclass(frozen=True)
class ArrayLit:
    items: tuple
    pos: Pos = _pos()


@dataclass(frozen=True)
class RowVectorLit:
    items: tuple
    pos: Pos = _pos()


@dataclass(frozen=True)
class StringLit:
    """A string, only as an argument of print / reject / fatal_error. `value` is the text between
    the quotes, exactly as written (escapes kept)."""

    value: str
    pos: Pos = _pos()


Expr = IntLit | RealLit | Var | Call | Binary | Unary | Ternary | Index | ArrayLit | RowVectorLit

# ---- types --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TypeSpec:
    """A declared type. `kind` is one of types.DECLARABLE_KINDS; `sizes` are the container sizes
    (vector[N] -> (N,), matrix[N, K] -> (N, K)); `array_sizes` the enclosing array dimensions."""

    kind: str
    sizes: tuple = ()
    array_sizes: tuple = ()
    lower: object | None = None
    upper: object | None = None
    offset: object | None = None
    multiplier: object | None = None
    pos: Pos = _pos()

    @property
    def is_constrained(self) -> bool:
        return self.lower is not None or self.upper is not None


# ---- statements ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decl:
    type: TypeSpec
    name: str
    init: object | None = None
    pos: Pos = _pos()


@dataclass(frozen=True)
class Truncation:
    lo: object | None
    hi: object | None
    pos: Pos = _pos()


@dataclass(frozen=True)
class Tilde:
    lhs: object
    dist: str
    args: tuple
    truncation: Truncation | None = None
    pos: Pos = _pos()


@dataclass(frozen=True)
class TargetPlus:
    expr: object
    pos: Pos = _pos()


@dataclass(frozen=True)
class Assign:
    lhs: object
    op: str  # "=", "+=", "-=", "*=", "/=", ".*=", "./="
    rhs: object
    pos: Pos = _pos()


@dataclass(frozen=True)
class For:
    var: str
    lo: object
    hi: object
    body: object
    pos: Pos = _pos()


@dataclass(frozen=True)
class ForEach:
    var: str
    container: object
    body: object
    pos: Pos = _pos()


@dataclass(frozen=True)
class If:
    cond: object
    then: object
    other: object | None = None
    pos: Pos = _pos()


@dataclass(frozen=True)
class Compound:
    stmts: tuple
    pos: Pos = _pos()


@dataclass(frozen=True)
class While:
    cond: object
    body: object
    pos: Pos = _pos()


@dataclass(frozen=True)
class Break:
    pos: Pos = _pos()


@dataclass(frozen=True)
class Continue:
    pos: Pos = _pos()


@dataclass(frozen=True)
class Return:
    """`return e;` (or a bare `return;` in a void function: value None)."""

    value: object | None = None
    pos: Pos = _pos()


@dataclass(frozen=True)
class CallStmt:
    """A call whose value is dropped: a void function, `foo_lp(...)` in the model block."""

    call: Call
    pos: Pos = _pos()


@dataclass(frozen=True)
class Print:
    """print / reject / fatal_error with their items (expressions and StringLit)."""

    kind: str  # "print" | "reject" | "fatal_error"
    items: tuple
    pos: Pos = _pos()


Stmt = (Decl | Tilde | TargetPlus | Assign | For | ForEach | If | Compound | While | Break | Continue
        | Return | CallStmt | Print)

# ---- user-defined functions ---------------------------------------------------------------------


@dataclass(frozen=True)
class ArgType:
    """An unsized type of a function argument or return: `array[,] vector` -> ("vector", 2)."""

    kind: str  # int, real, vector, row_vector, matrix
    array_dims: int = 0
    pos: Pos = _pos()


@dataclass(frozen=True)
class Param:
    type: ArgType
    name: str
    data_only: bool = False  # declared `data`: callers must pass expressions of data alone
    pos: Pos = _pos()


@dataclass(frozen=True)
class FunDef:
    """A function of the functions block. `returns` is None for void; `body` None for a forward
    declaration (`real f(real x);`)."""

    returns: ArgType | None
    name: str
    params: tuple  # of Param
    body: Compound | None
    pos: Pos = _pos()

# ---- program ------------------------------------------------------------------------------------

BLOCK_ORDER = (
    "data",
    "transformed data",
    "parameters",
    "transformed parameters",
    "model",
    "generated quantities",
)


@dataclass(frozen=True)
class Block:
    name: str  # one of BLOCK_ORDER
    stmts: tuple
    pos: Pos = _pos()


@dataclass(frozen=True)
class Program:
    blocks: tuple  # of Block, in BLOCK_ORDER
    functions: tuple = ()  # of FunDef, in source order

    def block(self, name: str) -> Block | None:
        return next((b for b in self.blocks if b.name == name), None)

    def stmts(self, name: str) -> tuple:
        b = self.block(name)
        return b.stmts if b else ()


def children(node) -> tuple:
    """The direct sub-nodes of an expression or statement, in source order."""
    match node:
        case Call(args=args) | ArrayLit(items=args) | RowVectorLit(items=args):
            return tuple(args)
        case Binary(left=a, right=b):
            return (a, b)
        case Unary(operand=a):
            return (a,)
        case Ternary(cond=c, then=t, other=o):
            return (c, t, o)
        case Index(base=b, indices=ix):
            return (b, *ix)
        case Slice(lo=lo, hi=hi) | Truncation(lo=lo, hi=hi):
            return tuple(x for x in (lo, hi) if x is not None)
        case TypeSpec():
            opt = (node.lower, node.upper, node.offset, node.multiplier)
            return (*node.array_sizes, *node.sizes, *(x for x in opt if x is not None))
        case Decl(type=t, init=i):
            return (t,) if i is None else (t, i)
        case Tilde(lhs=l, args=args, truncation=tr):
            return (l, *args) + ((tr,) if tr is not None else ())
        case TargetPlus(expr=e):
            return (e,)
        case Assign(lhs=l, rhs=r):
            return (l, r)
        case For(lo=lo, hi=hi, body=b):
            return (lo, hi, b)
        case ForEach(container=c, body=b):
            return (c, b)
        case If(cond=c, then=t, other=o):
            return (c, t) if o is None else (c, t, o)
        case Compound(stmts=s):
            return tuple(s)
        case While(cond=c, body=b):
            return (c, b)
        case Return(value=v):
            return () if v is None else (v,)
        case CallStmt(call=c):
            return (c,)
        case Print(items=items):
            return tuple(items)
        case FunDef(body=b):
            return () if b is None else (b,)
    return ()


def walk(node):
    """Yield `node` and every node below it, depth first, in source order."""
    yield node
    for child in children(node):
        yield from walk(child)


def free_names(node) -> set[str]:
    """Names of variables an expression reads (loop variables included)."""
    return {n.name for n in walk(node) if isinstance(n, Var)}


def base_name(node) -> str | None:
    """The variable an indexed expression starts from (`a` of `a[i][j, k]`); None when the chain
    does not end in a variable."""
    while isinstance(node, Index):
        node = node.base
    return node.name if isinstance(node, Var) else None


def rewrite(node, fn):
    """`node` with sub-trees replaced top-down: `fn(n)` returns a replacement for `n` (not descended
    into) or None to keep `n` and rewrite its children. Untouched sub-trees are shared."""
    replacement = fn(node)
    if replacement is not None:
        return replacement
    if not dataclasses.is_dataclass(node) or isinstance(node, Pos):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, tuple):
            new = tuple(rewrite(v, fn) for v in value)
            changed = any(a is not b for a, b in zip(new, value))
        elif dataclasses.is_dataclass(value):
            new = rewrite(value, fn)
            changed = new is not value
        else:
            continue
        if changed:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node
