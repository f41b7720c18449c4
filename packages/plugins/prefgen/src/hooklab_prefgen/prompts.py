"""The prompt: the seed's system message and template (the defaults), and how to render them."""

from __future__ import annotations

from pathlib import Path

from hooklab.errors import ConfigError

DEFAULT_SYSTEM = (
    "You are a helpful assistant who generates instruction-answer triples based on the given "
    "context. Each triple should include an instruction, a generated answer, and an extracted "
    "answer from the context. Provide your response in JSON format."
)

#: The seed's prompt. ``{extract}`` is the chunk, ``{n}`` the number of triples (``{n_words}``
#: spells it: "five"). Literal braces are doubled, as in ``str.format``.
DEFAULT_TEMPLATE = """Based on the following extract, generate {n_words} instruction-answer triples. Each triple should consist of:
1. An instruction asking about a specific topic in the context.
2. A generated answer that attempts to answer the instruction based on the context.
3. An extracted answer that is a relevant excerpt directly from the given context.

Instructions must be self-contained and general, without explicitly mentioning a context, system, course, or extract.

Important:
- Ensure that the extracted answer is a verbatim copy from the context, including all punctuation and apostrophes.
- Do not add any ellipsis (...) or [...] to indicate skipped text in the extracted answer.
- If the relevant text is not continuous, use two separate sentences from the context instead of skipping text.

Provide your response in JSON format with the following structure:
{{
    "preference_triples": [
        {{
            "instruction": "...",
            "generated_answer": "...",
            "extracted_answer": "..."
        }},
        ...
    ]
}}

Extract:
{extract}
"""

_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]


def load_template(path: str | Path) -> str:
    """Read a template file. Raises :class:`ConfigError` when it is missing or lacks ``{extract}``."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"prompt template not found: {p}")
    text = p.read_text(encoding="utf-8")
    check_template(text)
    return text


def check_template(template: str) -> None:
    """Raise :class:`ConfigError` unless ``template`` formats with ``extract``, ``n``, ``n_words``."""
    if "{extract}" not in template:
        raise ConfigError("the prompt template must contain {extract} (where the chunk goes)")
    try:
        template.format(extract="", n=5, n_words="five")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(f"the prompt template does not format: {exc!r}; placeholders are "
                          "{extract}, {n}, {n_words}; double literal braces as {{ }}") from None


def render_prompt(template: str, extract: str, n: int) -> str:
    """The user message for one chunk."""
    words = _WORDS[n] if 0 <= n < len(_WORDS) else str(n)
    return template.format(extract=extract, n=n, n_words=words)
