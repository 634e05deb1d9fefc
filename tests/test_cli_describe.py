"""`boxloop describe`, the data options of every command that reads data, and level names on what
a person reads (fit's posterior summary, program comments)."""

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from boxloop.cli import _build_parser, main
from boxloop.data import make_task
from boxloop.report import annotate_program, level_labels

SRC = Path(__file__).resolve().parents[1] / "src" / "boxloop"


@pytest.fixture
def batches(tmp_path):
    """Dyestuff-like: a text factor with six levels, written by pandas with its index."""
    rng = np.random.default_rng(3)
    batch = np.repeat(list("ABCDEF"), 5)
    effect = dict(zip("ABCDEF", [0, 40, 80, -20, 100, -60]))
    frame = pd.DataFrame({"Batch": batch, "Yield": [1500 + effect[b] + int(rng.normal(0, 40)) for b in batch],
                          "Solar.R": rng.uniform(10, 300, batch.size)})
    frame.loc[3, "Solar.R"] = None
    path = tmp_path / "dyes.csv"
    frame.to_csv(path)
    return path


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_describe_gives_a_stan_json_group_index_its_levels(capsys, tmp_path):
    path = tmp_path / "radon.json"
    county = [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    path.write_text(json.dumps({"N": 12, "J": 6, "county": county, "y": [0.1 * i for i in range(12)]}))
    code, out, _ = run(capsys, "describe", path)
    row = next(line for line in out.splitlines() if line.startswith("county"))
    assert code == 0 and re.search(r"index 1\.\.6; varying intercepts", row), row


def test_describe_prints_roles_levels_missing_cells_and_the_plan(capsys, batches):
    code, out, _ = run(capsys, "describe", batches)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines() if line and not line.startswith("column")}
    assert "holds row names: dropped" in rows["Unnamed:"]
    assert re.search(r"Batch\s+Batch\s+factor\s+text\s+6 levels: A, B, C, D, E, F\s+0\s+index 1..6 \(K_Batch\); "
                     r"varying intercepts", rows["Batch"])
    assert re.search(r"Solar\.R\s+Solar_R\s+measurement\s+real\s+.*\s1\s+covariate", rows["Solar.R"])
    assert "target: Yield (" in out
    assert "note [data.renamed] 'Solar.R' is called Solar_R" in out
    assert "note [data.rows_dropped] 1 of 30 rows left out for missing cells (Solar.R 1)" in out


def test_describe_json_is_the_column_records(capsys, batches):
    code, out, _ = run(capsys, "describe", batches, "--json", "--drop", "Solar.R")
    report = json.loads(out)
    assert code == 0 and report["target"] == "Yield" and report["rows"] == 30
    batch = next(c for c in report["columns"] if c["name"] == "Batch")
    assert (batch["role"], batch["use"], batch["levels"], batch["size_name"]) == \
        ("factor", "index", list("ABCDEF"), "K_Batch")
    solar = next(c for c in report["columns"] if c["name"] == "Solar.R")
    assert (solar["use"], solar["note"]) == ("dropped", "dropped (--drop)")


def test_overrides_accept_commas_and_repeats(capsys, batches):
    code, out, _ = run(capsys, "describe", batches, "--json", "--numeric", "Yield", "--drop", "Solar.R,Batch")
    report = json.loads(out)
    assert code == 0 and {c["name"] for c in report["columns"] if c["use"] == "dropped"} >= {"Solar.R", "Batch"}


@pytest.mark.parametrize("argv, code_word", [
    (["--group", "Bach"], "data.unknown_column"),
    (["--target", "Yeild"], "data.unknown_column"),
    (["--group", "Batch", "--drop", "Batch"], "data.conflicting_overrides"),
    (["--max-elements", "10"], "data.too_large"),
])
def test_bad_data_options_exit_2_naming_the_problem(capsys, batches, argv, code_word):
    code, out, err = run(capsys, "describe", batches, *argv)
    assert code == 2 and out == ""
    assert err.startswith("boxloop describe: ")
    if code_word == "data.unknown_column":
        assert "did you mean" in err


def test_every_flag_an_error_message_names_exists():
    """No message tells a user to pass a flag that no command has."""
    def flags(parser):  # every option of a parser and of its subcommands, nested ones included
        found = {opt for action in parser._actions for opt in action.option_strings}
        for action in parser._actions:
            choices = getattr(action, "choices", None)
            for sub in (choices.values() if isinstance(choices, dict) else ()):
                if hasattr(sub, "_actions"):
                    found |= flags(sub)
        return found

    known = flags(_build_parser())
    # Modules that build other programs' command lines (stanc, `ray start`) name those programs' flags;
    # the exporters write scripts with flags of their own (`--save draws.npz`).
    launchers = {SRC / "lang" / "stanc.py", SRC / "search" / "ray_local.py", SRC / "report" / "script.py"}
    named = set()
    for path in set(SRC.rglob("*.py")) - launchers:
        for literal in re.findall(r"\"[^\"\n]*\"|'[^'\n]*'", path.read_text()):
            named |= set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", literal))
    other_programs = {"--xla"}  # XLA's own, in XLA_FLAGS
    missing = sorted(named - known - other_programs)
    assert not missing, f"messages name flags no command has: {missing}"


