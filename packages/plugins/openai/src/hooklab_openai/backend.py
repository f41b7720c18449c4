"""The ``openai`` backend: the official async ``openai`` client against OpenAI or any
OpenAI-compatible server (vLLM, Ollama, llama.cpp server...) through ``base_url``.

The API key is read from an environment variable (``OPENAI_API_KEY`` unless ``api_key_env`` names
another) and is never printed, logged, saved in a journal or put into an error message. A server
on the loopback interface (a local vLLM/Ollama/llama.cpp) needs no key.

Example::

    import hooklab
    from hooklab.llm import LLMRequest
    backend = hooklab.get("backend", "openai", model="gpt-4o-mini")
    answer = backend.complete_sync(LLMRequest.chat("Reply with {\\"ok\\": true}", json_mode=True))
    answer.parsed, answer.usage

The client's own retries are off (``max_retries=0``): :class:`hooklab.llm.BatchRunner` retries
with backoff, ``Retry-After`` and accounting. Transient failures (429, 5xx, 408/409, timeouts,
connection errors, a malformed or truncated body) raise
:class:`~hooklab.llm.RetryableBackendError`; others (401, 400, 404...) a
:class:`~hooklab.errors.BackendError`.
"""

from __future__ import annotations

import email.utils
import json
import os
import time
from typing import Any
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field

from hooklab.errors import BackendError
from hooklab.llm import (
    LLMBackend,
    LLMRequest,
    LLMResponse,
    RetryableBackendError,
    Usage,
    finish_response,
)

_LOOPBACK = {"127.0.0.1", "localhost", "::1", "0.0.0.0"}


class OpenAIConfig(BaseModel):
    """Options of the ``openai`` backend."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field("gpt-4o-mini", description="default model of requests that name none")
    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1 (vLLM)")
    api_key_env: str = Field("OPENAI_API_KEY", description="environment variable holding the key")
    timeout: float = Field(120.0, gt=0, description="seconds before one request times out")
    max_tokens_param: str = Field(
        "max_tokens", pattern="^(max_tokens|max_completion_tokens)$",
        description="request field for max_tokens (newer OpenAI models want max_completion_tokens)")
    extra_body: dict[str, Any] = Field(default_factory=dict,
                                       description="extra request fields for the server")


def _retry_after(headers: Any) -> float | None:
    """Seconds from ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(value) if value else None
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def _error_message(body: Any, fallback: str) -> str:
    if isinstance(body, dict):
        inner = body["error"] if isinstance(body.get("error"), dict) else body
        if inner.get("message"):
            return " ".join(str(inner["message"]).split())[:300]
    return fallback


_CREATE_ARGS = {"model", "messages", "temperature", "max_tokens", "max_completion_tokens", "seed",
                "response_format"}


def _httpx_response_class(openai: Any) -> Any:
    """The ``Response`` class of the httpx package the openai client uses (``httpx`` or a fork),
    or ``None``."""
    import importlib

    try:
        base = next(c for c in openai.DefaultAsyncHttpxClient.__mro__[1:] if c.__name__ == "AsyncClient")
        return importlib.import_module(base.__module__.split(".")[0]).Response
    except (AttributeError, StopIteration, ImportError):
        return None


