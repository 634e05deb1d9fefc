"""Text -> typed AST. One Lark LALR parser built from the grammar file the decoder also loads."""

from __future__ import annotations

import functools
import re
import threading
from importlib import resources

import lark
from lark import Transformer, v_args

from ..errors import ProgramError
from . import ast
from .diagnostics import error

GRAMMAR_FILE = "stan_subset.lark"
START_RULES = ("start", "statement", "var_decl")


@functools.cache
def grammar_text() -> str:
    """The grammar, exactly as the constrained decoder receives it."""
    return resources.files(__package__).joinpath(GRAMMAR_FILE).read_text()


_SOURCE = threading.local()  # the text being parsed, for the keyword callbacks below
_NAME_CHAR = re.compile(r"[A-Za-z0-9_]")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class _GluedKeyword(Exception):
    def __init__(self, token):
        self.token = token


def _keyword_guard(token):
    # The contextual lexer reads `realx` as `real x` where no name may stand; Stan does not.
    text = getattr(_SOURCE, "text", "")
    if token.end_pos < len(text) and _NAME_CHAR.match(text[token.end_pos]):
        raise _GluedKeyword(token)
    return token


@functools.cache
def _lark() -> lark.Lark:
    keywords = _keyword_terminals()
    return lark.Lark(
        grammar_text(),
        parser="lalr",
        start=list(START_RULES),
        propagate_positions=True,
        maybe_placeholders=True,
        lexer_callbacks={name: _keyword_guard for name in keywords},
        cache=True,
    )


@functools.cache
def _keyword_terminals() -> tuple[str, ...]:
    """Terminal names of the word-like keywords, read off the grammar text: `NAME: "word"` defines
    NAME; a bare "word" inside a rule is named WORD by Lark."""
    grammar = grammar_text()
    named = dict(re.findall(r'^([A-Z_]+):\s*"([a-z_]+)"\s*$', grammar, flags=re.M))
    bare = set(re.findall(r'"([A-Za-z_][A-Za-z0-9_]*)"', grammar)) - set(named.values())
    return tuple(sorted(named) + sorted(w.upper() for w in bare))


def _opt(children, i):
    return children[i] if len(children) > i else None


def _pos(meta) -> ast.Pos:
    return ast.Pos(getattr(meta, "line", 0), getattr(meta, "column", 0))


def _tok_pos(tok) -> ast.Pos:
    return ast.Pos(tok.line or 0, tok.column or 0)


_BLOCK_NAMES = {
    "data_block": "data",
    "tdata_block": "transformed data",
    "params_block": "parameters",
    "tparams_block": "transformed parameters",
    "model_block": "model",
    "gq_block": "generated quantities",
}


