"""Posterior predictive draws of the target at new inputs, from a fit's stored posterior draws.

The program is compiled on the new data (the target, which new rows do not have, filled with a
placeholder), the stored constrained draws are mapped to its unconstrained space, and the
likelihood is simulated forward once per draw. That is the posterior predictive
p(y_new | x_new, y) only when the fitted parameters mean the same at the new rows, so three
things are checked first, each refused with its own code:

* `predict.parameter_shape`: a parameter whose size comes from the data (a value per row, a
  Gaussian process over the inputs, fewer factor levels in the new data) changes shape;
* `predict.data_moments`: `transformed data` that summarises the rows (standardising a covariate
  by its mean and sd) would summarise the new rows instead of the fitted ones; found by adding
  a row and seeing whether the existing rows' transformed values move;
* `predict.reads_target`: a likelihood that reads the target's own values (lags of an
  autoregression) would read the placeholder; found by simulating with two placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import BoxloopError


class PredictError(BoxloopError):
    """This program's posterior cannot be carried to the new inputs without fitting it again."""

    code = "predict.unsupported"


def predict_new(source: str, posterior: Mapping[str, np.ndarray], new_data: Mapping, target: str,
                seed: int = 0) -> np.ndarray:
    """Replicates of `target` at the new rows, one per stored draw: (chain, draw, *target shape).

    posterior: the fit's constrained draws by name, (chain, draw, *shape) as stored;
    new_data: the data block's variables for the new rows (the target may be left out)."""
    import jax

    jax.config.update("jax_enable_x64", True)  # as the fit ran
    data = _with_placeholder(new_data, target, 0)
    model = _compile(source, data)
    _check_shapes(model, posterior)
    _check_row_summaries(source, model, data, target)
    chains, draws = np.shape(posterior[model.param_layout[0].name])[:2] if model.param_layout else (1, 1)
    u = model.unconstrain_draws({p.name: np.asarray(posterior[p.name]) for p in model.param_layout})
    key = jax.random.PRNGKey(seed)
    reps = model.simulate(key, "posterior", u=u.reshape(chains * draws, model.dim))
    if target not in reps:
        raise PredictError(f"the program does not simulate {target} forward", code="predict.not_generative")
    other = _compile(source, _with_placeholder(new_data, target, 1)).simulate(key, "posterior",
                                                                               u=u.reshape(chains * draws, model.dim))
    if not np.allclose(reps[target], other[target], equal_nan=True):
        raise PredictError(f"the likelihood reads earlier values of {target} (an autoregression): a forecast needs "
                           "them simulated step by step, which is not supported", code="predict.reads_target")
    return np.asarray(reps[target]).reshape(chains, draws, *np.shape(reps[target])[1:])


def _rows(data: Mapping) -> int:
    if "N" not in data:
        raise PredictError("the new data have no row count N; add \"N\": <rows> (a table gets it itself)",
                           code="predict.no_rows")
    return int(np.asarray(data["N"]))


def _with_placeholder(new_data: Mapping, target: str, fill: int) -> dict:
    data = {k: np.asarray(v) for k, v in new_data.items()}
    if target not in data:
        data[target] = np.full(_rows(data), fill, dtype=int)
    return data


def _compile(source: str, data: dict):
    from .compile import compile_program
    from .pipeline import checked_program

    return compile_program(checked_program(source, data), data)


def _check_shapes(model, posterior: Mapping[str, np.ndarray]) -> None:
    for p in model.param_layout:
        if p.name not in posterior:
            raise PredictError(f"the stored draws have no parameter {p.name}", code="predict.parameter_shape")
        fitted = tuple(np.shape(posterior[p.name])[2:])
        if fitted != tuple(p.shape):
            raise PredictError(
                f"parameter {p.name} has shape {tuple(p.shape)} at the new rows but {fitted} in the fit: its size "
                "comes from the data (a value per row, a Gaussian process over the inputs, or another number of factor "
                "levels), so the new rows need a fit of their own", code="predict.parameter_shape")


def _check_row_summaries(source: str, model, data: dict, target: str) -> None:
    """Transformed data of the existing rows must not move when a row is added."""
    names = model.info.tdata
    if not names:
        return
    n = _rows(data)
    longer = {k: (np.concatenate([v, v[:1]]) if np.ndim(v) and len(v) == n else v) for k, v in data.items()}
    longer["N"] = np.asarray(n + 1)
    wider = _compile(source, longer)
    for name in names:
        a, b = np.asarray(model.data[name], dtype=float), np.asarray(wider.data[name], dtype=float)
        same = a.shape == b.shape and np.allclose(a, b, equal_nan=True)
        rows = a.ndim and b.ndim and len(b) == n + 1 and np.allclose(a, b[:n], equal_nan=True)
        if not (same or rows):
            raise PredictError(f"transformed data {name} summarises the rows it is given (a mean or sd, say), so at "
                               "new rows it would differ from the fit's; refit on the old and new rows together",
                               code="predict.data_moments")
