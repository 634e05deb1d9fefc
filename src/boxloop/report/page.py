"""The report page: sections assembled into one self-contained HTML file (inline CSS, inline SVG,
a little inline script for hovering), which opens offline."""

from __future__ import annotations

import time
from dataclasses import dataclass
from html import escape
from pathlib import Path

from ..search.recombine import comparable_pool, loo_comparison
from ..search.store import write_atomic
from . import sections
from .chosen import fit_view
from .history import history
from .run import ReportError, RunView, load_run

REPORT_NAME = "report.html"


@dataclass(frozen=True)
class ReportSummary:
    """What was written: where, how big, how long it took, and the run's verdict in one word."""

    path: Path
    bytes: int
    seconds: float
    verdict: str  # "found", "unreliable", "empty"
    status: str  # the run's status: finished, killed, interrupted, ...
    candidates: int


def write_report(run_dir: str | Path, out: str | Path | None = None) -> ReportSummary:
    """Write the HTML report of the run in `run_dir` to `out` (default `run_dir/report.html`)."""
    started = time.perf_counter()
    view = load_run(run_dir)
    page = render(view)
    path = Path(out) if out is not None else view.directory / REPORT_NAME
    try:
        write_atomic(path, page.encode())
    except OSError as exc:
        raise ReportError(f"cannot write the report to {path}: {exc}; pass --out a writable file",
                          code="report.unwritable") from None
    verdict = "found" if view.best else ("unreliable" if view.fitted else "empty")
    return ReportSummary(path, len(page.encode()), time.perf_counter() - started, verdict, view.status,
                         len(view.candidates))


def report_after_run(run_dir: str | Path, written: list | None = None) -> ReportSummary | None:
    """`write_report` at the end of a discover run: a failure to write the report is printed on
    stderr, never raised (the run itself has finished). The summary is appended to `written`."""
    import sys

    try:
        summary = write_report(run_dir)
    except Exception as exc:  # noqa: BLE001 - the run's own outcome must not be masked by its report
        code = getattr(exc, "code", "report.failed")
        print(f"boxloop: [{code}] the report could not be written: {type(exc).__name__}: {exc}", file=sys.stderr)
        return None
    if written is not None:
        written.append(summary)
    return summary


def render(view: RunView) -> str:
    best = view.best
    comparison = _comparison(view)
    weights = _weights(view, comparison)
    body = [sections.verdict(view), sections.data_section(view.data)]
    body.append(sections.candidates_section(view, weights))
    shown = best or _most_reliable(view)
    if shown is not None:
        body.append(sections.program_section(shown, "Chosen program" if shown is best else
                                             "Best of the unreliable programs (not to be trusted)"))
        fv = fit_view(view, shown)
        if fv is not None:
            body.append(sections.posterior_section(fv.summary))
            body.append(sections.figures_section(fv.figures, fv.missing))
    body.append(sections.comparison_section(view, comparison, weights))
    body.append(sections.history_section(history(view)))
    return _page(view, "".join(body))


def _most_reliable(view: RunView):
    ok = [c for c in view.candidates if c.fit is not None and c.fit.ok]
    return max(ok, key=lambda c: (c.fit.score, c.elpd_loo if c.elpd_loo == c.elpd_loo else -1e300), default=None)


def _comparison(view: RunView):
    records = {c.hash: c.fit for c in view.candidates if c.fit is not None}
    return loo_comparison(comparable_pool(records, view.zeta), records)


def _weights(view: RunView, comparison) -> dict:
    stored = view.summary.get("weights") if isinstance(view.summary.get("weights"), dict) else {}
    out = {"stacking": {r.name: r.weight_stacking for r in comparison},
           "pseudo_bma_plus": {r.name: r.weight_pseudo_bma_plus for r in comparison}}
    evidence = stored.get("evidence")
    if isinstance(evidence, dict) and evidence:
        out["evidence"] = {k: float(v) for k, v in evidence.items() if v is not None}
    return out


def _page(view: RunView, body: str) -> str:
    title = f"boxloop report: {view.directory.name}"
    run = view.run or {}
    meta = (f"{escape(str(run.get('command') or ''))} · strategy {escape(str(run.get('strategy') or '–'))} · "
            f"proposer {escape(str(run.get('proposer') or '–'))} · status {escape(view.status)} · "
            f"written {time.strftime('%Y-%m-%d %H:%M')}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>'
            f'<body><header><h1>{escape(title)}</h1><p class="meta">{meta}</p></header><main>{body}</main>'
            f'<div id="tooltip" role="status" hidden></div><script>{SCRIPT}</script></body></html>\n')


CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0;color:#1d2430;background:#fafbfc}
header{background:#1f3a5f;color:#fff;padding:14px 28px}header h1{margin:0;font-size:20px}
.meta{margin:4px 0 0;font-size:12px;opacity:.85}main{padding:8px 28px 40px;max-width:1200px}
section{margin:22px 0}h2{font-size:18px;border-bottom:1px solid #d6dbe3;padding-bottom:4px}h3{font-size:15px}
table{border-collapse:collapse;font-size:13px;margin:6px 0}th,td{border:1px solid #d6dbe3;padding:3px 7px;
text-align:left;vertical-align:top}th{background:#eef1f5}tr.chosen{background:#fff6d6;font-weight:600}
tr.failed td,tr.not-fitted td{color:#6b7280}.reason{font-size:11px;color:#6b7280;font-weight:400}
.verdict{padding:10px 16px;border-radius:6px;border:1px solid}.verdict h2{border:0;margin:4px 0}
.verdict.found{background:#eaf6ec;border-color:#8cc79a}.verdict.unreliable{background:#fdecea;border-color:#e59b94}
.verdict.empty{background:#f1f1f1;border-color:#bbb}.stopped{font-weight:600;color:#8a4b00}
pre{background:#f3f5f8;border:1px solid #d6dbe3;padding:8px 10px;font-size:12.5px;overflow:auto}
pre.chosen-program{border-left:4px solid #e0a800;background:#fffbea}.cols{display:flex;gap:20px;flex-wrap:wrap}
.cols>*{flex:1 1 420px}.figs{display:flex;flex-wrap:wrap;gap:18px}figure{margin:0;max-width:600px}
figcaption{font-size:12px;color:#4b5563}svg.figure{background:#fff;border:1px solid #e3e7ee;max-width:100%;height:auto}
svg .axes line{stroke:#444;stroke-width:1}svg .axes line.grid{stroke:#eceff3}svg text{font-size:11px;fill:#333}
svg text.label{font-size:12px}svg text.ptitle{font-size:11px;font-weight:600}svg .note{font-size:10px;fill:#666}
.pp90{stroke:#9db4d3;stroke-width:2}.pp50{stroke:#3f6fb0;stroke-width:5}.obs{fill:#111}.obs.out{fill:#c0392b}
.ppband{fill:#e3e6ea}.ref{stroke:#888;stroke-dasharray:4 3;fill:none}.pit{stroke:#3f6fb0;stroke-width:2;fill:none}
.limit{stroke:#c0392b;stroke-dasharray:5 3}.limit.soft{stroke:#e0a800}.kpt{fill:#3f6fb0;cursor:pointer}
.kpt.warn{fill:#e0a800}.kpt.bad{fill:#c0392b}circle:hover{stroke:#000;stroke-width:2}
.chain{fill:none;stroke-width:1.4}.c0{stroke:#3f6fb0}.c1{stroke:#e07b39}.c2{stroke:#3a9a5b}.c3{stroke:#9b59b6}
.c4{stroke:#c0392b}.c5{stroke:#16a0a0}.c6{stroke:#7f8c8d}.c7{stroke:#b8860b}.err{stroke:#3f6fb0;stroke-width:3}
.err2{stroke:#9db4d3;stroke-width:1.5}.elpd{fill:#fff;stroke:#3f6fb0;stroke-width:2}.elpd.chosen{fill:#3f6fb0}
.bar.k0{fill:#3f6fb0}.bar.k1{fill:#9db4d3}.bar.k2{fill:#e0a800}.tick{font-size:11px}
details.step{margin:6px 0;border:1px solid #e3e7ee;border-radius:4px;padding:4px 8px;background:#fff}
.diff .add{color:#1a7f37;background:#e6ffec}.diff .del{color:#b42318;background:#ffebe9}.diff span{display:block}
#tooltip{position:fixed;background:#1d2430;color:#fff;font-size:12px;padding:4px 8px;border-radius:4px;
pointer-events:none;white-space:pre}.missing{color:#8a4b00;font-size:13px}
"""

SCRIPT = """
(function(){
  var tip=document.getElementById('tooltip');
  function text(el){
    var d=el.dataset, parts=[];
    if(d.model){parts.push('model '+d.model);}
    if(d.row){parts.push('row '+d.row);}
    if(d.values){parts.push(d.values);}
    if(d.value){parts.push('observed '+d.value);}
    if(d.k){parts.push('Pareto k '+d.k);}
    if(d.elpd){parts.push('elpd_loo '+d.elpd);}
    if(d.kind){parts.push(d.kind+' weight '+d.weight);}
    return parts.join('\\n');
  }
  document.querySelectorAll('svg.figure [data-row], svg.figure [data-model]').forEach(function(el){
    el.addEventListener('mouseenter',function(ev){tip.textContent=text(el);tip.hidden=false;move(ev);});
    el.addEventListener('mousemove',move);
    el.addEventListener('mouseleave',function(){tip.hidden=true;});
  });
  function move(ev){tip.style.left=(ev.clientX+12)+'px';tip.style.top=(ev.clientY+12)+'px';}
})();
"""
