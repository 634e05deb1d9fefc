"""The report of a run: what a person reads first, every section, and the runs that ended badly."""

import json
import re

import pytest
from conftest import copy_run, edit_store

from boxloop.cli import main
from boxloop.report import ReportError, load_run, write_report
from boxloop.search.store import StoreError


@pytest.fixture(scope="module")
def report(finished_run):
    summary = write_report(finished_run, finished_run / "fresh.html")
    return summary, summary.path.read_text()


def test_discover_wrote_the_report_at_the_end_of_the_run(finished_run):
    page = (finished_run / "report.html").read_text()
    assert "Chosen model" in page and 'id="svg-k"' in page


def test_the_verdict_names_the_chosen_model_and_its_elpd(report, finished_run):
    summary, page = report
    view = load_run(finished_run)
    best = view.best
    assert summary.verdict == "found" and summary.candidates == len(view.candidates) >= 2
    verdict = re.search(r'<section id="verdict".*?</section>', page, re.S).group(0)
    assert best.hash[:8] in verdict and f"{best.elpd_loo:.2f}" in verdict and f"{best.fit.score} of 7" in verdict


def test_data_section_shows_columns_roles_and_target(report):
    _, page = report
    data = re.search(r'<section id="data".*?</section>', page, re.S).group(0)
    for column, role in (("J", "size"), ("y", "measurement"), ("sigma", "measurement")):
        assert re.search(rf"<tr><td>{column}</td><td><code>{column}</code></td><td>{role}</td>", data)
    assert "Target: <b>y</b>" in data and "-3 to 28" in data


def test_candidate_table_has_one_row_per_structure_with_failed_checks_named(report, finished_run):
    _, page = report
    view = load_run(finished_run)
    table = re.search(r'<table class="candidates">.*?</table>', page, re.S).group(0)
    assert table.count("<tr class=") == len(view.candidates)
    assert table.count('class="chosen"') == 1
    for c in view.candidates:
        row = re.search(rf'id="cand-{c.hash[:8]}">.*?</tr>', table, re.S).group(0)
        assert f"{c.elpd_loo:.2f} ± {c.elpd_loo_se:.2f}" in row
        names = {"ess_bulk": "bulk ESS", "rhat": "R-hat", "ess_tail": "tail ESS", "pareto_k": "Pareto k"}
        for check in c.fit.failed_checks:
            assert names.get(check, check) in row


def test_chosen_program_is_shown_highlighted_and_described_in_words(report, finished_run):
    _, page = report
    best = load_run(finished_run).best
    program = re.search(r'<pre class="stan chosen-program">(.*?)</pre>', page, re.S).group(1)
    assert "y ~ normal(" in program.replace("&lt;", "<")
    words = re.search(r'<div class="description">.*?</div>', page, re.S).group(0)
    assert "<h3>Likelihood</h3><ul><li>y follows a normal distribution" in words
    assert "<h3>Priors</h3>" in words and "sigma: a vector of size J, non-negative" in words
    assert best.hash[:8] in re.search(r'<section id="program".*?</h2>', page, re.S).group(0)


def test_posterior_summary_lists_every_parameter_with_quantiles(report, finished_run):
    from boxloop.diagnose import load_netcdf, summarize

    _, page = report
    view = load_run(finished_run)
    expected = summarize(load_netcdf(view.netcdf_path(view.best)))
    table = re.search(r'<table class="posterior">.*?</table>', page, re.S).group(0)
    for name, stats in expected.items():
        assert re.search(rf"<td><code>{re.escape(name)}</code></td><td></td><td>{stats['mean']:.3f}</td>", table)


def test_figures_are_inline_svg_and_pareto_k_points_carry_row_and_k(report, finished_run):
    _, page = report
    for figure in ("svg-ppc", "svg-pit", "svg-k", "svg-rank", "svg-elpd", "svg-weights"):
        assert f'id="{figure}"' in page
    k = load_run(finished_run).best.fit.diagnostics.loo.pareto_k
    points = re.findall(r'<circle class="kpt[^"]*"[^>]*data-row="(\d+)" data-k="([0-9.]+)"', page)
    assert [int(r) for r, _ in points] == list(range(1, k.size + 1))
    assert [float(v) for _, v in points] == pytest.approx(k, abs=0.006)


