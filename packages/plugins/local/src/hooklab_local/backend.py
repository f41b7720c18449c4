"""The ``local`` backend: a Hugging Face causal LM generating in this process.

Concurrent requests are gathered into batches (up to ``batch_size``, left padding) and generated
in a worker thread, so the event loop and the :class:`~hooklab.llm.BatchRunner` keep running. The
prompt goes through the tokenizer's chat template when it has one (else ``role: content`` lines).
For JSON requests the JSON is extracted from the text with one repair attempt
(:func:`hooklab.llm.extract_json`). Generation is greedy unless the request has a temperature > 0.

Example::

    import hooklab
    from hooklab.llm import LLMRequest
    backend = hooklab.get("backend", "local", model="./my-model", batch_size=8)
    backend.complete_sync(LLMRequest.chat("Say hi in JSON", json_mode=True, max_tokens=64))

    # an in-memory model (tests, notebooks)
    from hooklab_local import LocalBackend
    backend = LocalBackend.from_model(model, tokenizer, name="tiny")

Nothing is downloaded unless you allow it (``local_files_only=True``); ``trust_remote_code`` is off.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from hooklab.errors import BackendError, HooklabError
from hooklab.llm import LLMBackend, LLMRequest, LLMResponse, Usage, finish_response


class LocalConfig(BaseModel):
    """Options of the ``local`` backend."""

    model_config = ConfigDict(extra="forbid")
    model: str = Field(description="local model directory (or a hub id already in the cache)")
    device: str | None = Field(None, description="cpu, cuda, cuda:1...; default: cuda if available")
    dtype: str = Field("auto", description="auto, float32, float16, bfloat16")
    batch_size: int = Field(8, ge=1, description="requests generated together")
    max_new_tokens: int = Field(512, ge=1, description="for requests without max_tokens")
    batch_wait_s: float = Field(0.005, ge=0, description="wait this long to fill a batch")
    local_files_only: bool = Field(True, description="never download (set False to allow the hub)")
    trust_remote_code: bool = False
    revision: str | None = None


def render_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """The model's prompt text: the chat template when the tokenizer has one, else
    ``role: content`` lines ending with ``assistant:``."""
    if getattr(tokenizer, "chat_template", None):
        return str(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    lines = [f"{m['role']}: {m['content']}" for m in messages]
    return "\n".join([*lines, "assistant:"])


class LocalBackend(LLMBackend):
    """In-process transformers generation behind the async :class:`~hooklab.llm.LLMBackend` API."""

    name = "local"

    def __init__(self, config: LocalConfig | None = None, **options: Any) -> None:
        from hooklab.config import validate

        self.config = validate(LocalConfig, config if config is not None else options,
                               where="local backend")
        self.model = self.config.model
        self._lm: Any = None
        self._tok: Any = None
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        self._queue: asyncio.Queue[tuple[LLMRequest, asyncio.Future[LLMResponse]]] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: asyncio.Task[None] | None = None

    @classmethod
    def from_model(cls, model: Any, tokenizer: Any, *, name: str = "in-memory", **options: Any) -> LocalBackend:
        """A backend over an already loaded model and tokenizer; ``name`` is the model name used
        in journal keys (give different models different names)."""
        backend = cls(model=name, **options)
        backend._lm, backend._tok = model.eval(), tokenizer
        backend._prepare_tokenizer()
        return backend

    def __repr__(self) -> str:
        return f"LocalBackend(model={self.model!r}, batch_size={self.config.batch_size})"

    # -- loading ----------------------------------------------------------------------------------
    def _prepare_tokenizer(self) -> None:
        tok = self._tok
        tok.padding_side = "left"  # generation continues every row at the same position
        if tok.pad_token is None:
            if tok.eos_token is None:
                raise BackendError(f"tokenizer of {self.model!r} has neither a pad nor an eos token")
            tok.pad_token = tok.eos_token

    def load(self) -> tuple[Any, Any]:
        """Load (once) and return ``(model, tokenizer)``.

        Raises:
            ModelError: the model cannot be loaded (path missing, not a causal LM...).
        """
        with self._load_lock:
            if self._lm is None:
                import os

                from hooklab.models import load_model

                old = os.environ.get("HF_HUB_OFFLINE")
                if self.config.local_files_only:
                    os.environ["HF_HUB_OFFLINE"] = "1"
                try:
                    device = self.config.device
                    if device is None:
                        import torch

                        device = "cuda" if torch.cuda.is_available() else "cpu"
                    self._lm, self._tok = load_model(
                        self.config.model, dtype=self.config.dtype, device=device,
                        revision=self.config.revision, trust_remote_code=self.config.trust_remote_code)
                finally:
                    if self.config.local_files_only:
                        if old is None:
                            os.environ.pop("HF_HUB_OFFLINE", None)
                        else:
                            os.environ["HF_HUB_OFFLINE"] = old
                self._prepare_tokenizer()
            return self._lm, self._tok

    # -- generation -------------------------------------------------------------------------------
    def _max_positions(self) -> int | None:
        cfg = self._lm.config
        for attr in ("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"):
            value = getattr(cfg, attr, None)
            if isinstance(value, int) and value > 0:
                return value
        return None

    def generate(self, requests: list[LLMRequest]) -> list[LLMResponse]:
        """Generate answers for ``requests`` as one left-padded batch (blocking).

        All requests must share temperature and seed (the async API groups them so).

        Raises:
            BackendError: a prompt does not fit in the model's context.
        """
        import torch

        model, tok = self.load()
        t0 = time.perf_counter()
        prompts = [render_prompt(tok, r.messages) for r in requests]
        templated = bool(getattr(tok, "chat_template", None))
        enc = tok(prompts, return_tensors="pt", padding=True, add_special_tokens=not templated)
        max_new = max(r.max_tokens or self.config.max_new_tokens for r in requests)
        limit = self._max_positions()
        in_len = enc["input_ids"].shape[1]
        if limit is not None and in_len + max_new > limit:
            raise BackendError(
                f"prompt of {in_len} tokens + {max_new} new tokens exceeds the context of "
                f"{self.model!r} ({limit}); use shorter prompts/chunks or a smaller max_tokens")
        first = requests[0]
        kwargs: dict[str, Any] = {"max_new_tokens": max_new, "pad_token_id": tok.pad_token_id}
        if tok.eos_token_id is not None:
            kwargs["eos_token_id"] = tok.eos_token_id
        if first.temperature:
            kwargs.update(do_sample=True, temperature=first.temperature)
        else:
            kwargs.update(do_sample=False)
        device = next(model.parameters()).device
        enc = {k: v.to(device) for k, v in enc.items()}
        with self._gen_lock, torch.inference_mode():
            if first.seed is not None:
                torch.manual_seed(first.seed)
            out = model.generate(**enc, **kwargs)
        new = out[:, in_len:].tolist()
        prompt_lens = enc["attention_mask"].sum(dim=1).tolist()
        latency = time.perf_counter() - t0
        responses = []
        for req, prompt, row, plen in zip(requests, prompts, new, prompt_lens, strict=True):
            cap = req.max_tokens or self.config.max_new_tokens
            ids, finish = [], "length"
            for t in row[:cap]:
                if t == tok.eos_token_id:
                    finish = "stop"
                    break
                ids.append(t)
            text = tok.decode(ids, skip_special_tokens=True)
            n_out = len(ids) + (1 if finish == "stop" else 0)
            responses.append(LLMResponse(
                text=text, model=self.model, usage=Usage(int(plen), n_out), finish_reason=finish,
                raw={"prompt": prompt, "completion_ids": ids},
                latency_s=latency))
        return responses

    # -- the async API ----------------------------------------------------------------------------
    async def complete(self, request: LLMRequest) -> LLMResponse:
        loop = asyncio.get_running_loop()
        if self._queue is None or self._loop is not loop:
            self._loop, self._queue = loop, asyncio.Queue()
            self._worker = loop.create_task(self._batches())
        fut: asyncio.Future[LLMResponse] = loop.create_future()
        await self._queue.put((request, fut))
        return await fut

    async def _batches(self) -> None:
        assert self._queue is not None
        queue = self._queue
        while True:
            batch = [await queue.get()]
            if self.config.batch_wait_s:
                await asyncio.sleep(self.config.batch_wait_s)  # let concurrent requests arrive
            while len(batch) < self.config.batch_size and not queue.empty():
                batch.append(queue.get_nowait())
            groups: dict[tuple[Any, ...], list[tuple[LLMRequest, asyncio.Future[LLMResponse]]]] = {}
            for req, fut in batch:
                if not fut.done():
                    groups.setdefault((req.temperature, req.seed), []).append((req, fut))
            for items in groups.values():
                reqs = [r for r, _ in items]
                try:
                    outs = await asyncio.to_thread(self.generate, reqs)
                except Exception as exc:
                    err = exc if isinstance(exc, HooklabError) else BackendError(
                        f"local generation failed: {type(exc).__name__}: {exc}")
                    for _, fut in items:
                        if not fut.done():
                            fut.set_exception(err)
                    continue
                for (req, fut), out in zip(items, outs, strict=True):
                    if not fut.done():
                        fut.set_result(finish_response(req, out))

    async def aclose(self) -> None:
        """Stop the batching task (the model stays loaded for the next run)."""
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except (asyncio.CancelledError, Exception):
                pass
        self._worker = self._queue = self._loop = None
