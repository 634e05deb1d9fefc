"""The refinement history says why each step was taken."""

from types import SimpleNamespace

from boxloop.report.history import reason


def _fit(failed):
    return SimpleNamespace(ok=True, code=None, reason=None, failed_checks=tuple(failed))


def test_a_reparameterisation_step_names_the_diagnostics_and_the_form():
    text = reason("noncentre", _fit(("divergences", "bfmi", "pareto_k")))
    assert "bfmi, divergences" in text and "non-centred" in text and "pareto_k" not in text
    assert "groups centred" in reason("centre", _fit(("rhat", "ess_bulk")))
    assert "priors' scales" in reason("prior", _fit(("divergences",)))