def test_effective_number_of_models_is_one_over_sum_of_squared_weights(report, finished_run):
    from boxloop.diagnose import compare

    _, page = report
    view = load_run(finished_run)
    rows = compare({c.hash: c.fit.diagnostics for c in view.candidates if c.reliable})
    expected = 1 / sum(r.weight_stacking ** 2 for r in rows)
    assert f"stacking: {expected:.2f}" in page


def test_history_names_the_block_rewritten_why_and_shows_the_diff(report, finished_run):
    _, page = report
    rewrites = [p for p in load_run(finished_run).proposals if p.depth > 0]
    assert rewrites, "the fixture run should have rewritten a block"
    history = re.search(r'<section id="history".*?</section>', page, re.S).group(0)
    assert history.count('<details class="step">') == len(rewrites)
    assert f"<b>{rewrites[0].block}</b> of <code>{rewrites[0].parent_hash[:8]}</code>" in history
    assert "Why: the parent" in history and '<span class="add">+' in history and '<span class="del">-' in history


def test_the_page_is_self_contained(report):
    summary, page = report
    assert "<link" not in page and "src=" not in page and "@import" not in page
    assert not re.search(r"https?://(?!www\.w3\.org/2000/svg)", page)
    assert summary.bytes == len(page.encode()) < 200_000


def test_a_run_stopped_half_way_says_so_and_lists_the_unfinished_candidate(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    victim = load_run(run).candidates[-1].hash
    edit_store(run, ("UPDATE runs SET status = 'killed', finished = NULL", ()),
               ("DELETE FROM fits WHERE structural_hash = ?", (victim,)))
    page = write_report(run).path.read_text()
    assert "This run was stopped half-way" in page and "rerun the same command to resume it" in page
    row = re.search(rf'id="cand-{victim[:8]}">.*?</tr>', page, re.S).group(0)
    assert "not fitted" in row and "the run stopped before this fit finished" in row


def test_a_run_with_no_reliable_model_says_so_plainly(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    with_zeta = json.loads(load_run(run).run["config_json"]) | {"zeta": 7}
    edit_store(run, ("UPDATE runs SET config_json = ?", (json.dumps(with_zeta),)))
    summary = write_report(run)
    page = summary.path.read_text()
    assert summary.verdict == "unreliable"
    assert "<h2>No reliable model</h2>" in page and "should be trusted" in page
    assert "Best of the unreliable programs (not to be trusted)" in page and "Chosen model" not in page


def test_an_empty_run_says_so_plainly(finished_run, tmp_path):
    run = copy_run(finished_run, tmp_path)
    edit_store(run, ("DELETE FROM fits", ()), ("UPDATE proposals SET valid = 0, structural_hash = NULL", ()))
    summary = write_report(run)
    page = summary.path.read_text()
    assert summary.verdict == "empty" and "<h2>No candidate was fitted</h2>" in page
    assert "programs were proposed, 0 of them valid" in page and 'id="svg-' not in page


def test_a_directory_that_is_not_a_run_is_refused_with_the_fix(tmp_path, capsys):
    with pytest.raises(ReportError, match="not a boxloop run directory.*--out directory of `boxloop discover"):
        write_report(tmp_path)
    assert main(["report", str(tmp_path / "missing"), "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "report.not_a_run"
    (tmp_path / "run.sqlite").write_bytes(b"")
    with pytest.raises(StoreError, match="empty"):
        write_report(tmp_path)


def test_cli_report_writes_where_asked(finished_run, tmp_path, capsys):
    out = tmp_path / "elsewhere.html"
    assert main(["report", str(finished_run), "--out", str(out), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["report"] == str(out) and payload["verdict"] == "found" and out.stat().st_size == payload["bytes"]
