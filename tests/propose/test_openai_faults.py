"""The openai proposer against misbehaving servers on 127.0.0.1: every failure is named (code,
server, status) and none takes longer than its deadline."""

import base64

import pytest
from chat_server import ChatServer, elapsed, free_port

from boxloop.data import make_task
from boxloop.errors import ProposerError
from boxloop.propose import get_proposer

SCHOOLS = {"J": 8, "y": [28, 8, -3, 7, -1, 1, 18, 12], "sigma": [15, 10, 16, 11, 9, 11, 10, 18]}
GOOD = """data { int<lower=0> J; vector[J] y; vector<lower=0>[J] sigma; }
parameters { real mu; real<lower=0> tau; vector[J] theta; }
model { mu ~ normal(0, 5); tau ~ normal(0, 5); theta ~ normal(mu, tau); y ~ normal(theta, sigma); }
"""
MARGIN_S = 1.5  # scheduling slack on a loaded 2-core machine


@pytest.fixture
def task():
    return make_task(SCHOOLS, target="y")


@pytest.fixture
def server(request):
    srv = ChatServer(**request.param)
    yield srv
    srv.close()


def _propose(url, task, **options):
    options = {"backoff_s": 0.01, **options}
    return elapsed(get_proposer(f"openai:m@{url}", **options).propose, task)


@pytest.mark.parametrize("server", [{"mode": "trickle", "programs": [GOOD], "gap_s": 0.5}], indirect=True)
def test_a_server_sending_one_byte_at_a_time_is_cut_off_at_the_total_deadline(server, task):
    seconds, err = _propose(server.url, task, timeout_s=2.0)
    assert isinstance(err, ProposerError) and err.code == "propose.timeout"
    assert err.server == server.url and "within 2 s" in str(err)
    assert 2.0 <= seconds < 2.0 + MARGIN_S  # bytes kept coming every 0.5 s: a per-read timeout never fires
    assert len(server.posts()) == 1  # a missed deadline is not retried


@pytest.mark.parametrize("server", [{"mode": "hang"}], indirect=True)
def test_a_hung_server_costs_the_probe_deadline_with_the_defaults(server, task):
    seconds, err = _propose(server.url, task)
    assert isinstance(err, ProposerError) and err.code == "propose.timeout" and err.transport
    assert "within 5 s" in str(err) and server.url in str(err)
    assert seconds < 5.0 + MARGIN_S
    assert server.posts() == []  # the probe found it silent: no generation request was sent


@pytest.mark.parametrize("server", [{"mode": "status", "status": 503}], indirect=True)
def test_5xx_is_retried_a_bounded_number_of_times_and_named(server, task):
    _, err = _propose(server.url, task, retries=2)
    assert isinstance(err, ProposerError) and err.code == "propose.http_error" and err.transport
    assert err.status == 503 and err.server == server.url and "overloaded" in str(err)
    assert len(server.posts()) == 3


def test_a_refused_connection_is_named_quickly(task):
    url = f"http://127.0.0.1:{free_port()}/v1"
    seconds, err = _propose(url, task)
    assert isinstance(err, ProposerError) and err.code == "propose.server_down" and err.transport
    assert err.server == url and err.status is None
    assert seconds < 3.0


@pytest.mark.parametrize("server", [{"mode": "ok", "programs": [GOOD]}], indirect=True)
def test_credentials_in_the_url_are_sent_but_never_shown(server, task, monkeypatch):
    monkeypatch.delenv("BOXLOOP_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    url = server.url.replace("127.0.0.1", "bob:hunter2-secret@127.0.0.1") + "?api_key=query-secret-42"
    proposer = get_proposer(f"openai:m@{url}")
    [p] = proposer.propose(task)
    assert p.valid
    post = server.posts()[0]
    assert post["path"] == "/v1/chat/completions?api_key=query-secret-42"
    assert post["headers"]["Authorization"] == "Basic " + base64.b64encode(b"bob:hunter2-secret").decode()
    for shown in (proposer.name, p.proposer, repr(proposer.client)):
        assert "hunter2-secret" not in shown and "query-secret-42" not in shown and "127.0.0.1" in shown
    server.mode, server.status = "status", 401
    with pytest.raises(ProposerError) as err:
        get_proposer(f"openai:m@{url}#retries=0").propose(task)
    assert err.value.status == 401
    assert "hunter2-secret" not in str(err.value) and "query-secret-42" not in str(err.value)
    assert "hunter2-secret" not in err.value.server
