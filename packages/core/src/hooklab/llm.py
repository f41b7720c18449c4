"""The LLM backend interface: requests, responses, the batch runner and the run journal.

Backends (``hooklab-openai``, ``hooklab-local``, your own) implement :class:`LLMBackend`: one
``async complete(request) -> LLMResponse``. Everything that makes a batch job robust lives here,
once, for every backend:

* :class:`BatchRunner` — bounded concurrency, a requests- and tokens-per-minute limiter, retries
  with exponential backoff and jitter on :class:`RetryableBackendError` (429, 5xx, timeouts,
  dropped connections, malformed bodies) honouring ``Retry-After``, and usage and cost accounting
  from a price table.
* :class:`Journal` — a SQLite file keyed by :func:`request_key` (a hash of backend, model, messages
  and parameters). Every finished request is committed as it finishes; a rerun with the same
  journal skips what is done, so a job killed with SIGKILL makes no duplicate requests.

Example::

    import hooklab
    from hooklab.llm import BatchRunner, Journal, LLMRequest, RunnerConfig

    backend = hooklab.get("backend", "openai", model="gpt-4o-mini")
    requests = [LLMRequest.chat(f"Say {i} in JSON", json_mode=True) for i in range(100)]
    runner = BatchRunner(backend, RunnerConfig(concurrency=16, rpm=500), journal=Journal("run.db"))
    results = runner.run(requests)          # in input order; results[i].response.parsed
    print(runner.stats.summary())           # requests, retries, tokens, cost, failures

Why SQLite for the journal and not JSONL: a commit is atomic, so a SIGKILL can never leave a torn
record behind; lookups by key are indexed; several processes may read while one writes (WAL); and
it is in the standard library. A JSONL file would need torn-line repair and a full scan per run.

Importing this module imports neither torch nor openai.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hooklab.errors import BackendError, ConfigError

__all__ = [
    "BatchRunner",
    "Journal",
    "LLMBackend",
    "LLMRequest",
    "LLMResponse",
    "Price",
    "RateLimiter",
    "RequestResult",
    "RetryableBackendError",
    "RunStats",
    "RunnerConfig",
    "Usage",
    "estimate_tokens",
    "extract_json",
    "request_key",
]


# -- errors ------------------------------------------------------------------------------------
class RetryableBackendError(BackendError):
    """A transient backend failure worth retrying: HTTP 429 or 5xx, a timeout, a dropped
    connection, a malformed or truncated response body.

    Attributes:
        retry_after: seconds the server asked us to wait (``Retry-After``), or ``None``.
        raw: the raw response text, when there was one (kept for the failure report).
        kind: a short tag (``"rate_limit"``, ``"server_error"``, ``"timeout"``, ``"connection"``,
            ``"malformed"``) used in the run statistics.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, raw: str | None = None,
                 kind: str = "transient") -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.raw = raw
        self.kind = kind


# -- requests and responses --------------------------------------------------------------------
@dataclass
class LLMRequest:
    """One chat completion request.

    ``messages`` are ``{"role": ..., "content": ...}`` dicts. ``json_mode`` asks for a JSON object;
    ``json_schema`` (a JSON Schema dict) asks for structured output where the backend supports it
    and implies ``json_mode``. ``model=None`` means the backend's default model. ``id`` and
    ``metadata`` are yours (carried through to the result) and are not part of the journal key.
    """

    messages: list[dict[str, str]]
    model: str | None = None
    json_mode: bool = False
    json_schema: dict[str, Any] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def chat(cls, prompt: str, *, system: str | None = None, **kwargs: Any) -> LLMRequest:
        """A request of one user message (and an optional system message)."""
        messages = [{"role": "system", "content": system}] if system else []
        messages.append({"role": "user", "content": prompt})
        return cls(messages=messages, **kwargs)

    @property
    def wants_json(self) -> bool:
        return self.json_mode or self.json_schema is not None

    def params(self) -> dict[str, Any]:
        """The generation parameters that change the answer (part of the journal key)."""
        return {"json_mode": self.json_mode, "json_schema": self.json_schema,
                "temperature": self.temperature, "max_tokens": self.max_tokens, "seed": self.seed}

    def to_dict(self) -> dict[str, Any]:
        # not dataclasses.asdict: it deep-copies, and this runs once per journaled request
        return {"messages": self.messages, "model": self.model, "json_mode": self.json_mode,
                "json_schema": self.json_schema, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "seed": self.seed, "id": self.id,
                "metadata": self.metadata}


