"""Log marginal likelihood log p(x | M) from posterior draws in unconstrained space.

Two estimators, both needing only the unnormalised log joint q(u) = log prior + log likelihood
+ log Jacobian over the unconstrained space, and posterior draws u ~ p(u | x):

* bridge sampling (Meng & Wong 1996, iterative optimal bridge; Gronau et al. 2017's "normal"
  variant): a multivariate normal g fitted to the first half of each chain, the iteration run on
  the second half, so the proposal is not tuned on the draws it is tested against. Error from the
  relative mean-squared error of Fruhwirth-Schnatter (2004).
* importance sampling from a multivariate Student-t fitted to all draws. Unbiased for p(x | M),
  and the Pareto k of its weights (PSIS) says when not to trust it (k > 0.7).

Both lean on the draws: a sampler that missed part of the posterior (a funnel's neck) biases them.
`smc` estimates without the draws, `reparam` re-expresses a density in better coordinates, and
`verdict.log_evidence` chooses among them and says how far to trust the number.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import special

from boxloop.diagnose import mcmc, psis
from boxloop.errors import BoxloopError

__all__ = ["Evidence", "EvidenceError", "bridge_sampling", "importance_sampling", "SE_LIMIT", "PARETO_K_LIMIT"]

SE_LIMIT = 0.1  # nats: a larger Monte Carlo error moves evidence weights by more than 10 %
PARETO_K_LIMIT = 0.7  # importance weights with a heavier tail have no usable variance

LogDensity = Callable[[np.ndarray], np.ndarray]


class EvidenceError(BoxloopError):
    """The marginal likelihood could not be estimated from the given density and draws."""

    code = "evidence.failed"


@dataclass(frozen=True)
class Evidence:
    """An estimate of log p(x | M) with its Monte Carlo standard error (in nats).

    `warnings` are plain sentences about the estimate (estimators that disagree, a heavy-tailed
    weight, a large se, a fallback taken); `trusted` is False when one of them concerns the
    number reported, which `reliable` then reflects.
    """

    log_evidence: float
    se: float
    method: str
    n_draws: int
    pareto_k: float | None = None  # importance sampling only; > 0.7 means unreliable
    warnings: tuple[str, ...] = ()
    trusted: bool = True

    @property
    def reliable(self) -> bool:
        return (self.trusted and math.isfinite(self.log_evidence)
                and (self.pareto_k is None or self.pareto_k <= PARETO_K_LIMIT))

    def to_dict(self) -> dict:
        def number(value):
            return value if value is not None and math.isfinite(value) else None

        return {
            "log_evidence": number(self.log_evidence),
            "se": number(self.se),
            "method": self.method,
            "n_draws": self.n_draws,
            "pareto_k": number(self.pareto_k),
            "reliable": self.reliable,
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Evidence:
        """The inverse of to_dict; a dict stored before warnings existed gets none, and its
        verdict from the rule of the time (finite, and Pareto k <= 0.7 for importance sampling)."""
        def number(key):
            value = d.get(key)
            return math.nan if value is None else float(value)

        k = d.get("pareto_k")
        return cls(log_evidence=number("log_evidence"), se=number("se"), method=str(d.get("method", "")),
                   n_draws=int(d.get("n_draws") or 0), pareto_k=None if k is None else float(k),
                   warnings=tuple(str(w) for w in d.get("warnings") or ()),
                   trusted=bool(d.get("reliable", True)))


# --------------------------------------------------------------------------- numpy kernels


def unconstrained_chains(draws_u) -> np.ndarray:
    """(n, d) or (chain, draw, d) -> (chain, draw, d) float array; (n, d) is one sequence."""
    draws = np.asarray(draws_u, dtype=float)
    if draws.ndim == 2:
        draws = draws[None]
    if draws.ndim != 3 or draws.shape[1] < 4:
        raise EvidenceError(
            f"draws_u has shape {np.shape(draws_u)}; pass unconstrained posterior draws shaped "
            "(n, d) or (chain, draw, d) with at least 4 draws per chain."
        )
    if not np.all(np.isfinite(draws)):
        raise EvidenceError("draws_u contains NaN or inf; pass the draws of a finished fit.")
    return draws


def fit_location_scale(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and Cholesky factor of the sample covariance of rows of x (d >= 1)."""
    mean = x.mean(axis=0)
    cov = np.atleast_2d(np.cov(x, rowvar=False))
    # A jitter keeps the factor defined when draws are (nearly) collinear.
    jitter = 1e-10 * max(float(np.mean(np.diag(cov))), 1e-300)
    try:
        chol = np.linalg.cholesky(cov + jitter * np.eye(cov.shape[0]))
    except np.linalg.LinAlgError as err:
        raise EvidenceError(
            "the covariance of the draws is not positive definite (a parameter never moves?); "
            "check the fit's ESS and pass more draws than parameters."
        ) from err
    return mean, chol


