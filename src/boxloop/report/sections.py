"""The report's sections as HTML fragments: verdict, data, candidates, chosen program, posterior,
comparison, history. Every value that came from a run is escaped."""

from __future__ import annotations

import math
from html import escape

from ..search.average import effective_models
from . import figures
from .describe import describe
from .history import Step
from .run import Candidate, RunView

CHECK_NAMES = {"rhat": "R-hat", "ess_bulk": "bulk ESS", "ess_tail": "tail ESS", "divergences": "divergences",
               "bfmi": "E-BFMI", "loo": "PSIS-LOO", "pareto_k": "Pareto k"}
STOPPED = {"killed": "was stopped half-way (its process ended without closing the run)",
           "interrupted": "was stopped half-way (interrupted)", "running": "is still running, or was stopped half-way",
           "failed": "stopped half-way on an error", "proposer_failed": "stopped early: the proposer failed"}
SUMMARY_ROWS = 60


def num(x, places: int = 2) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "–"
    return f"{x:.{places}f}"


def short(digest: str) -> str:
    return digest[:8]


# ---- verdict --------------------------------------------------------------------------------------


def verdict(view: RunView) -> str:
    """The first thing on the page: what was found and how sure to be, or why nothing was."""
    lines = []
    if view.run is None:
        return ('<section id="verdict" class="verdict empty"><h2>Nothing to report</h2><p>This run directory holds '
                "no run yet: <code>boxloop discover</code> had not begun when it stopped. Run it again with the "
                "same <code>--out</code>.</p></section>")
    status = view.status
    if status in STOPPED:
        err = view.summary.get("error")
        err = None if str(err).startswith("KeyboardInterrupt") else err
        detail = f" ({escape(str(err['message'] if isinstance(err, dict) else err))})" if err else ""
        lines.append(f'<p class="stopped">This run {STOPPED[status]}{detail}. What it had finished is shown; '
                     "rerun the same command to resume it.</p>")
    best = view.best
    if not view.fitted:
        lines.insert(0, "<h2>No candidate was fitted</h2><p>The run has no fitted program, so there is no model to "
                        f"report. {_proposal_counts(view)}</p>")
        cls = "empty"
    elif best is None:
        lines.insert(0, f"<h2>No reliable model</h2><p>None of the {len(view.fitted)} fitted candidates passed at least "
                        f"{view.zeta} of the 7 reliability checks, so none should be trusted. The table below names "
                        "the checks each one failed.</p>")
        cls = "unreliable"
    else:
        lines.insert(0, f"<h2>Chosen model: {short(best.hash)}</h2><p>It passed {best.fit.score} of 7 reliability "
                        f"checks and has the best PSIS-LOO elpd among the {sum(c.reliable for c in view.candidates)} "
                        f"reliable candidates: {num(best.elpd_loo)} ± {num(best.elpd_loo_se)}.</p>")
        cls = "found"
    return f'<section id="verdict" class="verdict {cls}">{"".join(lines)}</section>'


def _proposal_counts(view: RunView) -> str:
    n = len(view.proposals)
    valid = sum(p.valid for p in view.proposals)
    if n == 0:
        return "No program was proposed before the run ended."
    return (f"{n} program{'s were' if n != 1 else ' was'} proposed, {valid} of them valid, none with a finished "
            "fit.")


# ---- data -------------------------------------------------------------------------------------------


def data_section(data: dict) -> str:
    if not data:
        return ('<section id="data"><h2>Data</h2><p>This run directory has no <code>data.json</code>, so how the '
                "data were read is not known here.</p></section>")
    rows = "".join(_column_row(c) for c in data.get("columns", []))
    notes = "".join(f"<li><code>{escape(n['code'])}</code> {escape(n['message'])}</li>" for n in data.get("notes", []))
    used = f"{data['rows']} rows used. " if data.get("rows") is not None else ""
    source = escape(str(data.get("source") or "a data frame"))
    return (f'<section id="data"><h2>Data as boxloop read it</h2><p>From <code>{source}</code>. {used}Target: '
            f"<b>{escape(str(data.get('target')))}</b> ({escape(str(data.get('target_reason') or ''))}).</p>"
            '<table class="data"><thead><tr><th>column</th><th>Stan name</th><th>role</th><th>use</th><th>type</th>'
            "<th>levels or range</th><th>missing</th><th>note</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>" + (f'<h3>Notes</h3><ul class="notes">{notes}</ul>' if notes else "")
            + "</section>")


