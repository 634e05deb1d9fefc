"""`boxloop discover` from the command line: CSV input, the description reaching the proposer, the
progress line, and what each --strategy does (slow: five fits; the strategies themselves are
also tested in-process, tests/search/test_discover.py). Tiny data (20 normal draws), CI-sized
NUTS, one shared fit cache for the module (a fit made by one test is reused by the next, as
across runs)."""

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from boxloop.cli import main

Y = np.round(np.random.default_rng(1).normal(1.5, 2.0, size=20), 3)
NUTS = ["--chains", "2", "--warmup", "300", "--draws", "1000", "--workers", "1"]
PROGRAM = """data {
  int<lower=0> N;
  vector[N] y;
}
parameters {
  real mu;
  real<lower=0> sigma;
}
model {
  mu ~ normal(0, 10);
  sigma ~ normal(0, 5);
  y ~ normal(mu, sigma);
}
"""
DESCRIPTION = "Reaction times of twenty volunteers, in tenths of a second above a baseline."


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("fit-cache"))


@pytest.fixture(scope="module")
def data_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    csv, js = folder / "times.csv", folder / "times.json"
    csv.write_text("y\n" + "\n".join(str(v) for v in Y) + "\n")
    js.write_text(json.dumps({"N": len(Y), "y": Y.tolist()}))
    return csv, js


class _Chat(BaseHTTPRequestHandler):
    """An OpenAI-compatible server that answers every chat request with PROGRAM, and keeps them."""

    def do_POST(self):
        self.server.requests.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        body = json.dumps({"choices": [{"index": 0, "message": {"role": "assistant",
                                                                "content": f"```stan\n{PROGRAM}```"}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def chat_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Chat)
    server.requests = []
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def discover(capsys, *argv):
    code = main(["discover", *map(str, argv)])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_csv_input_and_description_reach_the_proposer_and_progress_is_shown(tmp_path, cache, data_files,
                                                                           chat_server, capsys):
    csv, js = data_files
    proposer = f"openai:m@http://127.0.0.1:{chat_server.server_address[1]}/v1"
    code, out, err = discover(capsys, csv, "--target", "y", "--describe", DESCRIPTION, "--proposer", proposer,
                              "--budget", "1", *NUTS, "--out", tmp_path / "csv", "--cache-dir", cache)
    assert code == 0, err
    # the description and the CSV's column (with N, the row count) are what the model was asked about
    prompt = "\n".join(m["content"] for m in chat_server.requests[0]["messages"])
    assert DESCRIPTION in prompt and re.search(r"\by\b", prompt) and "N" in prompt
    # the progress line on stderr, one per finished fit, agrees with the result on stdout
    progress = [line for line in err.splitlines() if "candidates 1/1" in line]
    best = re.search(r"elpd_loo = (-?\d+\.\d\d)", out).group(1)
    assert progress and "reliable 1" in progress[-1] and f"best elpd_loo {best} ±" in progress[-1]
    # the same numbers as a Stan-JSON file: the same data, so the fit comes from the cache
    code, out, _ = discover(capsys, js, "--target", "y", "--describe", DESCRIPTION, "--proposer", proposer,
                            "--budget", "1", *NUTS, "--out", tmp_path / "json", "--cache-dir", cache, "--json")
    [candidate] = json.loads(out)["candidates"]
    assert code == 0 and candidate["source"] == "cache" and f"{candidate['elpd_loo']:.2f}" == best


def _run(capsys, tmp_path, cache, data, strategy, *extra):
    code, out, err = discover(capsys, data, "--target", "y", "--strategy", strategy, "--budget", "2", *NUTS,
                              "--out", tmp_path / strategy, "--cache-dir", cache, "--json", *extra)
    assert code in (0, 1), err
    return json.loads(out)


@pytest.mark.slow
def test_refine_rewrites_where_best_of_n_draws_anew(tmp_path, cache, data_files, capsys):
    _, js = data_files
    refine = _run(capsys, tmp_path, cache, js, "refine", "--beta", "3")
    fresh = _run(capsys, tmp_path, cache, js, "best-of-n")
    first, rewrite = refine["candidates"]
    assert (first["depth"], first["block"], first["parent"]) == (0, "program", None)
    assert rewrite["depth"] == 1 and rewrite["block"] in ("prior", "likelihood") and rewrite["parent"] == first["hash"]
    assert all(c["depth"] == 0 and c["block"] == "program" and c["parent"] is None for c in fresh["candidates"])
    assert refine["strategy"] == "refine" and fresh["strategy"] == "best-of-n"


@pytest.mark.slow
def test_average_weights_candidates_by_their_evidence(tmp_path, cache, data_files, capsys):
    _, js = data_files
    result = _run(capsys, tmp_path, cache, js, "average")
    evidence = result["weights"]["evidence"]
    assert result["strategy"] == "average" and len(evidence) == len(result["candidates"]) == 2
    assert sum(evidence.values()) == pytest.approx(1.0)
    log_z = {c["hash"]: c["log_evidence"] for c in result["candidates"]}
    assert all(v is not None and v < 0 for v in log_z.values())
    # self-normalised: the weights are the evidences' softmax (equal multiplicity here)
    top = max(log_z.values())
    total = sum(np.exp(v - top) for v in log_z.values())
    assert all(evidence[h] == pytest.approx(np.exp(v - top) / total, rel=1e-6) for h, v in log_z.items())
