"""Activation addition: steer a model by adding a direction to its residual stream."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hooklab.errors import ConfigError, DataError


class SteerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    point: str = Field("layers.0", description="hook point whose output is steered (one point)")
    scale: float = Field(4.0, description="multiplier of the unit direction")
    plus: str | None = Field(None, description="prompt whose mean residual is the + side")
    minus: str | None = Field(None, description="prompt whose mean residual is the - side")
    direction: list[float] | None = Field(None, description="an explicit direction instead of plus/minus")

    @model_validator(mode="after")
    def _source(self) -> SteerConfig:
        if self.direction is None and not (self.plus and self.minus):
            raise ValueError("give plus and minus prompts, or an explicit direction")
        return self


@dataclass
class SteerResult:
    rows: list[dict[str, Any]]
    direction: list[float]
    generations: dict[str, str] = field(default_factory=dict)

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        if path.suffix == ".json":
            path.write_text(json.dumps({"rows": self.rows, "generations": self.generations}, indent=2))
        else:
            self.to_pandas().to_parquet(path)
        return path


def _ids(tokenizer: Any, text: str) -> Any:
    if not text:
        raise DataError("empty text: nothing to steer")
    return tokenizer(text, return_tensors="pt").input_ids


def mean_residual(model: Any, tokenizer: Any, text: str, point: str) -> Any:
    """The mean over positions of the activation at ``point`` for ``text``: shape [hidden]."""
    import torch

    from hooklab.hooks import capture_activations

    with torch.no_grad(), capture_activations(model, point) as cache:
        model(_ids(tokenizer, text))
    (act,) = cache.values()
    return act[0].float().mean(dim=0)


class SteeringProbe:
    def __init__(self, cfg: SteerConfig) -> None:
        self.cfg = cfg

    def direction(self, model: Any, tokenizer: Any) -> Any:
        """The unit steering direction (plus - minus, or the given vector)."""
        import torch

        if self.cfg.direction is not None:
            d = torch.tensor(self.cfg.direction, dtype=torch.float32)
        else:
            d = (mean_residual(model, tokenizer, self.cfg.plus or "", self.cfg.point)
                 - mean_residual(model, tokenizer, self.cfg.minus or "", self.cfg.point))
        hidden = model.get_input_embeddings().weight.shape[1]
        if d.numel() != hidden:
            raise ConfigError(f"direction has {d.numel()} values; the model's hidden size is {hidden}")
        norm = d.norm()
        if norm == 0:
            raise DataError("plus and minus give the same residual: the direction is zero")
        return d / norm

    def run(self, model: Any, inputs: Any, *, tokenizer: Any, max_new_tokens: int = 0, **_: Any) -> SteerResult:
        """Compare the model with and without the steering vector on ``inputs`` (a string)."""
        import torch

        from hooklab.hooks import Hooks

        ids = _ids(tokenizer, inputs)
        unit = self.direction(model, tokenizer)
        delta = self.cfg.scale * unit

        def add(act: Any, hook: Any) -> Any:
            return act + delta.to(act.dtype).to(act.device)

        with torch.no_grad():
            base = model(ids).logits[0].float()
            with Hooks(model, owner="hooklab-steering") as h:
                h.forward(self.cfg.point, add)
                steered = model(ids).logits[0].float()
        lp_b, lp_s = base.log_softmax(-1), steered.log_softmax(-1)
        kl = (lp_b.exp() * (lp_b - lp_s)).sum(-1)
        rows = []
        for pos in range(ids.shape[1]):
            rows.append({
                "position": pos, "token": tokenizer.decode([int(ids[0, pos])]),
                "top1_base": tokenizer.decode([int(base[pos].argmax())]),
                "top1_steered": tokenizer.decode([int(steered[pos].argmax())]),
                "kl": float(kl[pos]),
            })
        gens: dict[str, str] = {}
        if max_new_tokens > 0:
            gens["base"] = self._generate(model, tokenizer, ids, max_new_tokens, None)
            gens["steered"] = self._generate(model, tokenizer, ids, max_new_tokens, add)
        return SteerResult(rows, unit.tolist(), gens)

    def _generate(self, model: Any, tokenizer: Any, ids: Any, n: int, add: Any) -> str:
        import torch

        from hooklab.hooks import Hooks

        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        with torch.no_grad(), Hooks(model, owner="hooklab-steering") as h:
            if add is not None:
                h.forward(self.cfg.point, add)
            out = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=n,
                                 do_sample=False, pad_token_id=pad)
        return str(tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True))