def _column_row(c: dict) -> str:
    levels = c.get("levels") or []
    if levels:
        shown = ", ".join(f"{i + 1} = {escape(str(v))}" for i, v in enumerate(levels[:12]))
        extent = shown + (f", … ({len(levels)} levels)" if len(levels) > 12 else "")
        if c.get("reference"):
            extent += f"; reference {escape(str(c['reference']))}"
    elif c.get("low") is not None:
        extent = f"{c['low']:g} to {c['high']:g}"
    else:
        extent = ""
    return (f"<tr><td>{escape(str(c['name']))}</td><td><code>{escape(str(c.get('stan_name') or ''))}</code></td>"
            f"<td>{escape(str(c.get('role') or ''))}</td><td>{escape(str(c.get('use') or ''))}</td>"
            f"<td>{escape(str(c.get('dtype') or ''))}</td><td>{extent}</td><td>{c.get('missing', 0)}</td>"
            f"<td>{escape(str(c.get('note') or ''))}</td></tr>")


# ---- candidates ---------------------------------------------------------------------------------


def candidates_section(view: RunView, weights: dict) -> str:
    if not view.candidates:
        return ""
    best = view.best
    order = sorted(view.candidates, key=lambda c: (not c.reliable, -(c.elpd_loo if math.isfinite(c.elpd_loo)
                                                                      else -math.inf)))
    stacking = weights.get("stacking", {})
    unfinished = ("its fit was cancelled when the search ended (enough reliable programs, or the budget spent)"
                  if view.status == "finished" else "the run stopped before this fit finished")
    rows = "".join(_candidate_row(c, best, stacking.get(c.hash), unfinished) for c in order)
    return ('<section id="candidates"><h2>Candidates</h2><p>Every distinct program the run fitted. B(M) counts the '
            f"reliability checks passed (reliable at {view.zeta} or more); failed checks are named.</p>"
            '<table class="candidates"><thead><tr><th>model</th><th>structure</th><th>status</th><th>B(M)</th>'
            "<th>failed checks / reason</th><th>elpd_loo ± se</th><th>stacking weight</th><th>proposed</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></section>")


def _candidate_row(c: Candidate, best: Candidate | None, weight, unfinished: str) -> str:
    fit = c.fit
    if c.screened_out:
        status, score, why = "screened out", "–", escape(str(c.screen.get("reason") or ""))
    elif fit is None:
        status, score, why = "not fitted", "–", unfinished
    elif not fit.ok:
        status, score, why = "failed", "0", f"{escape(fit.code or '')}: {escape(fit.reason or '')}"
    else:
        status = "reliable" if c.reliable else "unreliable"
        score = str(fit.score)
        why = ", ".join(CHECK_NAMES.get(k, k) for k in fit.failed_checks) or "none"
        reasons = fit.diagnostics.reasons if fit.diagnostics is not None else {}
        if reasons:
            why += "".join(f'<div class="reason">{escape(CHECK_NAMES.get(k, k))}: {escape(str(v))}</div>'
                           for k, v in reasons.items())
    chosen = best is not None and c.hash == best.hash
    origin = "new program" if c.proposal.depth == 0 else f"{c.proposal.block} rewrite of {short(c.proposal.parent_hash or '')}"
    if c.multiplicity > 1:
        origin += f" (proposed {c.multiplicity}×)"
    return (f'<tr class="{"chosen" if chosen else status.replace(" ", "-")}" id="cand-{short(c.hash)}">'
            f"<td><code>{short(c.hash)}</code>{' ★' if chosen else ''}</td><td>{escape(structure(c.program))}</td>"
            f"<td>{status}</td><td>{score}</td><td>{why}</td>"
            f"<td>{num(c.elpd_loo)} ± {num(c.elpd_loo_se)}</td><td>{num(weight)}</td><td>{escape(origin)}</td></tr>")


def structure(program: str) -> str:
    """One line: the likelihood's distributions and what they are given, e.g. `y ~ normal(theta, sigma)`."""
    d = describe(program)
    return "; ".join(d.likelihood) or "; ".join(d.priors) or "(no model statements)"


# ---- the chosen program ---------------------------------------------------------------------------


def program_section(c: Candidate, title: str) -> str:
    d = describe(c.program)
    parts = "".join(f"<h3>{escape(t)}</h3><ul>" + "".join(f"<li>{escape(s)}</li>" for s in lines) + "</ul>"
                    for t, lines in d.sections())
    return (f'<section id="program"><h2>{escape(title)} <code>{short(c.hash)}</code></h2>'
            f'<div class="cols"><pre class="stan chosen-program">{escape(c.program)}</pre>'
            f'<div class="description"><h3 class="lead">In words</h3>{parts}</div></div></section>')


