"""Random small Stan programs on which boxloop's checker and stanc must agree.

Each program declares a few variables in `transformed data` and makes one statement of them: a
call to a library name with argument types drawn from stanc's signature table (often a real
signature, sometimes with one argument changed, sometimes anything), an operator over a random
pair of types, an assignment, a compound assignment, a declaration with random sizes and bounds,
an `if` or `?:` condition, or an indexing. The generator is seeded, so a run is reproducible;
`disagreements` runs stanc on every program and returns the ones the two judge differently.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .types import ValueType

_SIZE = 3
_BASE_TYPES = tuple(ValueType(k, d) for d in (0, 1, 2) for k in ("int", "real", "vector", "row_vector", "matrix"))
_BINARY_OPS = ("+", "-", "*", "/", "%", "%/%", "\\", ".*", "./", "^", ".^", "&&", "||", "<", "<=", ">", ">=",
               "==", "!=")
_UNARY_OPS = ("-", "+", "!", "'")
# The Stan functions behind the operators in stanc's table, to draw argument types that fit.
_OPERATOR_FUNCTIONS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide", "%": "modulus",
                       "\\": "mdivide_left", ".*": "elt_multiply", "./": "elt_divide", "^": "pow", ".^": "pow",
                       "&&": "logical_and", "||": "logical_or", "<": "logical_lt", "<=": "logical_lte",
                       ">": "logical_gt", ">=": "logical_gte", "==": "logical_eq", "!=": "logical_neq"}
_UNARY_FUNCTIONS = {"-": "minus", "+": "plus", "!": "logical_negation", "'": "transpose"}
_INT = ValueType("int")
_COMPOUND = ("+=", "-=", "*=", "/=", ".*=", "./=")


@dataclass(frozen=True)
class Case:
    kind: str  # call, operator, unary, assign, compound, declare, condition, ternary, index
    subject: str  # what the statement exercises: a function name, an operator, a type pair
    program: str


@dataclass(frozen=True)
class Disagreement:
    case: Case
    boxloop: bool
    stanc: bool
    message: str  # the side that rejected: its first error


def declaration(t: ValueType, name: str) -> str:
    sizes = {"vector": f"[{_SIZE}]", "row_vector": f"[{_SIZE}]", "matrix": f"[{_SIZE}, {_SIZE}]"}.get(t.kind, "")
    body = f"{t.kind}{sizes} {name}"
    return f"array[{', '.join([str(_SIZE)] * t.array_dims)}] {body}" if t.array_dims else body


def _program(args: list[ValueType], statement: str) -> str:
    decls = "".join(f"  {declaration(t, f'a{k}')};\n" for k, t in enumerate(args))
    return "transformed data {\n" + decls + f"  {statement}\n}}\n"


class Generator:
    """Draws cases from `rng`; `table` is stanc's signatures by name (`stanc_signature_table()`)."""

    def __init__(self, rng: random.Random, table: dict, names: tuple[str, ...]):
        self.rng = rng
        self.table = table
        self.names = tuple(n for n in names if n in table) or names
        self.kinds = (self.call,) * 5 + (self.operator,) * 3 + (self.unary, self.assign, self.compound,
                                                              self.declare, self.condition, self.ternary,
                                                              self.index)

    def case(self) -> Case:
        return self.rng.choice(self.kinds)()

    def _type(self) -> ValueType:
        return self.rng.choice(_BASE_TYPES)

    def _args_for(self, signatures) -> tuple[list[ValueType], ValueType]:
        """A real signature's argument types and return type, sometimes with one argument changed."""
        sig = self.rng.choice(signatures)
        args = list(sig.params)
        if args and self.rng.random() < 0.3:
            args[self.rng.randrange(len(args))] = self._type()
        return args, sig.returns

    def _target(self, returns: ValueType) -> ValueType:
        return returns if self.rng.random() < 0.85 else self._type()

    def call(self) -> Case:
        name = self.rng.choice(self.names)
        signatures = self.table.get(name) or []
        if signatures and self.rng.random() < 0.8:
            args, returns = self._args_for(signatures)
        else:
            args, returns = [self._type() for _ in range(self.rng.randint(0, 3))], self._type()
        names = [f"a{k}" for k in range(len(args))]
        if name.endswith(("_lpdf", "_lpmf", "_lcdf", "_lccdf", "_cdf")) and names:
            rest = f" | {', '.join(names[1:])}" if len(names) > 1 else ""
            text = f"{name}({names[0]}{rest})"
        else:
            text = f"{name}({', '.join(names)})"
        target = self._target(returns)
        return Case("call", name, _program(args, f"{declaration(target, 'z')} = {text};"))

    def _operands(self, function: str | None, arity: int) -> tuple[list[ValueType], ValueType]:
        signatures = self.table.get(function or "") or []
        if signatures and self.rng.random() < 0.6:
            return self._args_for(signatures)
        args = [self._type() for _ in range(arity)]
        return args, self.rng.choice(args + [ValueType("real"), _INT])

    def operator(self) -> Case:
        op = self.rng.choice(_BINARY_OPS)
        (a, b), returns = self._operands(_OPERATOR_FUNCTIONS.get(op), 2)
        target = self._target(returns)
        return Case("operator", f"{a} {op} {b}", _program([a, b], f"{declaration(target, 'z')} = a0 {op} a1;"))

    def unary(self) -> Case:
        op = self.rng.choice(_UNARY_OPS)
        (a,), returns = self._operands(_UNARY_FUNCTIONS[op], 1)
        target = self._target(returns)
        return Case("unary", f"{op}{a}", _program([a], f"{declaration(target, 'z')} = {op}a0;"))

    def _like(self, t: ValueType) -> ValueType:
        """`t`, its int or real twin, or anything."""
        twin = ValueType("real" if t.kind == "int" else "int", t.array_dims) if t.kind in ("int", "real") else t
        return self.rng.choice((t, t, twin, self._type()))

    def assign(self) -> Case:
        a = self._type()
        target = self._like(a)
        return Case("assign", f"{target} = {a}", _program([a], f"{declaration(target, 'z')} = a0;"))

    def compound(self) -> Case:
        op, target, a = self.rng.choice(_COMPOUND), self.rng.choice(_BASE_TYPES[:5] + _BASE_TYPES), self._type()
        if self.rng.random() < 0.5:
            a = self.rng.choice((target, ValueType("real"), ValueType("int")))
        return Case("compound", f"{target} {op} {a}", _program([target, a], f"a0 {op} a1;"))

    def declare(self) -> Case:
        kind = self.rng.choice(("real", "int", "vector", "row_vector", "matrix"))
        size = self.rng.choice((_INT, _INT, self._type()))
        bound = self.rng.choice((_INT, ValueType("real"), ValueType(kind), self._type()))
        form = self.rng.choice(("size", "lower", "upper", "array"))
        dims = {"vector": "[3]", "row_vector": "[3]", "matrix": "[3, 3]"}.get(kind, "")
        if form == "size" and kind in ("vector", "row_vector"):
            text = f"{kind}[a0] z;"
        elif form == "array":
            text = f"array[a0] {kind}{dims} z;"
        else:
            text = f"{kind}<{form}=a1>{dims} z;"
        return Case("declare", f"{form}: {kind} with {size if form in ('size', 'array') else bound}",
                    _program([size, bound], text))

    def condition(self) -> Case:
        a = self.rng.choice((_INT, ValueType("real"), self._type()))
        return Case("condition", f"if ({a})", _program([a], "if (a0) { real z = 1; }"))

    def ternary(self) -> Case:
        c, a = self.rng.choice((_INT, ValueType("real"), self._type())), self._type()
        b = self._like(a)
        target = self._target(a)
        return Case("ternary", f"{c} ? {a} : {b}", _program([c, a, b], f"{declaration(target, 'z')} = a0 ? a1 : a2;"))

    def index(self) -> Case:
        a, i = self._type(), self.rng.choice((_INT, _INT, ValueType("int", 1), ValueType("real"), self._type()))
        n = self.rng.randint(1, 3)
        items = ", ".join(["a1"] * n)
        try:
            indexed = a.indexed([i.array_dims == 1] * n) if n <= a.rank else self._type()
        except (KeyError, TypeError):
            indexed = self._type()
        target = self._target(indexed)
        return Case("index", f"{a}[{', '.join([str(i)] * n)}]",
                    _program([a, i], f"{declaration(target, 'z')} = a0[{items}];"))