class OpenAIBackend(LLMBackend):
    """Chat completions through ``openai.AsyncOpenAI``.

    Raises:
        BackendError: at construction when the API key variable is unset and the server is not on
            the loopback interface.
    """

    name = "openai"

    def __init__(self, config: OpenAIConfig | None = None, **options: Any) -> None:
        from hooklab.config import validate

        self.config = validate(OpenAIConfig, config if config is not None else options,
                               where="openai backend")
        self.model = self.config.model
        self.base_url = self.config.base_url or os.environ.get("OPENAI_BASE_URL")
        key = os.environ.get(self.config.api_key_env)
        if not key:
            host = urlparse(self.base_url).hostname if self.base_url else None
            if host not in _LOOPBACK:
                raise BackendError(
                    f"no API key: set the environment variable {self.config.api_key_env} "
                    f"(or api_key_env=NAME to read another one)")
            key = "no-key-needed"
        self._key = key
        self._client: Any = None
        self._response_cls: Any = None
        self._client_loop: Any = None

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAIBackend(model={self.model!r}, base_url={self.base_url!r})"

    def _get_client(self) -> Any:
        import asyncio

        try:
            loop: Any = asyncio.get_running_loop()
        except RuntimeError:  # set-up outside a loop (benchmarks warm the client this way)
            loop = None
        if self._client is not None and loop is not None and self._client_loop not in (None, loop):
            # the client's connections belong to an event loop that has finished (a second
            # asyncio.run): start a fresh client rather than fail with "Event loop is closed"
            self._client = None
        if self._client is None:
            self._client_loop = loop
            try:
                import openai
            except ImportError as exc:  # pragma: no cover - openai is a dependency
                raise BackendError("the openai backend needs the openai package: "
                                   "pip install hooklab-openai") from exc
            self._client = openai.AsyncOpenAI(api_key=self._key, base_url=self.base_url,
                                              max_retries=0, timeout=self.config.timeout)
            self._response_cls = _httpx_response_class(openai)
        return self._client

    def request_body(self, request: LLMRequest) -> dict[str, Any]:
        """The keyword arguments of ``chat.completions.create`` for ``request``."""
        body: dict[str, Any] = {"model": self.model_for(request), "messages": request.messages}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body[self.config.max_tokens_param] = request.max_tokens
        if request.seed is not None:
            body["seed"] = request.seed
        if request.json_schema is not None:
            body["response_format"] = {"type": "json_schema", "json_schema": {
                "name": str(request.json_schema.get("title", "response")), "schema": request.json_schema}}
        elif request.json_mode:
            body["response_format"] = {"type": "json_object"}
        body.update(self.config.extra_body)
        return body

    async def complete(self, request: LLMRequest) -> LLMResponse:
        import openai

        client = self._get_client()
        t0 = time.perf_counter()
        try:
            body = self.request_body(request)
            if self._response_cls is not None:
                # the client's own transport, auth, timeouts and error classes, without the
                # per-request TypedDict transformation of `create` (about 1 ms of CPU each)
                http = await client.post("/chat/completions", body=body, cast_to=self._response_cls)
                text = http.text
            else:  # pragma: no cover - an openai release without a usable httpx class
                extra = {k: body.pop(k) for k in list(body) if k not in _CREATE_ARGS}
                raw = await client.chat.completions.with_raw_response.create(**body, extra_body=extra or None)
                text = raw.http_response.text
        except openai.APITimeoutError as exc:
            raise RetryableBackendError(f"request timed out after {self.config.timeout:g}s",
                                        kind="timeout") from exc
        except openai.APIConnectionError as exc:
            raise RetryableBackendError(f"connection failed: {exc}", kind="connection") from exc
        except openai.APIStatusError as exc:
            status = exc.status_code
            text = exc.response.text if exc.response is not None else None
            msg = _error_message(exc.body, str(exc))
            if status == 429:
                raise RetryableBackendError(f"HTTP 429 rate limited: {msg}",
                                            retry_after=_retry_after(exc.response.headers), raw=text,
                                            kind="rate_limit") from exc
            if status >= 500 or status in (408, 409):
                raise RetryableBackendError(f"HTTP {status}: {msg}",
                                            retry_after=_retry_after(exc.response.headers), raw=text,
                                            kind="server_error") from exc
            hint = {401: "check the API key variable", 404: "check the model name and base_url",
                    400: "check the request parameters"}.get(status, "see the server's message")
            err = BackendError(f"HTTP {status} from {self.base_url or 'api.openai.com'}: {msg} ({hint})")
            err.raw = text  # type: ignore[attr-defined]
            raise err from exc
        try:
            data = json.loads(text)
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
        except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError) as exc:
            raise RetryableBackendError("malformed response body (not a chat completion)",
                                        raw=text[:20000], kind="malformed") from exc
        usage = data.get("usage") or {}
        response = LLMResponse(
            text=content,
            model=data.get("model") or self.model_for(request),
            usage=Usage(int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)),
            finish_reason=choice.get("finish_reason"),
            raw=data,
            latency_s=time.perf_counter() - t0,
        )
        return finish_response(request, response)

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()