def posterior_section(summary: dict) -> str:
    items = list(summary.items())
    rows = "".join(
        f"<tr><td><code>{escape(n)}</code></td><td>{escape(s.get('label', ''))}</td><td>{num(s.get('mean'), 3)}</td>"
        f"<td>{num(s.get('sd'), 3)}</td><td>{num(s.get('q5'), 3)}</td><td>{num(s.get('q95'), 3)}</td>"
        f"<td>{num(s.get('mcse_mean'), 3)}</td><td>{num(s.get('ess_bulk'), 0)}</td><td>{num(s.get('rhat'), 3)}</td>"
        "</tr>" for n, s in items[:SUMMARY_ROWS])
    more = f"<p>… and {len(items) - SUMMARY_ROWS} more quantities.</p>" if len(items) > SUMMARY_ROWS else ""
    return ('<section id="posterior"><h2>Posterior summary</h2><table class="posterior"><thead><tr><th>quantity</th>'
            "<th>level</th><th>mean</th><th>sd</th><th>5 %</th><th>95 %</th><th>mcse</th><th>bulk ESS</th>"
            f"<th>R-hat</th></tr></thead><tbody>{rows}</tbody></table>{more}</section>")


def figures_section(made, missing) -> str:
    body = "".join(f'<figure id="{f.id}"><h3>{escape(f.title)}</h3>{f.svg}<figcaption>{escape(f.caption)}'
                   "</figcaption></figure>" for f in made)
    notes = "".join(f"<li>{escape(m)}</li>" for m in missing)
    return (f'<section id="figures"><h2>Checks of the chosen fit</h2><div class="figs">{body}</div>'
            + (f'<ul class="missing">{notes}</ul>' if notes else "") + "</section>")


def comparison_section(view: RunView, comparison, weights: dict) -> str:
    if not comparison:
        return ""
    best = view.best
    rows = [(short(r.name), r.elpd_loo, r.elpd_loo_se, best is not None and r.name == best.hash) for r in comparison]
    shown = {k: w for k, w in weights.items() if k in ("stacking", "pseudo_bma_plus", "evidence") and w}
    figs = [figures.elpd_comparison(rows)]
    if shown:
        figs.append(figures.weights({k: {short(m): v for m, v in w.items()} for k, w in shown.items()}))
    table = "".join(f"<tr><td><code>{short(r.name)}</code></td><td>{num(r.elpd_loo)}</td><td>{num(r.elpd_loo_se)}</td>"
                    f"<td>{num(r.d_loo)}</td><td>{num(r.dse)}</td><td>{num(r.weight_stacking)}</td>"
                    f"<td>{num(r.weight_pseudo_bma_plus)}</td></tr>" for r in comparison)
    eff = "; ".join(f"{k}: {effective_models(w.values()):.2f}" for k, w in shown.items())
    return ('<section id="comparison"><h2>Comparison of the reliable models</h2><table class="compare"><thead><tr>'
            "<th>model</th><th>elpd_loo</th><th>se</th><th>Δ elpd</th><th>se of Δ</th><th>stacking</th>"
            f"<th>pseudo-BMA+</th></tr></thead><tbody>{table}</tbody></table>"
            f'<p class="effective">Effective number of models (1 / Σ w²): {escape(eff)}.</p>'
            + figures_section_inline(figs) + "</section>")


def figures_section_inline(made) -> str:
    return '<div class="figs">' + "".join(
        f'<figure id="{f.id}"><h3>{escape(f.title)}</h3>{f.svg}<figcaption>{escape(f.caption)}</figcaption></figure>'
        for f in made) + "</div>"


def history_section(steps: tuple[Step, ...]) -> str:
    if not steps:
        return ('<section id="history"><h2>Refinement history</h2><p>No block was rewritten in this run.</p>'
                "</section>")
    items = "".join(
        f'<details class="step"><summary>lineage {s.lineage}, step {s.depth}: <b>{escape(s.block)}</b> of '
        f"<code>{short(s.parent)}</code> rewritten → "
        f"{'<code>' + short(s.child) + '</code>' if s.child else 'no valid program'}; {escape(s.outcome)}</summary>"
        f'<p class="why">Why: {escape(s.why)}.</p><pre class="diff">{_diff_html(s.diff)}</pre></details>'
        for s in steps)
    return f'<section id="history"><h2>Refinement history</h2>{items}</section>'


def _diff_html(diff: str) -> str:
    out = []
    for line in diff.splitlines():
        cls = "add" if line.startswith("+") and not line.startswith("+++") else (
            "del" if line.startswith("-") and not line.startswith("---") else "ctx")
        out.append(f'<span class="{cls}">{escape(line)}</span>')
    return "\n".join(out)
