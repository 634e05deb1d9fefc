"""`boxloop average RUN_DIR [--weights evidence|stacking|pseudo-bma|flat]`: recombine a finished run.

Nothing is fitted again: the weights come from what the run stored (log evidence, pointwise
PSIS-LOO, multiplicity of each structure), the mixture's draws from each fit's NetCDF. Printed:
each model's weight, multiplicity, elpd_loo ± se, log evidence and whether that estimate is
reliable; the effective number of models 1 / Σ w²; the mixture's PSIS-LOO elpd beside the best
single model's; and the mixture's posterior of every quantity the weighted models share. With
--predict NEWDATA: the mixture's posterior predictive of the target at new inputs
(`infer.newdata`), from the weighted models whose draws carry over to new rows.

Exit 0 when the run was averaged; 1 when it cannot be as asked (`average.no_evidence`: the run
stored no evidence; `average.no_reliable_model`; `average.no_reliable_evidence`: every evidence
estimate is unreliable, which is printed in full; `predict.unsupported`: no weighted model can be
carried to the new rows, each reason printed); 2 when RUN_DIR is not a run (`report.not_a_run`)
or its store is empty or damaged.
"""

from __future__ import annotations

import math

import numpy as np

from .cli_io import EXIT_FAILED, EXIT_OK, emit

WEIGHTINGS = ("evidence", "stacking", "pseudo-bma", "flat")


def register(subparsers) -> None:
    p = subparsers.add_parser("average", help="recombine a finished discover run under another weighting")
    p.add_argument("run_dir", help="the --out directory of `boxloop discover`")
    p.add_argument("--weights", choices=WEIGHTINGS, default="evidence",
                   help="evidence (Large Language Bayes, the default), stacking, pseudo-bma (pseudo-BMA+) or flat")
    p.add_argument("--draws", type=int, default=4000, help="draws of the mixture's posterior (default %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the mixture's draws")
    p.add_argument("--predict", metavar="NEWDATA",
                   help="new rows (Stan-JSON or a table) with the covariates: the mixture's posterior predictive "
                        "of the target there")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(run=run_average)


def run_average(args) -> int:
    from .report.run import load_run
    from .search.mixture import mixture_draws

    view = load_run(args.run_dir)
    records, multiplicity, pool, weighting = _weigh(view, args.weights)
    paths = {h: view.directory / records[h].netcdf for h in pool if records[h].netcdf}
    mixed = mixture_draws(paths, weighting.weights, max(args.draws, 1), args.seed) if weighting.weights else None
    payload = _payload(view, args.weights, records, multiplicity, pool, weighting, mixed)
    if not weighting.weights:
        payload["error"] = {"code": "average.no_reliable_evidence",
                            "message": "every reliable model's evidence estimate is unreliable (listed); weigh the "
                                       "run with --weights stacking, pseudo-bma or flat"}
    elif args.predict:
        payload["prediction"] = _predict(view, records, paths, weighting.weights, args)
        if payload["prediction"]["summary"] is None:
            payload["error"] = {"code": "predict.unsupported", "message": "no weighted model can be carried to the "
                                "new rows without a refit (each reason is listed)"}
    emit(payload, args.json, _text(payload))
    return EXIT_OK if weighting.weights and "error" not in payload else EXIT_FAILED


