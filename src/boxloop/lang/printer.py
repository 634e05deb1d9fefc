"""AST -> Stan text: one fixed layout, minimal parentheses, numbers in one format.

The printer is faithful: `parse(to_stan(tree)) == tree` for every tree the parser can build
(positions aside). It therefore keeps what the tree says — empty blocks, a loop body without
braces — and leaves normalisation (braces everywhere, no empty blocks, statement order) to
`canonical`. Layout: two-space indent, one statement per line, blocks in BLOCK_ORDER.
"""

from __future__ import annotations

import math

from . import ast

INDENT = "  "

# Binding strength of each operator, loosest first, as the grammar nests its rules.
TERNARY, OR, AND, EQ, CMP, ADD, MUL, UNARY, POW, POSTFIX, ATOM = range(11)
ARITH = ADD  # bounds in `<lower=..>` are `arith` in the grammar: nothing looser than + -

_BINARY_PREC = {
    "||": OR,
    "&&": AND,
    "==": EQ, "!=": EQ,
    "<": CMP, "<=": CMP, ">": CMP, ">=": CMP,
    "+": ADD, "-": ADD,
    "*": MUL, "/": MUL, "%": MUL, "\\": MUL, ".*": MUL, "./": MUL, "%/%": MUL,
    "^": POW, ".^": POW,
}  # fmt: skip


def to_stan(node) -> str:
    """Stan text of a Program, Block, statement, TypeSpec or expression.

    A Program ends with a newline; every other node has none.
    """
    match node:
        case ast.Program():
            ordered = sorted(node.blocks, key=lambda b: ast.BLOCK_ORDER.index(b.name))
            head = _join(_functions_lines(node.functions)) + "\n" if node.functions else ""
            return head + "".join(_join(_block_lines(b)) + "\n" for b in ordered)
        case ast.FunDef():
            return _join(fun_lines(node, 0))
        case ast.ArgType():
            return arg_type_text(node)
        case ast.Block():
            return _join(_block_lines(node))
        case ast.TypeSpec():
            return type_text(node)
        case ast.Truncation():
            return _truncation(node)
        case ast.Slice():
            return _slice(node)
    if _is_stmt(node):
        return _join(stmt_lines(node, 0))
    return expr(node)


# ---- expressions --------------------------------------------------------------------------------


def precedence(node) -> int:
    """How tightly `node` binds; a child needing more than this gets parentheses."""
    match node:
        case ast.Ternary():
            return TERNARY
        case ast.Binary(op=op):
            return _BINARY_PREC[op]
        case ast.Unary(op="'"):
            return POSTFIX
        case ast.Unary():
            return UNARY
        case ast.Index():
            return POSTFIX
        case ast.IntLit(value=v) if v < 0:
            return UNARY  # only built by code, never parsed: prints with a leading '-'
        case ast.RealLit(value=v) if math.copysign(1, v) < 0:
            return UNARY
    return ATOM


def expr(node, need: int = TERNARY) -> str:
    """Text of an expression placed where the grammar wants at least precedence `need`."""
    text = _expr(node)
    return f"({text})" if precedence(node) < need else text


def _expr(node) -> str:
    match node:
        case ast.IntLit(value=v):
            return str(v)
        case ast.RealLit(value=v):
            return real_text(v)
        case ast.Var(name=name):
            return name
        case ast.Call():
            return _call(node)
        case ast.Binary(op=op, left=a, right=b):
            return _binary(op, a, b)
        case ast.Unary(op="'", operand=a):
            return expr(a, POSTFIX) + "'"
        case ast.Unary(op=op, operand=a):
            # `-(-a)` rather than `--a`: the same tree, and no reader mistakes it for a decrement
            return op + expr(a, ATOM if precedence(a) == UNARY else UNARY)
        case ast.Ternary(cond=c, then=t, other=o):
            return f"{expr(c, OR)} ? {expr(t)} : {expr(o)}"
        case ast.Index(base=b, indices=ix):
            return expr(b, POSTFIX) + "[" + ", ".join(_index_item(i) for i in ix) + "]"
        case ast.ArrayLit(items=items):
            return "{" + _args(items) + "}"
        case ast.RowVectorLit(items=items):
            return "[" + _args(items) + "]"
        case ast.StringLit(value=v):
            return f'"{v}"'
    raise TypeError(f"not an expression: {node!r}")