@v_args(meta=True)
class _ToAst(Transformer):
    """Lark tree -> frozen dataclasses. One short method per grammar rule."""

    def start(self, meta, blocks):
        functions = next((b for b in blocks if isinstance(b, tuple)), ())
        return ast.Program(tuple(b for b in blocks if isinstance(b, ast.Block)), functions)

    # user-defined functions
    def functions_block(self, meta, c):
        return tuple(c)

    def fun_def(self, meta, c):
        return ast.FunDef(c[0], str(c[1]), tuple(c[2] or ()), c[3], _pos(meta))

    def fun_decl(self, meta, c):
        return ast.FunDef(c[0], str(c[1]), tuple(c[2] or ()), None, _pos(meta))

    def void_type(self, meta, c):
        return None

    def fun_return(self, meta, c):
        return c[0]

    def params(self, meta, c):
        return tuple(c)

    def param(self, meta, c):
        return ast.Param(c[-2], str(c[-1]), len(c) == 3, _pos(meta))

    def arg_type(self, meta, c):
        dims = c[0] if len(c) == 2 else 0
        return ast.ArgType(str(c[-1]), dims, _pos(meta))

    def unsized_dims(self, meta, c):
        return sum(1 for t in c if str(t) == ",") + 1

    def arg_kind(self, meta, c):
        return str(c[0])

    def _block(self, name, meta, stmts):
        return ast.Block(name, tuple(stmts), _pos(meta))

    def __default__(self, data, children, meta):
        if data in _BLOCK_NAMES:
            return self._block(_BLOCK_NAMES[data], meta, children)
        return super().__default__(data, children, meta)

    # declarations and types
    def var_decl(self, meta, c):
        return ast.Decl(c[0], str(c[1]), None, _pos(meta))

    def decl_stmt(self, meta, c):
        return ast.Decl(c[0], str(c[1]), _opt(c, 2), _pos(meta))

    def type_spec(self, meta, c):
        dims, base = (c[0], c[1]) if len(c) == 2 else ((), c[0])
        return ast.TypeSpec(**{**base, "array_sizes": tuple(dims)}, pos=_pos(meta))

    def array_dims(self, meta, c):
        return tuple(c)

    def _basic_type(self, meta, c):
        # children: the kind keyword, an optional constraint dict, then the size expressions
        bounds = next((x for x in c[1:] if isinstance(x, dict)), {})
        sizes = tuple(x for x in c[1:] if not isinstance(x, dict))
        return {"kind": str(c[0]), "sizes": sizes, **bounds}

    int_type = real_type = vector_type = row_vector_type = matrix_type = _basic_type
    special_vector_type = special_matrix_type = chol_cov_type = _basic_type

    def range_or_affine(self, meta, c):
        return c[0]

    def range(self, meta, c):
        return functools.reduce(lambda a, b: {**a, **b}, (x for x in c if x is not None), {})

    affine = range

    def lower(self, meta, c):
        return {"lower": c[1]}

    def upper(self, meta, c):
        return {"upper": c[1]}

    def offset(self, meta, c):
        return {"offset": c[1]}

    def multiplier(self, meta, c):
        return {"multiplier": c[1]}

    # statements
    def tilde_stmt(self, meta, c):
        return ast.Tilde(c[0], str(c[1]), tuple(c[2] or ()), _opt(c, 3), _pos(meta))

    def truncation(self, meta, c):
        return ast.Truncation(c[0], c[1], _pos(meta))

    def target_stmt(self, meta, c):
        return ast.TargetPlus(c[0], _pos(meta))

    def assign_stmt(self, meta, c):
        return ast.Assign(c[0], c[1], c[2], _pos(meta))

    def for_range(self, meta, c):
        return ast.For(str(c[0]), c[1], c[2], c[3], _pos(meta))

    def for_each(self, meta, c):
        return ast.ForEach(str(c[0]), c[1], c[2], _pos(meta))

    def if_stmt(self, meta, c):
        return ast.If(c[0], c[1], _opt(c, 2), _pos(meta))

    def compound_stmt(self, meta, c):
        return ast.Compound(tuple(c), _pos(meta))

    def while_stmt(self, meta, c):
        return ast.While(c[0], c[1], _pos(meta))

    def break_stmt(self, meta, c):
        return ast.Break(_pos(meta))

    def continue_stmt(self, meta, c):
        return ast.Continue(_pos(meta))

    def return_stmt(self, meta, c):
        return ast.Return(c[0], _pos(meta))

    def call_stmt(self, meta, c):
        return ast.CallStmt(ast.Call(str(c[0]), tuple(c[1] or ()), False, _pos(meta)), _pos(meta))

    def print_stmt(self, meta, c):
        return ast.Print(c[0], tuple(c[1]), _pos(meta))

    def printables(self, meta, c):
        return tuple(c)

    def string_lit(self, meta, c):
        return ast.StringLit(str(c[0])[1:-1], _tok_pos(c[0]))

    # expressions
    def ternary(self, meta, c):
        return ast.Ternary(c[0], c[1], c[2], _pos(meta))

    def or_op(self, meta, c):
        return ast.Binary("||", c[0], c[1], _pos(meta))

    def and_op(self, meta, c):
        return ast.Binary("&&", c[0], c[1], _pos(meta))

    def binary(self, meta, c):
        return ast.Binary(c[1], c[0], c[2], _pos(meta))

    def unary(self, meta, c):
        return ast.Unary(c[0], c[1], _pos(meta))

    def transpose(self, meta, c):
        return ast.Unary("'", c[0], _pos(meta))

    def index(self, meta, c):
        return ast.Index(c[0], c[1], _pos(meta))

    def indices(self, meta, c):
        return tuple(c)

    def slice(self, meta, c):
        return ast.Slice(c[0], c[1], _pos(meta))

    def int_lit(self, meta, c):
        return ast.IntLit(int(c[0]), _tok_pos(c[0]))

    def real_lit(self, meta, c):
        return ast.RealLit(float(c[0]), _tok_pos(c[0]))

    def var(self, meta, c):
        return ast.Var(str(c[0]), _tok_pos(c[0]))

    def call(self, meta, c):
        return ast.Call(str(c[0]), tuple(c[1] or ()), False, _pos(meta))

    def cond_call(self, meta, c):
        return ast.Call(str(c[0]), (c[1], *(c[2] or ())), True, _pos(meta))

    def array_lit(self, meta, c):
        return ast.ArrayLit(tuple(c[0]), _pos(meta))

    def row_vector_lit(self, meta, c):
        return ast.RowVectorLit(tuple(c[0]), _pos(meta))

    def args(self, meta, c):
        return tuple(c)

    # operators kept by `!` rules arrive as one-token trees
    def _op(self, meta, c):
        return str(c[0])

    eq_op = cmp_op = add_op = mul_op = unary_op = pow_op = assign_op = print_kind = data_qualifier = _op
    special_vector_kind = special_matrix_kind = _op


