"""The `openai:<model>@<base_url>` proposer: any OpenAI-compatible chat server (vLLM, llama.cpp
server, Ollama, hosted APIs), over the standard library's HTTP client.

Per proposal: send the prompt; read the program out of the reply; fit it into the context (for a
prior/likelihood rewrite); check it against the data; on errors send the checker's messages back
and try again, at most `max_tries` rounds. Where the server accepts a grammar it is sent too
(`grammar_mode`): vLLM's `structured_outputs: {"grammar": <Lark>}` (guidance backend), the pre-0.12
`guided_grammar` field, or llama.cpp's `grammar` (GBNF converted from the same Lark file).

Deadlines: every request has one total deadline (`timeout_s`, default 120 s) that covers
connecting, sending and reading the whole reply, however the server trickles its bytes; a
watchdog shuts the socket when it passes. Before its first request a client checks that the
server answers at all (`GET /models` within `probe_timeout_s`, default 5 s; any HTTP status
counts as an answer), so a hung server costs seconds, not a request deadline. Refused or dropped
connections, 429 and 5xx are retried with exponential backoff a bounded number of times; a missed
deadline is not (a hung server would only hang again). Failures are ProposerErrors with a stable
code (propose.server_down, propose.timeout, propose.http_error, propose.bad_reply,
propose.budget_exhausted) and name the server (credentials masked) and the HTTP status.
The API key comes from an environment variable (or the URL's `user:key@`, sent as Basic auth)
and never appears in a message, a repr or a stored record.

Options can follow the URL after '#': `openai:qwen@http://127.0.0.1:8000/v1#grammar=vllm,temperature=0.3`
(the fragment is never sent to the server).
"""

from __future__ import annotations

import base64
import email.utils
import http.client
import json
import os
import socket
import ssl
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from ..errors import ProposerError
from ..lang import check
from ..redact import redact
from .base import BLOCKS, Accounting, Proposal
from .prompt import build_prompt, extract_program, repair_message, splice

API_KEY_ENVS = ("BOXLOOP_API_KEY", "OPENAI_API_KEY")
GRAMMAR_MODES = ("none", "vllm", "vllm-legacy", "llamacpp")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
DEFAULT_URL = "https://api.openai.com/v1"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_REPLY_BYTES = 16 * 2**20  # a chat reply is kilobytes; anything this large is not one


@dataclass(frozen=True)
class ChatSettings:
    """Everything about talking to one server except the key (which stays out of reprs)."""

    model: str
    base_url: str = field(default=DEFAULT_URL, repr=False)  # may carry credentials: never in a repr
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1500
    timeout_s: float = 120.0  # total deadline of one HTTP request, reading the whole reply included
    connect_timeout_s: float = 5.0
    probe_timeout_s: float = 5.0  # does the server answer at all (checked before the first request)
    retries: int = 3  # extra attempts after a refused connection, 429 or 5xx
    backoff_s: float = 0.25  # first wait; doubles each retry
    max_backoff_s: float = 8.0
    max_tries: int = 4  # generate -> check -> repair rounds per proposal
    token_budget: int | None = None  # completion tokens for one propose() call
    grammar_mode: str = "none"
    api_key_env: tuple[str, ...] = API_KEY_ENVS

    def __post_init__(self):
        if self.grammar_mode not in GRAMMAR_MODES:
            raise ProposerError(f"grammar_mode {self.grammar_mode!r} is not one of {', '.join(GRAMMAR_MODES)}",
                                code="propose.bad_spec")
        if self.max_tries < 1 or self.retries < 0:
            raise ProposerError("max_tries must be >= 1 and retries >= 0", code="propose.bad_spec")
        if min(self.timeout_s, self.connect_timeout_s, self.probe_timeout_s) <= 0:
            raise ProposerError("timeouts must be > 0 seconds", code="propose.bad_spec")


_OPTIONS = {"grammar_mode": str, "temperature": float, "top_p": float, "max_tokens": int, "timeout_s": float,
            "connect_timeout_s": float, "probe_timeout_s": float, "retries": int, "backoff_s": float, "max_backoff_s": float, "max_tries": int, "token_budget": int}