@dataclass
class Usage:
    """Token usage of one or many requests."""

    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens)


@dataclass
class LLMResponse:
    """What a backend returns.

    ``parsed`` holds the decoded JSON when the request wanted JSON and the text held some (else
    ``None``), and ``parse_error`` says why it could not be decoded. ``raw`` is the backend's raw
    response as JSON-serializable data (the HTTP body for OpenAI-compatible servers).
    """

    text: str
    model: str = ""
    usage: Usage = field(default_factory=Usage)
    parsed: Any = None
    parse_error: str | None = None
    finish_reason: str | None = None
    raw: Any = None
    latency_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "model": self.model,
                "usage": {"prompt_tokens": self.usage.prompt_tokens,
                          "completion_tokens": self.usage.completion_tokens},
                "parsed": self.parsed, "parse_error": self.parse_error,
                "finish_reason": self.finish_reason, "raw": self.raw, "latency_s": self.latency_s}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LLMResponse:
        d = dict(d)
        d["usage"] = Usage(**(d.get("usage") or {}))
        return cls(**d)


def request_key(backend: str, model: str, request: LLMRequest) -> str:
    """The journal key: sha256 of backend name, model, messages and generation parameters."""
    payload = {"backend": backend, "model": model, "messages": request.messages,
               "params": request.params()}
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def estimate_tokens(request: LLMRequest) -> int:
    """A cheap upper-ish estimate of a request's tokens for the TPM limiter: prompt characters / 4
    plus ``max_tokens`` (or 256 when unset)."""
    chars = sum(len(m.get("content") or "") for m in request.messages)
    return chars // 4 + 1 + (request.max_tokens if request.max_tokens is not None else 256)


# -- JSON out of model text --------------------------------------------------------------------
_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def _close_open(text: str) -> str:
    """Close unterminated strings, arrays and objects and drop trailing commas (a truncated
    answer), the one repair :func:`extract_json` attempts."""
    stack: list[str] = []
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]" and stack:
            stack.pop()
    out = text + ('"' if in_str else "")
    out = re.sub(r",\s*$", "", out.rstrip())
    out = re.sub(r",\s*([}\]])", r"\1", out)
    for closer in reversed(stack):
        out = re.sub(r"[,:]\s*$", "", out.rstrip()) + closer
    return out


def extract_json(text: str, *, repair: bool = True) -> tuple[Any, str | None]:
    """Find the JSON value in a model's answer.

    Tries, in order: the whole text; a fenced ```json block; the span from the first ``{`` or
    ``[`` to the last matching bracket (prose around the JSON); and, with ``repair``, one repair
    of that span (trailing commas removed, unterminated strings/arrays/objects closed).

    Returns ``(value, None)`` on success or ``(None, reason)``; never raises.
    """
    if not text or not text.strip():
        return None, "empty answer"
    candidates = [text.strip()]
    candidates += [m.strip() for m in _FENCE.findall(text)]
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    span = ""
    if starts:
        start = min(starts)
        closer = "}" if text[start] == "{" else "]"
        end = text.rfind(closer)
        span = text[start:end + 1] if end > start else text[start:]
        candidates.append(span)
    first_error = ""
    for cand in candidates:
        try:
            return json.loads(cand), None
        except json.JSONDecodeError as exc:
            first_error = first_error or f"invalid JSON: {exc.msg} at char {exc.pos}"
    if repair and starts:
        start = min(starts)
        try:
            return json.loads(_close_open(text[start:])), None
        except json.JSONDecodeError:
            pass
        try:
            return json.loads(_close_open(span)), None
        except json.JSONDecodeError:
            pass
    return None, first_error or "no JSON object in the answer"