def _binary(op: str, a, b) -> str:
    prec = _BINARY_PREC[op]
    if prec == POW:  # right associative; the base is a postfix expression, the exponent a unary
        # `.^` keeps its spaces: `2.^x` would read as the real `2.` then `^`
        sep = "" if op == "^" else " "
        return f"{expr(a, POSTFIX)}{sep}{op}{sep}{expr(b, UNARY)}"
    return f"{expr(a, prec)} {op} {expr(b, prec + 1)}"


def _call(node: ast.Call) -> str:
    if node.conditional:
        first, rest = node.args[0], node.args[1:]
        return f"{node.name}({expr(first)} | {_args(rest)})"
    return f"{node.name}({_args(node.args)})"


def _args(items) -> str:
    return ", ".join(expr(a) for a in items)


def _index_item(item) -> str:
    return _slice(item) if isinstance(item, ast.Slice) else expr(item)


def _slice(node: ast.Slice) -> str:
    # a ternary next to ':' would read as part of the slice, so it is bracketed
    lo = "" if node.lo is None else expr(node.lo, OR)
    hi = "" if node.hi is None else expr(node.hi, OR)
    return f"{lo}:{hi}"


def real_text(value: float) -> str:
    """Shortest text that reads back as the same float and still reads as a real: 5.0, 1e-10."""
    if math.isnan(value):
        return "not_a_number()"
    if math.isinf(value):
        return "positive_infinity()" if value > 0 else "negative_infinity()"
    return repr(value)  # Python's repr is the shortest round-tripping form and keeps a '.' or 'e'


# ---- types --------------------------------------------------------------------------------------


def type_text(t: ast.TypeSpec) -> str:
    """`array[N] vector<lower=0>[K]`: array dimensions, kind, constraints, then sizes."""
    bounds = [
        f"{key}={expr(value, ARITH)}"
        for key, value in (("lower", t.lower), ("upper", t.upper), ("offset", t.offset), ("multiplier", t.multiplier))
        if value is not None
    ]
    text = t.kind + (f"<{', '.join(bounds)}>" if bounds else "")
    if t.sizes:
        text += "[" + _args(t.sizes) + "]"
    if t.array_sizes:
        text = "array[" + _args(t.array_sizes) + "] " + text
    return text


# ---- statements ---------------------------------------------------------------------------------

_STMT_TYPES = (ast.Decl, ast.Tilde, ast.TargetPlus, ast.Assign, ast.For, ast.ForEach, ast.If, ast.Compound,
               ast.While, ast.Break, ast.Continue, ast.Return, ast.CallStmt, ast.Print)


def _is_stmt(node) -> bool:
    return isinstance(node, _STMT_TYPES)


def _join(lines) -> str:
    return "\n".join(INDENT * depth + text for depth, text in lines)


def _block_lines(block: ast.Block) -> list:
    return [(0, block.name + " {"), *_stmts_lines(block.stmts, 1), (0, "}")]


def _stmts_lines(stmts, depth: int) -> list:
    return [line for s in stmts for line in stmt_lines(s, depth)]


