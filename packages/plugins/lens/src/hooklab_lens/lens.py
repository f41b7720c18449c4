"""The logit lens: decode every layer's residual stream with the model's own final norm and unembedding.

Two phases keep memory bounded:

1. One forward pass with plain forward hooks captures, for the selected (prompt, position) rows
   only, the hidden state at every hook point: ``[points, rows, hidden]`` (small: no vocabulary
   dimension). The model's LM head is asked for one position only (``logits_to_keep=1``), so
   the forward never builds ``[tokens, vocab]`` either.
2. The ``points x rows`` matrix is decoded in chunks whose size comes from ``memory_budget``: each
   chunk goes through final norm (each row with its own statistics), OPT's ``project_out`` where
   present, the LM head and Gemma-2 style logit soft-capping, and is reduced at once to top-k, the
   rank / probability / log-probability of the targets, entropy and KL to the final distribution.
   ``[layers, tokens, vocab]`` is never held.

Sublayer points (``layers.{i}.attn``, ``layers.{i}.mlp``) are decoded as the seed's ``h.N.attn``
rows are: the residual stream entering block ``i`` plus what that sublayer writes to it.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Sequence
from typing import Any

from hooklab.errors import DataError, HookPointError, ModelError
from hooklab.models import hook_points
from hooklab_lens.config import LensConfig
from hooklab_lens.result import LensResult

#: Bytes of working memory per decoded row per vocabulary entry (logits, probabilities, rank mask).
_BYTES_PER_ENTRY = 12


def _parse_budget(budget: int | str) -> int:
    if isinstance(budget, int):
        return budget
    s = str(budget).strip().upper().replace("IB", "B")
    units = {"KB": 2**10, "MB": 2**20, "GB": 2**30, "B": 1}
    for unit, mult in units.items():
        if s.endswith(unit):
            try:
                return int(float(s[: -len(unit)]) * mult)
            except ValueError:
                break
    try:
        return int(s)
    except ValueError:
        raise DataError(f"memory_budget {budget!r} is not a size; use bytes or e.g. '512MB', '2GB'") from None


def _default_budget(device: Any) -> int:
    if device.type == "cuda":
        import torch

        free, _ = torch.cuda.mem_get_info(device)
        return int(min(2 * 2**30, free // 4))
    return 256 * 2**20


# -- inputs -------------------------------------------------------------------------------------
def _to_id_lists(tokenizer: Any, inputs: Any) -> tuple[list[list[int]], bool]:
    """Turn text / ids / a batch into one list of token ids per prompt; True when it was text."""
    import torch

    if isinstance(inputs, str):
        inputs = [inputs]
    if isinstance(inputs, dict) or (hasattr(inputs, "keys") and "input_ids" in inputs):
        ids = inputs["input_ids"]
        mask = inputs.get("attention_mask")
        ids = ids.tolist() if torch.is_tensor(ids) else list(ids)
        if ids and isinstance(ids[0], int):
            ids = [ids]
        if mask is not None:
            mask = mask.tolist() if torch.is_tensor(mask) else list(mask)
            mask = [mask] if mask and isinstance(mask[0], int) else mask
            ids = [[t for t, m in zip(row, mrow, strict=True) if m] for row, mrow in zip(ids, mask, strict=True)]
        return [list(map(int, r)) for r in ids], False
    if torch.is_tensor(inputs):
        if inputs.dim() == 1:
            inputs = inputs.unsqueeze(0)
        if inputs.dim() != 2 or inputs.dtype.is_floating_point:
            raise DataError(f"token ids must be a 1-D or 2-D integer tensor, got shape {tuple(inputs.shape)}")
        return inputs.tolist(), False
    if isinstance(inputs, Sequence) and not isinstance(inputs, (bytes, bytearray)):
        items = list(inputs)
        if not items:
            raise DataError("no input: pass a text, a list of texts, or token ids")
        if all(isinstance(x, str) for x in items):
            if tokenizer is None:
                raise DataError("text input needs a tokenizer: logit_lens(model, tokenizer, text)")
            for i, text in enumerate(items):
                if not text.strip():
                    raise DataError(f"prompt {i} is empty; give some text to look at")
            enc = tokenizer(items, add_special_tokens=True)
            return [list(map(int, r)) for r in enc["input_ids"]], True
        if all(isinstance(x, int) for x in items):
            return [list(items)], False
        if all(isinstance(x, (list, tuple)) for x in items):
            return [list(map(int, r)) for r in items], False
    raise DataError(
        f"cannot read input of type {type(inputs).__name__}: pass a text, a list of texts, "
        f"a list of token ids, a tensor of ids or a tokenizer's BatchEncoding"
    )


def _context_length(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    for attr in ("max_position_embeddings", "n_positions", "n_ctx", "max_sequence_length"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def _check_lengths(ids: list[list[int]], model: Any, truncate: bool) -> list[list[int]]:
    ctx = _context_length(model)
    out = []
    for i, row in enumerate(ids):
        if not row:
            raise DataError(f"prompt {i} has no tokens; give some text to look at")
        if ctx is not None and len(row) > ctx:
            if not truncate:
                raise DataError(
                    f"prompt {i} has {len(row)} tokens but the model's context is {ctx}; shorten it "
                    f"or pass truncate=True (--truncate) to keep its last {ctx} tokens"
                )
            warnings.warn(f"prompt {i}: {len(row)} tokens truncated to the last {ctx} (the model's context)",
                          stacklevel=3)
            row = row[-ctx:]
        out.append(row)
    return out


def _target_ids(tokenizer: Any, targets: Any, vocab: int) -> list[int] | None:
    if targets is None:
        return None
    items = [targets] if isinstance(targets, (str, int)) else list(targets)
    if not items:
        raise DataError("targets is empty; give at least one token or leave it out (next token)")
    out = []
    for t in items:
        if isinstance(t, int):
            if not 0 <= t < vocab:
                raise DataError(f"target id {t} is outside the vocabulary [0, {vocab})")
            out.append(t)
            continue
        if tokenizer is None:
            raise DataError(f"target {t!r} is text: pass a tokenizer or give the token id")
        pieces = tokenizer.encode(t, add_special_tokens=False)
        if len(pieces) != 1:
            shown = " + ".join(repr(tokenizer.decode([p])) for p in pieces) or "nothing"
            raise DataError(
                f"target {t!r} is not a single token: it tokenizes as {shown} ({len(pieces)} tokens); "
                f"pass one token (mind the leading space) or a token id"
            )
        out.append(int(pieces[0]))
    return out


def _select_positions(lengths: list[int], positions: Any) -> list[list[int]]:
    if positions is None:
        return [list(range(n)) for n in lengths]
    wanted = [positions] if isinstance(positions, int) else list(positions)
    if not wanted:
        raise DataError("positions is empty; leave it out for every position")
    out = []
    for i, n in enumerate(lengths):
        sel = []
        for p in wanted:
            if not -n <= int(p) < n:
                raise DataError(f"position {p} is out of range for prompt {i} ({n} tokens: use {-n}..{n - 1})")
            q = int(p) % n
            if q not in sel:
                sel.append(q)
        out.append(sorted(sel))
    return out


# -- points -------------------------------------------------------------------------------------
def _expand_points(model: Any, points: str | Sequence[str]) -> list[str]:
    hp = hook_points(model)
    n = hp.num_layers
    names = [p.strip() for p in points.split(",")] if isinstance(points, str) else [str(p) for p in points]
    if not names or not all(names):
        raise HookPointError("points is empty; use resid, attn, mlp or hook-point names")
    kinds = {"resid", "attn", "mlp"}
    if all(p in kinds for p in names):
        want = set(names)
        out = ["layers.0.input"] if "resid" in want else []
        for i in range(n):
            for kind in ("attn", "mlp"):
                if kind in want:
                    if f"layers.{i}.{kind}" not in hp.names:
                        raise HookPointError(f"this model has no {kind} sublayer hook point; "
                                             f"use points='resid' or register an adapter")
                    out.append(f"layers.{i}.{kind}")
            if "resid" in want:
                out.append(f"layers.{i}")
        return out
    out = []
    for spec in names:
        if spec in kinds:
            raise HookPointError(f"mix of {spec!r} and hook-point names; use one style for points")
        for p in hp.resolve(spec):
            if p.name in {"unembed"}:
                raise HookPointError("the 'unembed' point is already logits; pick a residual-stream point")
            if p.name not in out:
                out.append(p.name)
    return out


class _Decoder:
    """final norm -> (project_out) -> LM head -> (soft-cap): the model's own way to logits."""

    def __init__(self, model: Any) -> None:
        hp = hook_points(model)
        self.norm = hp.final_norm  # raises ModelError when missing: never skip the norm
        self.head = hp.unembed  # raises ModelError when the model has no LM head
        parent_path = hp.final_norm_path.rpartition(".")[0] if hp.final_norm_path else ""
        parent = hp.modules.get(parent_path, model) if parent_path else model
        # OPT with word_embed_proj_dim != hidden_size projects after the final norm
        self.project_out = getattr(parent, "project_out", None)
        cfg = getattr(model, "config", None)
        cap = getattr(cfg, "final_logit_softcapping", None)
        self.softcap = float(cap) if cap else None
        weight = getattr(self.head, "weight", None)
        if weight is None or weight.dim() != 2:
            raise ModelError(f"the LM head {type(self.head).__name__} has no 2-D weight; cannot decode")
        self.vocab = int(weight.shape[0])
        self.hidden = int(weight.shape[1]) if self.project_out is None else int(self.project_out.weight.shape[1])

    def __call__(self, h: Any, out: Any = None) -> Any:
        """Float32 logits of the rows ``h``; written into ``out`` (a reused buffer) when the LM
        head is a plain float32 ``nn.Linear`` — fresh multi-megabyte allocations cost as much as
        the softmax on CPU."""
        import torch

        x = self.norm(h)
        if self.project_out is not None:
            x = self.project_out(x)
        head = self.head
        if out is not None and type(head) is torch.nn.Linear and head.weight.dtype == torch.float32 \
                and x.dtype == torch.float32 and not head._forward_hooks and not head._forward_pre_hooks:
            z = torch.matmul(x, head.weight.t(), out=out[: x.shape[0]])
            if head.bias is not None:
                z.add_(head.bias)
        else:
            z = head(x).float()
        if self.softcap is not None:
            z = z.div_(self.softcap).tanh_().mul_(self.softcap)
        return z