# -- the backend interface ---------------------------------------------------------------------
class LLMBackend(abc.ABC):
    """An asynchronous chat-completion backend.

    Subclasses set ``name`` (the registry name, part of the journal key) and ``model`` (the default
    model), and implement :meth:`complete`. Transient failures must be raised as
    :class:`RetryableBackendError` (the runner retries them); anything else as
    :class:`~hooklab.errors.BackendError` (recorded as a failure, not retried).
    """

    name: str = "backend"
    model: str = ""

    @abc.abstractmethod
    async def complete(self, request: LLMRequest) -> LLMResponse:
        """Run one request. Returns the response (with ``parsed`` filled for JSON requests)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook, nothing to close by default
        """Release connections, threads or models. Called by the runner at the end of a run."""

    def model_for(self, request: LLMRequest) -> str:
        """The model a request will use (its own or the backend's default)."""
        return request.model or self.model

    def key(self, request: LLMRequest) -> str:
        """The journal key of ``request`` on this backend (see :func:`request_key`)."""
        return request_key(self.name, self.model_for(request), request)

    def complete_sync(self, request: LLMRequest) -> LLMResponse:
        """Run one request from synchronous code (no retries; use :class:`BatchRunner` for those)."""

        async def _one() -> LLMResponse:
            try:
                return await self.complete(request)
            finally:
                await self.aclose()

        return asyncio.run(_one())


def finish_response(request: LLMRequest, response: LLMResponse, *, repair: bool = True) -> LLMResponse:
    """Fill ``parsed`` / ``parse_error`` of ``response`` when ``request`` wants JSON (for backends)."""
    if request.wants_json and response.parsed is None and response.parse_error is None:
        response.parsed, response.parse_error = extract_json(response.text, repair=repair)
    return response


# -- configuration, prices and statistics ------------------------------------------------------
class Price(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(extra="forbid")
    input: float = Field(0.0, ge=0, description="$ per 1M prompt tokens")
    output: float = Field(0.0, ge=0, description="$ per 1M completion tokens")

    def cost(self, usage: Usage) -> float:
        return (usage.prompt_tokens * self.input + usage.completion_tokens * self.output) / 1e6


class RunnerConfig(BaseModel):
    """How a :class:`BatchRunner` sends requests."""

    model_config = ConfigDict(extra="forbid")
    concurrency: int = Field(8, ge=1, description="requests in flight at once")
    rpm: float | None = Field(None, gt=0, description="requests per minute limit (None: no limit)")
    tpm: float | None = Field(None, gt=0, description="tokens per minute limit (None: no limit)")
    max_retries: int = Field(5, ge=0, description="retries of a transient failure per request")
    backoff_base: float = Field(0.5, ge=0, description="first retry delay, seconds (doubles)")
    backoff_max: float = Field(60.0, ge=0, description="longest retry delay, seconds")
    jitter: float = Field(0.5, ge=0, le=1, description="random extra delay, fraction of the delay")
    retry_after_max: float = Field(300.0, ge=0, description="cap on a server's Retry-After, seconds")
    prices: dict[str, Price] = Field(
        default_factory=dict,
        description="model name (or prefix) -> Price; the longest matching prefix wins")

    def price_for(self, model: str) -> Price | None:
        if model in self.prices:
            return self.prices[model]
        best = max((k for k in self.prices if model.startswith(k)), key=len, default=None)
        return self.prices[best] if best is not None else None


@dataclass
class Failure:
    """One request that failed for good, or whose answer did not parse, with its raw text."""

    key: str
    id: str | None
    error: str
    raw: str | None = None


@dataclass
class RunStats:
    """Counters of one :meth:`BatchRunner.run` (updated live; read them from a progress callback).

    ``sent`` counts HTTP-level attempts (retries included); ``done`` requests that returned a
    response in this run; ``skipped`` ones already in the journal; ``failed`` ones that failed
    for good. Tokens and cost are of this run's responses only.
    """

    total: int = 0
    sent: int = 0
    done: int = 0
    skipped: int = 0
    failed: int = 0
    retries: int = 0
    parse_failures: int = 0
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    errors_by_kind: dict[str, int] = field(default_factory=dict)
    failures: list[Failure] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    elapsed_s: float = 0.0

    @property
    def finished(self) -> int:
        return self.done + self.skipped + self.failed

    @property
    def rate(self) -> float:
        """Requests finished in this run per second."""
        el = self.elapsed_s or (time.monotonic() - self.started)
        return (self.done + self.failed) / el if el > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "sent": self.sent, "done": self.done, "skipped": self.skipped,
                "failed": self.failed, "retries": self.retries, "parse_failures": self.parse_failures,
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens, "cost_usd": round(self.cost, 6),
                "errors_by_kind": dict(self.errors_by_kind), "elapsed_s": round(self.elapsed_s, 3),
                "failures": [asdict(f) for f in self.failures]}

    def summary(self) -> str:
        """One line: finished/total, rate, errors, tokens, cost."""
        el = self.elapsed_s or (time.monotonic() - self.started)
        return (f"{self.finished}/{self.total} done ({self.skipped} from journal), "
                f"{self.rate:.1f} req/s, {self.failed} failed, {self.retries} retries, "
                f"{self.parse_failures} unparsed, tokens {self.usage.prompt_tokens} in / "
                f"{self.usage.completion_tokens} out, ${self.cost:.4f}, {el:.1f}s")


@dataclass
class RequestResult:
    """The outcome of one request of a batch. ``response`` is ``None`` when it failed for good
    (then ``error`` says why). ``from_journal`` is true when a previous run had finished it."""

    index: int
    key: str
    request: LLMRequest
    response: LLMResponse | None = None
    error: str | None = None
    attempts: int = 0
    from_journal: bool = False

    @property
    def ok(self) -> bool:
        return self.response is not None


# -- the rate limiter --------------------------------------------------------------------------
class RateLimiter:
    """Requests-per-minute and tokens-per-minute token buckets.

    Each bucket holds at most ``burst_s`` seconds' worth of its budget (default 1 s, so a minute's
    budget is never sent in one burst) and refills continuously. ``clock`` and ``sleep`` are
    injectable so the limiter can be tested without waiting.
    """

    def __init__(self, rpm: float | None = None, tpm: float | None = None, *, burst_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], Any] = asyncio.sleep) -> None:
        self.clock, self.sleep = clock, sleep
        self._buckets: list[list[float]] = []  # [rate per s, capacity, level, last]
        now = clock()
        for per_min in (rpm, tpm):
            if per_min:
                rate = per_min / 60.0
                cap = max(1.0, rate * burst_s)
                self._buckets.append([rate, cap, cap, now])
            else:
                self._buckets.append([])
        self._lock = asyncio.Lock()

    def _refill(self, b: list[float], now: float) -> None:
        b[2] = min(b[1], b[2] + (now - b[3]) * b[0])
        b[3] = now

    async def acquire(self, tokens: int = 1) -> None:
        """Wait until one request of ``tokens`` tokens may be sent, then take it from the buckets.

        A request larger than the token bucket is allowed once the bucket is full (it then goes
        into debt), so a huge prompt slows the run instead of blocking it forever.
        """
        async with self._lock:
            while True:
                now = self.clock()
                wait = 0.0
                for b, need in zip(self._buckets, (1.0, float(tokens)), strict=True):
                    if not b:
                        continue
                    self._refill(b, now)
                    need = min(need, b[1])
                    if b[2] < need:
                        wait = max(wait, (need - b[2]) / b[0])
                if wait <= 0:
                    for b, need in zip(self._buckets, (1.0, float(tokens)), strict=True):
                        if b:
                            b[2] -= need
                    return
                await self.sleep(wait)


