"""The semantic checker: phi1..phi6 of RefineStat over whole programs or one statement at a time.

Each problem becomes a Diagnostic with a stable code. The support analysis (phi-5) rejects what it
proves wrong and warns about what it cannot decide: for a parameter-dependent argument the sampler
will visit every value the analysis allows, so reaching outside the support is an error; for data
the declared bounds are only a superset, so the same finding is a warning (and `--data` narrows it
to the data's own range).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import ProgramError
from . import ast, library
from . import intervals as iv
from .checkfuncs import FunctionChecks
from .functions import ODE_SOLVERS
from .diagnostics import Diagnostic, error, warning
from .operators import (OperatorTypeError, binary_interval, binary_type, compound_type, unary_interval,
                        unary_type)
from .parser import TOO_DEEP, parse
from .supports import (binary_exact, declared_interval, declared_structure, density_fits, describe_shape,
                       dist_result_type, free_parameter, function_structure, match_signature, shape_matches,
                       structural_interval, structure_ok, structured_element, structured_result)
from .symbols import BLOCK_ORIGIN, UNKNOWN, Info, Scope, Symbol
from .types import INT, REAL, UNIT_CLOSED, Interval, Structure, ValueType, fits, value_kind

PARAM_ORIGINS = ("parameter", "transformed parameter")
TILDE_BLOCKS = ("model",)
RNG_BLOCKS = ("transformed data", "generated quantities")
SHAPE_FUNCTIONS = ("size", "rows", "cols", "num_elements", "dims")
INT_MAX = 2**31 - 1  # Stan's int is 32 bits; stanc refuses a larger literal
EMPTY = error("program.empty", "phi1", "the program is empty: no declarations and no statements, so "
              "there is nothing to fit; write at least a parameters and a model block")


@dataclass(frozen=True)
class CheckResult:
    """The outcome of checking a program. `valid` means no error-level diagnostic."""

    program: ast.Program | None
    diagnostics: tuple[Diagnostic, ...]
    symbols: dict = field(default_factory=dict, compare=False)

    @property
    def valid(self) -> bool:
        return not any(d.is_error for d in self.diagnostics)

    @property
    def errors(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if d.is_error)

    @property
    def warnings(self) -> tuple[Diagnostic, ...]:
        return tuple(d for d in self.diagnostics if not d.is_error)

    def raise_for_errors(self) -> None:
        if not self.valid:
            first = self.errors[0]
            raise ProgramError(str(first), self.diagnostics, code=first.code)


def check(source, data: dict | None = None) -> CheckResult:
    """Check program text (or a parsed Program). With `data`, data variables take their actual
    ranges and the data is checked against the declarations."""
    if isinstance(source, ast.Program):
        program = source
    else:
        try:
            program = parse(source)
        except ProgramError as exc:
            return CheckResult(None, exc.diagnostics)
    if not any(block.stmts for block in program.blocks) and not program.functions:
        return CheckResult(program, (EMPTY,))
    checker = Checker(data=data)
    try:
        checker.check_program(program)
    except RecursionError:
        return CheckResult(None, (TOO_DEEP,))
    return CheckResult(program, tuple(checker.diagnostics), checker.scope.top())


class Checker(FunctionChecks):
    """Walks a program block by block, statement by statement, keeping a symbol table.

    The incremental API (`enter_block`, `check_statement`) lets the constrained decoder validate one
    statement at a time against everything accepted so far.
    """

    def __init__(self, data: dict | None = None):
        self.data = {k: np.asarray(v) for k, v in (data or {}).items()}
        self.scope = Scope()
        self.diagnostics: list[Diagnostic] = []
        self.block = "data"
        self.priors: set[str] = set()
        self._init_functions()

    # ---- driving -------------------------------------------------------------------------------

    def check_program(self, program: ast.Program) -> None:
        self.check_functions(program.functions)
        for block in program.blocks:
            self.enter_block(block.name)
            for stmt in block.stmts:
                self.statement(stmt)
        self._check_priors(program)
        if self.data:
            self._check_data(program)

    def enter_block(self, name: str) -> None:
        self.block = name

    def check_statement(self, stmt) -> list[Diagnostic]:
        """Check one statement in the current block; keep it only if it has no error."""
        saved, before = self.scope.snapshot(), len(self.diagnostics)
        saved_priors = set(self.priors)
        self.statement(stmt)
        found = self.diagnostics[before:]
        if any(d.is_error for d in found):
            self.scope.restore(saved)
            self.priors = saved_priors
            del self.diagnostics[before:]
        return found

    def feed(self, block: str, text: str) -> list[Diagnostic]:
        """Parse and check one statement of `block` given as text (the decoder's unit of work).

        Returns the diagnostics; the statement is kept in the symbol table only when it has no error.
        """
        self.enter_block(block)
        start = "var_decl" if block in ("data", "parameters") else "statement"
        try:
            stmt = parse(text, start=start)
        except ProgramError as exc:
            return list(exc.diagnostics)
        return self.check_statement(stmt)

    def report(self, diag: Diagnostic) -> None:
        self.diagnostics.append(diag)

    # ---- statements ----------------------------------------------------------------------------

    def statement(self, s) -> None:
        match s:
            case ast.Decl():
                self.declaration(s)
            case ast.Tilde():
                self.tilde(s)
            case ast.TargetPlus():
                self.target(s)
            case ast.Assign():
                self.assignment(s)
            case ast.For() | ast.ForEach():
                self.loop(s)
            case ast.If():
                self.branch(s)
            case ast.Compound():
                self.nested(s.stmts)
            case ast.While():
                self.while_loop(s)
            case ast.Break() | ast.Continue():
                self.loop_control(s)
            case ast.Return():
                self.return_statement(s)
            case ast.CallStmt():
                self.call_statement(s)
            case ast.Print():
                self.print_statement(s)

    def nested(self, stmts) -> None:
        self.scope.push()
        for s in stmts if isinstance(stmts, tuple) else (stmts,):
            self.statement(s)
        self.scope.pop()

    def declaration(self, d: ast.Decl) -> None:
        if self.scope.lookup(d.name) is not None and self._clashes(d.name):
            prev = self.scope.lookup(d.name)
            self.report(error("dep.redeclared", "phi4",
                              f"'{d.name}' is already declared (line {prev.pos.line}); choose another name",
                              d.pos))
            return
        if library.is_reserved(d.name):
            self.report(error("dep.reserved_name", "phi4",
                              f"'{d.name}' is the name of a Stan function or distribution; rename the variable",
                              d.pos))
            return
        origin = BLOCK_ORIGIN[self.block] if self.scope.depth == 0 else "local"
        if origin == "parameter" and d.type.kind == "int":
            self.report(error("type.int_parameter", "phi6", f"parameter '{d.name}' is an integer; NUTS "
                              "needs continuous parameters: declare it real, or marginalise the discrete "
                              "quantity out with log_sum_exp", d.pos))
        self._check_type_spec(d.type, origin)
        vtype = ValueType(value_kind(d.type.kind), len(d.type.array_sizes))
        interval = declared_interval(d.type, self._bound_interval, is_param=origin == "parameter")
        structure = declared_structure(d.type.kind)
        param_dep = origin in PARAM_ORIGINS
        if origin == "data" and d.name in self.data:
            interval = iv.meet(interval, iv.of_values(self.data[d.name]))
        if d.init is not None:
            init = self.expr(d.init)
            self._check_assignable(vtype, init, d.name, d.init)
            if origin in ("local", "loop") or not d.type.is_constrained:
                interval = iv.meet(interval, init.interval) if d.type.is_constrained else init.interval
            structure = structure or init.structure
            param_dep = param_dep or init.param_dep
        self.scope.define(Symbol(d.name, d, origin, vtype, interval, structure, param_dep,
                                 d.init is not None or origin in ("data", "parameter"),
                                 self.block, self.scope.depth))

    def _clashes(self, name: str) -> bool:
        # Stan forbids shadowing any visible name, including loop variables.
        return True

    def _check_type_spec(self, t: ast.TypeSpec, origin: str) -> None:
        for size in (*t.array_sizes, *t.sizes):
            info = self.expr(size)
            if info.known and not (info.vtype == INT):
                self.report(error("type.size_not_int", "phi6", "sizes must be integers; "
                                  f"{_render(size)} is {info.vtype}", _pos_of(size, t.pos)))
            if info.param_dep:
                self.report(error("dep.size_depends_on_parameter", "phi4",
                                  f"the size {_render(size)} depends on a parameter; sizes must come "
                                  "from data", _pos_of(size, t.pos)))
        has_bounds = any(x is not None for x in (t.lower, t.upper, t.offset, t.multiplier))
        if has_bounds and origin == "local":
            self.report(error("type.local_constraint", "phi6",
                              "local variables cannot have constraints; declare the constrained "
                              "quantity in parameters or transformed parameters", t.pos))
        lo, hi = (self.expr(b).interval if b is not None else None for b in (t.lower, t.upper))
        if lo is not None and hi is not None and lo.lo >= hi.hi and (lo.lo > hi.hi or not lo.lo_closed):
            self.report(error("type.empty_bounds", "phi6", f"the lower bound {_render(t.lower)} is not "
                              f"below the upper bound {_render(t.upper)}; swap them", t.pos))
        declared = ValueType(value_kind(t.kind), len(t.array_sizes))
        for bound in (t.lower, t.upper, t.offset, t.multiplier):
            if bound is not None:
                info = self.expr(bound)
                if info.known and not _bound_fits(declared, info.vtype):
                    wanted = "an int" if declared.kind == "int" else \
                        "a scalar" if declared.is_scalar else f"a scalar or {declared}"
                    self.report(error("type.bound", "phi6", f"a bound of {declared} must be {wanted}; "
                                      f"got {info.vtype}", _pos_of(bound, t.pos)))

    def _bound_interval(self, expr) -> Interval:
        return self.expr(expr).interval

    def tilde(self, s: ast.Tilde) -> None:
        if self.block not in TILDE_BLOCKS and not self.in_lp_function():
            where = "a function without the _lp suffix" if self.function else self.block
            self.report(error("dep.tilde_block", "phi4", f"'~' statements belong in the model block (or an "
                              f"_lp function), not in {where}", s.pos))
        if self.user_tilde(s):
            self._note_prior(s.lhs)
            return
        lhs = self.expr(s.lhs)
        args = [self.expr(a) for a in s.args]
        self.distribution_call(s.dist, s.lhs, lhs, s.args, args, s.pos)
        if s.truncation is not None:
            self._truncation(s, lhs)
        self._note_prior(s.lhs)

    def _note_prior(self, lhs) -> None:
        base = ast.base_name(lhs)
        if base is not None:
            self.priors.add(base)

    def _truncation(self, s: ast.Tilde, lhs: Info) -> None:
        spec = library.distribution(s.dist)
        if spec is None:
            return
        if spec.multivariate or (lhs.known and not lhs.vtype.is_scalar and not _reals_ok(spec)):
            self.report(error("type.truncation", "phi6", "truncation T[,] applies to univariate "
                              "distributions", s.truncation.pos))
        if spec.lcdf is None and spec.lccdf is None:
            self.report(error("args.truncation_unsupported", "phi3", f"{s.dist} has no CDF here, so it "
                              "cannot be truncated; use a bounded declaration and a family with a CDF",
                              s.truncation.pos))
        for b in (s.truncation.lo, s.truncation.hi):
            if b is not None:
                info = self.expr(b)
                if info.known and not info.vtype.is_scalar:
                    self.report(error("type.truncation", "phi6", "truncation bounds must be scalars",
                                      _pos_of(b, s.truncation.pos)))

    def target(self, s: ast.TargetPlus) -> None:
        if self.block != "model" and not self.in_lp_function():
            where = "a function without the _lp suffix" if self.function else self.block
            self.report(error("dep.target_block", "phi4", "'target +=' belongs in the model block (or an "
                              f"_lp function), not in {where}", s.pos))
        info = self.expr(s.expr)
        if info.known and (info.vtype.is_int and info.vtype.is_scalar):
            return
        for name in ast.free_names(s.expr):
            if (sym := self.scope.lookup(name)) and sym.origin == "parameter":
                self.priors.add(name)

    def assignment(self, s: ast.Assign) -> None:
        base = ast.base_name(s.lhs)
        if base is None:
            self.report(error("type.bad_lvalue", "phi6", f"cannot assign to {_render(s.lhs)}; the left "
                              "side must be a variable, possibly indexed", s.pos))
            return
        sym = self.scope.lookup(base)
        if sym is None:
            self._undeclared(base, s.lhs)
            return
        if not self._writable(sym):
            self.report(error("dep.readonly", "phi4", f"'{base}' is {_article(sym.origin)} {sym.origin} "
                              f"declared in {sym.block}; it cannot be assigned in {self.block}. Declare "
                              "a new variable here instead", s.pos))
            return
        lhs = self.expr(s.lhs)
        rhs = self.expr(s.rhs)
        if s.op == "=":
            self._check_assignable(lhs.vtype, rhs, _render(s.lhs), s.rhs)
            new = rhs.interval
        else:
            new = self._compound_assign(s, lhs, rhs)
        whole = isinstance(s.lhs, ast.Var)
        interval = new if (whole or not sym.assigned) else iv.hull(sym.interval, new)
        if sym.decl is not None and sym.decl.type.is_constrained:
            interval = iv.meet(declared_interval(sym.decl.type, self._bound_interval), interval)
        self.scope.update(base, interval=interval, assigned=True,
                          param_dep=sym.param_dep or rhs.param_dep or lhs.param_dep,
                          structure=rhs.structure if whole else sym.structure)

    def _compound_assign(self, s: ast.Assign, lhs: Info, rhs: Info) -> Interval:
        op = s.op[:-1]
        if lhs.known and rhs.known:
            try:
                result = compound_type(op, lhs.vtype, rhs.vtype)
            except OperatorTypeError as exc:
                self.report(error("type.operator", "phi6", str(exc), s.pos))
            else:
                if not fits(lhs.vtype, result):
                    self.report(error("type.assign", "phi6", f"{_render(s.lhs)} {s.op} ... gives {result}, "
                                      f"which cannot be stored in {lhs.vtype}", s.pos))
        return binary_interval(op, lhs.interval, rhs.interval)

    def _writable(self, sym: Symbol) -> bool:
        if sym.origin == "argument":
            return False  # Stan passes arguments by constant reference
        if sym.origin in ("local", "loop"):
            return sym.origin == "local"
        return sym.block == self.block

    def loop(self, s) -> None:
        if isinstance(s, ast.For):
            lo, hi = self.expr(s.lo), self.expr(s.hi)
            for e, info in ((s.lo, lo), (s.hi, hi)):
                if info.known and info.vtype != INT:
                    self.report(error("type.loop_bound", "phi6", f"loop bounds must be integers; "
                                      f"{_render(e)} is {info.vtype}", _pos_of(e, s.pos)))
            var_info = Info(INT, Interval(lo.interval.lo, hi.interval.hi, True, True, True),
                            None, lo.param_dep or hi.param_dep)
        else:
            cont = self.expr(s.container)
            var_info = self._element(cont, s.container) if cont.known else UNKNOWN
        self.scope.push()
        if self.scope.lookup(s.var) is not None and len(self.scope.frames) > 1:
            self.report(error("dep.redeclared", "phi4", f"loop variable '{s.var}' hides another "
                              "variable of the same name; rename it", s.pos))
        self.scope.define(Symbol(s.var, None, "loop", var_info.vtype or INT, var_info.interval,
                                 None, var_info.param_dep, True, self.block, self.scope.depth))
        self.loop_body(s.body)
        self.scope.pop()

    def _element(self, cont: Info, expr) -> Info:
        try:
            elem = cont.vtype.element
        except TypeError:
            self.report(error("type.foreach", "phi6", f"cannot loop over {cont.vtype}", expr.pos))
            return UNKNOWN
        return Info(elem, cont.interval, None, cont.param_dep)

    def branch(self, s: ast.If) -> None:
        cond = self.expr(s.cond)
        if cond.known and cond.vtype != INT:
            self.report(error("type.condition", "phi6", f"an if condition must be an int; got "
                              f"{cond.vtype} (compare it: `x > 0`, `x != 0`)", s.pos))
        self.nested(s.then)
        if s.other is not None:
            self.nested(s.other)

    # ---- distributions ---------------------------------------------------------------------------

    def distribution_call(self, name, lhs_expr, lhs: Info, arg_exprs, args, pos) -> None:
        spec = library.distribution(name)
        if spec is None:
            self._unknown_distribution(name, pos)
            return
        if len(args) != len(spec.args):
            self.report(error("args.arity", "phi3", f"{name} takes {len(spec.args)} argument"
                              f"{'s' if len(spec.args) != 1 else ''} ({', '.join(spec.arg_names)}); "
                              f"got {len(args)}", pos))
            return
        self._check_variate(spec, lhs_expr, lhs, pos)
        for a, e, info in zip(spec.args, arg_exprs, args):
            self._check_argument(spec, a, e, info, pos)
        self._check_combination(spec, [lhs, *args], pos)
        if spec.name in _WITH_TRIALS:
            self._check_trials(spec, lhs_expr, lhs, arg_exprs[0], args[0], pos)

    def _check_trials(self, spec, expr, successes: Info, trials_expr, trials: Info, pos) -> None:
        """Successes never exceed their trials: where the data's largest count is above every
        value N can take, some element is (Stan stops the fit there)."""
        if not (successes.known and trials.known and successes.exact) or successes.interval.hi <= trials.interval.hi:
            return
        self.report(error("support.violation", "phi5", f"{_render(expr)} reaches {successes.interval.hi:g} "
                          f"but {spec.name}'s N ({_render(trials_expr)}) is at most {trials.interval.hi:g}: "
                          "successes cannot exceed trials; use the column that counts the trials, or a "
                          "count distribution (poisson, neg_binomial_2)", _pos_of(expr, pos)))

    def _check_combination(self, spec, infos: list[Info], pos) -> None:
        """Where Stan allows only some combinations of argument shapes (the _glm forms)."""
        if not spec.overloads or not all(i.known for i in infos):
            return
        types = [i.vtype for i in infos]
        if not density_fits(spec, types):
            shown = "; ".join(f"{spec.name}({', '.join(str(p) for p in o.params)})" for o in spec.overloads[:4])
            self.report(error("type.no_signature", "phi6", f"no signature {spec.name}("
                              f"{', '.join(str(t) for t in types)}); available: {shown}", pos))

    def _unknown_distribution(self, name: str, pos) -> None:
        near = library.suggest(name, "distribution")
        hint = f"; did you mean {_or(near)}?" if near else "; see `boxloop.lang.library.DISTRIBUTIONS`"
        if library.function(name) is not None:
            hint = f"; {name} is a function, not a distribution"
        self.report(error("dist.unknown", "phi2", f"unknown distribution '{name}'{hint}", pos))

    def _check_variate(self, spec, expr, info: Info, pos) -> None:
        if not info.known:
            return
        want = spec.variate
        if not shape_matches(want.shape, info.vtype):
            kind = "integer" if want.shape in ("int", "ints") else describe_shape(want.shape)
            self.report(error("type.variate", "phi6", f"{spec.name} needs {kind} values on the left of "
                              f"'~'; {_render(expr)} is {info.vtype}{_variate_hint(spec, info)}",
                              _pos_of(expr, pos)))
            return
        self._check_support(f"the left side of '~ {spec.name}'", expr, info, want.support, pos)

    def _check_argument(self, spec, arg, expr, info: Info, pos) -> None:
        if not info.known:
            return
        if not shape_matches(arg.shape, info.vtype):
            self.report(error("type.argument", "phi6", f"{spec.name}'s argument {arg.name} must be "
                              f"{describe_shape(arg.shape)}; {_render(expr)} is "
                              f"{info.vtype}", _pos_of(expr, pos)))
            return
        self._check_support(f"{spec.name}'s argument {arg.name}", expr, info, arg.support, pos)

    def _check_support(self, what: str, expr, info: Info, support, pos) -> None:
        where = _pos_of(expr, pos)
        if isinstance(support, Structure):
            verdict = structure_ok(support.name, info.structure)
            if verdict is True:
                return
            if verdict is None and info.exact and info.param_dep:
                verdict = False  # a plain parameter roams its whole declared space
            msg = f"{what} must be a {support.name}; {_render(expr)} is not known to be one"
            if info.param_dep and verdict is False:
                self.report(error("support.structure", "phi5", msg + _structure_hint(support.name), where))
            else:
                self.report(warning("support.undecided", "phi5", msg, where))
            return
        if support.contains(info.interval):
            return
        found = f"{_render(expr)} lies in {info.interval}"
        msg = f"{what} must lie in {support}; {found}"
        certain = info.exact  # its ends are reached: what lies beyond the support will be visited
        if support.disjoint(info.interval) or (certain and iv.excess(info.interval, support)):
            self.report(error("support.violation", "phi5", msg + _support_hint(expr, support, self), where))
        else:
            self.report(warning("support.undecided", "phi5", msg + " (cannot be decided before the data "
                                "are seen)", where))

    # ---- expressions ---------------------------------------------------------------------------

    def expr(self, e) -> Info:
        match e:
            case ast.IntLit(value=v):
                if v > INT_MAX:
                    self._int_too_large(e)
                return Info(INT, iv.point(v, integer=True), exact=True)
            case ast.RealLit(value=v):
                return Info(REAL, iv.point(v), exact=True)
            case ast.Var(name=n):
                return self._var(n, e)
            case ast.Binary():
                return self._binary(e)
            case ast.Unary():
                return self._unary(e)
            case ast.Ternary():
                return self._ternary(e)
            case ast.Index():
                return self._index(e)
            case ast.Call():
                return self._call(e)
            case ast.ArrayLit() | ast.RowVectorLit():
                return self._literal(e)
        return UNKNOWN

    def _int_too_large(self, e: ast.IntLit) -> None:
        digits = str(e.value) if e.value < 10 ** 30 else f"a {len(str(e.value))}-digit integer"
        self.report(error("type.int_too_large", "phi6", f"{digits} is larger than Stan's largest int "
                          f"({INT_MAX:,}); write it as a real number (with a decimal point or an "
                          "exponent)", e.pos))

    def _var(self, name: str, e) -> Info:
        sym = self.scope.lookup(name)
        if sym is None:
            self._undeclared(name, e)
            return UNKNOWN
        exact = sym.origin == "parameter" or (sym.origin == "data" and name in self.data)
        return replace(sym.info, exact=exact)

    def _undeclared(self, name: str, e) -> None:
        declared = self.scope.names()
        near = library.nearest(name, declared)
        if library.distribution(name) is not None or library.function(name) is not None:
            hint = f"; '{name}' is a library name, call it with arguments"
        elif near:
            hint = f"; did you mean {_or(near)}?"
        else:
            hint = f"; declared so far: {', '.join(declared) or 'nothing'}"
        self.report(error("dep.undeclared", "phi4", f"'{name}' is used before it is declared{hint}",
                          getattr(e, "pos", None)))

    def _binary(self, e: ast.Binary) -> Info:
        a, b = self.expr(e.left), self.expr(e.right)
        if not (a.known and b.known):
            return UNKNOWN
        try:
            vtype = binary_type(e.op, a.vtype, b.vtype)
        except OperatorTypeError as exc:
            self.report(error("type.operator", "phi6", str(exc), e.pos))
            return UNKNOWN
        interval = binary_interval(e.op, a.interval, b.interval)
        if e.op == "*" and not (a.vtype.is_scalar or b.vtype.is_scalar) and vtype.kind != "matrix" \
                or (e.op == "*" and a.vtype.kind == b.vtype.kind == "matrix"):
            interval = _sum_of_products(interval)
        better = structural_interval(e, self._quiet_interval)
        if better is not None:
            interval = iv.meet(interval, better)
        return Info(vtype, interval, None, a.param_dep or b.param_dep,
                    binary_exact(e.op, e.left, e.right, a, b))

    def _quiet_interval(self, e) -> Interval:
        """What is known of a sub-expression already checked once (its findings are not repeated)."""
        before = len(self.diagnostics)
        info = self.expr(e)
        del self.diagnostics[before:]
        return info.interval

    def _unary(self, e: ast.Unary) -> Info:
        a = self.expr(e.operand)
        if not a.known:
            return UNKNOWN
        try:
            vtype = unary_type(e.op, a.vtype)
        except OperatorTypeError as exc:
            self.report(error("type.operator", "phi6", str(exc), e.pos))
            return UNKNOWN
        return Info(vtype, unary_interval(e.op, a.interval), None, a.param_dep, a.exact and e.op in "-+")

    def _ternary(self, e: ast.Ternary) -> Info:
        c, a, b = self.expr(e.cond), self.expr(e.then), self.expr(e.other)
        if not (c.known and a.known and b.known):
            return UNKNOWN
        if c.vtype != INT:
            self.report(error("type.condition", "phi6", f"the condition of ?: must be an int; got "
                              f"{c.vtype} (compare it: `x > 0`)", e.pos))
        if fits(a.vtype, b.vtype) or fits(b.vtype, a.vtype):
            vtype = a.vtype if fits(a.vtype, b.vtype) else b.vtype  # int branches promote to real
        else:
            self.report(error("type.ternary", "phi6", f"both branches of ?: must have one type; got "
                              f"{a.vtype} and {b.vtype}", e.pos))
            return UNKNOWN
        return Info(vtype, iv.hull(a.interval, b.interval), None,
                    a.param_dep or b.param_dep or c.param_dep)

    def _index(self, e: ast.Index) -> Info:
        base = self.expr(e.base)
        if not base.known:
            for i in e.indices:
                self._index_item(i)
            return UNKNOWN
        vtype = base.vtype
        if len(e.indices) > vtype.rank:
            self.report(error("type.index", "phi6", f"{_render(e.base)} is {vtype} and takes at most "
                              f"{vtype.rank} indices; got {len(e.indices)}", e.pos))
            return UNKNOWN
        dep = base.param_dep
        kept = []  # dimensions kept by slices / multi-indexes, in order
        for k, item in enumerate(e.indices):
            keeps, item_dep = self._index_item(item)
            dep = dep or item_dep
            kept.append(keeps)
        interval = base.interval
        known = structured_element(base.structure, e.indices[vtype.array_dims:])
        if known is not None:
            interval = iv.meet(interval, known)
        # picking elements of an array of simplexes (cov matrices, ...) keeps the structure
        structure = base.structure if len(e.indices) <= vtype.array_dims else None
        # an element picked from data may be any of its values; one of a parameter roams them all
        return Info(vtype.indexed(kept), interval, structure, dep, free_parameter(e.base, base))

    def _index_item(self, item) -> tuple[bool, bool]:
        """Check one index; return (keeps the dimension, depends on parameters)."""
        if isinstance(item, ast.Slice):
            dep = False
            for b in (item.lo, item.hi):
                if b is not None:
                    info = self.expr(b)
                    self._require_int_index(info, b)
                    dep = dep or info.param_dep
            return True, dep
        info = self.expr(item)
        if info.known and info.vtype == ValueType("int", 1):
            return True, info.param_dep
        self._require_int_index(info, item)
        return False, info.param_dep

    def _require_int_index(self, info: Info, e) -> None:
        if info.known and info.vtype != INT:
            self.report(error("type.index", "phi6", f"indices must be integers (or integer arrays); "
                              f"{_render(e)} is {info.vtype}", getattr(e, "pos", None)))

    def _literal(self, e) -> Info:
        items = [self.expr(x) for x in e.items]
        if not all(i.known for i in items):
            return UNKNOWN
        first = items[0].vtype
        dep = any(i.param_dep for i in items)
        interval = items[0].interval
        for i in items[1:]:
            interval = iv.hull(interval, i.interval)
        if isinstance(e, ast.RowVectorLit):
            if all(i.vtype.is_scalar for i in items):
                return Info(ValueType("row_vector"), interval, None, dep)
            if all(i.vtype == ValueType("row_vector") for i in items):
                return Info(ValueType("matrix"), interval, None, dep)
            self.report(error("type.literal", "phi6", "[...] holds scalars (a row_vector) or row_vectors "
                              "(a matrix)", e.pos))
            return UNKNOWN
        if any((i.vtype.kind, i.vtype.array_dims) != (first.kind, first.array_dims) for i in items) and \
                not all(i.vtype.is_scalar for i in items):
            self.report(error("type.literal", "phi6", "{...} needs elements of one type", e.pos))
            return UNKNOWN
        kind = "real" if any(i.vtype.kind == "real" for i in items) else first.kind
        return Info(ValueType(kind, first.array_dims + 1), interval, None, dep)

    # ---- calls -------------------------------------------------------------------------------

    def _call(self, e: ast.Call) -> Info:
        if e.name in ODE_SOLVERS:
            return self.ode_call(e)
        found = self.user_overloads(e.name)
        if found is not None:
            return self.user_call(e, *found)
        resolved = library.resolve_suffixed(e.name)
        if resolved is not None:
            return self._distribution_function(e, *resolved)
        spec = library.function(e.name)
        args = [self.expr(a) for a in e.args]
        if spec is None:
            self._unknown_function(e)
            return UNKNOWN
        if e.conditional:
            self.report(error("args.bar", "phi3", f"'|' is only used by _lpdf/_lpmf/_lcdf/_lccdf "
                              f"functions; write {e.name}(a, b, ...)", e.pos))
            return UNKNOWN
        if not all(a.known for a in args):
            return UNKNOWN
        return self._function(spec, e, args)

    def _unknown_function(self, e: ast.Call) -> None:
        if library.distribution(e.name) is not None:
            msg = (f"'{e.name}' is a distribution; write `y ~ {e.name}(...)` or "
                   f"`target += {e.name}_{'lpmf' if library.distribution(e.name).discrete else 'lpdf'}"
                   f"(y | ...)`")
            self.report(error("func.distribution_as_function", "phi2", msg, e.pos))
            return
        near = library.suggest(e.name, "function")
        hint = f"; did you mean {_or(near)}?" if near else ""
        self.report(error("func.unknown", "phi2", f"unknown function '{e.name}'{hint}", e.pos))

    def _function(self, spec, e: ast.Call, args: list[Info]) -> Info:
        types = [a.vtype for a in args]
        result = match_signature(spec, types)
        if result is None:
            shown = "; ".join(f"{spec.name}({', '.join(str(p) for p in s.params)})"
                              for s in spec.signatures[:4])
            got = ", ".join(str(t) for t in types)
            self.report(error("type.no_signature", "phi6", f"no signature {spec.name}({got}); "
                              f"available: {shown}", e.pos))
            return UNKNOWN
        if spec.domain:
            for k, (sup, arg_e, info) in enumerate(zip(spec.domain, e.args, args)):
                if sup is not None:
                    self._check_support(f"{spec.name}'s argument {k + 1}", arg_e, info, sup, e.pos)
        intervals = [a.interval for a in args]
        interval = spec.interval(*intervals) if spec.interval else Interval(integer=result.is_int)
        known = structured_result(spec.name, args)
        if known is not None:
            interval = iv.meet(interval, known)
        exact = len(args) == 1 and args[0].exact and getattr(spec.interval, "exact", False)
        # the shape of a parameter is fixed by the data, so its size is data
        dep = spec.name not in SHAPE_FUNCTIONS and any(a.param_dep for a in args)
        return Info(result, interval, function_structure(spec.name, args), dep, exact)

    def _distribution_function(self, e: ast.Call, spec, suffix: str) -> Info:
        args = [self.expr(a) for a in e.args]
        if suffix == "rng":
            return self._rng(e, spec, args)
        if not e.conditional and (spec.args or len(e.args) != 1):
            self.report(error("args.bar", "phi3", f"write {e.name}(y | {', '.join(spec.arg_names)}): "
                              "Stan separates the variate from the parameters with '|'", e.pos))
            return UNKNOWN
        if e.name.endswith(("_lupdf", "_lupmf")) and self.block != "model" and not (
                self.in_density_function() or self.in_lp_function()):
            self.report(error("dep.lupdf_block", "phi4", f"{e.name} drops constants, which Stan allows only "
                              f"in the model block; in {self.block} write {e.name.replace('_lu', '_l')}",
                              e.pos))
        self.distribution_call(spec.name, e.args[0], args[0], e.args[1:], args[1:], e.pos)
        if suffix == "cdf":
            interval = UNIT_CLOSED
        elif spec.discrete or suffix != "lpdf":
            interval = Interval(hi=0.0, hi_closed=True)
        else:
            interval = Interval()
        return Info(REAL, interval, None, any(a.param_dep for a in args))

    def _rng(self, e: ast.Call, spec, args: list[Info]) -> Info:
        if self.block not in RNG_BLOCKS and not self.in_rng_function():
            self.report(error("dep.rng_block", "phi4", f"{e.name} draws random numbers; it may only be "
                              "used in transformed data, generated quantities or an _rng function", e.pos))
        params = library.rng_params(spec)
        if len(args) != len(params):
            self.report(error("args.arity", "phi3", f"{e.name} takes {len(params)} argument"
                              f"{'s' if len(params) != 1 else ''} ({', '.join(p.name for p in params)}); "
                              f"got {len(args)}", e.pos))
            return UNKNOWN
        for a, x, info in zip(params, e.args, args):
            self._check_argument(spec, a, x, info, e.pos)
        if not all(a.known for a in args):
            return UNKNOWN
        result = dist_result_type(spec, [a.vtype for a in args])
        if result is None:
            return UNKNOWN  # an argument of the wrong shape, reported above
        return Info(result, spec.variate.support if isinstance(spec.variate.support, Interval) else Interval(),
                    None, any(a.param_dep for a in args))

    # ---- whole-program checks ------------------------------------------------------------------

    def _check_assignable(self, target: ValueType | None, value: Info, name: str, e) -> None:
        if target is None or not value.known:
            return
        v = value.vtype
        if target == v or (target.kind == "real" and v.kind == "int" and target.array_dims == v.array_dims):
            return
        self.report(error("type.assign", "phi6", f"cannot assign {v} to {name}, which is {target}",
                          getattr(e, "pos", None)))

    def _check_priors(self, program: ast.Program) -> None:
        for d in program.stmts("parameters"):
            if d.name not in self.priors:
                self.report(warning("prior.missing", "phi4", f"parameter '{d.name}' has no prior: it gets "
                                    "an improper flat prior, so its marginal likelihood is undefined; "
                                    f"add `{d.name} ~ ...;` in the model block", d.pos))

    def _check_data(self, program: ast.Program) -> None:
        from .datacheck import check_data_declarations

        for diag in check_data_declarations(program, self.data):
            self.report(diag)


# ---- small helpers ---------------------------------------------------------------------------------


def _bound_fits(declared: ValueType, bound: ValueType) -> bool:
    """Stan's bounds: an int for an int, else a scalar or a value of the declared type itself."""
    if declared.kind == "int":
        return bound == INT
    return bound.is_scalar or fits(declared, bound)


def _sum_of_products(prod: Interval) -> Interval:
    # A dot product sums many products: only the sign survives.
    if prod.lo >= 0:
        return Interval(0.0, iv.INF if prod.hi > 0 else 0.0, True, False)
    if prod.hi <= 0:
        return Interval(-iv.INF, 0.0, False, True)
    return Interval()


def _pos_of(e, fallback):
    p = getattr(e, "pos", None)
    return p if p is not None and p.line else fallback


_WITH_TRIALS = ("binomial", "binomial_logit", "beta_binomial", "binomial_logit_glm")


def _render(e) -> str:
    try:
        from .printer import to_stan

        return f"`{to_stan(e)}`"
    except Exception:  # the printer is only for messages here; never let it hide the real finding
        return "this expression"


def _or(names) -> str:
    names = [f"'{n}'" for n in names]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def _reals_ok(spec) -> bool:
    return spec.variate.shape in ("reals", "ints")


def _variate_hint(spec, info: Info) -> str:
    if spec.variate.shape in ("int", "ints") and info.vtype.kind == "real":
        return "; use a continuous family (normal, lognormal, gamma) or declare the data as int"
    if info.vtype.array_dims > 1 or info.vtype.kind == "matrix":
        return "; flatten it with to_vector(...) or loop over its rows"
    return ""


def _support_hint(expr, support: Interval, checker: Checker) -> str:
    name = ast.base_name(expr)
    sym = checker.scope.lookup(name) if isinstance(expr, ast.Var) and name else None
    if sym is not None and sym.origin == "parameter" and sym.decl is not None:
        if support.lo == 0 and support.hi == iv.INF:
            return f"; declare it as <lower=0> (e.g. `real<lower=0> {name};`)"
        if support.lo == 0 and support.hi == 1:
            return "; declare it with <lower=0, upper=1>, or use the _logit form of the distribution"
    if support.lo == 0 and support.hi == iv.INF and support.lo_closed is False:
        return "; this argument must be positive: wrap it in exp(...) or use a <lower=0> parameter"
    return ""


def _structure_hint(name: str) -> str:
    return {
        "simplex": "; declare it as simplex[K] or build it with softmax(...)",
        "cholesky_factor_corr": "; declare it as cholesky_factor_corr[K]",
        "cholesky_factor_cov": "; declare it as cholesky_factor_cov[K] or use cholesky_decompose(...)",
        "cov_matrix": "; declare it as cov_matrix[K]",
        "corr_matrix": "; declare it as corr_matrix[K]",
        "ordered": "; declare it as ordered[K]",
    }.get(name, "")