def test_level_labels_name_the_level_of_each_element(batches):
    task = make_task(batches)
    program = """
data { int<lower=0> N; int<lower=0> K_Batch; array[N] int<lower=1, upper=K_Batch> Batch; vector[N] Yield; }
parameters { real mu; vector[K_Batch] a_Batch; vector[K_Batch - 1] b; matrix[2, K_Batch] m; real<lower=0> s; }
model { Yield ~ normal(mu + a_Batch[Batch], s); }
"""
    labels = level_labels(program, task.columns)
    assert labels["a_Batch[3]"] == "Batch = C" and "mu" not in labels
    assert labels["b[1]"] == "Batch = B vs A" and labels["m[2, 6]"] == "Batch = F"
    plain = "data {\n  int<lower=0> N;\n  int<lower=0> K_Batch;\n  array[N] int<lower=1, upper=K_Batch> Batch;\n}\n"
    annotated = annotate_program(plain, task)
    assert "array[N] int<lower=1, upper=K_Batch> Batch;  // 1 = A, 2 = B, 3 = C, 4 = D, 5 = E, 6 = F" in annotated


@pytest.mark.slow
def test_fit_on_a_csv_labels_the_summary_with_level_names(capsys, batches, tmp_path):
    program = tmp_path / "m.stan"
    program.write_text("""
data { int<lower=0> N; int<lower=0> K_Batch; array[N] int<lower=1, upper=K_Batch> Batch; vector[N] Yield; }
parameters { real mu; vector[K_Batch] z; real<lower=0> tau; real<lower=0> sigma; }
model { mu ~ normal(1500, 200); z ~ std_normal(); tau ~ normal(0, 100); sigma ~ normal(0, 100);
        Yield ~ normal(mu + tau * z[Batch], sigma); }
""")
    code, out, _ = run(capsys, "fit", program, batches, "--json", "--chains", "2", "--warmup", "500",
                       "--draws", "500")  # 1 x 200 draws gave tau a bulk ESS of 39: unreliable, exit 1
    summary = json.loads(out)["summary"]
    assert code == 0 and summary["z[3]"]["label"] == "Batch = C" and "label" not in summary["mu"]


def test_check_and_fit_read_a_table_as_discover_does_on_the_rows_the_program_uses(capsys, batches, tmp_path):
    program = tmp_path / "m.stan"
    program.write_text("data {\n  int<lower=0> N;\n  int<lower=0> K_Batch;\n"
                       "  array[N] int<lower=1, upper=K_Batch> Batch;\n  vector[N] Yield;\n}\n"
                       "parameters {\n  real mu;\n  real<lower=0> s;\n}\n"
                       "model {\n  mu ~ normal(1500, 100);\n  s ~ normal(0, 50);\n  Yield ~ normal(mu, s);\n}\n")
    code, out, err = run(capsys, "check", program, "--data", batches, "--json")
    assert code == 0 and json.loads(out)["valid"]
    from boxloop.data import load_data

    # Solar.R is missing in one row but the program does not read it: every row is used
    assert int(load_data(batches, columns={"N", "K_Batch", "Batch", "Yield"})["N"]) == 30
    assert int(load_data(batches)["N"]) == 29


@pytest.mark.slow
def test_discover_on_a_csv_keeps_the_level_names_in_its_json_and_run_store(capsys, batches, tmp_path):
    out_dir = tmp_path / "run"
    code, out, _ = run(capsys, "discover", batches, "--json", "--budget", "3", "--chains", "2", "--warmup", "300",
                       "--draws", "300", "--out", out_dir, "--no-cache")
    payload = json.loads(out)
    assert payload["data"]["target"] == "Yield"
    batch = next(c for c in payload["data"]["columns"] if c["name"] == "Batch")
    assert batch["levels"] == list("ABCDEF")
    assert json.loads((out_dir / "data.json").read_text())["columns"] == payload["data"]["columns"]
    if code == 0 and "[Batch]" in payload["best"]["program"]:
        assert "// 1 = A, 2 = B" in payload["best"]["program"]
        assert any(s.get("label") == "Batch = C" for s in payload["best"]["summary"].values())
