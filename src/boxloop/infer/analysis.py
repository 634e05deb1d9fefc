"""What the compiler decides about a program before seeing data values.

* Roles: each `~` / `target +=` of the model block is prior or likelihood, and a likelihood term
  knows which observation slots it fills (its *anchor*: a data variable and the index items used on
  it). A `~` is likelihood when its left side reads observed data (a data or transformed-data
  variable, or a model-block local computed from data alone), ignoring index positions (so
  `alpha[group[i]] ~ ...` stays a prior). A `target +=` that is a density call (`normal_lpdf(y | ...)`,
  also `_lcdf`/`_lccdf` for censoring) is classified by its variate the same way; any other
  `target +=` is likelihood when it reads, outside index positions, a data container or a variable
  that some other likelihood statement observes, or a model local computed from those; for
  `target += sum(lp)` with such a local vector `lp`, lp's elements are the pointwise terms. Terms
  whose observations cannot be told apart get one "joint" entry with a single slot.
* The automatic truncation normaliser of a bounded parameter's prior (`AutoTrunc`).
* Whether a loop can be vectorised (`vectorisable`), and which variables a loop body writes.
* Whether the program is generative (`ProgramInfo.not_generative` holds the reason if not).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

from ..lang import ast, library
from ..lang.types import Interval

DENSITY_SUFFIXES = ("lpdf", "lpmf", "lcdf", "lccdf")


def rep_name(name: str) -> str:
    """Where a posterior-predictive replicate of data variable `name` is built (Stan reserves
    names ending in "__", so this cannot clash with a program's own names)."""
    return name + "__"


@dataclass(frozen=True)
class SimMode:
    """Forward simulation: which `~` statements draw their left side instead of scoring it.

    `params`: priors of parameters draw the parameter. `data`: likelihood statements draw the data;
    with `write_back` the draw replaces the data (later statements see it: prior predictive of
    autoregressions), otherwise it goes to `rep_name(var)` (one-step-ahead posterior predictive)."""

    params: bool
    data: bool
    write_back: bool
    param_names: frozenset = frozenset()


@dataclass(frozen=True)
class AutoTrunc:
    """The normaliser a bounded parameter's prior gets: its declared constant bounds, applied where
    the distribution's support reaches beyond them (checked elementwise at run time)."""

    param: str
    lower: object | None  # bound expressions (data-only) or None
    upper: object | None
    support_lo: float
    support_hi: float
    items: tuple  # index items of the left side (), for `p ~` or `p[i] ~`


@dataclass(frozen=True)
class Role:
    likelihood: bool
    entry: str | None = None  # log-lik entry the term adds to
    items: tuple = ()  # index items on the anchor variable
    joint: bool = False  # one slot for the whole term
    direct: bool = False  # a `target += foo_lpdf(y | ...)` scored elementwise
    auto: AutoTrunc | None = None
    elements: str | None = None  # a model local whose elements are this term's pointwise values
    sort: bool = False  # an ordered parameter: simulate by sorting iid draws, and with iid
    # scalar arguments add log K! (the ordered region holds 1/K! of the iid mass)


@dataclass(frozen=True)
class Anchor:
    var: str
    event_ndim: int  # trailing dims of the variable one slot covers


@dataclass(frozen=True)
class ProgramInfo:
    data: frozenset
    tdata: frozenset
    params: tuple  # names in declaration order
    tparams: tuple
    gq: tuple
    param_decls: dict
    decls: dict  # every block-level declaration by name
    model_decls: dict = field(default_factory=dict)  # block-level model locals by name
    roles: dict = field(default_factory=dict)  # Tilde/TargetPlus node -> Role
    anchors: dict = field(default_factory=dict)  # entry -> Anchor (None: joint entry)
    not_generative: str | None = None


# ---- small syntax helpers -----------------------------------------------------------------------------


def flatten_index(e):
    """`a[i][j, k]` -> ("a", (i, j, k)); None when the chain does not end in a variable."""
    items: tuple = ()
    while isinstance(e, ast.Index):
        items = tuple(e.indices) + items
        e = e.base
    return (e.name, items) if isinstance(e, ast.Var) else None


def value_names(e) -> set[str]:
    """Names an expression reads as values: index positions are skipped (they select, not observe)."""
    if isinstance(e, ast.Var):
        return {e.name}
    if isinstance(e, ast.Index):
        return value_names(e.base)
    out: set[str] = set()
    for c in ast.children(e):
        out |= value_names(c)
    return out


def declared_names(s) -> set[str]:
    return {n.name for n in ast.walk(s) if isinstance(n, ast.Decl)}


def _statements(s):
    """Every statement inside `s` (itself included), depth first."""
    yield s
    match s:
        case ast.For(body=b) | ast.ForEach(body=b) | ast.While(body=b):
            yield from _statements(b)
        case ast.If(then=t, other=o):
            yield from _statements(t)
            if o is not None:
                yield from _statements(o)
        case ast.Compound(stmts=ss):
            for x in ss:
                yield from _statements(x)


def _rank(decl: ast.Decl) -> int:
    t = decl.type
    inner = {"int": 0, "real": 0}.get(t.kind, 2 if "matrix" in t.kind or "cholesky" in t.kind else 1)
    return len(t.array_sizes) + inner


# ---- writes and loops ---------------------------------------------------------------------------------


def _writes(s, sim: SimMode | None):
    """(base name, lvalue node) of every write inside statement `s`."""
    for x in _statements(s):
        if isinstance(x, ast.Assign):
            parts = flatten_index(x.lhs)
            if parts is not None:
                yield parts[0], x.lhs
        elif isinstance(x, ast.Tilde) and sim is not None:
            parts = flatten_index(x.lhs)
            if parts is None:
                continue
            base = parts[0]
            if base in sim.param_names:
                if sim.params:
                    yield base, x.lhs
            elif sim.data:
                if sim.write_back:
                    yield base, x.lhs
                else:
                    yield rep_name(base), _rebase(x.lhs, rep_name(base))


def _rebase(e, name: str):
    if isinstance(e, ast.Var):
        return ast.Var(name)
    return ast.Index(_rebase(e.base, name), e.indices)


def assigned_names(s, sim: SimMode | None = None) -> set[str]:
    return {b for b, _ in _writes(s, sim)}


@functools.lru_cache(maxsize=4096)
def vectorisable(loop, sim: SimMode | None = None) -> bool:
    """True when iterations are independent: every write to a variable declared outside the body
    is indexed by the loop variable itself (so iterations write distinct slots), the body reads
    such a variable only through exactly such an lvalue (its own iteration's slot), and nested
    loops that write outside variables are themselves vectorisable."""
    body, var = loop.body, loop.var
    if isinstance(loop, ast.ForEach):
        var = None  # the element is a value: writes cannot be indexed by it
    local = declared_names(body)
    lvalues: dict[str, set] = {}
    for base, lhs in _writes(body, sim):
        if base in local:
            continue
        if base == var:
            return False
        parts = flatten_index(lhs)
        if var is None or not parts or ast.Var(var) not in parts[1]:
            return False
        lvalues.setdefault(base, set()).add(lhs)
    if not lvalues:
        return _calls_ok(body)
    for inner in _statements(body):
        if inner is not body and isinstance(inner, (ast.For, ast.ForEach)):
            if any(b not in local for b, _ in _writes(inner.body, sim)) and not vectorisable(inner, sim):
                return False
    return _reads_ok(body, lvalues) and _calls_ok(body)


def _reads_ok(node, lvalues: dict) -> bool:
    if isinstance(node, ast.Index):
        parts = flatten_index(node)
        if parts is not None and parts[0] in lvalues:
            if node not in lvalues[parts[0]]:
                return False
            return all(_reads_ok(i, lvalues) for i in parts[1])
    if isinstance(node, ast.Var) and node.name in lvalues:
        return False
    return all(_reads_ok(c, lvalues) for c in ast.children(node))


def _calls_ok(body) -> bool:
    # target() reads the running total, which a lane does not have.
    return not any(isinstance(n, ast.Call) and n.name == "target" and not n.args for n in ast.walk(body))


# Statements after which the rest of a body may not run.
_EXITS = (ast.Break, ast.Continue, ast.Return)


@functools.lru_cache(maxsize=4096)
def leaves_early(body) -> bool:
    """Whether a loop body can leave its iteration early (break, continue, return, reject)."""
    return any(isinstance(n, _EXITS) or (isinstance(n, ast.Print) and n.kind != "print")
               for n in ast.walk(body))


# ---- roles ------------------------------------------------------------------------------------------------


def analyse(program: ast.Program) -> ProgramInfo:
    decls = {s.name: s for b in program.blocks if b.name != "model" for s in b.stmts
             if isinstance(s, ast.Decl)}
    names = {b: tuple(s.name for s in program.stmts(b) if isinstance(s, ast.Decl)) for b in ast.BLOCK_ORDER}
    data, tdata = frozenset(names["data"]), frozenset(names["transformed data"])
    params = names["parameters"]
    param_decls = {s.name: s for s in program.stmts("parameters")}
    model = program.stmts("model")
    datalike = data | tdata | _data_only_locals(model, data | tdata)
    user = frozenset(f.name.rpartition("_")[0] for f in program.functions
                     if f.name.endswith(("_lpdf", "_lpmf")))
    roles, anchors = _roles(model, datalike, data | tdata, decls, param_decls, user)
    model_decls = {s.name: s for s in model if isinstance(s, ast.Decl)}
    info = ProgramInfo(data, tdata, params, names["transformed parameters"], names["generated quantities"],
                       param_decls, decls, model_decls, roles, anchors)
    return replace(info, not_generative=_generativity(program, info))


def _local_sources(model: tuple) -> tuple[dict, set]:
    """Model-block locals -> the names their values are computed from; and the loop variables."""
    sources: dict[str, set] = {}
    for top in model:
        for s in _statements(top):
            if isinstance(s, ast.Decl):
                sources.setdefault(s.name, set()).update(value_names(s.init) if s.init is not None else ())
            elif isinstance(s, ast.Assign) and (parts := flatten_index(s.lhs)):
                sources.setdefault(parts[0], set()).update(value_names(s.rhs))
    loop_vars = {s.var for top in model for s in _statements(top) if isinstance(s, (ast.For, ast.ForEach))}
    return sources, loop_vars


def _data_only_locals(model: tuple, datalike: frozenset) -> frozenset:
    """Model-block locals computed from data alone (e.g. `vector[N] log_y = log(y);`)."""
    sources, loop_vars = _local_sources(model)
    known = set(datalike)
    changed = True
    while changed:
        changed = False
        for name, src in sources.items():
            if name not in known and src and src <= known | loop_vars and src & known:
                known.add(name)
                changed = True
    return frozenset(known - datalike)


def _touching_locals(model: tuple, seeds: set) -> set:
    """Model-block locals whose values depend on any of `seeds` (observed data)."""
    sources, _ = _local_sources(model)
    touched: set = set()
    changed = True
    while changed:
        changed = False
        for name, src in sources.items():
            if name not in touched and src & (seeds | touched):
                touched.add(name)
                changed = True
    return touched


def _elementwise_local(e, model: tuple, touched: set) -> str | None:
    """`target += v` or `target += sum(v)` with v a block-level model local that depends on data:
    its elements are the pointwise terms (the usual `vector[N] lp; ... target += sum(lp);`)."""
    if isinstance(e, ast.Call) and e.name == "sum" and len(e.args) == 1:
        e = e.args[0]
    if isinstance(e, ast.Var) and e.name in touched:
        decl = next((s for s in model if isinstance(s, ast.Decl) and s.name == e.name), None)
        if decl is not None and _rank(decl) > 0:
            return e.name
    return None


def _roles(model, datalike, observable, decls, param_decls, user_dists=frozenset()):
    stmts = [s for top in model for s in _statements(top) if isinstance(s, (ast.Tilde, ast.TargetPlus))]
    roles: dict = {}
    anchors: dict = {}
    observed: set[str] = set()
    general = []
    for s in stmts:
        variate = s.lhs if isinstance(s, ast.Tilde) else _direct_variate(s.expr)
        if variate is None:
            general.append(s)
            continue
        if not value_names(variate) & datalike:
            roles[s] = _prior_role(s, param_decls, observable)
            continue
        parts = flatten_index(variate)
        direct = isinstance(s, ast.TargetPlus)
        if parts and parts[0] in observable:
            event = _event_ndim(s) if isinstance(s, ast.Tilde) else _call_event_ndim(s.expr)
            if isinstance(s, ast.Tilde) and s.dist in user_dists:
                # a user density gives one number for all it is handed: one slot covers them
                event = max(0, _rank(decls[parts[0]]) - _singles(parts[1], decls))
            _note_anchor(anchors, parts[0], event)
            observed.add(parts[0])
            roles[s] = Role(True, parts[0], parts[1], direct=direct)
        else:
            roles[s] = Role(True, _joint(anchors), joint=True, direct=direct)
    containers = {n for n in observable if n in decls and _rank(decls[n]) > 0}
    touched = _touching_locals(model, observed | containers)
    for s in general:
        refs = _data_refs(s.expr, observable)
        hit = {n for n, _ in refs} & (observed | containers)
        if not hit:
            if not value_names(s.expr) & touched:
                roles[s] = Role(False)
            elif (local := _elementwise_local(s.expr, model, touched)) is not None:
                _note_anchor(anchors, local, 0)
                roles[s] = Role(True, local, elements=local)
            else:
                roles[s] = Role(True, _joint(anchors), joint=True)
            continue
        chosen = [r for r in refs if r[0] in hit]
        if len({n for n, _ in chosen}) == 1 and len({items for _, items in chosen}) == 1:
            name, items = chosen[0]
            _note_anchor(anchors, name, max(0, _rank(decls[name]) - _singles(items, decls)))
            roles[s] = Role(True, name, items)
        else:
            roles[s] = Role(True, _joint(anchors), joint=True)
    return roles, anchors


def _direct_variate(e):
    if isinstance(e, ast.Call) and e.args:
        resolved = library.resolve_suffixed(e.name)
        if resolved is not None and resolved[1] in DENSITY_SUFFIXES:
            return e.args[0]
    return None


def _event_ndim(s: ast.Tilde) -> int:
    spec = library.distribution(s.dist)
    return _variate_event(spec)


def _call_event_ndim(e: ast.Call) -> int:
    return _variate_event(library.resolve_suffixed(e.name)[0])


def _variate_event(spec) -> int:
    if spec is None or not spec.multivariate:
        return 0
    return 2 if spec.variate.shape == "matrix" else 1


def _note_anchor(anchors: dict, var: str, event: int) -> None:
    prev = anchors.get(var)
    anchors[var] = Anchor(var, max(event, prev.event_ndim if prev else 0))


def _joint(anchors: dict) -> str:
    name = f"joint{sum(1 for a in anchors.values() if a is None) + 1}"
    anchors[name] = None
    return name


def _data_refs(e, observable) -> list:
    """(name, index items) of every reference to an observable variable outside index positions."""
    parts = flatten_index(e) if isinstance(e, ast.Index) else None
    if parts is not None:
        return [parts] if parts[0] in observable else []
    if isinstance(e, ast.Var):
        return [(e.name, ())] if e.name in observable else []
    out = []
    for c in ast.children(e):
        out += _data_refs(c, observable)
    return out


def _singles(items, decls) -> int:
    """How many index items select one element (static guess: not a slice, not an int array)."""
    def multi(i):
        return isinstance(i, ast.Slice) or (isinstance(i, ast.Var) and i.name in decls
                                            and decls[i.name].type.array_sizes)
    return sum(1 for i in items if not multi(i))


def _prior_role(s, param_decls, data_names) -> Role:
    if not isinstance(s, ast.Tilde):
        return Role(False)
    parts = flatten_index(s.lhs)
    if parts is None or parts[0] not in param_decls:
        return Role(False)
    t = param_decls[parts[0]].type
    sort = t.kind in ("ordered", "positive_ordered") and not parts[1]
    lower = ast.IntLit(0) if t.kind == "positive_ordered" else t.lower
    spec = library.distribution(s.dist)
    auto = None
    # Assumption: the normaliser is only added for a `~` whose left side is the bounded parameter
    # itself (or elements of it) and whose bounds are data-only; parameter-dependent bounds are
    # left as Stan has them (the density is then defined up to that bound's mass).
    if s.truncation is None and spec is not None and not spec.multivariate \
            and isinstance(spec.variate.support, Interval) and (lower is not None or t.upper is not None):
        if all(b is None or value_names(b) <= data_names for b in (lower, t.upper)):
            sup = spec.variate.support
            auto = AutoTrunc(parts[0], lower, t.upper, sup.lo, sup.hi, parts[1])
    return Role(False, auto=auto, sort=sort)


# ---- generativity -----------------------------------------------------------------------------------------


def _generativity(program: ast.Program, info: ProgramInfo) -> str | None:
    """None when every parameter has exactly one proper `~` we can draw from, and every likelihood
    statement is a `~` on a data variable; otherwise the reason."""
    counts = {p: 0 for p in info.params}
    tparams = set(info.tparams)
    for s, role in info.roles.items():
        if isinstance(s, ast.TargetPlus):
            if role.likelihood:
                return "a `target +=` likelihood term cannot be simulated forward; write it as `y ~ ...`"
            if value_names(s.expr) & set(info.params) | value_names(s.expr) & tparams:
                return "a `target +=` term on parameters cannot be simulated; write it as `p ~ ...`"
            continue
        spec = library.distribution(s.dist)
        if spec is None or spec.sample is None:
            return f"{s.dist} has no sampler"
        parts = flatten_index(s.lhs)
        if role.likelihood:
            if role.joint or parts is None:
                return "a likelihood `~` whose left side is an expression cannot be simulated"
            continue
        if parts is None or parts[0] not in counts:
            return "a `~` on something other than a parameter or data cannot be simulated"
        counts[parts[0]] += 1
        if value_names(s) & tparams:
            return (f"the prior of '{parts[0]}' uses a transformed parameter; priors must be "
                    "drawable from parameters and data alone")
        if reason := _structured(info.param_decls[parts[0]], s, spec, parts):
            return reason
    for p, n in counts.items():
        if n == 0:
            return f"parameter '{p}' has no `~` prior (an implicit flat prior cannot be simulated)"
        if n > 1:
            return f"parameter '{p}' has more than one `~` statement"
    return None


def _structured(decl: ast.Decl, s: ast.Tilde, spec, parts) -> str | None:
    kind = decl.type.kind
    if kind in ("real", "vector", "row_vector", "matrix"):
        return None
    if parts[1]:
        return f"'{decl.name}' ({kind}) must get its prior as a whole"
    if kind in ("ordered", "positive_ordered"):
        if spec.multivariate or any(not isinstance(a, (ast.IntLit, ast.RealLit, ast.Var, ast.Unary))
                                    for a in s.args):
            return f"'{decl.name}' is {kind}: only iid scalar priors can be simulated (by sorting)"
        return None
    support = spec.variate.support
    if getattr(support, "name", None) == kind:
        return None
    return f"'{decl.name}' is {kind}, and {spec.name} does not draw {kind} values"
