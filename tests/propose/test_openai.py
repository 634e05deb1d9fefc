"""The OpenAI-compatible backend against a real HTTP server on 127.0.0.1 (a thread in this process,
scripted replies, a handful of requests per test)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from boxloop.data import make_task
from boxloop.errors import ProposerError
from boxloop.lang import grammar_text
from boxloop.lang.canonical import blocks
from boxloop.lang import parse
from boxloop.propose import get_proposer
from boxloop.propose.openai import OpenAIProposer, parse_spec

KEY = "sk-test-0123456789abcdef"
SCHOOLS = {"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}
GOOD = """data {
  int<lower=0> J;
  vector[J] y;
  vector<lower=0>[J] sigma;
}
parameters {
  real mu;
  real<lower=0> tau;
  vector[J] theta;
}
model {
  mu ~ normal(0, 5);
  tau ~ normal(0, 5);
  theta ~ normal(mu, tau);
  y ~ normal(theta, sigma);
}
"""
# The classic mistakes language models make, one per reply, and what the checker says back.
BUGGY = [
    (GOOD.replace("mu ~ normal(0, 5)", "mu ~ normal(0, sd=5)"), "not 'sd='"),
    (GOOD.replace("normal(mu, tau)", "normal(mu, tau^2 - 1)"), "`tau^2 - 1` lies in (-1, inf)"),
    (GOOD.replace("normal(mu, tau)", "normal(mu0, tau)"), "'mu0' is used before it is declared"),
    (GOOD.replace("y ~ normal", "y ~ gaussian"), "unknown distribution 'gaussian'"),
]


def chat(text: str, tokens: int | None = 50) -> dict:
    body = {"id": "x", "object": "chat.completion", "choices": [{"index": 0, "message": {"role": "assistant",
                                                                                   "content": text}}]}
    if tokens is not None:
        body["usage"] = {"prompt_tokens": 900, "completion_tokens": tokens, "total_tokens": 900 + tokens}
    return body


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        script = self.server.script
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        script["requests"].append({"path": self.path, "headers": dict(self.headers), "body": body})
        status, payload, delay = script["replies"].pop(0) if script["replies"] else (500, {"error": "no more"}, 0)
        time.sleep(delay)
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a client that gave up (timeout test) leaves a broken pipe behind; that is expected


@pytest.fixture
def server():
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.script = {"replies": [], "requests": []}
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    srv.url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def task():
    return make_task(SCHOOLS, target="y")


def _proposer(server, **options) -> OpenAIProposer:
    options = {"timeout_s": 5.0, "backoff_s": 0.01, **options}
    return get_proposer(f"openai:test-model@{server.url}", **options)


def test_repair_loop_sends_the_checker_messages_back(server, task, monkeypatch):
    monkeypatch.setenv("BOXLOOP_API_KEY", KEY)
    server.script["replies"] = [(200, chat(f"```stan\n{text}```"), 0) for text, _ in BUGGY]
    server.script["replies"].append((200, chat(f"Fixed:\n```stan\n{GOOD}```"), 0))
    [p] = _proposer(server, max_tries=5).propose(task, seed=3)
    assert p.valid and p.text == GOOD and p.proposer == f"openai:test-model@{server.url}"
    assert (p.accounting.tries, p.accounting.tokens_generated, p.accounting.tokens_discarded) == (5, 250, 200)
    requests = server.script["requests"]
    assert len(requests) == 5 and all(r["path"] == "/v1/chat/completions" for r in requests)
    for i, (_, said) in enumerate(BUGGY):
        last = requests[i + 1]["body"]["messages"][-1]
        assert last["role"] == "user" and said in last["content"], last["content"]
    first = requests[0]["body"]
    assert first["model"] == "test-model" and first["n"] == 1 and {"temperature", "top_p", "seed", "max_tokens"} <= set(first)
    assert "y (target)" in first["messages"][1]["content"]
    assert requests[0]["headers"]["Authorization"] == f"Bearer {KEY}"


def test_budget_of_tries_gives_an_invalid_proposal(server, task):
    server.script["replies"] = [(200, chat(f"```stan\n{BUGGY[3][0]}```", tokens=None), 0)] * 2
    [p] = _proposer(server, max_tries=2).propose(task)
    assert not p.valid and p.accounting.tries == 2
    assert any(d["code"] == "dist.unknown" for d in p.diagnostics)
    assert p.accounting.tokens_generated > 0  # estimated from the text when the server sends no usage


def test_dead_port_is_reported_quickly():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    proposer = get_proposer(f"openai:m@http://127.0.0.1:{port}/v1")
    start = time.perf_counter()
    with pytest.raises(ProposerError) as err:
        proposer.propose(make_task(SCHOOLS, target="y"))
    assert time.perf_counter() - start < 5.0
    assert err.value.code == "propose.server_down" and f"127.0.0.1:{port}" in str(err.value)


def test_server_errors_are_retried(server, task):
    server.script["replies"] = [(500, {"error": "busy"}, 0), (503, {"error": "busy"}, 0),
                                (200, chat(f"```stan\n{GOOD}```"), 0)]
    [p] = _proposer(server).propose(task)
    assert p.valid and len(server.script["requests"]) == 3 and p.accounting.tries == 1


def test_retries_are_bounded(server, task):
    server.script["replies"] = [(429, {"error": "slow down"}, 0)] * 3
    with pytest.raises(ProposerError) as err:
        _proposer(server, retries=2).propose(task)
    assert err.value.code == "propose.http_error" and "429" in str(err.value)
    assert len(server.script["requests"]) == 3


def test_api_key_never_appears_in_errors(server, task, monkeypatch):
    monkeypatch.setenv("BOXLOOP_API_KEY", KEY)
    echo = {"error": f"invalid key Bearer {KEY}"}
    server.script["replies"] = [(401, echo, 0)]
    with pytest.raises(ProposerError) as err:
        _proposer(server).propose(task)
    assert err.value.code == "propose.http_error" and KEY not in str(err.value) and "BOXLOOP_API_KEY" in str(err.value)
    server.script["replies"] = [(500, echo, 0)] * 2
    with pytest.raises(ProposerError) as err:
        _proposer(server, retries=1).propose(task)
    assert KEY not in str(err.value) and KEY not in repr(_proposer(server).client)


def test_timeout(server, task):
    server.script["replies"] = [(200, chat(f"```stan\n{GOOD}```"), 1.0)]
    with pytest.raises(ProposerError) as err:
        _proposer(server, timeout_s=0.2, retries=0).propose(task)
    assert err.value.code == "propose.timeout"


def test_reply_that_is_not_json(server, task):
    server.script["replies"] = [(200, b"<html>hello</html>", 0)]
    with pytest.raises(ProposerError) as err:
        _proposer(server).propose(task)
    assert err.value.code == "propose.bad_reply"


@pytest.mark.parametrize("mode,field", [("vllm", "structured_outputs"), ("vllm-legacy", "guided_grammar"),
                                        ("llamacpp", "grammar")])
def test_grammar_is_sent_where_the_server_takes_one(server, task, mode, field):
    server.script["replies"] = [(200, chat(GOOD), 0)]  # a grammar-constrained reply is the bare program
    [p] = get_proposer(f"openai:m@{server.url}#grammar={mode},timeout=5").propose(task)
    assert p.valid
    body = server.script["requests"][0]["body"]
    sent = body[field]
    if mode == "vllm":
        assert sent == {"grammar": grammar_text()}
    elif mode == "vllm-legacy":
        assert sent == grammar_text()
    else:
        assert sent.startswith("root ::= ")
    assert "between ```stan" not in body["messages"][1]["content"]


def test_likelihood_rewrite_keeps_the_context(server, task):
    reply = GOOD.replace("mu ~ normal(0, 5)", "mu ~ normal(100, 1)").replace("y ~ normal(theta, sigma)",
                                                                           "y ~ student_t(4, theta, sigma)")
    server.script["replies"] = [(200, chat(f"```stan\n{reply}```"), 0)]
    [p] = _proposer(server).propose(task, context=GOOD, block="likelihood")
    parts = blocks(parse(p.text))
    assert p.valid and p.block == "likelihood"
    assert "student_t" in parts.likelihood and "normal(0, 5)" in parts.prior and "100" not in p.text
    assert "Rewrite only the likelihood" in server.script["requests"][0]["body"]["messages"][1]["content"]


def test_token_budget(server, task):
    server.script["replies"] = [(200, chat(f"```stan\n{BUGGY[0][0]}```", tokens=400), 0)] * 3
    proposals = _proposer(server, token_budget=500).propose(task, n=3)
    assert len(proposals) == 1 and proposals[0].accounting.tries == 2  # stopped once 500 tokens were spent


def test_spec_parsing():
    s = parse_spec("openai:Qwen/Qwen2.5-7B@http://10.0.0.2:8000/v1/#grammar=vllm,temperature=0.3,tries=2")
    assert (s.model, s.base_url, s.grammar_mode, s.temperature, s.max_tries) == \
        ("Qwen/Qwen2.5-7B", "http://10.0.0.2:8000/v1", "vllm", 0.3, 2)
    for bad in ("openai:@http://x/v1", "openai:m@http://x/v1#colour=red", "openai:m@http://x/v1#grammar=gbnf"):
        with pytest.raises(ProposerError):
            parse_spec(bad)


def test_cli_exits_1_when_no_program_is_valid(server, tmp_path, capsys):
    from boxloop.cli_propose import register

    data = tmp_path / "schools.json"
    data.write_text(json.dumps(SCHOOLS))
    server.script["replies"] = [(200, chat(f"```stan\n{BUGGY[3][0]}```"), 0)]
    import argparse

    parser = argparse.ArgumentParser(prog="boxloop")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["propose", str(data), "--target", "y", "--json",
                              "--proposer", f"openai:m@{server.url}#tries=1,timeout=5"])
    assert args.run(args) == 1
    payload = json.loads(capsys.readouterr().out)
    assert payload["valid"] == [False] and payload["tokens"]["tries"] == 1