def cases(n: int, seed: int) -> list[Case]:
    """`n` cases from a generator seeded with `seed` (stanc's signature table must be available)."""
    from .stanc import library_names, stanc_signature_table

    gen = Generator(random.Random(seed), stanc_signature_table(), library_names())
    return [gen.case() for _ in range(n)]


def stanc_reason(message: str) -> str:
    """The gist of stanc's rejection: its last lines, without the source excerpt's rules."""
    lines = [ln.strip() for ln in message.splitlines() if ln.strip() and not set(ln.strip()) <= set("-^")]
    return " ".join(lines[-2:])


def _first_error(result) -> str:
    errors = [d for d in result.diagnostics if d.severity == "error"]
    return str(errors[0]) if errors else ""


def disagreements(batch: list[Case], workers: int = 2) -> list[Disagreement]:
    """The cases boxloop and stanc judge differently (stanc runs `workers` at a time)."""
    from .checker import check
    from .stanc import stanc_verdict

    with ThreadPoolExecutor(max_workers=workers) as pool:
        verdicts = list(pool.map(lambda c: stanc_verdict(c.program), batch))
    out = []
    for case, verdict in zip(batch, verdicts):
        result = check(case.program)
        if result.valid != verdict.ok:
            message = stanc_reason(verdict.message) if not verdict.ok else _first_error(result)
            out.append(Disagreement(case, result.valid, verdict.ok, message[:300]))
    return out
