"""The checker's half for the functions block and the statements only functions and loops need:
`return`, `while`, `break`/`continue`, call statements, print / reject / fatal_error.

A mixin of `checker.Checker`: it uses the checker's scope, expression typing and report. Function
bodies are checked with the same predicates as the blocks (types, declared-before-use, supports);
arguments are read-only symbols whose values are unknown.
"""

from __future__ import annotations

from . import ast
from . import functions as fn
from .diagnostics import error
from .symbols import UNKNOWN, Info, Symbol
from .types import INT, REAL, REAL_LINE, Interval, ValueType, fits

RNG_BLOCKS = ("transformed data", "generated quantities")
LP_BLOCKS = ("model", "transformed parameters")


class FunctionChecks:
    """Checks of user-defined functions, their calls, and control-flow statements."""

    user: dict  # name -> list of functions.Signature
    function: fn.Signature | None  # the function whose body is being checked
    loops: int  # how many loops enclose the current statement

    def _init_functions(self) -> None:
        self.user, self.function, self.loops = {}, None, 0

    # ---- the functions block ---------------------------------------------------------------------

    def check_functions(self, functions: tuple) -> None:
        cycle = fn.recursive_cycle(functions)
        if cycle:
            first = next(f for f in functions if f.name == cycle[0])
            self.report(error("func.recursive", "phi4", f"{' -> '.join(cycle)} is recursive; boxloop compiles "
                              "a function by expanding its body, so it cannot call itself: write the "
                              "recursion as a loop", first.pos))
        for f in functions:
            self._register(f)
        for name, sigs in self.user.items():
            for sig in sigs:
                if not sig.defined:
                    self.report(error("func.undefined", "phi4", f"{sig.text()} is declared but never "
                                      "defined; give it a body", sig.fundef.pos))

    def _register(self, f: ast.FunDef) -> None:
        sig = fn.signature(f)
        overloads = self.user.setdefault(f.name, [])
        prev = next((s for s in overloads if fn.same_params(s, sig)), None)
        if prev is not None:
            if prev.defined or not sig.defined or prev.returns != sig.returns:
                self.report(error("func.redefined", "phi4", f"{sig.text()} is already "
                                  f"{'defined' if prev.defined else 'declared'} (line {prev.fundef.pos.line}); "
                                  "rename one of them or change its argument types", f.pos))
                return
            overloads.remove(prev)
        overloads.append(sig)
        if (problem := fn.suffix_problem(sig)) is not None:
            self.report(error("func.suffix_signature", "phi6", problem, f.pos))
        if sig.defined:
            self._body(f, sig)

    def _body(self, f: ast.FunDef, sig: fn.Signature) -> None:
        saved = (self.block, self.function, self.loops)
        self.block, self.function, self.loops = "functions", sig, 0
        self.scope.push()
        for p, t in zip(f.params, sig.params):
            interval = Interval(integer=True) if t.kind == "int" else REAL_LINE
            dep = not p.data_only and t.kind != "int"
            self.scope.define(Symbol(p.name, None, "argument", t, interval, None, dep, True, "functions",
                                     self.scope.depth))
        self.nested(f.body.stmts)
        self.scope.pop()
        if sig.returns is not None and not fn.always_returns(f.body):
            self.report(error("func.missing_return", "phi6", f"{sig.text()} can reach its end without "
                              "returning a value; end every path with `return ...;`", f.pos))
        self.block, self.function, self.loops = saved

    # ---- statements --------------------------------------------------------------------------------

    def return_statement(self, s: ast.Return) -> None:
        sig = self.function
        if sig is None:
            self.report(error("func.return_outside", "phi4", "`return` is only allowed inside a function "
                              "body", s.pos))
            return
        if s.value is None:
            if sig.returns is not None:
                self.report(error("func.return_value_missing", "phi6", f"{sig.text()} must return a "
                                  f"{sig.returns}; write `return <value>;`", s.pos))
            return
        value = self.expr(s.value)
        if sig.returns is None:
            self.report(error("func.void_return", "phi6", f"{sig.name} is void: it cannot return a value; "
                              "write `return;` or declare a return type", s.pos))
        elif value.known and not fits(sig.returns, value.vtype):
            self.report(error("type.return", "phi6", f"{sig.name} returns {sig.returns}; this returns "
                              f"{value.vtype}", s.pos))

    def while_loop(self, s: ast.While) -> None:
        cond = self.expr(s.cond)
        if cond.known and cond.vtype != INT:
            self.report(error("type.condition", "phi6", f"a while condition must be an int; got "
                              f"{cond.vtype}", s.pos))
        self.loop_body(s.body)

    def loop_body(self, body) -> None:
        self.loops += 1
        self.nested(body)
        self.loops -= 1

    def loop_control(self, s) -> None:
        if self.loops == 0:
            word = "break" if isinstance(s, ast.Break) else "continue"
            self.report(error("flow.outside_loop", "phi4", f"`{word}` is only allowed inside a for or "
                              "while loop", s.pos))

    def call_statement(self, s: ast.CallStmt) -> None:
        found = self.user_overloads(s.call.name)
        if found is None:
            if self.expr(s.call).known:
                self.report(error("func.nonvoid_statement", "phi6", f"{s.call.name} returns a value, so it "
                                  "cannot stand alone as a statement; assign its value", s.pos))
            return
        sig, _ = self.resolve_user(s.call, *found)
        if sig is not None and sig.returns is not None:
            self.report(error("func.nonvoid_statement", "phi6", f"{s.call.name} returns {sig.returns}, so "
                              "it cannot stand alone as a statement; assign its value", s.pos))

    def print_statement(self, s: ast.Print) -> None:
        for item in s.items:
            if not isinstance(item, ast.StringLit):
                self.expr(item)

    # ---- calls ---------------------------------------------------------------------------------------

    def user_overloads(self, name: str) -> tuple[str, list] | None:
        """(the defined name, its overloads) a call of `name` reaches: `foo_lupdf` reaches foo_lpdf."""
        if name in self.user:
            return name, self.user[name]
        sfx = fn.suffix(name)
        if sfx in ("lupdf", "lupmf"):
            base = f"{fn.family(name)}_l{sfx[2:]}"
            if base in self.user:
                return base, self.user[base]
        return None

    def user_call(self, e: ast.Call, name: str, overloads: list) -> Info:
        """Facts about the value of a call of a user-defined function."""
        sig, args = self.resolve_user(e, name, overloads)
        if sig is None:
            return UNKNOWN
        if sig.returns is None:
            self.report(error("func.void_value", "phi6", f"{sig.name} is void: it has no value to use in "
                              "an expression; call it as a statement", e.pos))
            return UNKNOWN
        interval = Interval(integer=True) if sig.returns.kind == "int" else REAL_LINE
        return Info(sig.returns, interval, None, any(a.param_dep for a in args))

    def resolve_user(self, e: ast.Call, name: str, overloads: list):
        """(the overload a call picks, the arguments' facts), reporting what is wrong with the call;
        the overload is None when none fits."""
        args = [self.expr(a) for a in e.args]
        if not all(a.known for a in args):
            return None, args
        sig = fn.choose(overloads, [a.vtype for a in args])
        if sig is None:
            got = ", ".join(str(a.vtype) for a in args)
            shown = "; ".join(s.text() for s in overloads[:4])
            self.report(error("type.no_signature", "phi6", f"no signature {e.name}({got}); available: {shown}",
                              e.pos))
            return None, args
        for p, a, x in zip(sig.data_only, args, e.args):
            if p and a.param_dep:
                self.report(error("func.data_argument", "phi4", f"{sig.name}'s argument declared `data` "
                                  "must be given data or transformed data; this one depends on a parameter",
                                  getattr(x, "pos", e.pos)))
        self._suffix_rules(e, name)
        return sig, args

    def ode_call(self, e: ast.Call) -> Info:
        """An ODE solver: its first argument names a user function of the right signature."""
        old = e.name in fn.OLD_ODE
        fixed, optional = fn.ode_layout(e.name)
        f = e.args[0] if e.args else None
        found = self.user_overloads(f.name) if isinstance(f, ast.Var) else None
        if found is None:
            self.report(error("ode.function", "phi6", f"{e.name}'s first argument must name a function of "
                              "the functions block (the right-hand side of the ODE)", e.pos))
            return UNKNOWN
        args = [self.expr(a) for a in e.args[1:]]
        if not all(a.known for a in args):
            return UNKNOWN
        if old and len(args) not in (6, 9) or not old and len(args) < 3 + fixed:
            self.report(error("args.arity", "phi3", f"{e.name} takes (f, y0, t0, ts, "
                              f"{'theta, x_r, x_i[, rtol, atol, max_steps]' if old else '...'}); "
                              f"got {len(e.args)} arguments", e.pos))
            return UNKNOWN
        state = ValueType("real", 1) if old else ValueType("vector")
        extra = args[3:6] if old else args[3 + fixed:]
        rhs = [REAL, state, *(a.vtype for a in extra)]
        sig = fn.choose(found[1], rhs)
        if sig is None or sig.returns != state or not fits(state, args[0].vtype):
            want = f"{state} {f.name}({', '.join(str(t) for t in rhs)})"
            self.report(error("ode.function", "phi6", f"{e.name} needs the right-hand side {want}, and y0 "
                              f"of type {state}; got y0 {args[0].vtype}", e.pos))
            return UNKNOWN
        if old:
            for a, x in zip(args[4:6], e.args[5:7]):
                if a.param_dep:
                    self.report(error("func.data_argument", "phi4", f"{e.name}'s x_r and x_i must be data",
                                      getattr(x, "pos", e.pos)))
        result = ValueType("real", 2) if old else ValueType("vector", 1)
        return Info(result, REAL_LINE, None, any(a.param_dep for a in args))

    def _suffix_rules(self, e: ast.Call, name: str) -> None:
        sfx, inside = fn.suffix(name), self.function
        inner = fn.suffix(inside.name) if inside is not None else None
        if sfx == "rng" and self.block not in RNG_BLOCKS and inner != "rng":
            self.report(error("dep.rng_block", "phi4", f"{e.name} draws random numbers; it may only be "
                              "used in transformed data, generated quantities or another _rng function",
                              e.pos))
        if sfx == "lp" and self.block not in LP_BLOCKS and inner != "lp":
            self.report(error("func.lp_block", "phi4", f"{e.name} adds to the log density; it may only be "
                              "called in the model block, transformed parameters or another _lp function",
                              e.pos))
        if sfx in fn.DENSITY_SUFFIXES and len(e.args) > 1 and not e.conditional:
            self.report(error("args.bar", "phi3", f"write {e.name}(y | ...): Stan separates the variate "
                              "from the parameters with '|'", e.pos))
        if sfx not in fn.DENSITY_SUFFIXES and sfx not in ("lupdf", "lupmf") and e.conditional:
            self.report(error("args.bar", "phi3", f"'|' is only used by _lpdf/_lpmf/_lcdf/_lccdf "
                              f"functions; write {e.name}(a, b, ...)", e.pos))

    def user_tilde(self, s: ast.Tilde) -> bool:
        """Check `y ~ foo(...)` against a user's foo_lpdf / foo_lpmf; False when there is none."""
        for sfx in ("lpdf", "lpmf"):
            found = self.user_overloads(f"{s.dist}_{sfx}")
            if found is not None:
                call = ast.Call(found[0], (s.lhs, *s.args), True, s.pos)
                self.user_call(call, *found)
                if s.truncation is not None:
                    self.report(error("args.truncation_unsupported", "phi3", f"{s.dist} is user-defined; "
                                      "truncating it needs its _lcdf and _lccdf, which boxloop does not "
                                      "look up: write the normaliser with target +=", s.truncation.pos))
                return True
        return False

    # ---- what a statement in a function body may do ----------------------------------------------------

    def in_lp_function(self) -> bool:
        return self.function is not None and fn.suffix(self.function.name) == "lp"

    def in_rng_function(self) -> bool:
        return self.function is not None and fn.suffix(self.function.name) == "rng"

    def in_density_function(self) -> bool:
        return self.function is not None and fn.suffix(self.function.name) in fn.DENSITY_SUFFIXES