def _predict(view, records, paths, weights: dict, args) -> dict:
    """The mixture's posterior predictive of the target at the new rows, from the models that allow it."""
    from .cli_data import read_new_rows
    from .diagnose import group_arrays, load_netcdf
    from .errors import BoxloopError
    from .infer.newdata import predict_new
    from .search.average import mix_draws

    target = (view.run or {}).get("target")
    new = read_new_rows(args.predict)
    draws, skipped = {}, {}
    for h, w in weights.items():
        if w <= 0:
            continue
        if h not in paths:
            skipped[h] = "[predict.no_draws] the run stored no draws of this fit"
            continue
        try:
            posterior = group_arrays(load_netcdf(paths[h]), "posterior")
            draws[h] = predict_new(records[h].program, posterior, new, target, args.seed)
        except BoxloopError as exc:
            skipped[h] = f"[{exc.code}] {exc}"
        except Exception as exc:  # noqa: BLE001 - one program the simulator cannot run must not lose the rest
            skipped[h] = f"[predict.failed] {type(exc).__name__}: {exc}"
    coverage = sum(weights[h] for h in draws)
    summary = None
    if draws:
        pooled = mix_draws(draws, {h: weights[h] for h in draws}, max(args.draws, 1), args.seed)
        flat = pooled.reshape(pooled.shape[0], -1).astype(float)
        summary = {"mean": flat.mean(0).tolist(), "sd": flat.std(0).tolist(),
                   **{f"q{q:02d}": np.quantile(flat, q / 100, axis=0).tolist() for q in (5, 50, 95)}}
    return {"data": str(args.predict), "target": target, "rows": int(np.asarray(new["N"])) if "N" in new else None,
            "models": len(draws), "coverage": coverage, "summary": summary, "skipped": skipped}


def _weigh(view, weights: str):
    from .search.recombine import SCHEMES, AverageError, comparable_pool, loo_comparison, weigh

    records = {c.hash: c.fit for c in view.candidates if c.fit is not None}
    multiplicity = {c.hash: c.multiplicity for c in view.candidates}
    pool = comparable_pool(records, view.zeta)
    if not pool:
        raise AverageError(f"the run in {view.directory} has no reliable model (B(M) >= {view.zeta}) with PSIS-LOO, "
                           f"so there is nothing to average ({len(records)} fitted); `boxloop report "
                           f"{view.directory}` shows why each candidate failed", code="average.no_reliable_model")
    if weights == "evidence" and all(records[h].evidence is None for h in pool):
        strategy = (view.run or {}).get("strategy") or "?"
        raise AverageError(
            f"the run in {view.directory} stored no log evidence (it was made with --strategy {strategy}); evidence "
            "weights need it: run `boxloop discover DATA --strategy average --out DIR`, or weigh this run with "
            "--weights stacking, pseudo-bma or flat", code="average.no_evidence")
    return records, multiplicity, pool, weigh(SCHEMES[weights], pool, records, multiplicity,
                                              loo_comparison(pool, records))


def _payload(view, weights: str, records, multiplicity, pool, weighting, mixed) -> dict:
    from .search.average import evidence_problem

    best = max(pool, key=lambda h: records[h].elpd_loo)
    models = [{"hash": h, "weight": weighting.weights.get(h, 0.0), "multiplicity": multiplicity.get(h, 1),
               "elpd_loo": records[h].elpd_loo, "elpd_loo_se": records[h].elpd_loo_se,
               "log_evidence": records[h].log_evidence,
               "evidence_reliable": evidence_problem(records[h].evidence) is None,
               "evidence_problem": evidence_problem(records[h].evidence), "excluded": h in weighting.excluded}
              for h in sorted(pool, key=lambda h: -weighting.weights.get(h, 0.0))]
    return {
        "run": str(view.directory), "weights": weights, "models": models,
        "effective_models": weighting.effective_models, "mixture_elpd": weighting.mixture_elpd,
        "best": {"hash": best, "elpd_loo": records[best].elpd_loo, "elpd_loo_se": records[best].elpd_loo_se},
        "excluded": weighting.excluded, "left_out": len(records) - len(pool),
        "predictive": mixed.summary() if mixed is not None else {},
        "unread": mixed.missing if mixed is not None else {},
        # Screened out by discover's multi-fidelity rule: never fully fitted, so never weighted.
        "screened_out": {c.hash: {"reason": c.screen.get("reason"), "weight_bound": c.screen.get("weight_bound")}
                         for c in view.candidates if c.screened_out},
    }


