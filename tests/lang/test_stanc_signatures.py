"""The library table against stanc's own signature dump: every call to every library name (and to
the functions behind the operators) gets the same verdict and the same result type from both."""

from dataclasses import replace

import pytest

from boxloop.lang import library, stanc
from boxloop.lang.signatures import expand
from boxloop.lang.types import REAL, VECTOR, ValueType

pytest.importorskip("httpstan", reason="stanc ships in httpstan (boxloop's test extra)")


def test_every_library_signature_is_stancs():
    comparison = stanc.compare_signatures()
    assert len(comparison.names) > 350 and comparison.stanc_overloads > 15000  # the whole table was compared
    shown = "\n".join(str(d) for d in comparison.differences[:40])
    assert not comparison.differences, f"{len(comparison.differences)} differences in " \
        f"{comparison.differing_names}:\n{shown}"


def test_a_signature_stan_lacks_is_found(monkeypatch):
    hypot = library.FUNCTIONS["hypot"]
    extra = replace(hypot, signatures=hypot.signatures + expand("vector, row_vector -> vector"))
    monkeypatch.setitem(library.FUNCTIONS, "hypot", extra)
    found = stanc.compare_signatures(["hypot"]).differences
    assert [(d.args, d.boxloop, d.stanc) for d in found] == [
        ((VECTOR, ValueType("row_vector")), VECTOR, None)]


def test_a_signature_boxloop_lacks_is_found(monkeypatch):
    dot = library.FUNCTIONS["dot_product"]
    fewer = replace(dot, signatures=tuple(s for s in dot.signatures if s.params[0].array_dims == 0))
    monkeypatch.setitem(library.FUNCTIONS, "dot_product", fewer)
    found = stanc.compare_signatures(["dot_product"]).differences
    real_array = ValueType("real", 1)
    int_array = ValueType("int", 1)
    assert {d.args for d in found} == {(a, b) for a in (real_array, int_array) for b in (real_array, int_array)}
    assert all(d.boxloop is None and d.stanc == REAL for d in found)


def test_names_that_are_not_stan_are_gone():
    table = stanc.stanc_signature_table()
    for name in ("softplus", "fabs", "cov_exp_quad"):
        assert name not in table and library.function(name) is None
    assert "binomial_logit_rng" not in table and library.resolve_suffixed("binomial_logit_rng") is None
