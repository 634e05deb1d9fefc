"""Every command, every way out: with --json exactly one JSON object on stdout (also on error),
and the documented exit code (0 ok, 1 well-formed input that fails, 2 usage/file/data/store,
130 Ctrl-C)."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import alive, live_children

from boxloop import cli
from boxloop.cli import main

ROOT = Path(__file__).parents[1]
EIGHT = ROOT / "examples" / "eight_schools.stan"
EIGHT_DATA = ROOT / "examples" / "eight_schools.json"
FLAT = "data { int N; vector[N] y; } parameters { real mu; } model { y ~ normal(mu, 1); }"


def _one_json(capsys) -> dict:
    captured = capsys.readouterr()
    out = captured.out
    assert captured.err.strip(), "the message goes to stderr too"
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return json.loads(lines[0])


@pytest.fixture
def flat_program(tmp_path):
    prog, data = tmp_path / "flat.stan", tmp_path / "y.json"
    prog.write_text(FLAT)
    data.write_text(json.dumps({"N": 3, "y": [0.1, -0.3, 0.5]}))
    return prog, data


@pytest.mark.parametrize("argv,status,code", [
    (["check", "missing.stan"], 2, "usage"),
    (["check", str(EIGHT), "--no-such-flag"], 2, "usage"),
    (["fit", str(EIGHT)], 2, "usage"),
    (["fit", str(EIGHT), "missing.json"], 2, "data."),
    (["evidence", str(EIGHT), str(EIGHT_DATA), "--method", "laplace"], 2, "usage"),
    (["propose", str(EIGHT_DATA), "--proposer", "nonsense"], 2, "propose.unknown"),
    (["propose", str(EIGHT_DATA), "--proposer", "openai:@http://127.0.0.1:9/v1"], 2, "propose.bad_spec"),
    (["discover", "missing.json"], 2, "data."),
    (["discover", str(EIGHT_DATA), "--executor", "dask"], 2, "search.bad_executor"),
    (["nonsense-command"], 2, "usage"),
])
def test_usage_file_and_data_errors_are_one_json_object_and_exit_2(capsys, argv, status, code, tmp_path,
                                                                   monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may be left behind, not even a default run directory
    assert main([*argv, "--json"]) == status
    error = _one_json(capsys)["error"]
    assert error["code"].startswith(code) and error["message"]
    assert list(tmp_path.iterdir()) == []


def test_evidence_is_refused_for_an_improper_prior_with_the_reason(capsys, flat_program):
    prog, data = flat_program
    assert main(["evidence", str(prog), str(data), "--json"]) == 1
    error = _one_json(capsys)["error"]
    assert error["code"] == "evidence.improper_prior"
    assert "'mu' has no prior" in error["message"] and "marginal likelihood is undefined" in error["message"]


def test_propose_against_a_dead_server_exits_1_naming_it(capsys):
    from chat_server import free_port

    url = f"http://127.0.0.1:{free_port()}/v1"
    assert main(["propose", str(EIGHT_DATA), "--proposer", f"openai:m@{url}#retries=0", "--json"]) == 1
    error = _one_json(capsys)["error"]
    assert error["code"] == "propose.server_down" and error["server"] == url and error["status"] is None


def test_a_bug_is_still_one_json_object(capsys, monkeypatch):
    def broken(args):
        raise RuntimeError("an invariant broke")

    monkeypatch.setattr(cli, "run_check", broken)
    assert main(["check", str(EIGHT), "--json"]) == 1
    error = _one_json(capsys)["error"]
    assert error["code"] == "internal.error" and "an invariant broke" in error["message"]


def test_a_reader_that_goes_away_ends_the_command_quietly():
    """`boxloop check ... --json | head -c0`: no traceback, no internal error, exit 141 like SIGPIPE."""
    proc = subprocess.Popen([sys.executable, "-m", "boxloop.cli", "check", str(EIGHT), "--json"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # before the command has printed anything
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 141, err[-2000:]
    assert err == ""


def test_secrets_in_arguments_never_reach_the_output(capsys, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-secret-0123456789")
    assert main(["propose", str(EIGHT_DATA), "--proposer", "openai:@https://bob:pw-secret-987@h/v1?api_key=q-secret-654",
                 "--json"]) == 2
    captured = capsys.readouterr()
    for secret in ("pw-secret-987", "q-secret-654", "sk-env-secret-0123456789"):
        assert secret not in captured.out and secret not in captured.err


def test_ctrl_c_ends_fit_promptly_with_its_worker(tmp_path):
    """`fit` without --timeout: the sampler runs in a worker; SIGINT stops both within seconds."""
    proc = subprocess.Popen([sys.executable, "-m", "boxloop.cli", "fit", str(EIGHT), str(EIGHT_DATA), "--json",
                             "--warmup", "200000", "--draws", "10"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120
        while not live_children(proc.pid) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
        workers = live_children(proc.pid)
        assert workers, "the fit's worker never started"
        time.sleep(3.0)  # let it get into JAX
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        out, err = proc.communicate(timeout=30)
        assert time.monotonic() - started < 10
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err[-2000:]
    assert json.loads(out) == {"error": {"code": "interrupted",
                                         "message": "interrupted (Ctrl-C); what had finished is kept"}}
    time.sleep(0.5)
    assert not [pid for pid in workers if alive(pid)]


def test_a_proposer_that_answers_without_a_valid_program_exits_one_and_a_missing_model_two():
    from boxloop.cli_io import exit_code
    from boxloop.errors import ProposerError

    assert exit_code(ProposerError("wrote nothing valid", code="spfn.no_valid_program")) == 1
    assert exit_code(ProposerError("no such checkpoint", code="spfn.checkpoint_missing")) == 2
