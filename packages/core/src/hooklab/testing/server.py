"""A scripted OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks enough of the API for the official ``openai`` client: ``POST /v1/chat/completions`` and
``GET /v1/models``. What it answers is scripted per request: text, latency, and faults (429 with
``Retry-After``, 500, a reply slower than the client's timeout, malformed or truncated JSON).

Example::

    from hooklab.testing import ScriptedOpenAIServer, Reply
    with ScriptedOpenAIServer(script=[Reply.rate_limited(retry_after=0.1), "hello"]) as srv:
        client = openai.OpenAI(base_url=srv.base_url, api_key="test")
        client.chat.completions.create(model="scripted", messages=[...])  # retried, then "hello"
        assert len(srv.requests) == 2

A ``responder(request: dict, index: int) -> Reply | str`` decides dynamically (e.g. a biased
judge); a ``script`` is consumed first, then the responder (or ``default``) answers.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def count_tokens(text: str) -> int:
    """The server's token count: whitespace-separated words (deterministic, cheap)."""
    return len(text.split())


@dataclass
class Reply:
    """One scripted answer. ``content`` is the assistant text; ``body`` (raw) overrides all."""

    content: str | None = "ok"
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | str | None = None
    finish_reason: str = "stop"

    @classmethod
    def text(cls, content: str, delay: float = 0.0) -> Reply:
        return cls(content=content, delay=delay)

    @classmethod
    def json(cls, obj: Any, delay: float = 0.0) -> Reply:
        """The assistant message is ``obj`` serialized as JSON."""
        return cls(content=json.dumps(obj), delay=delay)

    @classmethod
    def rate_limited(cls, retry_after: float | None = 1.0, delay: float = 0.0) -> Reply:
        """HTTP 429 with a ``Retry-After`` header (seconds)."""
        headers = {"Retry-After": f"{retry_after:g}"} if retry_after is not None else {}
        err = {"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}}
        return cls(content=None, status=429, headers=headers, body=json.dumps(err), delay=delay)

    @classmethod
    def server_error(cls, status: int = 500, delay: float = 0.0) -> Reply:
        err = {"error": {"message": "internal server error", "type": "server_error"}}
        return cls(content=None, status=status, body=json.dumps(err), delay=delay)

    @classmethod
    def timeout(cls, seconds: float = 30.0) -> Reply:
        """Answer only after ``seconds``: longer than the client's timeout, so it times out."""
        return cls(content="too late", delay=seconds)

    @classmethod
    def malformed(cls) -> Reply:
        """HTTP 200 whose body is not JSON at all."""
        return cls(content=None, body=b"{this is not json")

    @classmethod
    def truncated(cls, content: str = "ok") -> Reply:
        """HTTP 200 whose JSON body is cut in the middle (a dropped connection)."""
        full = json.dumps(_completion_body(content, "scripted", {"messages": []}, "stop"))
        return cls(content=None, body=full[: len(full) // 2])


def _completion_body(content: str, model: str, request: dict[str, Any], finish: str) -> dict[str, Any]:
    prompt = " ".join(
        m.get("content", "") if isinstance(m.get("content"), str) else json.dumps(m.get("content"))
        for m in request.get("messages", [])
    )
    pt, ct = count_tokens(prompt), count_tokens(content)
    return {
        "id": f"chatcmpl-{time.monotonic_ns()}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "finish_reason": finish,
                     "message": {"role": "assistant", "content": content}, "logprobs": None}],
        "usage": {"prompt_tokens": pt, "completion_tokens": ct, "total_tokens": pt + ct},
    }


Responder = Callable[[dict[str, Any], int], "Reply | str"]


class ScriptedOpenAIServer:
    """An OpenAI-compatible server on 127.0.0.1 whose answers a test scripts.

    Attributes:
        base_url: ``http://127.0.0.1:PORT/v1`` (give it to ``openai.OpenAI(base_url=...)``).
        requests: the JSON bodies of every chat request received, in arrival order.
    """

    def __init__(
        self,
        *,
        script: list[Reply | str] | None = None,
        responder: Responder | None = None,
        default: Reply | str = "ok",
        models: tuple[str, ...] = ("scripted",),
        port: int = 0,
    ) -> None:
        self._script: deque[Reply | str] = deque(script or [])
        self.responder = responder
        self.default = default
        self.models = models
        self.requests: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._port = port
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting ----------------------------------------------------------------------------
    def push(self, *replies: Reply | str) -> None:
        """Queue replies: the next requests get them in order."""
        with self._lock:
            self._script.extend(replies)

    def _next_reply(self, request: dict[str, Any]) -> tuple[Reply, int]:
        with self._lock:
            index = len(self.requests)
            self.requests.append(request)
            scripted = self._script.popleft() if self._script else None
        reply: Reply | str
        if scripted is not None:
            reply = scripted
        elif self.responder is not None:
            reply = self.responder(request, index)
        else:
            reply = self.default
        return (Reply(content=reply) if isinstance(reply, str) else reply), index

    # -- lifecycle ----------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("server not started; use it as a context manager or call start()")
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def start(self) -> ScriptedOpenAIServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: with Nagle's algorithm on, the body waits for
            # the client's delayed ACK (~40 ms per request on Linux). Real servers set TCP_NODELAY.
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: Any) -> None:  # silence per-request logs
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                try:
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    data = [{"id": m, "object": "model", "created": 0, "owned_by": "hooklab"} for m in server.models]
                    self._send(200, json.dumps({"object": "list", "data": data}).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, b'{"error": {"message": "not found"}}')
                    return
                try:
                    request = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, b'{"error": {"message": "request body is not JSON"}}')
                    return
                with server._lock:
                    server.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                reply, _ = server._next_reply(request)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.body is not None:
                    body = reply.body.encode() if isinstance(reply.body, str) else reply.body
                else:
                    payload = _completion_body(reply.content or "", request.get("model", "scripted"),
                                               request, reply.finish_reason)
                    body = json.dumps(payload).encode()
                self._send(reply.status, body, reply.headers)

        class Server(ThreadingHTTPServer):
            request_queue_size = 256  # many clients connect at once (concurrency tests, benchmarks)

        self._httpd = Server(("127.0.0.1", self._port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> ScriptedOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