# -- the journal -------------------------------------------------------------------------------
class Journal:
    """A SQLite record of finished requests, keyed by :func:`request_key`.

    Each :meth:`record` commits at once (WAL mode), so whatever finished before a crash or a
    SIGKILL is on disk. Failed requests are recorded too (status ``failed``, with the error and raw
    text) but :meth:`done` only returns successful ones, so a rerun retries failures.

    Example::

        with Journal("run.db") as j:
            j.get(key)          # the LLMResponse of a finished request, or None
            j.count()           # how many finished requests it holds
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS requests (key TEXT PRIMARY KEY, status TEXT NOT NULL, "
                "backend TEXT, model TEXT, request TEXT, response TEXT, error TEXT, raw TEXT, "
                "attempts INTEGER, prompt_tokens INTEGER, completion_tokens INTEGER, "
                "finished_at REAL)")
        except sqlite3.DatabaseError as exc:
            raise ConfigError(f"cannot open the run journal {self.path}: {exc}; "
                              f"delete it or choose another path") from exc
        self._lock = threading.Lock()

    def get(self, key: str) -> LLMResponse | None:
        """The response of a successfully finished request, or ``None``."""
        with self._lock:
            row = self._db.execute("SELECT response FROM requests WHERE key=? AND status='ok'",
                                   (key,)).fetchone()
        return LLMResponse.from_dict(json.loads(row[0])) if row else None

    def done(self, keys: Iterable[str] | None = None) -> dict[str, LLMResponse]:
        """Every successfully finished request (or those among ``keys``), by key."""
        with self._lock:
            rows = self._db.execute("SELECT key, response FROM requests WHERE status='ok'").fetchall()
        wanted = None if keys is None else set(keys)
        return {k: LLMResponse.from_dict(json.loads(r)) for k, r in rows
                if wanted is None or k in wanted}

    def record(self, key: str, *, backend: str, model: str, request: LLMRequest,
               response: LLMResponse | None = None, error: str | None = None,
               raw: str | None = None, attempts: int = 1) -> None:
        """Commit one finished request (``response``) or a failure (``error``, ``raw``)."""
        usage = response.usage if response is not None else Usage()
        row = (key, "ok" if response is not None else "failed", backend, model,
               json.dumps(request.to_dict(), ensure_ascii=False, default=str),
               json.dumps(response.to_dict(), ensure_ascii=False, default=str) if response else None,
               error, raw, attempts, usage.prompt_tokens, usage.completion_tokens, time.time())
        with self._lock:
            # a success never gets overwritten by a later failure of the same key
            self._db.execute(
                "INSERT INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET "
                "status=excluded.status, response=excluded.response, error=excluded.error, "
                "raw=excluded.raw, attempts=requests.attempts + excluded.attempts, "
                "prompt_tokens=excluded.prompt_tokens, completion_tokens=excluded.completion_tokens, "
                "finished_at=excluded.finished_at WHERE requests.status != 'ok'", row)

    def count(self, status: str = "ok") -> int:
        """How many requests have ``status`` (``"ok"`` or ``"failed"``)."""
        with self._lock:
            return int(self._db.execute("SELECT COUNT(*) FROM requests WHERE status=?",
                                        (status,)).fetchone()[0])

    def failures(self) -> list[Failure]:
        """Requests whose last attempt failed for good, with error and raw text."""
        with self._lock:
            rows = self._db.execute(
                "SELECT key, request, error, raw FROM requests WHERE status='failed'").fetchall()
        return [Failure(k, json.loads(r).get("id"), e or "", raw) for k, r, e, raw in rows]

    def usage(self) -> Usage:
        """Total tokens of every successfully finished request in the journal."""
        with self._lock:
            pt, ct = self._db.execute("SELECT COALESCE(SUM(prompt_tokens),0), "
                                      "COALESCE(SUM(completion_tokens),0) FROM requests "
                                      "WHERE status='ok'").fetchone()
        return Usage(int(pt), int(ct))

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- the batch runner --------------------------------------------------------------------------
Progress = Callable[[RunStats, RequestResult], None]


class BatchRunner:
    """Run many requests through one backend: bounded concurrency, RPM/TPM limits, retries with
    exponential backoff + jitter honouring ``Retry-After``, journal, usage and cost.

    A ``Retry-After`` from the server pauses *every* worker until it has passed (one 429 should
    not turn into a storm of them). Requests that fail for good are recorded (error + raw text) and
    returned with ``response=None``; they never stop the run.

    Args:
        backend: the :class:`LLMBackend`.
        config: a :class:`RunnerConfig` (or a dict of its fields).
        journal: a :class:`Journal` (or a path to one); ``None`` runs without one.
        progress: called as ``progress(stats, result)`` after every finished request.
        close_backend: call ``backend.aclose()`` at the end of :meth:`arun`.
    """

    def __init__(self, backend: LLMBackend, config: RunnerConfig | dict[str, Any] | None = None, *,
                 journal: Journal | str | Path | None = None, progress: Progress | None = None,
                 close_backend: bool = True, rng: random.Random | None = None) -> None:
        from hooklab.config import validate

        self.backend = backend
        self.config = validate(RunnerConfig, config or {}, where="runner config")
        self.journal = Journal(journal) if isinstance(journal, str | Path) else journal
        self.progress = progress
        self.close_backend = close_backend
        self.stats = RunStats()
        self._rng = rng or random.Random()
        self._cooldown_until = 0.0

    def backoff(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (1-based): ``Retry-After`` when the
        server gave one (capped), else ``backoff_base * 2**(attempt-1)`` capped at
        ``backoff_max``; plus up to ``jitter`` of it at random."""
        c = self.config
        if retry_after is not None:
            base = min(max(retry_after, 0.0), c.retry_after_max)
        else:
            base = min(c.backoff_base * 2 ** (attempt - 1), c.backoff_max)
        return base * (1 + c.jitter * self._rng.random())

    def run(self, requests: Sequence[LLMRequest]) -> list[RequestResult]:
        """Synchronous :meth:`arun`."""
        return asyncio.run(self.arun(requests))

    async def arun(self, requests: Sequence[LLMRequest]) -> list[RequestResult]:
        """Run ``requests``; return one :class:`RequestResult` per request, in input order.

        Requests already finished in the journal are not sent again (``from_journal=True``);
        identical requests in one batch are sent once.
        """
        stats = self.stats = RunStats(total=len(requests))
        results: list[RequestResult] = []
        by_key: dict[str, list[RequestResult]] = {}
        for i, req in enumerate(requests):
            key = self.backend.key(req)
            res = RequestResult(i, key, req)
            results.append(res)
            by_key.setdefault(key, []).append(res)
        todo: list[RequestResult] = []
        done = self.journal.done(by_key) if self.journal is not None else {}
        for key, group in by_key.items():
            if key in done:
                for res in group:
                    res.response, res.from_journal = done[key], True
                    stats.skipped += 1
                    self._progress(res)
            else:
                todo.append(group[0])
        limiter = (RateLimiter(self.config.rpm, self.config.tpm)
                   if (self.config.rpm or self.config.tpm) else None)
        queue: asyncio.Queue[RequestResult] = asyncio.Queue()
        for res in todo:
            queue.put_nowait(res)

        async def worker() -> None:
            while True:
                try:
                    res = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                await self._one(res, limiter)
                for twin in by_key[res.key][1:]:
                    twin.response, twin.error, twin.attempts = res.response, res.error, res.attempts
                for r in by_key[res.key]:
                    if r.response is not None:
                        stats.done += 1
                    else:
                        stats.failed += 1
                    self._progress(r)

        try:
            n = min(self.config.concurrency, len(todo))
            await asyncio.gather(*(worker() for _ in range(n)))
        finally:
            stats.elapsed_s = time.monotonic() - stats.started
            if self.close_backend:
                await self.backend.aclose()
        return results

    def _progress(self, res: RequestResult) -> None:
        if self.progress is not None:
            self.progress(self.stats, res)

    async def _one(self, res: RequestResult, limiter: RateLimiter | None) -> None:
        stats, cfg, backend = self.stats, self.config, self.backend
        model = backend.model_for(res.request)
        tokens = estimate_tokens(res.request)
        raw: str | None = None
        while True:
            wait = self._cooldown_until - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if limiter is not None:
                await limiter.acquire(tokens)
            res.attempts += 1
            stats.sent += 1
            try:
                response = await backend.complete(res.request)
            except RetryableBackendError as exc:
                stats.errors_by_kind[exc.kind] = stats.errors_by_kind.get(exc.kind, 0) + 1
                raw = exc.raw
                if res.attempts > cfg.max_retries:
                    res.error = f"{exc} (gave up after {res.attempts} attempts)"
                    break
                stats.retries += 1
                delay = self.backoff(res.attempts, exc.retry_after)
                if exc.retry_after is not None:
                    self._cooldown_until = max(self._cooldown_until, time.monotonic() + delay)
                await asyncio.sleep(delay)
                continue
            except BackendError as exc:
                stats.errors_by_kind["error"] = stats.errors_by_kind.get("error", 0) + 1
                res.error = str(exc)
                raw = getattr(exc, "raw", None)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a backend bug must not lose the rest of the run
                stats.errors_by_kind["error"] = stats.errors_by_kind.get("error", 0) + 1
                res.error = f"{type(exc).__name__}: {exc}"
                break
            res.response = response
            stats.usage = stats.usage + response.usage
            price = cfg.price_for(response.model or model) or cfg.price_for(model)
            if price is not None:
                stats.cost += price.cost(response.usage)
            if response.parse_error is not None:
                stats.parse_failures += 1
                stats.failures.append(Failure(res.key, res.request.id,
                                              f"unparsed: {response.parse_error}", response.text))
            break
        if res.response is None:
            stats.failures.append(Failure(res.key, res.request.id, res.error or "failed", raw))
        if self.journal is not None:
            self.journal.record(res.key, backend=backend.name, model=model, request=res.request,
                                response=res.response, error=res.error, raw=raw,
                                attempts=res.attempts)
