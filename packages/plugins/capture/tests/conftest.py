from __future__ import annotations

from pathlib import Path

import pytest

from hooklab.testing.models import corpus_documents


@pytest.fixture(scope="session")
def texts() -> list[str]:
    """20 short texts of different lengths (so batches have padding)."""
    docs = corpus_documents()
    return [" ".join(docs[i].split())[: 40 + 23 * (i % 7)] for i in range(20)]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    from hooklab.testing import save_tiny

    return save_tiny("gpt2", tmp_path_factory.mktemp("model") / "tiny-gpt2")


@pytest.fixture(scope="session")
def texts_file(tmp_path_factory, texts) -> Path:
    path = tmp_path_factory.mktemp("texts") / "texts.txt"
    path.write_text("\n".join(texts) + "\n")
    return path
