"""The `openai:<model>@<base_url>` proposer: any OpenAI-compatible chat server (vLLM, llama.cpp
server, Ollama, hosted APIs), over the standard library's HTTP client.

Per proposal: send the prompt; read the program out of the reply; fit it into the context (for a
prior/likelihood rewrite); check it against the data; on errors send the checker's messages back
and try again, at most `max_tries` rounds. Where the server accepts a grammar it is sent too
(`grammar_mode`): vLLM's `structured_outputs: {"grammar": <Lark>}` (guidance backend), the pre-0.12
`guided_grammar` field, or llama.cpp's `grammar` (GBNF converted from the same Lark file).

Transport failures are retried with exponential backoff (429, 5xx, refused or dropped
connections, timeouts), a bounded number of times, then raised as ProposerError with a stable
code: propose.server_down, propose.timeout, propose.http_error, propose.bad_reply,
propose.budget_exhausted. The API key comes from an environment variable and is sent only as a
Bearer header; it never appears in a message.

Options can follow the URL after '#': `openai:qwen@http://127.0.0.1:8000/v1#grammar=vllm,temperature=0.3`
(the fragment is never sent to the server).
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from ..errors import ProposerError
from ..lang import check
from .base import BLOCKS, Accounting, Proposal
from .prompt import build_prompt, extract_program, repair_message, splice

API_KEY_ENVS = ("BOXLOOP_API_KEY", "OPENAI_API_KEY")
GRAMMAR_MODES = ("none", "vllm", "vllm-legacy", "llamacpp")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
DEFAULT_URL = "https://api.openai.com/v1"
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class ChatSettings:
    """Everything about talking to one server except the key (which stays out of reprs)."""

    model: str
    base_url: str = DEFAULT_URL
    temperature: float = 0.7
    top_p: float = 0.95
    max_tokens: int = 1500
    timeout_s: float = 120.0  # per HTTP request
    retries: int = 3  # extra attempts after a retryable failure
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


_OPTIONS = {"grammar_mode": str, "temperature": float, "top_p": float, "max_tokens": int, "timeout_s": float,
            "retries": int, "backoff_s": float, "max_backoff_s": float, "max_tries": int, "token_budget": int}
_OPTION_ALIASES = {"grammar": "grammar_mode", "timeout": "timeout_s", "tries": "max_tries", "budget": "token_budget"}


def parse_spec(spec: str, **overrides) -> ChatSettings:
    """`openai:<model>[@<base_url>][#key=value,...]` -> ChatSettings (keyword overrides win)."""
    body = spec.split(":", 1)[1] if spec.startswith("openai:") else spec
    body, _, fragment = body.partition("#")
    at = body.rfind("@http")
    model, url = (body[:at], body[at + 1:]) if at >= 0 else (body, os.environ.get("OPENAI_BASE_URL", DEFAULT_URL))
    if not model:
        raise ProposerError(f"proposer {spec!r} names no model; write openai:<model>@<base_url>",
                            code="propose.bad_spec")
    options = dict(_option(item, spec) for item in fragment.split(",") if item.strip())
    return ChatSettings(model=model, base_url=url.rstrip("/"), **{**options, **overrides})


def _option(item: str, spec: str) -> tuple[str, object]:
    key, _, value = item.partition("=")
    key = _OPTION_ALIASES.get(key.strip(), key.strip())
    if key not in _OPTIONS:
        raise ProposerError(f"unknown option {key!r} in {spec!r}; known: grammar, temperature, top_p, "
                            f"max_tokens, timeout, retries, tries, budget", code="propose.bad_spec")
    try:
        return key, _OPTIONS[key](value.strip())
    except ValueError:
        raise ProposerError(f"option {key}={value!r} in {spec!r} is not a number", code="propose.bad_spec") from None


# ---- HTTP ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reply:
    text: str
    completion_tokens: int
    prompt_tokens: int


class ChatClient:
    """POST {base_url}/chat/completions with retries; knows nothing about programs."""

    def __init__(self, settings: ChatSettings, api_key: str | None = None):
        self.settings = settings
        self._key = api_key if api_key is not None else _key_from_env(settings.api_key_env)
        host = urllib.parse.urlsplit(settings.base_url).hostname or ""
        # loopback servers are reached directly even when a proxy is configured
        handlers = [urllib.request.ProxyHandler({})] if host in _LOOPBACK else []
        self._opener = urllib.request.build_opener(*handlers)

    def __repr__(self) -> str:
        return f"ChatClient({self.settings.base_url!r}, model={self.settings.model!r})"

    @property
    def url(self) -> str:
        return f"{self.settings.base_url}/chat/completions"

    def complete(self, messages: list[dict], *, seed: int, extra: dict | None = None) -> Reply:
        s = self.settings
        payload = {"model": s.model, "messages": messages, "temperature": s.temperature, "top_p": s.top_p,
                   "seed": seed, "n": 1, "max_tokens": s.max_tokens, **(extra or {})}
        return _reply(self._post(payload), self.url)

    def _post(self, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        for attempt in range(self.settings.retries + 1):
            last = attempt == self.settings.retries
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with self._opener.open(request, timeout=self.settings.timeout_s) as response:
                    raw = response.read()
                return self._json(raw)
            except urllib.error.HTTPError as exc:
                detail = self._scrub(exc.read()[:400].decode("utf-8", "replace"))
                if exc.code not in RETRYABLE_STATUS or last:
                    raise _http_error(exc.code, detail, self.url, self.settings) from None
                self._wait(attempt, exc.headers.get("Retry-After"))
            except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
                if last:
                    raise self._transport_error(exc) from None
                self._wait(attempt, None)
        raise AssertionError("unreachable")

    def _json(self, raw: bytes) -> dict:
        try:
            data = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise ProposerError(f"the server at {self.url} did not answer with JSON "
                                f"({self._scrub(raw[:120].decode('utf-8', 'replace'))!r}); is it an "
                                f"OpenAI-compatible /v1 endpoint?", code="propose.bad_reply") from None
        if not isinstance(data, dict):
            raise ProposerError(f"the server at {self.url} answered {type(data).__name__}, not an object",
                                code="propose.bad_reply")
        return data

    def _wait(self, attempt: int, retry_after: str | None) -> None:
        s = self.settings
        wait = s.backoff_s * (2 ** attempt)
        hinted = _seconds(retry_after)
        if hinted is not None:
            wait = max(wait, hinted)
        time.sleep(min(wait, s.max_backoff_s))

    def _transport_error(self, exc: Exception) -> ProposerError:
        reason = getattr(exc, "reason", exc)
        tries = self.settings.retries + 1
        if isinstance(reason, (TimeoutError, socket.timeout)):
            return ProposerError(f"the server at {self.url} did not answer within {self.settings.timeout_s:g} s "
                                 f"({tries} tries); raise timeout (#timeout=300) or use a smaller max_tokens",
                                 code="propose.timeout")
        return ProposerError(f"nothing answers at {self.url} ({self._scrub(str(reason))}; {tries} tries); start "
                             f"the server (e.g. `vllm serve MODEL` or `llama-server`) or fix the URL in "
                             f"openai:<model>@<base_url>", code="propose.server_down")

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


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


def _http_error(status: int, detail: str, url: str, settings: ChatSettings) -> ProposerError:
    hint = {401: f"set the API key in {' or '.join(settings.api_key_env)}",
            403: f"the key in {' or '.join(settings.api_key_env)} is not allowed to use this model",
            404: f"check the base URL (usually ends in /v1) and the model name {settings.model!r}",
            429: "the server is rate limiting: wait, or lower the number of proposals"}.get(status, "")
    if status in (400, 422) and settings.grammar_mode != "none":
        hint = f"if the server does not accept grammar_mode={settings.grammar_mode}, use #grammar=none"
    text = f"the server at {url} answered HTTP {status}: {detail.strip()[:200]}"
    return ProposerError(text + (f"; {hint}" if hint else ""), code="propose.http_error")


def _reply(data: dict, url: str) -> Reply:
    try:
        message = data["choices"][0]["message"]
        text = message.get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError):
        raise ProposerError(f"the reply from {url} has no choices[0].message.content; is it an OpenAI-"
                            f"compatible chat endpoint?", code="propose.bad_reply") from None
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
        self.name = f"openai:{settings.model}@{settings.base_url}"

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