def _whiten(x: np.ndarray, mean: np.ndarray, chol: np.ndarray) -> tuple[np.ndarray, float]:
    """z = L^{-1}(x - mean) and log|det L|."""
    z = np.linalg.solve(chol, (x - mean).T).T
    return z, float(np.sum(np.log(np.diag(chol))))


def mvn_logpdf(x, mean, chol) -> np.ndarray:
    z, log_det = _whiten(x, mean, chol)
    d = mean.size
    return -0.5 * np.sum(z**2, axis=1) - log_det - 0.5 * d * math.log(2 * math.pi)


def mvt_logpdf(x, mean, chol, df: float) -> np.ndarray:
    z, log_det = _whiten(x, mean, chol)
    d = mean.size
    norm = (
        special.gammaln((df + d) / 2)
        - special.gammaln(df / 2)
        - 0.5 * d * math.log(df * math.pi)
        - log_det
    )
    return norm - 0.5 * (df + d) * np.log1p(np.sum(z**2, axis=1) / df)


def mvn_sample(rng, mean, chol, n: int) -> np.ndarray:
    return mean + rng.standard_normal((n, mean.size)) @ chol.T


def mvt_sample(rng, mean, chol, df: float, n: int) -> np.ndarray:
    scale = np.sqrt(df / rng.chisquare(df, size=(n, 1)))
    return mean + scale * (rng.standard_normal((n, mean.size)) @ chol.T)


def bridge_log_ratio(l_post, l_prop, s_post, tol=1e-10, max_iter=1000) -> float:
    """Fixed point of Meng & Wong's iteration for log Z.

    l_post = log q - log g at posterior draws, l_prop = the same at proposal draws; s_post is the
    posterior share s1 (effective sizes), s2 = 1 - s1. Done in log space: q/g spans many orders.
    """
    if not np.any(np.isfinite(l_prop)):
        raise EvidenceError(
            "log_density is -inf at every proposal draw; the draws do not cover the posterior."
        )
    log_s1, log_s2 = math.log(s_post), math.log1p(-s_post)
    log_n1, log_n2 = math.log(l_post.size), math.log(l_prop.size)
    log_r = special.logsumexp(l_prop) - log_n2  # start from the plain IS estimate
    for _ in range(max_iter):
        num = special.logsumexp(l_prop - np.logaddexp(log_s1 + l_prop, log_s2 + log_r)) - log_n2
        den = special.logsumexp(-np.logaddexp(log_s1 + l_post, log_s2 + log_r)) - log_n1
        new = float(num - den)
        if abs(new - log_r) < tol:
            return new
        log_r = new
    raise EvidenceError(
        f"bridge sampling did not converge in {max_iter} iterations; the normal proposal fits "
        "the posterior badly. Try method='is' or check the fit."
    )


def bridge_relative_mse(l_post, l_prop, log_z, s_post, tau_post=1.0) -> float:
    """Fruhwirth-Schnatter's (2004) relative MSE of the bridge estimate of Z.

    RE^2 = Var_g(f1) / (N2 E_g(f1)^2) + tau Var_p(f2) / (N1 E_p(f2)^2), with p the normalised
    posterior, f1 = p / (s1 p + s2 g) on proposal draws, f2 = g / (s1 p + s2 g) on posterior
    draws, and tau the integrated autocorrelation time of f2 (1 for independent draws).
    """
    s2 = 1.0 - s_post
    with np.errstate(over="ignore"):
        f1 = 1.0 / (s_post + s2 * np.exp(-(l_prop - log_z)))
        f2 = 1.0 / (s_post * np.exp(l_post - log_z) + s2)
    term1 = np.var(f1) / (f1.size * np.mean(f1) ** 2)
    term2 = tau_post * np.var(f2) / (f2.size * np.mean(f2) ** 2)
    return float(term1 + term2)


# --------------------------------------------------------------------------- wrappers