_TO_AST = _ToAst()


def parse(text: str, start: str = "start"):
    """Parse program text (or one statement with start="statement"/"var_decl") into the AST.

    Raises ProgramError with one phi1 diagnostic naming the position and what was expected.
    """
    _SOURCE.text = text
    try:
        tree = _lark().parse(text, start=start)
    except lark.exceptions.UnexpectedInput as exc:
        raise ProgramError(str(diag := _parse_diagnostic(exc, text)), [diag], code=diag.code) from None
    except _GluedKeyword as exc:
        word = _WORD.match(text, exc.token.start_pos).group(0)
        diag = error("parse.glued_keyword", "phi1", f"'{word}' is not a keyword; put a space after "
                     f"'{exc.token.value}'", ast.Pos(exc.token.line, exc.token.column))
        raise ProgramError(str(diag), [diag], code=diag.code) from None
    finally:
        _SOURCE.text = ""
    too_deep = _too_deep(tree)
    if too_deep is not None:
        raise ProgramError(str(too_deep), [too_deep], code=too_deep.code)
    try:
        return _TO_AST.transform(tree)
    except lark.exceptions.VisitError as exc:  # a literal too large for float, and the like
        diag = TOO_DEEP if isinstance(exc.orig_exc, RecursionError) else \
            error("parse.invalid_literal", "phi1", f"cannot read this program: {exc.orig_exc}")
    except RecursionError:
        diag = TOO_DEEP
    raise ProgramError(str(diag), [diag], code=diag.code)


# Every later stage (checker, canonical form, compiler) walks the tree recursively; bounding the
# nesting here keeps them all far from Python's recursion limit. The deepest of the 457 programs
# in the Stan corpus nests 24 levels.
MAX_NESTING = 100
TOO_DEEP = error("parse.too_deep", "phi1", f"the program is nested too deeply (more than {MAX_NESTING} "
                 "levels of expressions or statements inside one another); split it into intermediate "
                 "variables")


