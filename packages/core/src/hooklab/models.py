"""Canonical hook points on any Hugging Face causal LM, and model loading.

Hook points are named places in a model, the same names on every family::

    embed              output of the token embedding
    layers.{i}.input   input of block i (the residual stream entering it; a forward-pre hook)
    layers.{i}         output of block i (the residual stream after it)
    layers.{i}.attn    output of block i's attention sublayer
    layers.{i}.mlp     output of block i's MLP sublayer
    final_norm         output of the final norm
    unembed            the logits (output of the LM head)

They are found by probing the module tree (the block list is the ``ModuleList`` with one entry per
layer; embeddings and LM head come from ``get_input_embeddings`` / ``get_output_embeddings``; the
final norm is the norm beside the block list). Architecture adapters (plugins, kind ``adapter``)
fill in what probing cannot. When the final norm or the unembedding cannot be found this module
raises :class:`~hooklab.errors.ModelError` — it never skips them silently.

Names accept globs and sets: ``layers.*`` (every block output), ``layers.*.mlp``,
``layers.{0,5,11}.attn``, ``layers.{0..3}``, ``layers.-1`` (the last block), ``**`` (everything).
Any dotted module path of the model (``model.layers.0.mlp.down_proj``) is allowed too.

Example::

    from hooklab.models import hook_points
    hp = hook_points(model)
    hp.resolve("layers.{0,1}.mlp")      # [HookPoint('layers.0.mlp', 'model.layers.0.mlp', ...), ...]
    hp.final_norm, hp.unembed             # modules; ModelError if missing
"""

from __future__ import annotations

import fnmatch
import re
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from hooklab.errors import HookPointError, ModelError, suggest

_ATTN = re.compile(r"^(self_attn|self_attention|attn|attention|mixer)$")
_MLP = re.compile(r"^(mlp|feed_forward|ffn|ff|block_sparse_moe)$")
_NORM = re.compile(r"(norm|^ln_f$|^ln_out$|^final_ln)", re.IGNORECASE)


@dataclass(frozen=True)
class HookPoint:
    """A resolved hook point.

    ``io`` is ``"output"`` (hook the module's forward output) or ``"input"`` (hook its input with a
    forward-pre hook, as for ``layers.{i}.input``).
    """

    name: str
    path: str
    module: Any
    io: str = "output"
    layer: int | None = None

    def __repr__(self) -> str:
        return f"HookPoint({self.name!r}, {self.path!r}, io={self.io!r})"


def _config_layers(model: Any) -> int | None:
    cfg = getattr(model, "config", None)
    for attr in ("num_hidden_layers", "n_layer", "num_layers", "n_layers"):
        value = getattr(cfg, attr, None)
        if isinstance(value, int):
            return value
    return None


def _find_layers(model: Any) -> str | None:
    import torch.nn as nn

    expected = _config_layers(model)
    best: tuple[int, str] | None = None
    for path, mod in model.named_modules():
        if not isinstance(mod, nn.ModuleList) or len(mod) == 0:
            continue
        kinds = {type(m) for m in mod}
        if len(kinds) != 1:
            continue
        if expected is not None and len(mod) != expected:
            continue
        # prefer the list with most parameters (the decoder blocks, not e.g. a list of norms)
        size = sum(p.numel() for p in mod.parameters())
        if best is None or size > best[0]:
            best = (size, path)
    return best[1] if best else None


def _path_of(model: Any, target: Any) -> str | None:
    if target is None:
        return None
    for path, mod in model.named_modules():
        if mod is target:
            return path
    return None


def _find_final_norm(model: Any, layers_path: str) -> str | None:
    """The norm module that is a sibling of the block list (or of its parents), not in a block."""
    parts = layers_path.split(".")
    modules = dict(model.named_modules())
    # walk up from the block list's parent to the root: the first norm found beside it wins
    for depth in range(len(parts) - 1, -1, -1):
        parent_path = ".".join(parts[:depth])
        parent = modules[parent_path] if parent_path else model
        norms = [name for name, _ in parent.named_children() if _NORM.search(name)]
        if norms:
            # prefer names that say "final" when several exist
            norms.sort(key=lambda n: (0 if ("final" in n or n in {"norm", "ln_f"}) else 1, n))
            return f"{parent_path}.{norms[0]}" if parent_path else norms[0]
    return None


def _child(block: Any, pattern: re.Pattern[str]) -> str | None:
    for name, _ in block.named_children():
        if pattern.match(name):
            return name
    return None