def _first(out: Any) -> Any:
    # transformers 5 blocks return a tensor, 4.x a tuple; attention modules return (out, weights)
    return out[0] if isinstance(out, (tuple, list)) else out


def _written_by(block: Any, name: str, sublayer: Any) -> Any:
    """The module whose output a sublayer adds to the residual stream.

    Gemma-2/3 and OLMo-2 blocks normalise each sublayer's output before adding it
    (``post_attention_layernorm`` / ``post_feedforward_layernorm``); elsewhere it is the sublayer.
    (In Llama-style blocks ``post_attention_layernorm`` is the MLP's *input* norm, hence the
    ``post_feedforward_layernorm`` test.)
    """
    post_ff = getattr(block, "post_feedforward_layernorm", None)
    post_attn = getattr(block, "post_attention_layernorm", None)
    if post_ff is not None and post_attn is not None:
        return post_attn if name.endswith(".attn") else post_ff
    return sublayer


def _capture(model: Any, points: list[str], batch_ids: Any, mask: Any, flat_sel: Any) -> dict[str, Any]:
    """Run the model once; return {point: [rows, hidden]} for the selected flat (batch*seq) rows."""
    import torch

    hp = hook_points(model)
    last = f"layers.{hp.num_layers - 1}"
    needed = list(dict.fromkeys([*points, last]))
    n_flat = batch_ids.numel()
    store: dict[str, Any] = {}
    resid_pre: dict[int, Any] = {}
    handles = []

    def rows(t: Any) -> Any:
        t = _first(t)
        # [batch, seq, hidden], or [batch*seq, hidden] as OPT's fc2 gives
        ok = torch.is_tensor(t) and (t.dim() == 3 or (t.dim() == 2 and t.shape[0] == n_flat))
        if not ok:
            shape = tuple(t.shape) if torch.is_tensor(t) else type(t).__name__
            raise ModelError(f"hook point output is not [batch, seq, hidden] (got {shape}); "
                             f"pick a residual-stream point")
        return t.reshape(-1, t.shape[-1]).index_select(0, flat_sel).detach()

    try:
        sub_layers = set()
        for name in needed:
            point = hp[name]
            sublayer = name.endswith((".attn", ".mlp")) and point.layer is not None and name.startswith("layers.")
            if sublayer:
                sub_layers.add(point.layer)

                def hook(mod: Any, args: Any, out: Any, name: str = name, layer: int = point.layer) -> None:
                    store[name] = resid_pre[layer] + rows(out)
            elif point.io == "input":

                def hook(mod: Any, args: Any, kwargs: Any, name: str = name) -> None:  # type: ignore[misc]
                    x = args[0] if args else kwargs.get("hidden_states")
                    store[name] = rows(x)
            else:

                def hook(mod: Any, args: Any, out: Any, name: str = name) -> None:
                    store[name] = rows(out)

            module = _written_by(hp.layers[point.layer], name, point.module) if sublayer else point.module
            if point.io == "input":
                handles.append(module.register_forward_pre_hook(hook, with_kwargs=True))
            else:
                handles.append(module.register_forward_hook(hook))
        for layer in sorted(sub_layers):

            def pre(mod: Any, args: Any, kwargs: Any, layer: int = layer) -> None:
                x = args[0] if args else kwargs.get("hidden_states")
                resid_pre[layer] = rows(x)

            handles.append(hp.layers[layer].register_forward_pre_hook(pre, with_kwargs=True))
        kwargs: dict[str, Any] = {"input_ids": batch_ids, "attention_mask": mask}
        params = inspect.signature(model.forward).parameters
        if "logits_to_keep" in params:  # the forward must not build [tokens, vocab] logits
            kwargs["logits_to_keep"] = 1
        elif "num_logits_to_keep" in params:
            kwargs["num_logits_to_keep"] = 1
        if "use_cache" in params:
            kwargs["use_cache"] = False
        with torch.no_grad():
            model(**kwargs)
    finally:
        for h in handles:
            h.remove()
    missing = [n for n in needed if n not in store]
    if missing:
        raise ModelError(f"hook points {missing} never ran in the forward pass; pick other points")
    return store