_BODIES = {"if_stmt": 1, "for_range": 3, "for_each": 2, "while_stmt": 1}  # where the body statements start


def _too_deep(tree):
    """A diagnostic at the first point where the parse tree nests deeper than MAX_NESTING, or None.
    A loop or if body without braces counts as braced (two levels), as the canonical form prints
    it, so that canonical text always parses again. Iterative: it cannot run out of stack."""
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            pos = _pos(node.meta)
            return error("parse.too_deep", "phi1", f"line {pos.line} is nested more than {MAX_NESTING} "
                         "levels deep (expressions, calls or statements inside one another); boxloop "
                         "reads at most that many: split it into intermediate variables", pos)
        body = _BODIES.get(node.data, len(node.children))
        for k, child in enumerate(node.children):
            if isinstance(child, lark.Tree):
                braced = k < body or child.data == "compound_stmt"
                stack.append((child, depth + (1 if braced else 2)))
    return None


def _parse_diagnostic(exc, text: str):
    line, column = getattr(exc, "line", 0) or 0, getattr(exc, "column", 0) or 0
    pos = ast.Pos(line, column)
    if isinstance(exc, lark.exceptions.UnexpectedEOF) or (
        isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.type == "$END"
    ):
        expected = _readable(exc.expected)
        return error("parse.unexpected_end", "phi1", f"the program ends too early; expected {expected}", pos)
    if isinstance(exc, lark.exceptions.UnexpectedToken) and exc.token.value == "=":
        named = _named_argument(text[: exc.token.start_pos], pos)
        if named is not None:
            return named
    if isinstance(exc, lark.exceptions.UnexpectedToken):
        expected = _readable(exc.accepts or exc.expected)
        msg = f"unexpected {exc.token.value!r}; expected {expected}"
        return error("parse.unexpected_token", "phi1", msg + _hint(exc.token.value, exc.expected), pos)
    char = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "end of input"
    expected = _readable(getattr(exc, "allowed", None) or ())
    return error("parse.unexpected_character", "phi1", f"unexpected character {char!r}; expected {expected}", pos)


_OPEN_CALL = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s*\(([^()]*,)?\s*([A-Za-z][A-Za-z0-9_]*)\s*$")


def _named_argument(before: str, pos):
    """`normal(mu, sd=1)`: Stan has no keyword arguments; name the positional one that was meant."""
    m = _OPEN_CALL.search(before)
    if m is None:
        return None
    from . import library

    func, keyword = m.group(1), m.group(3)
    spec = library.distribution(func) or (library.resolve_suffixed(func) or (None,))[0]
    if spec is None:
        return error("args.named", "phi3", f"Stan arguments are positional: write {func}(..., value) "
                     f"without '{keyword}='", pos)
    meant = library.nearest_argument(keyword, spec.arg_names)
    hint = f"; did you mean {meant}?" if meant else ""
    return error("args.named", "phi3", f"Stan arguments are positional: {spec.name} takes "
                 f"({', '.join(spec.arg_names)}), not '{keyword}='{hint}", pos)


def _hint(found: str, expected) -> str:
    if "COMMA" in expected and "RPAR" in expected:
        return " (are the arguments separated by commas?)"
    if "SEMICOLON" in expected:
        return " (is a ';' missing at the end of the previous statement?)"
    return ""


def _readable(names) -> str:
    shown = sorted({_terminal_text(n) for n in names})
    if len(shown) > 8:
        shown = shown[:8] + ["..."]
    return "one of " + ", ".join(shown) if len(shown) > 1 else (shown[0] if shown else "nothing")


@functools.cache
def _terminal_text(name: str) -> str:
    special = {"IDENT": "a name", "INT": "an integer", "REAL": "a real number", "$END": "end of program"}
    if name in special:
        return special[name]
    try:
        pattern = _lark().get_terminal(name).pattern
    except KeyError:
        return name.lower()
    return f"'{pattern.value}'" if pattern.type == "str" else name.lower()