class HookPoints:
    """The canonical hook points of one model (see the module docstring)."""

    def __init__(self, model: Any) -> None:
        import torch.nn as nn

        if not isinstance(model, nn.Module):
            raise ModelError(f"expected a torch.nn.Module, got {type(model).__name__}")
        self._model_ref = weakref.ref(model)
        self.modules: dict[str, Any] = dict(model.named_modules())
        paths = self._adapter_paths(model)
        layers_path = paths.get("layers") or _find_layers(model)
        if layers_path is None or layers_path not in self.modules:
            raise ModelError(
                f"{type(model).__name__}: no list of decoder blocks found (expected an nn.ModuleList "
                f"with one block per layer). Register an architecture adapter (kind 'adapter') for it."
            )
        self.layers_path: str = layers_path
        self.layers: Any = self.modules[layers_path]
        self.num_layers: int = len(self.layers)
        get_in = getattr(model, "get_input_embeddings", None)
        get_out = getattr(model, "get_output_embeddings", None)
        self.embed_path = paths.get("embed") or _path_of(model, get_in() if get_in else None)
        self.unembed_path = paths.get("unembed") or _path_of(model, get_out() if get_out else None)
        self.final_norm_path = paths.get("final_norm") or _find_final_norm(model, layers_path)
        block = self.layers[0]
        self.attn_rel = paths.get("attn") or _child(block, _ATTN)
        self.mlp_rel = paths.get("mlp") or _child(block, _MLP)
        self._table = self._build_table()

    @staticmethod
    def _adapter_paths(model: Any) -> dict[str, str]:
        from hooklab.plugins import get_manager

        try:
            adapters = get_manager().registry.components.get("adapter", {})
        except Exception:  # a broken registry must not break hook points on plain models
            return {}
        for comp in adapters.values():
            adapter = comp.create()
            if adapter.matches(model):
                return dict(adapter.paths(model))
        return {}

    def _build_table(self) -> dict[str, HookPoint]:
        t: dict[str, HookPoint] = {}
        m = self.modules
        if self.embed_path is not None:
            t["embed"] = HookPoint("embed", self.embed_path, m[self.embed_path])
        for i in range(self.num_layers):
            base = f"{self.layers_path}.{i}"
            t[f"layers.{i}.input"] = HookPoint(f"layers.{i}.input", base, m[base], "input", i)
            t[f"layers.{i}"] = HookPoint(f"layers.{i}", base, m[base], "output", i)
            for key, rel in (("attn", self.attn_rel), ("mlp", self.mlp_rel)):
                if rel is not None and f"{base}.{rel}" in m:
                    t[f"layers.{i}.{key}"] = HookPoint(f"layers.{i}.{key}", f"{base}.{rel}", m[f"{base}.{rel}"], "output", i)
        if self.final_norm_path is not None:
            t["final_norm"] = HookPoint("final_norm", self.final_norm_path, m[self.final_norm_path])
        if self.unembed_path is not None:
            t["unembed"] = HookPoint("unembed", self.unembed_path, m[self.unembed_path])
        return t

    # -- public API ---------------------------------------------------------------------------
    @property
    def names(self) -> list[str]:
        """Every canonical name available on this model, in model order."""
        return list(self._table)

    @property
    def final_norm(self) -> Any:
        """The final norm module. Raises :class:`ModelError` when the model has none we can find."""
        if self.final_norm_path is None:
            raise ModelError(
                f"no final norm found next to {self.layers_path!r}; the logit lens would be wrong "
                f"without it. Register an architecture adapter giving 'final_norm'."
            )
        return self.modules[self.final_norm_path]

    @property
    def unembed(self) -> Any:
        """The LM head (unembedding). Raises :class:`ModelError` when the model has none."""
        if self.unembed_path is None:
            raise ModelError(
                "no LM head (unembedding) found: load the model with AutoModelForCausalLM, or "
                "register an architecture adapter giving 'unembed'"
            )
        return self.modules[self.unembed_path]

    def summary(self) -> str:
        """A compact listing of the valid names, e.g. ``embed, layers.{0..11}, ...``."""
        n = self.num_layers
        rng = f"{{0..{n - 1}}}"
        names = ["embed"] if "embed" in self._table else []
        names += [f"layers.{rng}", f"layers.{rng}.input"]
        names += [f"layers.{rng}.{k}" for k in ("attn", "mlp") if f"layers.0.{k}" in self._table]
        names += [k for k in ("final_norm", "unembed") if k in self._table]
        return ", ".join(names)

    def resolve(self, spec: str | Iterable[str]) -> list[HookPoint]:
        """Resolve names, globs, sets or module paths to hook points (model order, no repeats).

        Raises:
            HookPointError: a name matches nothing; the message lists the valid names and
                suggests close ones.
        """
        specs = [spec] if isinstance(spec, str) else list(spec)
        out: dict[str, HookPoint] = {}
        for item in specs:
            for part in _split_top(item):
                for hp in self._resolve_one(part.strip()):
                    out.setdefault(hp.name, hp)
        order = {name: i for i, name in enumerate(self._table)}
        return sorted(out.values(), key=lambda hp: order.get(hp.name, len(order)))

    def __getitem__(self, name: str) -> HookPoint:
        points = self.resolve(name)
        if len(points) != 1:
            raise HookPointError(f"{name!r} names {len(points)} hook points; use resolve() for patterns")
        return points[0]

    def _resolve_one(self, name: str) -> list[HookPoint]:
        if not name:
            raise HookPointError("empty hook point name")
        name = re.sub(r"(?<=layers\.)-(\d+)", lambda m: str(self.num_layers - int(m.group(1))), name)
        if name in self._table:
            return [self._table[name]]
        expanded = _expand_sets(name)
        if len(expanded) > 1 or any(c in name for c in "*?["):
            hits = [hp for pat in expanded for key, hp in self._table.items() if _glob(key, pat)]
            if hits:
                return hits
        elif expanded[0] in self._table:
            return [self._table[expanded[0]]]
        if name in self.modules and name:
            return [HookPoint(name, name, self.modules[name])]
        hint = suggest(name, [*self._table, *self.modules])
        raise HookPointError(f"unknown hook point {name!r}.{hint} Valid: {self.summary()} (or any module path)")


