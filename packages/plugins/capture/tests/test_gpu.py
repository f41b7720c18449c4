"""The GPU cell: capture on CUDA, float16 model, Parquet equals memory, hooks all removed."""

from __future__ import annotations

import pytest
import torch

from hooklab.hooks import list_hooks
from hooklab.testing import tiny_model
from hooklab_capture.capture import capture, check_device_dtype, load_capture

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_cuda_float16_capture_parquet_equals_memory(family, tiny_tokenizer, texts, tmp_path):
    check_device_dtype("cuda", "float16")
    model = tiny_model(family, num_layers=2, dtype=torch.float16).to("cuda")
    mem = capture(model, tiny_tokenizer, texts, "layers.*", batch_size=4, max_length=32, shard_texts=8)
    capture(model, tiny_tokenizer, texts, "layers.*", batch_size=4, max_length=32, shard_texts=8, out=tmp_path)
    disk = load_capture(tmp_path)
    assert mem["layers.1"].dtype == torch.float16 and mem["layers.1"].device.type == "cpu"
    assert torch.equal(disk["layers.1"], mem["layers.1"])
    # CUDA float16 is close to the CPU float32 result
    cpu = capture(tiny_model(family, num_layers=2), tiny_tokenizer, texts, "layers.*", batch_size=4,
                  max_length=32, shard_texts=8)
    torch.testing.assert_close(mem["layers.1"].float(), cpu["layers.1"], rtol=2e-2, atol=2e-2)
    assert list_hooks(model) == []