def evaluate_log_density(log_density: LogDensity, x: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(log_density(np.ascontiguousarray(x)), dtype=float).reshape(-1)
    if values.size != x.shape[0]:
        raise EvidenceError(
            f"log_density returned {values.size} values for {x.shape[0]} rows; it must be "
            "vectorised over the rows of a (batch, d) array."
        )
    if what == "posterior" and not np.all(np.isfinite(values)):
        raise EvidenceError(
            f"log_density is not finite at {np.count_nonzero(~np.isfinite(values))} posterior "
            "draws; the density and the draws do not belong together (unconstrained space?)."
        )
    # A proposal point outside the support, or an overflow, has zero posterior mass.
    return np.where(np.isnan(values), -np.inf, values)


def as_generator(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _no_parameters(log_density: LogDensity, method: str) -> Evidence:
    """With nothing to integrate, the evidence is the density itself."""
    value = float(evaluate_log_density(log_density, np.zeros((1, 0)), "posterior")[0])
    return Evidence(log_evidence=value, se=0.0, method=method, n_draws=0)


def _tau(values: np.ndarray) -> float:
    """Integrated autocorrelation time n / ESS of a (chain, draw) quantity, at least 1."""
    ess = float(mcmc.ess_mean(np.atleast_2d(values)))
    if not math.isfinite(ess) or ess <= 0:
        return 1.0
    return max(1.0, values.size / ess)


def bridge_sampling(
    log_density: LogDensity, draws_u, *, n_proposal: int | None = None, seed=0
) -> Evidence:
    """Bridge sampling estimate of log p(x | M) with a normal proposal (see module docstring)."""
    draws = unconstrained_chains(draws_u)
    if draws.shape[2] == 0:
        return _no_parameters(log_density, "bridge")
    half = draws.shape[1] // 2
    fit, post = draws[:, :half], draws[:, half:]
    mean, chol = fit_location_scale(fit.reshape(-1, draws.shape[2]))
    post_flat = post.reshape(-1, draws.shape[2])
    prop = mvn_sample(as_generator(seed), mean, chol, n_proposal or post_flat.shape[0])
    l_post = evaluate_log_density(log_density, post_flat, "posterior") - mvn_logpdf(post_flat, mean, chol)
    l_prop = evaluate_log_density(log_density, prop, "proposal") - mvn_logpdf(prop, mean, chol)
    # Autocorrelated posterior draws count as fewer: use their ESS in the bridge weights.
    tau = _tau(l_post.reshape(post.shape[:2]))
    n1_eff = post_flat.shape[0] / tau
    s_post = n1_eff / (n1_eff + prop.shape[0])
    log_z = bridge_log_ratio(l_post, l_prop, s_post)
    re2 = bridge_relative_mse(l_post, l_prop, log_z, s_post, tau)
    n_draws = draws.shape[0] * draws.shape[1]
    return Evidence(log_evidence=log_z, se=math.sqrt(re2), method="bridge", n_draws=n_draws)


def importance_sampling(
    log_density: LogDensity, draws_u, *, n_proposal: int | None = None, df: float = 5.0, seed=0
) -> Evidence:
    """Importance sampling estimate of log p(x | M) from a Student-t fitted to the draws."""
    draws = unconstrained_chains(draws_u)
    if draws.shape[2] == 0:
        return _no_parameters(log_density, "is")
    flat = draws.reshape(-1, draws.shape[2])
    mean, chol = fit_location_scale(flat)
    prop = mvt_sample(as_generator(seed), mean, chol, df, n_proposal or flat.shape[0])
    log_w = evaluate_log_density(log_density, prop, "proposal") - mvt_logpdf(prop, mean, chol, df)
    if not np.any(np.isfinite(log_w)):
        raise EvidenceError(
            "log_density is -inf at every proposal draw; the draws do not cover the posterior."
        )
    return importance_estimate(log_w, "is", int(flat.shape[0]))


def importance_estimate(log_w: np.ndarray, method: str, n_draws: int) -> Evidence:
    """log Z = log mean w from importance log-weights log p - log q, with its delta-method
    standard error, sd(w) / (sqrt(n) mean(w)), and the weights' Pareto k."""
    n = log_w.size
    log_z = float(special.logsumexp(log_w) - math.log(n))
    w = np.exp(log_w - np.max(log_w))
    se = float(np.std(w) / (math.sqrt(n) * np.mean(w)))
    _, k = psis.psis(log_w)
    return Evidence(log_evidence=log_z, se=se, method=method, n_draws=n_draws, pareto_k=float(k))