def _split_top(spec: str) -> list[str]:
    """Split ``"a,b{1,2}"`` on commas that are not inside braces."""
    parts, depth, cur = [], 0, ""
    for ch in spec:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p for p in parts if p.strip()]


def _expand_sets(name: str) -> list[str]:
    m = re.search(r"\{([^{}]*)\}", name)
    if not m:
        return [name]
    items: list[str] = []
    for item in m.group(1).split(","):
        item = item.strip()
        rng = re.fullmatch(r"(\d+)\s*(?:\.\.|-)\s*(\d+)", item)
        items.extend(str(i) for i in range(int(rng.group(1)), int(rng.group(2)) + 1)) if rng else items.append(item)
    return [x for item in items for x in _expand_sets(name[: m.start()] + item + name[m.end():])]


def _glob(key: str, pattern: str) -> bool:
    """Segment-wise glob: ``*`` matches within one dotted segment, ``**`` matches any segments."""
    if pattern == "**":
        return True
    ks, ps = key.split("."), pattern.split(".")
    if "**" in ps:
        return fnmatch.fnmatchcase(key, pattern.replace("**", "*"))
    return len(ks) == len(ps) and all(fnmatch.fnmatchcase(k, p) for k, p in zip(ks, ps, strict=True))


_CACHE: weakref.WeakKeyDictionary[Any, HookPoints] = weakref.WeakKeyDictionary()


def hook_points(model: Any) -> HookPoints:
    """The :class:`HookPoints` of ``model`` (cached per model object)."""
    hp = _CACHE.get(model)
    if hp is None:
        hp = HookPoints(model)
        _CACHE[model] = hp
    return hp


def resolve(model: Any, spec: str | Sequence[str]) -> list[HookPoint]:
    """Shortcut for ``hook_points(model).resolve(spec)``."""
    return hook_points(model).resolve(spec)


def load_model(
    name_or_path: str,
    *,
    dtype: str | Any = "auto",
    device: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
    tokenizer: bool = True,
) -> tuple[Any, Any]:
    """Load a causal LM (and its tokenizer) from a local path or hub id, safetensors only.

    Returns ``(model, tokenizer)`` (tokenizer ``None`` when ``tokenizer=False``); the model is in
    eval mode. ``trust_remote_code`` stays off unless you turn it on.

    Raises:
        ModelError: the path/id does not exist or is not a causal LM, or dtype is unknown.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch_dtype: Any = dtype
    if isinstance(dtype, str) and dtype != "auto":
        torch_dtype = getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise ModelError(f"unknown dtype {dtype!r}; use float32, float16, bfloat16 or auto")
    try:
        model = AutoModelForCausalLM.from_pretrained(
            name_or_path, dtype=torch_dtype, revision=revision, use_safetensors=True,
            trust_remote_code=trust_remote_code,
        )
        tok = AutoTokenizer.from_pretrained(
            name_or_path, revision=revision, trust_remote_code=trust_remote_code
        ) if tokenizer else None
    except (OSError, ValueError) as exc:
        first = " ".join(str(exc).split())[:300]
        raise ModelError(f"cannot load model {name_or_path!r}: {first}") from exc
    if device:
        model = model.to(device)
    if tok is not None and tok.pad_token is None and tok.eos_token is not None:
        tok.pad_token = tok.eos_token
    return model.eval(), tok
