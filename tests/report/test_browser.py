"""The report of a finished run opened in headless Chromium (Debian's `chromium`, which .ci/run
installs): the key elements and figures are laid out and visible, hovering a Pareto k point shows
its row and k, the console stays silent, and a screenshot is kept among the test's outputs.

Without chromium the test is skipped here, with the reason; under CI (BOXLOOP_BROWSER_TESTS=1, set by
.ci/run) a missing browser is a failure."""

import json
import os
import re
import shutil
import subprocess

import pytest

from boxloop.report import load_run, write_report

# Runs after the report's own script: measures what a reader would see and hovers one point.
PROBE = """<script>
(function(){
  function shown(sel){var el=document.querySelector(sel); if(!el){return false;}
    var r=el.getBoundingClientRect(), s=getComputedStyle(el);
    return r.width>50 && r.height>20 && s.visibility!=='hidden' && s.display!=='none';}
  var out={};
  ['#verdict','#data table','table.candidates','pre.chosen-program','.description','table.posterior',
   '#svg-ppc','#svg-pit','#svg-k','#svg-rank','#svg-elpd','#svg-weights','#history'].forEach(function(s){out[s]=shown(s);});
  out.kpoints=document.querySelectorAll('#svg-k circle.kpt').length;
  var pt=document.querySelector('#svg-k circle.kpt'), box=pt.getBoundingClientRect();
  pt.dispatchEvent(new MouseEvent('mouseenter',{clientX:box.x+2,clientY:box.y+2}));
  var tip=document.getElementById('tooltip');
  out.tooltip=tip.hidden?null:tip.textContent;
  var pre=document.createElement('pre'); pre.id='probe'; pre.textContent=JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def _chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        reason = "chromium is not installed (apt-get install -y chromium; .ci/run installs it)"
        if os.environ.get("BOXLOOP_BROWSER_TESTS") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _run(browser: str, *args: str) -> subprocess.CompletedProcess:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--enable-logging=stderr",
             "--v=0", "--no-first-run", "--disable-extensions"]
    return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_report_renders_in_headless_chromium(finished_run, tmp_path):
    browser = _chromium()
    page = write_report(finished_run, tmp_path / "report.html").path
    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))

    dom = _run(browser, "--window-size=1280,1000", "--dump-dom", probed.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console(dom.stderr) == []
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout, re.S).group(1).replace("&quot;", '"'))
    hidden = [sel for sel, ok in found.items() if ok is False]
    assert hidden == [], f"not visible: {hidden}"
    pareto = load_run(finished_run).best.fit.diagnostics.loo.pareto_k
    assert found["kpoints"] == pareto.size
    assert found["tooltip"].startswith("row 1\n") and f"Pareto k {pareto[0]:.2f}" in found["tooltip"]

    shot = tmp_path / "report.png"
    plain = _run(browser, "--window-size=1280,4200", f"--screenshot={shot}", page.as_uri())
    assert plain.returncode == 0, plain.stderr[-2000:]
    assert _console(plain.stderr) == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 50_000
