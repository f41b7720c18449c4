"""Tiny models and a locally trained tokenizer for tests, examples and benchmarks.

Nothing is downloaded: the tokenizer is a byte-level BPE trained on ``pydoc_data.topics`` (text
every Python install has) and the models are built from configs with random weights,
deterministic under a seed.

Example::

    from hooklab.testing import tiny_model, tiny_tokenizer, FAMILIES
    tok = tiny_tokenizer()
    model = tiny_model("llama", seed=0)            # vocab matches the tokenizer
    out = model(**tok("hello world", return_tensors="pt"))
    path = save_tiny("qwen2", tmp_path)             # from_pretrained(path) works offline
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

#: The eight model families the test kit builds.
FAMILIES: tuple[str, ...] = ("gpt2", "gpt_neox", "llama", "mistral", "qwen2", "gemma", "opt", "phi")

SPECIAL_TOKENS = ["<|pad|>", "<|endoftext|>", "<|bos|>"]
PAD_ID, EOS_ID, BOS_ID = 0, 1, 2

# A chat template so that chat-based code paths (apply_chat_template) work on the tiny tokenizer.
CHAT_TEMPLATE = (
    "{% for m in messages %}<|bos|>{{ m['role'] }}\n{{ m['content'] }}<|endoftext|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|bos|>assistant\n{% endif %}"
)


def corpus_text(limit: int | None = None) -> str:
    """The standard library's ``pydoc_data.topics`` help texts, joined (about 700k characters)."""
    from pydoc_data.topics import topics

    text = "\n\n".join(topics[k] for k in sorted(topics))
    return text[:limit] if limit else text


def corpus_documents() -> list[str]:
    """``pydoc_data.topics`` as a list of documents, one per help topic, sorted by topic name."""
    from pydoc_data.topics import topics

    return [topics[k] for k in sorted(topics)]


#: Standard-library packages whose source files make a second local corpus, far from the prose of
#: ``pydoc_data.topics`` (a strong distribution shift for continued-pretraining experiments).
STDLIB_PACKAGES: tuple[str, ...] = ("json", "email", "http", "asyncio", "concurrent", "logging", "xml",
                                    "urllib", "importlib", "unittest")


def stdlib_source_documents(limit_chars: int = 900_000, packages: tuple[str, ...] = STDLIB_PACKAGES) -> list[str]:
    """Python source files (over 500 characters) of ``packages`` in the standard library, one
    document per file in a fixed order, stopping once about ``limit_chars`` characters are in."""
    import sysconfig

    lib = Path(sysconfig.get_paths()["stdlib"])
    docs: list[str] = []
    total = 0
    for pkg in packages:
        for f in sorted((lib / pkg).rglob("*.py")):
            text = f.read_text(encoding="utf-8", errors="replace")
            if len(text) > 500:
                docs.append(text)
                total += len(text)
            if total >= limit_chars:
                return docs
    return docs


@functools.lru_cache(maxsize=8)
def _trained_tokenizer_json(vocab_size: int) -> str:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    docs = corpus_documents()
    tok.train_from_iterator(docs, trainer=trainer, length=len(docs))
    return tok.to_str()


def tiny_tokenizer(vocab_size: int = 512, *, padding_side: str = "right") -> Any:
    """A ``PreTrainedTokenizerFast``: byte-level BPE with ``vocab_size`` entries trained locally.

    Special tokens: ``<|pad|>`` (0), ``<|endoftext|>`` (1, eos), ``<|bos|>`` (2, bos). It has a
    chat template. Training takes about a second and is cached per process.
    """
    from tokenizers import Tokenizer
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer.from_str(_trained_tokenizer_json(vocab_size)),
        pad_token="<|pad|>",
        eos_token="<|endoftext|>",
        bos_token="<|bos|>",
        unk_token=None,
        padding_side=padding_side,
        model_max_length=1024,
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_config(
    family: str,
    *,
    vocab_size: int = 512,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 1024,
    **overrides: Any,
) -> Any:
    """A ``transformers`` config for a tiny model of ``family`` (one of :data:`FAMILIES`)."""
    import transformers as tf

    from hooklab.errors import ModelError, unknown

    ids = {"pad_token_id": PAD_ID, "eos_token_id": EOS_ID, "bos_token_id": BOS_ID}
    h, L, nh = hidden_size, num_layers, num_heads
    decoder = {
        "vocab_size": vocab_size, "hidden_size": h, "intermediate_size": 4 * h,
        "num_hidden_layers": L, "num_attention_heads": nh, "max_position_embeddings": max_positions,
    }
    if family == "gpt2":
        cfg = tf.GPT2Config(vocab_size=vocab_size, n_embd=h, n_layer=L, n_head=nh, n_positions=max_positions,
                            resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0, **ids)
    elif family == "gpt_neox":
        cfg = tf.GPTNeoXConfig(**decoder, rotary_pct=0.5, use_parallel_residual=True, **ids)
    elif family == "llama":
        cfg = tf.LlamaConfig(**decoder, num_key_value_heads=max(1, nh // 2), **ids)
    elif family == "mistral":
        cfg = tf.MistralConfig(**decoder, num_key_value_heads=max(1, nh // 2), sliding_window=None, **ids)
    elif family == "qwen2":
        cfg = tf.Qwen2Config(**decoder, num_key_value_heads=max(1, nh // 2), tie_word_embeddings=True, **ids)
    elif family == "gemma":
        cfg = tf.GemmaConfig(**decoder, num_key_value_heads=1, head_dim=h // nh, **ids)
    elif family == "opt":
        cfg = tf.OPTConfig(vocab_size=vocab_size, hidden_size=h, ffn_dim=4 * h, num_hidden_layers=L,
                           num_attention_heads=nh, max_position_embeddings=max_positions,
                           word_embed_proj_dim=h, dropout=0.0, attention_dropout=0.0, **ids)
    elif family == "phi":
        cfg = tf.PhiConfig(**decoder, partial_rotary_factor=0.5, **ids)
    else:
        raise ModelError(unknown("tiny model family", family, FAMILIES))
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def tiny_model(family: str = "gpt2", *, seed: int = 0, dtype: Any = None, **config: Any) -> Any:
    """A randomly initialised causal LM of ``family``, deterministic for ``seed``, in eval mode.

    ``config`` goes to :func:`tiny_config` (``vocab_size``, ``hidden_size``, ``num_layers``...).
    """
    import torch
    from transformers import AutoModelForCausalLM

    cfg = tiny_config(family, **config)
    state = torch.random.get_rng_state()
    try:
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
    finally:
        torch.random.set_rng_state(state)
    if dtype is not None:
        model = model.to(dtype)
    return model.eval()


def save_tiny(family: str, path: str | Path, *, seed: int = 0, vocab_size: int = 512, **config: Any) -> Path:
    """Save a tiny model of ``family`` and the tiny tokenizer to ``path`` (safetensors) and return
    the path; ``AutoModelForCausalLM.from_pretrained(path)`` loads it offline."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tiny_model(family, seed=seed, vocab_size=vocab_size, **config).save_pretrained(path, safe_serialization=True)
    tiny_tokenizer(vocab_size).save_pretrained(path)
    return path
