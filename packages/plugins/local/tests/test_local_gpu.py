"""The local backend on a CUDA device (run by the gpu cells of `nox -s tests`)."""

from __future__ import annotations

import pytest

from hooklab.llm import BatchRunner, LLMRequest
from hooklab.testing import save_tiny

torch = pytest.importorskip("torch")
pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")]


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_batched_generation_on_cuda_matches_one_by_one(tmp_path, dtype):
    from hooklab_local.backend import LocalBackend

    path = save_tiny("qwen2", tmp_path / "m", num_layers=2, hidden_size=64)
    reqs = [LLMRequest.chat(f"Prompt {i}: {'more words ' * i}", max_tokens=8) for i in range(8)]
    batched = LocalBackend(model=str(path), batch_size=8, dtype=dtype, batch_wait_s=0.05)
    together = BatchRunner(batched, {"concurrency": 8}).run(reqs)
    assert next(batched.load()[0].parameters()).device.type == "cuda"  # the default device
    single = LocalBackend(model=str(path), batch_size=1, dtype=dtype)
    alone = [single.complete_sync(r) for r in reqs]
    assert all(r.ok for r in together)
    if dtype == "float32":
        assert [r.response.text for r in together] == [a.text for a in alone]
    assert [r.response.usage.prompt_tokens for r in together] == [a.usage.prompt_tokens for a in alone]
