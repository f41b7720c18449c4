"""hooklab-lens: the logit lens, exact on every architecture and memory-bounded.

Example::

    from hooklab_lens import logit_lens
    result = logit_lens(model, tokenizer, "The capital of France is", points="resid,attn")
    print(result.table())                 # layer -> top-1 token, like the seed's printout
    result.plot(kind="rank", path="lens.png")
    result.to_pandas()

Importing this package imports neither torch nor transformers (they load on first use).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["LensConfig", "LensResult", "LogitLensProbe", "logit_lens"]


def __getattr__(name: str) -> Any:
    # lazy: the plugin entry point imports this package and must stay torch-free
    if name in {"logit_lens", "LogitLensProbe"}:
        from hooklab_lens import lens

        return getattr(lens, name)
    if name == "LensResult":
        from hooklab_lens.result import LensResult

        return LensResult
    if name == "LensConfig":
        from hooklab_lens.config import LensConfig

        return LensConfig
    raise AttributeError(f"module 'hooklab_lens' has no attribute {name!r}")
