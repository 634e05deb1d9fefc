"""A scripted OpenAI-compatible chat server on 127.0.0.1 for fault-injection tests.

`ChatServer(mode)` serves in a thread; its mode says how it misbehaves:
    "ok"       POST /chat/completions answers with the next program of `programs`
    "status"   POST answers HTTP `status` (503 by default)
    "trickle"  POST answers one byte every `gap_s` seconds (at most 200 bytes)
    "hang"     every request is accepted and never answered
GET /models answers 200, except in "hang" mode. Every request is recorded (path, headers). Each
server stops by itself when the test closes it; nothing it does is unbounded.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_HANG_S = 30.0  # a hanging handler gives up after this long, or as soon as the server closes


def chat_reply(text: str) -> bytes:
    return json.dumps({"choices": [{"index": 0, "message": {"role": "assistant", "content": f"```stan\n{text}```"}}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 20}}).encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self._record()
        if self.server.mode == "hang":
            return self._hang()
        self._send(200, b'{"object": "list", "data": []}')

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self._record(body)
        srv = self.server
        if srv.mode == "hang":
            return self._hang()
        if srv.mode == "status":
            return self._send(srv.status, b'{"error": {"message": "the model is overloaded"}}')
        if srv.mode == "trickle":
            return self._trickle(chat_reply(srv.programs[0]))
        with srv.lock:
            text = srv.programs[srv.served % len(srv.programs)]
            srv.served += 1
        self._send(200, chat_reply(text))

    def _record(self, body: bytes = b""):
        with self.server.lock:
            self.server.requests.append({"method": self.command, "path": self.path, "headers": dict(self.headers),
                                         "body": body.decode("utf-8", "replace")})

    def _send(self, status: int, payload: bytes):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _trickle(self, payload: bytes):
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
                .encode())
        for byte in (head + payload)[:200]:
            if self.server.closing.wait(self.server.gap_s):
                return
            try:
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
            except OSError:
                return  # the client gave up, as it should

    def _hang(self):
        self.server.closing.wait(_HANG_S)
        self.close_connection = True

    def log_message(self, *args):
        pass


class ChatServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str = "ok", *, programs=("",), status: int = 503, gap_s: float = 2.0, port: int = 0):
        super().__init__(("127.0.0.1", port), _Handler)
        self.mode, self.programs, self.status, self.gap_s = mode, list(programs), status, gap_s
        self.requests: list[dict] = []
        self.served = 0
        self.lock = threading.Lock()
        self.closing = threading.Event()
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return self.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def posts(self) -> list[dict]:
        return [r for r in self.requests if r["method"] == "POST"]

    def handle_error(self, request, client_address):
        pass  # clients that give up mid-reply are what these tests are about

    def close(self):
        self.closing.set()
        self.shutdown()
        self.server_close()
        self._thread.join(5)


def free_port() -> int:
    """A loopback port nothing listens on (bound, then closed again)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def elapsed(fn, *args, **kwargs):
    """(seconds, exception or result) of fn(*args)."""
    start = time.monotonic()
    try:
        out = fn(*args, **kwargs)
    except Exception as err:  # noqa: BLE001 - the tests inspect it
        out = err
    return time.monotonic() - start, out