_OPTION_ALIASES = {"grammar": "grammar_mode", "timeout": "timeout_s", "connect_timeout": "connect_timeout_s",
                   "probe_timeout": "probe_timeout_s", "tries": "max_tries", "budget": "token_budget"}


def parse_spec(spec: str, **overrides) -> ChatSettings:
    """`openai:<model>[@<base_url>][#key=value,...]` -> ChatSettings (keyword overrides win)."""
    body = spec.split(":", 1)[1] if spec.startswith("openai:") else spec
    body, _, fragment = body.partition("#")
    at = body.rfind("@http")
    model, url = (body[:at], body[at + 1:]) if at >= 0 else (body, os.environ.get("OPENAI_BASE_URL", DEFAULT_URL))
    if not model:
        raise ProposerError(redact(f"proposer {spec!r} names no model; write openai:<model>@<base_url>"),
                            code="propose.bad_spec")
    options = dict(_option(item, spec) for item in fragment.split(",") if item.strip())
    return ChatSettings(model=model, base_url=url.rstrip("/"), **{**options, **overrides})


def _option(item: str, spec: str) -> tuple[str, object]:
    key, _, value = item.partition("=")
    key = _OPTION_ALIASES.get(key.strip(), key.strip())
    if key not in _OPTIONS:
        raise ProposerError(redact(f"unknown option {key!r} in {spec!r}; known: grammar, temperature, top_p, "
                                   f"max_tokens, timeout, connect_timeout, probe_timeout, retries, tries, budget"),
                            code="propose.bad_spec")
    try:
        return key, _OPTIONS[key](value.strip())
    except ValueError:
        raise ProposerError(redact(f"option {key}={value!r} in {spec!r} is not a number"),
                            code="propose.bad_spec") from None


# ---- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    text: str
    completion_tokens: int
    prompt_tokens: int


@dataclass(frozen=True)
class Endpoint:
    """Where requests go. `display` is the URL with its credentials masked: the only form that
    is ever printed or stored."""

    scheme: str
    host: str
    port: int
    path: str  # base path
    query: str = field(repr=False)  # kept as given: a key in it must still be sent
    auth: str | None = field(repr=False)  # Basic credentials from user:key@ in the URL
    netloc: str = field(default="", repr=False)  # as given, credentials included: shown only via `shown`

    @property
    def display(self) -> str:
        return self.shown("")

    def shown(self, route: str) -> str:
        """The URL of `route` as it may be printed or stored (credentials masked)."""
        return redact(urllib.parse.urlunsplit((self.scheme, self.netloc, self.path + route, self.query, "")))

    @classmethod
    def parse(cls, base_url: str) -> "Endpoint":
        parts = urllib.parse.urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProposerError(redact(f"the proposer URL {base_url!r} is not http(s)://host[:port]/path"),
                                code="propose.bad_spec")
        auth = None
        if parts.username is not None:
            userinfo = f"{urllib.parse.unquote(parts.username)}:{urllib.parse.unquote(parts.password or '')}"
            auth = "Basic " + base64.b64encode(userinfo.encode()).decode()
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return cls(parts.scheme, parts.hostname, port, parts.path.rstrip("/"), parts.query, auth, parts.netloc)

    def target(self, route: str) -> str:
        return f"{self.path}{route}" + (f"?{self.query}" if self.query else "")


class _Deadline(Exception):
    """The request's total deadline passed before the whole reply was read."""