def stmt_lines(s, depth: int) -> list:
    """The statement as (depth, text) lines, so nested bodies indent without re-parsing text."""
    match s:
        case ast.Decl(type=t, name=name, init=init):
            return [(depth, f"{type_text(t)} {name}" + ("" if init is None else f" = {expr(init)}") + ";")]
        case ast.Tilde():
            return [(depth, _tilde(s))]
        case ast.TargetPlus(expr=e):
            return [(depth, f"target += {expr(e)};")]
        case ast.Assign(lhs=lhs, op=op, rhs=rhs):
            return [(depth, f"{expr(lhs)} {op} {expr(rhs)};")]
        case ast.For(var=v, lo=lo, hi=hi, body=body):
            return _headed(f"for ({v} in {expr(lo, OR)}:{expr(hi, OR)})", body, depth)
        case ast.ForEach(var=v, container=c, body=body):
            return _headed(f"for ({v} in {expr(c)})", body, depth)
        case ast.If():
            return _if_lines(s, depth)
        case ast.Compound(stmts=stmts):
            return [(depth, "{"), *_stmts_lines(stmts, depth + 1), (depth, "}")]
        case ast.While(cond=c, body=body):
            return _headed(f"while ({expr(c)})", body, depth)
        case ast.Break():
            return [(depth, "break;")]
        case ast.Continue():
            return [(depth, "continue;")]
        case ast.Return(value=v):
            return [(depth, "return;" if v is None else f"return {expr(v)};")]
        case ast.CallStmt(call=c):
            return [(depth, expr(c) + ";")]
        case ast.Print(kind=kind, items=items):
            return [(depth, f"{kind}({_args(items)});")]
    raise TypeError(f"not a statement: {s!r}")


# ---- functions -----------------------------------------------------------------------------------


def arg_type_text(t: ast.ArgType) -> str:
    return ("array[" + "," * (t.array_dims - 1) + "] " if t.array_dims else "") + t.kind


def _functions_lines(functions: tuple) -> list:
    return [(0, "functions {"), *(line for f in functions for line in fun_lines(f, 1)), (0, "}")]


def fun_lines(f: ast.FunDef, depth: int) -> list:
    params = ", ".join(("data " if p.data_only else "") + f"{arg_type_text(p.type)} {p.name}" for p in f.params)
    head = f"{'void' if f.returns is None else arg_type_text(f.returns)} {f.name}({params})"
    if f.body is None:
        return [(depth, head + ";")]
    return _headed(head, f.body, depth)


def _tilde(s: ast.Tilde) -> str:
    text = f"{expr(s.lhs)} ~ {s.dist}({_args(s.args)})"
    if s.truncation is not None:
        text += " " + _truncation(s.truncation)
    return text + ";"


def _truncation(t: ast.Truncation) -> str:
    lo = "" if t.lo is None else expr(t.lo)
    hi = "" if t.hi is None else expr(t.hi)
    return f"T[{lo}, {hi}]"


def _headed(header: str, body, depth: int) -> list:
    """`header {` body `}` for a block body; a single statement goes on its own indented line."""
    if isinstance(body, ast.Compound):
        return [(depth, header + " {"), *_stmts_lines(body.stmts, depth + 1), (depth, "}")]
    return [(depth, header), *stmt_lines(body, depth + 1)]


def _if_lines(s: ast.If, depth: int) -> list:
    then = s.then
    if s.other is not None and _open_if(then):
        then = ast.Compound((then,))  # without braces the else would bind to the inner if
    lines = _headed(f"if ({expr(s.cond)})", then, depth)
    if s.other is None:
        return lines
    if isinstance(s.other, ast.If):
        first, *rest = _if_lines(s.other, depth)
        tail = [(depth, "else " + first[1]), *rest]
    else:
        tail = _headed("else", s.other, depth)
    if isinstance(then, ast.Compound):  # close the brace and open the else on one line: `} else {`
        return [*lines[:-1], (depth, "} " + tail[0][1]), *tail[1:]]
    return lines + tail


def _open_if(s) -> bool:
    """Whether `s` ends in an if without else, which would capture an else printed after it."""
    match s:
        case ast.If(other=None):
            return True
        case ast.If(other=other) | ast.For(body=other) | ast.ForEach(body=other):
            return _open_if(other)
    return False