def _plan(budget: int, vocab: int, n_points: int, n_rows: int, extra: int) -> tuple[int, int]:
    """(positions per chunk, points per group) so one chunk stays inside ``budget`` bytes."""
    per_row = vocab * (_BYTES_PER_ENTRY + extra)
    final_row = vocab * 8  # the final distribution (logits + probs) of each position in the chunk
    t = budget // (n_points * per_row)
    if t >= 1:
        return min(t, n_rows), n_points
    g = max(1, (budget - final_row) // per_row)
    return 1, min(int(g), n_points)


def _rowdot(a: Any, b: Any) -> Any:
    """Per-row dot product of two [rows, vocab] matrices, without a [rows, vocab] temporary."""
    import torch

    return torch.einsum("rv,rv->r", a, b)


class _Stats:
    """Reduce a [rows, vocab] block of logits to the lens statistics (float32 throughout).

    Passes over the block: softmax (one fused pass), top-k, one comparison per target (rank), a
    row-dot for the entropy and one for the KL cross term. The log-sum-exp is recovered exactly
    from the softmax as ``z_max - log p_max``, so small probabilities never underflow to -inf.
    """

    def __init__(self, topk: int) -> None:
        self.k = topk
        self._bufs: dict[str, Any] = {}
        self._ones: Any = None

    def buffer(self, name: str, rows: int, vocab: int, device: Any) -> Any:
        """A reused float32 [rows, vocab] buffer (allocated once per decoding)."""
        import torch

        buf = self._bufs.get(name)
        if buf is None or buf.shape[0] < rows or buf.shape[1] != vocab or buf.device != device:
            buf = self._bufs[name] = torch.empty((rows, vocab), dtype=torch.float32, device=device)
        return buf[:rows]

    def softmax(self, z: Any, top: tuple[Any, Any] | None = None, out: Any = None) -> tuple[Any, Any]:
        """(probabilities, log-sum-exp) of each row; ``top`` = (max logits, argmax) if known."""
        import torch

        p = torch.softmax(z, -1, out=out) if out is not None else z.softmax(-1)
        m, arg = top if top is not None else z.max(-1, keepdim=True)
        lse = m - p.gather(-1, arg).log()
        return p, lse.view(-1)

    def rank(self, z: Any, zt: Any) -> Any:
        """1 + the number of tokens with a strictly higher logit than each target, [rows, M]."""
        import torch

        rows, vocab = z.shape
        buf = self.buffer("mask", rows, vocab, z.device)
        if self._ones is None or self._ones.shape[0] != vocab or self._ones.device != z.device:
            self._ones = torch.ones((vocab, 1), dtype=torch.float32, device=z.device)
        cols = []
        for j in range(zt.shape[1]):
            torch.gt(z, zt[:, j:j + 1], out=buf)  # a float mask, counted by a matrix-vector product
            cols.append(buf @ self._ones)
        return torch.cat(cols, -1).round_().long() + 1


def _reduce(z: Any, zt: Any, pf: Any) -> tuple[Any, Any, Any, Any, Any, Any]:
    """Every per-row statistic in expressions a compiler fuses into two passes over ``z``.

    ``z`` [t*g, V] position-major logits, ``zt`` [t*g, M] target logits, ``pf`` [t, V] final
    probabilities. Returns (max, argmax, log-sum-exp, rank [t*g, M], entropy, KL cross term).
    """
    import torch

    t = pf.shape[0]
    m, arg = z.max(-1, keepdim=True)
    e = torch.exp(z - m)
    s = e.sum(-1)
    ez = (e * z).sum(-1)
    rank = (z.unsqueeze(1) > zt.unsqueeze(-1)).sum(-1) + 1
    cross = (pf.unsqueeze(1) * z.view(t, -1, z.shape[-1])).sum(-1).view(-1)
    lse = m.squeeze(-1) + s.log()
    return m, arg, lse, rank, lse - ez / s, cross


_FUSED: Any = None


def _fused_reduce() -> Any:
    global _FUSED
    if _FUSED is None:
        import torch

        _FUSED = torch.compile(_reduce, dynamic=True)
    return _FUSED


def _decode_all(dec: _Decoder, store: dict[str, Any], points: list[str], final_name: str,
                targets: Any, topk: int, budget: int, fused: bool = False) -> dict[str, Any]:
    """Reduce every (point, row) to statistics, chunk by chunk. Returns numpy arrays [P, N, ...]."""
    import torch

    n_rows = store[final_name].shape[0]
    n_t = targets.shape[1]
    device = store[final_name].device
    extra = 0 if store[final_name].dtype == torch.float32 else 2
    # the final layer is decoded first so its distribution is at hand for the KL of the others
    order = sorted(range(len(points)), key=lambda i: points[i] != final_name)
    n_points = len(points)
    t_chunk, g_size = _plan(budget, dec.vocab, n_points, n_rows, extra)
    k = min(topk, dec.vocab)
    # results stay on the device until the end: no host sync per chunk
    dev = {"device": device}
    out = {
        "topk_ids": torch.zeros((n_points, n_rows, k), dtype=torch.long, **dev),
        "topk_probs": torch.zeros((n_points, n_rows, k), dtype=torch.float32, **dev),
        "target_rank": torch.full((n_points, n_rows, n_t), -1, dtype=torch.long, **dev),
        "target_logprob": torch.full((n_points, n_rows, n_t), math.nan, dtype=torch.float32, **dev),
        "entropy": torch.zeros((n_points, n_rows), dtype=torch.float32, **dev),
        "kl": torch.zeros((n_points, n_rows), dtype=torch.float32, **dev),
    }
    tgt_all = targets.to(device)
    stats = _Stats(k)

    with torch.no_grad():
        for s in range(0, n_rows, t_chunk):
            e = min(n_rows, s + t_chunk)
            t = e - s
            tgt = tgt_all[s:e]
            valid = tgt >= 0
            safe_tgt = tgt.clamp(min=0)
            pf = lse_f = pfzf = None
            if final_name not in points:
                zf = dec(store[final_name][s:e])
                pf, lse_f = stats.softmax(zf)
                pfzf = _rowdot(pf, zf)
                del zf
            for g0 in range(0, n_points, g_size):
                group = order[g0:g0 + g_size]
                g = len(group)
                # position-major rows ([t, g]) so the KL cross term is one batched product, no copy
                h = torch.stack([store[points[i]][s:e] for i in group], 1).view(t * g, -1)
                rows_n = t * g
                z = dec(h, out=stats.buffer("logits", rows_n, dec.vocab, device))  # [t*g, V] float32
                del h
                zt = z.gather(-1, safe_tgt.repeat_interleave(g, 0))  # [t*g, M]
                need_final = pf is None  # then group 0 starts with the final layer
                if fused:
                    if need_final:
                        pf, lse_f = stats.softmax(z.view(t, g, -1)[:, 0].contiguous())
                        pfzf = _rowdot(pf, z.view(t, g, -1)[:, 0])
                    vals, idx, lse, rank, entropy, cross = _fused_reduce()(z, zt, pf)
                    if k > 1:
                        vals, idx = z.topk(k, dim=-1)
                else:
                    vals, idx = z.max(-1, keepdim=True) if k == 1 else z.topk(k, dim=-1)
                    p, lse = stats.softmax(z, (vals[:, :1], idx[:, :1]),
                                           out=stats.buffer("probs", rows_n, dec.vocab, device))
                    if need_final:
                        pf = p.view(t, g, -1)[:, 0].clone()
                        lse_f = lse.view(t, g)[:, 0].clone()
                        pfzf = _rowdot(pf, z.view(t, g, -1)[:, 0])
                    rank = stats.rank(z, zt)
                    entropy = lse - _rowdot(p, z)
                    del p
                    cross = torch.bmm(z.view(t, g, -1), pf.unsqueeze(2)).view(t, g)  # sum_v p_final * z
                del z
                cross = cross.view(t, g)
                kl = (pfzf[:, None] - lse_f[:, None] - cross + lse.view(t, g)).clamp_(min=0)
                vmask = valid.repeat_interleave(g, 0)
                rows = (torch.tensor(group, device=device), slice(s, e))

                def put(key: str, value: Any, *tail: int, rows: Any = rows, t: int = t, g: int = g) -> None:
                    out[key][rows] = value.reshape(t, g, *tail).transpose(0, 1).to(out[key].dtype)

                put("topk_ids", idx, k)
                put("topk_probs", (vals - lse[:, None]).exp(), k)
                put("target_rank", torch.where(vmask, rank, -1), n_t)
                put("target_logprob", torch.where(vmask, zt - lse[:, None], math.nan), n_t)
                put("entropy", entropy)
                put("kl", kl)
    result: dict[str, Any] = {key: value.cpu().numpy() for key, value in out.items()}
    result["chunk"] = (t_chunk, g_size)
    return result


def logit_lens(
    model: Any,
    tokenizer: Any = None,
    inputs: Any = None,
    *,
    points: str | Sequence[str] = "resid",
    topk: int = 5,
    targets: str | int | Sequence[str | int] | None = None,
    positions: int | Sequence[int] | None = None,
    memory_budget: int | str | None = None,
    truncate: bool = False,
    fused: bool = False,
) -> LensResult:
    """Decode the residual stream at every hook point with the model's final norm and LM head.

    Args:
        model: a Hugging Face causal LM (any family hook points resolve on), on any device/dtype.
        tokenizer: its tokenizer; needed for text input, text targets and token strings.
        inputs: a text, a list of texts (a batch; padded internally), token ids (list, list of
            lists, 1-D/2-D tensor) or a tokenizer ``BatchEncoding`` (its attention mask is honoured).
        points: ``"resid"`` (the stream entering block 0, then after every block), ``"attn"``,
            ``"mlp"`` (stream entering block i plus that sublayer's output, like the seed's
            ``h.N.attn``), a comma-separated mix (``"resid,attn"``), or a list of hook-point names.
        topk: how many top tokens to keep per row.
        targets: token(s) whose rank/probability to report (each must be one token); ``None``
            means the actual next token (no target at a prompt's last position).
        positions: positions to decode (negative counts from the end); ``None`` = all.
        memory_budget: bytes (or ``"512MB"``) the chunked unembedding may hold at once;
            ``None``: 256 MB on CPU, on CUDA 2 GB or a quarter of the free memory if less.
        truncate: keep the last ``context`` tokens of a too-long prompt (with a warning) instead
            of raising.
        fused: reduce each chunk with one ``torch.compile``-d kernel (two passes over the logits
            instead of about eight). Opt-in: the first call compiles (tens of seconds on CPU).

    Returns:
        A :class:`~hooklab_lens.result.LensResult`.

    Raises:
        DataError: empty input, multi-token target, position out of range, prompt too long.
        ModelError: the model has no final norm or no LM head we can find.
        HookPointError: a point name does not resolve.
    """
    import torch

    if inputs is None:
        if isinstance(tokenizer, (str, list, tuple, dict)) or torch.is_tensor(tokenizer):
            tokenizer, inputs = None, tokenizer
        else:
            raise DataError("no input: logit_lens(model, tokenizer, 'some text')")
    if not isinstance(topk, int) or topk < 1:
        raise DataError(f"topk must be a positive integer, got {topk!r}")
    param = next(model.parameters())
    budget = _default_budget(param.device) if memory_budget is None else _parse_budget(memory_budget)
    dec = _Decoder(model)
    names = _expand_points(model, points)
    ids, _ = _to_id_lists(tokenizer, inputs)
    ids = _check_lengths(ids, model, truncate)
    for i, row in enumerate(ids):
        bad = [t for t in row if not 0 <= t < dec.vocab]
        if bad:
            raise DataError(f"prompt {i} has token id {bad[0]} outside the model's vocabulary [0, {dec.vocab})")
    target_list = _target_ids(tokenizer, targets, dec.vocab)
    lengths = [len(r) for r in ids]
    sel = _select_positions(lengths, positions)

    device = param.device
    n_b, width = len(ids), max(lengths)
    pad = getattr(getattr(model, "config", None), "pad_token_id", None)
    pad = pad if isinstance(pad, int) and 0 <= pad < dec.vocab else 0
    batch = torch.full((n_b, width), pad, dtype=torch.long)
    mask = torch.zeros((n_b, width), dtype=torch.long)
    for b, row in enumerate(ids):  # right padding: real tokens keep positions 0..n-1
        batch[b, : len(row)] = torch.tensor(row)
        mask[b, : len(row)] = 1
    prompt_idx = [b for b in range(n_b) for _ in sel[b]]
    pos = [p for b in range(n_b) for p in sel[b]]
    flat = torch.tensor([b * width + p for b, p in zip(prompt_idx, pos, strict=True)], dtype=torch.long)
    if target_list is None:
        tgt = torch.tensor([[ids[b][p + 1] if p + 1 < len(ids[b]) else -1] for b, p in zip(prompt_idx, pos, strict=True)])
    else:
        tgt = torch.tensor([target_list] * len(pos), dtype=torch.long)

    store = _capture(model, names, batch.to(device), mask.to(device), flat.to(device))
    final_name = f"layers.{hook_points(model).num_layers - 1}"
    stats = _decode_all(dec, store, names, final_name, tgt, topk, budget, fused)
    del store
    return LensResult(
        points=names,
        prompts=ids,
        prompt_idx=prompt_idx,
        positions=pos,
        target_ids=tgt.numpy(),
        fixed_targets=target_list is not None,
        tokenizer=tokenizer,
        chunk=stats.pop("chunk"),
        **stats,
    )


class LogitLensProbe:
    """The ``lens`` probe: ``hooklab.get("probe", "lens", topk=3).run(model, "text", tokenizer=tok)``."""

    def __init__(self, config: LensConfig | None = None) -> None:
        self.config = config or LensConfig()

    def run(self, model: Any, inputs: Any, tokenizer: Any = None, **overrides: Any) -> LensResult:
        """Run :func:`logit_lens` with this probe's options (``overrides`` win). Returns a LensResult."""
        from hooklab.config import validate

        cfg = validate(LensConfig, {**self.config.model_dump(), **overrides}, where="lens probe")
        return logit_lens(model, tokenizer, inputs, **cfg.model_dump())