class ChatClient:
    """POST {base_url}/chat/completions under a total deadline, with retries; knows nothing about
    programs."""

    def __init__(self, settings: ChatSettings, api_key: str | None = None):
        self.settings = settings
        self._key = api_key if api_key is not None else _key_from_env(settings.api_key_env)
        self.endpoint = Endpoint.parse(settings.base_url)
        self._answered = False  # the server answered once: no need to probe it again

    def __repr__(self) -> str:
        return f"ChatClient({self.endpoint.display!r}, model={self.settings.model!r})"

    @property
    def url(self) -> str:
        """The chat URL as it may be shown (credentials masked)."""
        return self.endpoint.shown("/chat/completions")

    def complete(self, messages: list[dict], *, seed: int, extra: dict | None = None) -> Reply:
        s = self.settings
        payload = {"model": s.model, "messages": messages, "temperature": s.temperature, "top_p": s.top_p,
                   "seed": seed, "n": 1, "max_tokens": s.max_tokens, **(extra or {})}
        if not self._answered:
            self._probe()
        return _reply(self._post(payload), self.url, self.endpoint.display)

    def _headers(self, body: bool) -> dict:
        headers = {"Accept": "application/json", **({"Content-Type": "application/json"} if body else {})}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        elif self.endpoint.auth:
            headers["Authorization"] = self.endpoint.auth
        return headers

    def _probe(self) -> None:
        """Any HTTP answer to GET /models shows the server is alive; silence is a failure, fast."""
        deadline = min(self.settings.probe_timeout_s, self.settings.timeout_s)
        for attempt in range(self.settings.retries + 1):
            try:
                self._exchange("GET", "/models", None, deadline)
                self._answered = True
                return
            except _Deadline:
                raise self._silent(deadline, "a probe of /models") from None
            except (OSError, http.client.HTTPException) as exc:
                if attempt == self.settings.retries:
                    raise self._transport_error(exc) from None
                self._wait(attempt, None)

    def _post(self, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        for attempt in range(self.settings.retries + 1):
            last = attempt == self.settings.retries
            try:
                status, headers, raw = self._exchange("POST", "/chat/completions", body, self.settings.timeout_s)
            except _Deadline:
                self._answered = False  # probe again before the next request
                raise self._silent(self.settings.timeout_s, "the request") from None
            except (OSError, http.client.HTTPException) as exc:
                if last:
                    self._answered = False
                    raise self._transport_error(exc) from None
                self._wait(attempt, None)
                continue
            if status < 400:
                return self._json(raw)
            detail = self._scrub(raw[:400].decode("utf-8", "replace"))
            if status not in RETRYABLE_STATUS or last:
                raise _http_error(status, detail, self.url, self.settings, self.endpoint.display) from None
            self._wait(attempt, headers.get("Retry-After"))
        raise AssertionError("unreachable")

    def _exchange(self, method: str, route: str, body: bytes | None, deadline_s: float):
        """One request; (status, headers, body). Raises _Deadline once `deadline_s` has passed,
        whatever stage the exchange is in (a watchdog shuts the socket)."""
        conn = self._connection(min(self.settings.connect_timeout_s, deadline_s))
        expired = threading.Event()

        def expire():
            expired.set()
            sock = conn.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        watchdog = threading.Timer(deadline_s, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            conn.connect()
            if expired.is_set():
                raise _Deadline()
            conn.request(method, self._request_target(route, conn), body=body, headers=self._headers(body is not None))
            response = conn.getresponse()
            raw = response.read(MAX_REPLY_BYTES + 1)
            if expired.is_set():
                raise _Deadline()
            if len(raw) > MAX_REPLY_BYTES:
                raise ProposerError(f"the server at {self.url} sent more than {MAX_REPLY_BYTES // 2**20} MiB; "
                                    "that is not a chat reply", code="propose.bad_reply",
                                    server=self.endpoint.display, status=response.status)
            return response.status, response.headers, raw
        except (OSError, http.client.HTTPException):
            if expired.is_set():
                raise _Deadline() from None
            raise
        finally:
            watchdog.cancel()
            conn.close()

    def _connection(self, connect_timeout: float) -> http.client.HTTPConnection:
        e = self.endpoint
        proxy = None if e.host in _LOOPBACK or urllib.request.proxy_bypass(e.host) \
            else urllib.request.getproxies().get(e.scheme)
        host, port = e.host, e.port
        if proxy:
            p = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
            host, port = p.hostname, p.port or 80
        if e.scheme == "http":
            return http.client.HTTPConnection(host, port, timeout=connect_timeout)
        conn = http.client.HTTPSConnection(host, port, timeout=connect_timeout, context=ssl.create_default_context())
        if proxy:  # CONNECT through the proxy, then TLS to the server
            conn.set_tunnel(e.host, e.port)
        return conn

    def _request_target(self, route: str, conn: http.client.HTTPConnection) -> str:
        path = self.endpoint.target(route)
        if conn.host != self.endpoint.host and self.endpoint.scheme == "http":  # a plain-HTTP proxy
            return f"http://{self.endpoint.host}:{self.endpoint.port}{path}"
        return path

    def _json(self, raw: bytes) -> dict:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ProposerError(f"the server at {self.url} did not answer with JSON "
                                f"({self._scrub(raw[:120].decode('utf-8', 'replace'))!r}); is it an "
                                f"OpenAI-compatible /v1 endpoint?", code="propose.bad_reply",
                                server=self.endpoint.display) from None
        if not isinstance(data, dict):
            raise ProposerError(f"the server at {self.url} answered {type(data).__name__}, not an object",
                                code="propose.bad_reply", server=self.endpoint.display)
        return data

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        s = self.settings
        wait = s.backoff_s * (2 ** attempt)
        hinted = _seconds(retry_after)
        if hinted is not None:
            wait = max(wait, hinted)
        time.sleep(min(wait, s.max_backoff_s))

    def _silent(self, deadline_s: float, what: str) -> ProposerError:
        return ProposerError(f"the server at {self.endpoint.display} did not finish answering {what} within "
                             f"{deadline_s:g} s; check that it is not stuck, or raise the deadline "
                             "(#timeout=300 for long generations, #probe_timeout=30 for a slow start)",
                             code="propose.timeout", server=self.endpoint.display)

    def _transport_error(self, exc: Exception) -> ProposerError:
        reason = getattr(exc, "reason", exc)
        tries = self.settings.retries + 1
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return ProposerError(f"could not connect to {self.endpoint.display} within "
                                 f"{self.settings.connect_timeout_s:g} s ({tries} tries); check the host and "
                                 "port, or raise #connect_timeout=", code="propose.timeout",
                                 server=self.endpoint.display)
        return ProposerError(f"nothing answers at {self.url} ({self._scrub(str(reason))}; {tries} tries); start "
                             f"the server (e.g. `vllm serve MODEL` or `llama-server`) or fix the URL in "
                             f"openai:<model>@<base_url>", code="propose.server_down", server=self.endpoint.display)

    def _scrub(self, text: str) -> str:
        return redact(text.replace(self._key, "***") if self._key else text)


def _key_from_env(names) -> str | None:
    return next((os.environ[n] for n in names if os.environ.get(n)), None)


def _seconds(retry_after: str | None) -> float | None:
    if not retry_after:
        return None
    try:
        return max(float(retry_after), 0.0)
    except ValueError:
        when = email.utils.parsedate_to_datetime(retry_after)
        return max(when.timestamp() - time.time(), 0.0) if when else None


def _http_error(status: int, detail: str, url: str, settings: ChatSettings, server: str) -> ProposerError:
    hint = {401: f"set the API key in {' or '.join(settings.api_key_env)}",
            403: f"the key in {' or '.join(settings.api_key_env)} is not allowed to use this model",
            404: f"check the base URL (usually ends in /v1) and the model name {settings.model!r}",
            429: "the server is rate limiting: wait, or lower the number of proposals"}.get(status, "")
    if status in (400, 422) and settings.grammar_mode != "none":
        hint = f"if the server does not accept grammar_mode={settings.grammar_mode}, use #grammar=none"
    text = f"the server at {url} answered HTTP {status}: {detail.strip()[:200]}"
    return ProposerError(text + (f"; {hint}" if hint else ""), code="propose.http_error", server=server,
                         status=status)


def _reply(data: dict, url: str, server: str) -> Reply:
    try:
        message = data["choices"][0]["message"]
        text = message.get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProposerError(f"the reply from {url} has no choices[0].message.content; is it an OpenAI-"
                            f"compatible chat endpoint?", code="propose.bad_reply", server=server) from None
    usage = data.get("usage") or {}
    completion = usage.get("completion_tokens")
    return Reply(text, int(completion) if completion is not None else _estimate_tokens(text),
                 int(usage.get("prompt_tokens") or 0))


def _estimate_tokens(text: str) -> int:
    return (len(text) + 3) // 4  # the usual ~4 characters per token, when the server gives no usage


# ---- the proposer -------------------------------------------------------------------------------

NO_PROGRAM = {"code": "propose.no_program", "predicate": "phi1", "line": 0, "column": 0, "severity": "error",
              "message": "the reply holds no Stan program; put the whole program between ```stan and ```"}


class OpenAIProposer:
    """Generate -> check -> repair against an OpenAI-compatible server."""

    def __init__(self, settings: ChatSettings, client: ChatClient | None = None):
        self.settings = settings
        self.client = client or ChatClient(settings)
        self.name = f"openai:{settings.model}@{self.client.endpoint.display}"

    def propose(self, task, *, context: str | None = None, block: str = "program", n: int = 1,
                seed: int = 0) -> list[Proposal]:
        if block not in BLOCKS:
            raise ProposerError(f"unknown block {block!r}; ask for one of {', '.join(BLOCKS)}",
                                code="propose.bad_block")
        data = dict(task.dataset.values)
        prompt = build_prompt(task, context=context, block=block, fenced=self.settings.grammar_mode == "none")
        proposals, spent = [], 0
        for i in range(n):
            if self.settings.token_budget is not None and spent >= self.settings.token_budget:
                break
            proposal = self._one(prompt.messages(), data, context, block, _seed(seed, i), spent)
            spent += proposal.accounting.tokens_generated
            proposals.append(proposal)
        if not proposals:
            raise ProposerError(f"the token budget ({self.settings.token_budget}) was spent before any program "
                                f"was written; raise #budget=", code="propose.budget_exhausted")
        return proposals

    def _one(self, messages: list[dict], data: dict, context: str | None, block: str, seed: int,
             spent: int) -> Proposal:
        start, generated, discarded = time.perf_counter(), 0, 0
        text, diagnostics, tries = "", (NO_PROGRAM,), 0
        budget = self.settings.token_budget
        for tries in range(1, self.settings.max_tries + 1):
            reply = self.client.complete(messages, seed=seed + tries - 1, extra=self._grammar())
            generated += reply.completion_tokens
            program = extract_program(reply.text)
            if program is not None:
                text = splice(context, block, program)
                result = check(text, data=data)
                diagnostics = tuple(d.to_dict() for d in result.diagnostics)
                if result.valid:
                    return self._proposal(text, True, block, diagnostics, generated, discarded, tries, start)
            else:
                diagnostics = (NO_PROGRAM,)
            discarded += reply.completion_tokens
            if budget is not None and spent + generated >= budget:
                break
            messages = messages + [{"role": "assistant", "content": reply.text},
                                   {"role": "user", "content": repair_message(diagnostics)}]
        return self._proposal(text, False, block, diagnostics, generated, discarded, tries, start)

    def _proposal(self, text, valid, block, diagnostics, generated, discarded, tries, start) -> Proposal:
        accounting = Accounting(generated, discarded, tries, time.perf_counter() - start)
        return Proposal(text, valid, block, accounting, diagnostics, self.name)

    def _grammar(self) -> dict:
        mode = self.settings.grammar_mode
        if mode == "none":
            return {}
        from ..lang import grammar_text

        if mode == "vllm":
            return {"structured_outputs": {"grammar": grammar_text()}}
        if mode == "vllm-legacy":
            return {"guided_grammar": grammar_text()}
        from .gbnf import stan_gbnf

        return {"grammar": stan_gbnf()}


def _seed(seed: int, i: int) -> int:
    # distinct per proposal, stable across runs, inside the int32 range servers accept
    return (seed * 1_000_003 + i * 1_009) % (2 ** 31 - 1)