def _text(p: dict) -> str:
    lines = [f"{p['run']}: {p['weights']} weights over {len(p['models'])} reliable models "
             f"({p['left_out']} other fits left out: unreliable or over other observations)", "",
             f"{'hash':<18}{'weight':>8}{'mult':>6}{'elpd_loo':>11}{'se':>8}{'log p(x|M)':>12}  evidence"]
    for m in p["models"]:
        verdict = "reliable" if m["evidence_reliable"] else f"UNRELIABLE: {m['evidence_problem']}"
        weight = "excluded" if m["excluded"] else f"{m['weight']:.3f}"
        lines.append(f"{m['hash']:<18}{weight:>8}{m['multiplicity']:>6}{_num(m['elpd_loo'], 11)}"
                     f"{_num(m['elpd_loo_se'], 8)}{_num(m['log_evidence'], 12)}  {verdict}")
    if p["screened_out"]:
        bounds = [v["weight_bound"] for v in p["screened_out"].values() if v["weight_bound"] is not None]
        worst = f"; the largest evidence weight bound among them {max(bounds):.2%}" if bounds else ""
        lines += ["", f"{len(p['screened_out'])} candidate(s) screened out by discover (never fully fitted, so not "
                      f"weighted; `boxloop report` gives each reason){worst}"]
    if p["excluded"]:
        lines += ["", f"{len(p['excluded'])} model(s) excluded from the evidence weights, their evidence being "
                      "unreliable (an estimate too high by a few nats would take all the weight); the others "
                      "are renormalised"]
    if p["mixture_elpd"] is None:
        lines += ["", "no model could be weighted (average.no_reliable_evidence): nothing to mix; "
                      "--weights stacking, pseudo-bma or flat do not need the evidence"]
        return "\n".join(lines)
    b = p["best"]
    gain = p["mixture_elpd"] - b["elpd_loo"]
    lines += ["", f"effective number of models 1/Σw² = {p['effective_models']:.2f}",
              f"mixture elpd_loo = {p['mixture_elpd']:.2f}; best single model {b['hash']}: {b['elpd_loo']:.2f} "
              f"(se {b['elpd_loo_se']:.2f}); difference {gain:+.2f}"]
    lines += _predictive_lines(p["predictive"])
    lines += [f"not mixed: {h} ({why})" for h, why in p["unread"].items()]
    if "prediction" in p:
        lines += _prediction_lines(p["prediction"])
    return "\n".join(lines)


def _prediction_lines(pred: dict) -> list[str]:
    lines = ["", f"posterior predictive of {pred['target']} at the {pred['rows']} new rows of {pred['data']}: "
                 f"{pred['models']} model(s), {100 * pred['coverage']:.0f} % of the weight (renormalised)"]
    s = pred["summary"]
    if s is not None:
        lines.append(f"  {'row':>5}{'mean':>11}{'sd':>10}{'5%':>11}{'50%':>11}{'95%':>11}")
        lines += [f"  {i + 1:>5}{m:>11.3f}{sd:>10.3f}{lo:>11.3f}{med:>11.3f}{hi:>11.3f}"
                  for i, (m, sd, lo, med, hi) in enumerate(zip(s["mean"], s["sd"], s["q05"], s["q50"], s["q95"]))]
    lines += [f"  not predicted: {h} {why}" for h, why in pred["skipped"].items()]
    return lines


PREDICTIVE_ROWS = 12  # elements of the shared quantities printed (all are in --json)


def _predictive_lines(predictive: dict) -> list[str]:
    rows = []
    for group, named in predictive.items():
        for name, s in named.items():
            for i, (mean, sd, lo, hi) in enumerate(zip(s["mean"], s["sd"], s["q05"], s["q95"])):
                label = name if not s["shape"] else f"{name}[{i + 1}]"
                rows.append(f"  {group:<21}{label:<16}{mean:>10.3f}{sd:>9.3f}{lo:>10.3f}{hi:>10.3f}")
    if not rows:
        return ["", "the weighted models share no quantity to mix"]
    head = ["", "the mixture's draws of what the weighted models share:",
            f"  {'group':<21}{'quantity':<16}{'mean':>10}{'sd':>9}{'5%':>10}{'95%':>10}"]
    more = [f"  ... {len(rows) - PREDICTIVE_ROWS} more (all in --json)"] if len(rows) > PREDICTIVE_ROWS else []
    return head + rows[:PREDICTIVE_ROWS] + more


def _num(x, width: int) -> str:
    return f"{x:>{width}.2f}" if x is not None and math.isfinite(x) else f"{'-':>{width}}"
