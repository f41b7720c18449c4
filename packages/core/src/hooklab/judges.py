"""LLM-as-judge: pairwise (A/B) verdicts and absolute (1-5) scores over any LLM backend.

A judge is this module's logic plus a backend (``hooklab.get("backend", ...)``): the prompts, the
robust parsing of what the model answered, position randomization, mapping verdicts back to the
original answers, and the dataset operations. The bias and quality report lives in
:mod:`hooklab.judge_report`. Nothing here imports torch or an LLM client.

Example (any backend; ``openai`` and ``local`` register judges of the same names)::

    import hooklab
    from hooklab.judges import PairItem

    judge = hooklab.get("judge", "openai", backend={"model": "gpt-4o-mini"}, order="both")
    result = judge.pairwise([PairItem("q1", "What is 2+2?", "4", "5")])
    result.verdicts[0].winner            # "answer1", "answer2", "tie" or None (invalid)
    result.report().table()              # position / length bias, invalid rate

The pairwise prompt is the seed's answer-judge prompt ("Reasoning: ... Best answer: (A or B)");
the score prompt is the seed's "rate on a scale of 1-5 based on relevance, coherence and
helpfulness". Both are templates you can replace.

Position randomization is per item and seeded by ``(seed, item id)`` only, so the same item is
shown in the same order on every run (a resumed run hits the backend's journal). With
``order="both"`` every item is judged in both orders and a disagreement becomes a tie, as
FastChat's MT-Bench judge does.
"""

from __future__ import annotations

import json
import random
import re
import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hooklab.errors import ConfigError, DataError

Winner = Literal["answer1", "answer2", "tie"]
Position = Literal["A", "B", "tie"]

# -- prompts --------------------------------------------------------------------------------------

PAIRWISE_CRITERIA = "relevance, accuracy, completeness, clarity, structure, and conciseness"
SCORE_CRITERIA = "relevance, coherence, and helpfulness"

#: The seed's answer-judge prompt, verbatim apart from the criteria placeholder and line breaks.
PAIRWISE_TEMPLATE = (
    "You are an answer judge. Your goal is to compare answer A and answer B. I want to know which "
    "answer does a better job of answering the instruction in terms of {criteria}.\n\n"
    "Instruction: {instruction}\n\n"
    "Answer A: {answer_a}\n\n"
    "Answer B: {answer_b}\n\n"
    "Explain your reasoning step by step and output the letter of the best answer using the "
    "following structure:\n\n"
    "Reasoning: (compare the two answers)\n"
    "Best answer: (A or B)"
)

#: The seed's absolute-scoring prompt with an answer structure that can be parsed.
SCORE_TEMPLATE = (
    "Rate the following response on a scale of {low}-{high} based on {criteria}.\n\n"
    "Instruction: {instruction}\n\n"
    "Response: {answer}\n\n"
    "Explain your reasoning, then give the score using the following structure:\n\n"
    "Reasoning: (your reasoning)\n"
    "Score: (a number from {low} to {high})"
)

_PAIRWISE_FIELDS = {"instruction", "answer_a", "answer_b", "criteria"}
_SCORE_FIELDS = {"instruction", "answer", "criteria", "low", "high"}


def _template_fields(template: str) -> set[str]:
    try:
        return {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:
        raise ConfigError(f"judge template does not parse ({exc}); escape literal braces as {{{{ }}}}") from None


def _check_template(template: str, allowed: set[str], required: set[str], what: str) -> str:
    fields = _template_fields(template)
    bad = fields - allowed
    if bad:
        raise ConfigError(
            f"{what} template uses unknown field(s) {sorted(bad)}; allowed: {sorted(allowed)}"
        )
    missing = required - fields
    if missing:
        raise ConfigError(f"{what} template must contain {sorted('{' + m + '}' for m in missing)}")
    return template


# -- configs --------------------------------------------------------------------------------------


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FewShotPair(_Config):
    """One pairwise example shown before the real question (user turn + assistant answer)."""

    instruction: str
    answer_a: str
    answer_b: str
    output: str = Field(description="the judge's ideal answer, ending with 'Best answer: A' or 'B'")


class FewShotScore(_Config):
    """One scoring example shown before the real question."""

    instruction: str
    answer: str
    output: str = Field(description="the judge's ideal answer, ending with 'Score: N'")


class PairwiseConfig(_Config):
    """How a pairwise judge asks and decides."""

    template: str = PAIRWISE_TEMPLATE
    criteria: str = PAIRWISE_CRITERIA
    system: str | None = None
    few_shot: list[FewShotPair] = Field(default_factory=list)
    order: Literal["random", "both", "fixed"] = Field(
        default="random",
        description="random: a seeded A/B order per item; both: judge both orders, disagreement = "
        "tie; fixed: answer1 is always A (only to measure position bias)",
    )
    seed: int = 0
    allow_tie: bool = Field(default=False, description="accept 'Best answer: tie' as a verdict")
    balanced_few_shot: bool = Field(
        default=True, description="require the few-shot verdicts to be balanced (A and B counts "
        "differ by at most one): unbalanced examples teach a position bias")

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        return _check_template(v, _PAIRWISE_FIELDS, {"instruction", "answer_a", "answer_b"}, "pairwise")

    @model_validator(mode="after")
    def _few_shot_parse(self) -> PairwiseConfig:
        verdicts = [parse_verdict(ex.output, allow_tie=True) for ex in self.few_shot]
        if any(v is None for v in verdicts):
            raise ConfigError("every few-shot example's output must end with 'Best answer: A' (or B)")
        a, b = verdicts.count("A"), verdicts.count("B")
        if self.balanced_few_shot and abs(a - b) > 1:
            raise ConfigError(
                f"few-shot verdicts are unbalanced ({a} A, {b} B): they would teach a position bias; "
                f"add examples for the other letter or set balanced_few_shot=false")
        return self


class ScoreConfig(_Config):
    """How a score judge asks and parses."""

    template: str = SCORE_TEMPLATE
    criteria: str = SCORE_CRITERIA
    low: int = 1
    high: int = 5
    system: str | None = None
    few_shot: list[FewShotScore] = Field(default_factory=list)

    @field_validator("template")
    @classmethod
    def _template(cls, v: str) -> str:
        return _check_template(v, _SCORE_FIELDS, {"answer"}, "score")

    @model_validator(mode="after")
    def _scale(self) -> ScoreConfig:
        if self.high <= self.low:
            raise ConfigError(f"score scale: high ({self.high}) must be above low ({self.low})")
        for ex in self.few_shot:
            if parse_score(ex.output, self.low, self.high) is None:
                raise ConfigError(
                    f"few-shot example output must end with 'Score: N' ({self.low}..{self.high})"
                )
        return self


class JudgeConfig(_Config):
    """Everything ``hooklab.get("judge", NAME, ...)`` accepts.

    ``backend`` holds the options of the backend the judge runs on (model, base_url, ...);
    ``pairwise`` and ``score`` configure the two kinds of question. ``order`` and ``seed`` are
    shortcuts for ``pairwise.order`` / ``pairwise.seed``.
    """

    backend: dict[str, Any] = Field(default_factory=dict)
    name: str | None = Field(default=None, description="label in reports (default: backend:model)")
    family: str | None = Field(
        default=None, description="the judge model's family, e.g. 'llama': the report measures how "
        "often answers whose source contains it win (family bias)")
    pairwise: PairwiseConfig = Field(default_factory=PairwiseConfig)
    score: ScoreConfig = Field(default_factory=ScoreConfig)
    order: Literal["random", "both", "fixed"] | None = None
    seed: int | None = None
    temperature: float = 0.0
    max_tokens: int = 512
    runner: dict[str, Any] = Field(
        default_factory=dict, description="batch runner options: concurrency, rpm, tpm, max_retries, ...")
    journal: str | None = Field(default=None, description="run journal path: a rerun skips finished requests")

    @model_validator(mode="after")
    def _shortcuts(self) -> JudgeConfig:
        if self.order is not None:
            self.pairwise.order = self.order
        if self.seed is not None:
            self.pairwise.seed = self.seed
        return self


# -- parsing --------------------------------------------------------------------------------------

# "Best answer: A", "**Best answer:** (B)", "Best Answer - [A]", "best answer: Answer A" ... but
# never the template's own "Best answer: (A or B)" echoed back. The letter must be a capital:
# "the best answer is a matter of taste" names no answer.
_LETTER = r"[\s*_\"'`\(\[]*(?:answer\s+)?((?-i:[AB]))\b(?![ \t]*(?:or|/|and|,)[ \t]*\(?[AB]\b)"
_VERDICT_RE = re.compile(r"best[\s*_]*answer[\s*_]*(?:is|:|-|–|=)?" + _LETTER, re.IGNORECASE)
_TIE_RE = re.compile(
    r"best[\s*_]*answer[\s*_]*(?:is|:|-|–|=)?[\s*_\"'`\(\[]*(tie|both|neither|equal)", re.IGNORECASE
)
_BRACKET_RE = re.compile(r"\[\[\s*(A|B|C|tie)\s*\]\]", re.IGNORECASE)  # FastChat's [[A]] / [[C]]
_BARE_RE = re.compile(r"^[\s*_\"'`\(\[]*(?:answer\s+)?([AB])[\s*_\"'`\)\].]*$", re.IGNORECASE)
_SCORE_RE = re.compile(
    r"(?:score|rating)[\s*_]*(?:is|:|=|-)?[\s*_\"'`\(\[]*(-?\d+(?:\.\d+)?)(?:\s*(?:/|out\s+of)\s*\d+)?",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"^[\s*_\"'`\(\[]*(-?\d+(?:\.\d+)?)(?:\s*(?:/|out\s+of)\s*\d+)?[\s*_\"'`\)\].]*$", re.IGNORECASE)
_REASONING_RE = re.compile(
    r"reasoning[\s*_]*:?[\s*_]*(.*?)(?=\n?[\s*_]*(?:best[\s*_]*answer|score|rating)\b|\Z)",
    re.IGNORECASE | re.DOTALL,
)
_JSON_VERDICT_KEYS = ("best_answer", "best answer", "best", "winner", "verdict", "answer")
_JSON_SCORE_KEYS = ("score", "rating")


def _json_object(text: str) -> dict[str, Any] | None:
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        obj = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return obj if isinstance(obj, dict) else None


def _letter(value: Any, allow_tie: bool) -> Position | None:
    if not isinstance(value, str):
        return None
    v = value.strip().strip("()[]*\"' .").upper().removeprefix("ANSWER ").strip()
    if v in ("A", "B"):
        return v  # type: ignore[return-value]
    if allow_tie and v in ("TIE", "C", "BOTH", "NEITHER", "EQUAL"):
        return "tie"
    return None


def parse_verdict(text: str | None, *, allow_tie: bool = False) -> Position | None:
    """Read the judge's choice from its answer.

    Accepts the seed's ``Best answer: A`` (with markdown, brackets, ``Answer B``, any case; the
    last such line wins), FastChat's ``[[A]]``, a JSON object with a ``best_answer``/``winner``
    key, or an answer that is just the letter. Returns ``"A"``, ``"B"``, ``"tie"`` (only with
    ``allow_tie``) or ``None`` when the answer is garbage or names both letters.
    """
    if not text or not text.strip():
        return None
    hits: list[tuple[int, Position]] = [(m.start(), m.group(1).upper()) for m in _VERDICT_RE.finditer(text)]  # type: ignore[misc]
    if allow_tie:
        hits += [(m.start(), "tie") for m in _TIE_RE.finditer(text)]
    if hits:
        return max(hits)[1]
    brackets = _BRACKET_RE.findall(text)
    if brackets:
        return _letter(brackets[-1], allow_tie)
    obj = _json_object(text)
    if obj is not None:
        for key in _JSON_VERDICT_KEYS:
            if key in obj:
                return _letter(obj[key], allow_tie)
    bare = _BARE_RE.match(text)
    return bare.group(1).upper() if bare else None  # type: ignore[return-value]


def _number(raw: Any, low: int, high: int) -> int | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    if value != int(value) or not low <= value <= high:
        return None
    return int(value)


def parse_score(text: str | None, low: int = 1, high: int = 5) -> int | None:
    """Read an integer score in ``[low, high]`` from the judge's answer.

    Accepts ``Score: 4``, ``Rating: 4/5``, ``**Score:** 4 out of 5`` (the last one wins), a JSON
    object with a ``score`` key, or an answer that is just the number. Returns ``None`` for
    garbage, a number out of range, or a fraction: an invalid answer is never turned into a score.
    """
    if not text or not text.strip():
        return None
    hits = _SCORE_RE.findall(text)
    if hits:
        return _number(hits[-1], low, high)
    obj = _json_object(text)
    if obj is not None:
        for key in _JSON_SCORE_KEYS:
            if key in obj:
                return _number(obj[key], low, high)
    bare = _NUMBER_RE.match(text)
    return _number(bare.group(1), low, high) if bare else None


def parse_reasoning(text: str | None) -> str:
    """The text after ``Reasoning:`` and before the verdict/score line ('' if absent)."""
    if not text:
        return ""
    m = _REASONING_RE.search(text)
    return m.group(1).strip() if m else ""


# -- items and results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PairItem:
    """One pairwise question: which of ``answer1`` / ``answer2`` answers ``prompt`` better."""

    id: str
    prompt: str
    answer1: str
    answer2: str
    source1: str | None = None  # who wrote answer1 (a model name), for the family-bias statistic
    source2: str | None = None


@dataclass(frozen=True)
class ScoreItem:
    """One scoring question: how good is ``answer`` to ``prompt``."""

    id: str
    prompt: str
    answer: str


@dataclass
class JudgeCall:
    """One request to the judge model and what came back.

    ``order`` is ``"12"`` when answer1 was shown as A, ``"21"`` when answer2 was. ``verdict`` is
    the position the model chose; ``winner`` the same choice mapped back to the original answers.
    ``raw`` is the model's text (``None`` when the request itself failed; then ``error`` says why).
    """

    order: str
    verdict: Position | None
    winner: Winner | None
    raw: str | None
    error: str | None = None
    len_a: int = 0
    len_b: int = 0
    reasoning: str = ""


@dataclass
class PairVerdict:
    """The final verdict on one pair. ``winner`` is ``None`` when the judge gave no valid answer.

    ``consistent`` (``order="both"`` only): whether both orders named the same answer; ``None``
    when either call was invalid.
    """

    id: str
    winner: Winner | None
    calls: list[JudgeCall]
    consistent: bool | None = None
    len1: int = 0
    len2: int = 0
    source1: str | None = None
    source2: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> PairVerdict:
        calls = [JudgeCall(**c) for c in d.get("calls", [])]
        return cls(d["id"], d.get("winner"), calls, d.get("consistent"), d.get("len1", 0), d.get("len2", 0),
                   d.get("source1"), d.get("source2"))


@dataclass
class ScoreVerdict:
    """The score of one answer (``None`` = invalid: see ``raw`` and ``error``)."""

    id: str
    score: int | None
    raw: str | None
    error: str | None = None
    reasoning: str = ""
    length: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ScoreVerdict:
        return cls(d["id"], d.get("score"), d.get("raw"), d.get("error"), d.get("reasoning") or "",
                   d.get("length", 0))


@dataclass
class PairwiseResult:
    """The verdicts of one judge over a list of pairs (in input order). ``family`` is the judge
    model's family (for the family-bias statistic), when known."""

    judge: str
    verdicts: list[PairVerdict]
    order: str = "random"
    family: str | None = None
    kind: str = field(default="pairwise", init=False)

    def by_id(self) -> dict[str, PairVerdict]:
        return {v.id: v for v in self.verdicts}

    def to_records(self) -> list[dict[str, Any]]:
        """One flat dict per pair: id, winner, consistent, lengths and the raw outputs."""
        rows = []
        for v in self.verdicts:
            row: dict[str, Any] = {"judge": self.judge, "id": v.id, "winner": v.winner,
                                   "consistent": v.consistent, "len1": v.len1, "len2": v.len2}
            for i, c in enumerate(v.calls):
                row[f"order_{i}"] = c.order
                row[f"verdict_{i}"] = c.verdict
                row[f"raw_{i}"] = c.raw
                row[f"error_{i}"] = c.error
            rows.append(row)
        return rows

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.to_records())

    def report(self) -> Any:
        """The bias and quality report (:class:`hooklab.judge_report.JudgeReport`)."""
        from hooklab.judge_report import report

        return report([self])

    def save(self, path: str | Path) -> Path:
        """Write the verdicts (raw outputs included) as JSON Lines; returns the path."""
        return _save_jsonl(path, {"judge": self.judge, "kind": self.kind, "order": self.order,
                                  "family": self.family}, [v.to_dict() for v in self.verdicts])

    @classmethod
    def load(cls, path: str | Path) -> PairwiseResult:
        head, rows = _load_jsonl(path, "pairwise")
        return cls(head.get("judge", Path(path).stem), [PairVerdict.from_dict(r) for r in rows],
                   head.get("order", "random"), head.get("family"))


@dataclass
class ScoreResult:
    """The scores of one judge over a list of answers (in input order)."""

    judge: str
    verdicts: list[ScoreVerdict]
    low: int = 1
    high: int = 5
    kind: str = field(default="score", init=False)

    def by_id(self) -> dict[str, ScoreVerdict]:
        return {v.id: v for v in self.verdicts}

    def to_records(self) -> list[dict[str, Any]]:
        return [{"judge": self.judge, **v.to_dict()} for v in self.verdicts]

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.to_records())

    def report(self) -> Any:
        from hooklab.judge_report import report

        return report([self])

    def save(self, path: str | Path) -> Path:
        return _save_jsonl(path, {"judge": self.judge, "kind": self.kind, "low": self.low, "high": self.high},
                           [v.to_dict() for v in self.verdicts])

    @classmethod
    def load(cls, path: str | Path) -> ScoreResult:
        head, rows = _load_jsonl(path, "score")
        return cls(head.get("judge", Path(path).stem), [ScoreVerdict.from_dict(r) for r in rows],
                   head.get("low", 1), head.get("high", 5))


def _save_jsonl(path: str | Path, head: dict[str, Any], rows: list[dict[str, Any]]) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    with p.open("w", encoding="utf-8") as f:
        f.write(json.dumps({"_header": head}) + "\n")
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    return p


def _load_jsonl(path: str | Path, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"judge results not found: {p}")
    head: dict[str, Any] = {}
    rows = []
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            raise DataError(f"{p}:{n}: not JSON; is this a file written by a hooklab judge?") from None
        if "_header" in obj:
            head = obj["_header"]
        else:
            rows.append(obj)
    if kind != "any" and head.get("kind", kind) != kind:
        raise DataError(f"{p} holds {head.get('kind')} results, not {kind} results")
    return head, rows


def load_result(path: str | Path) -> PairwiseResult | ScoreResult:
    """Load a saved pairwise or score result (the kind is read from the file's header line)."""
    head, _ = _load_jsonl(path, "any")
    return ScoreResult.load(path) if head.get("kind") == "score" else PairwiseResult.load(path)


# -- building the requests ------------------------------------------------------------------------


def presentation_orders(item_id: str, order: str, seed: int) -> list[str]:
    """The orders in which an item is shown: ``["12"]`` (answer1 as A), ``["21"]``, or both.

    ``random`` draws from an RNG seeded by ``(seed, item_id)`` alone, so the order of an item never
    depends on the other items or on how many ran before (resumable, reproducible).
    """
    if order == "both":
        return ["12", "21"]
    if order == "fixed":
        return ["12"]
    if order != "random":
        raise ConfigError(f"unknown order {order!r}: use random, both or fixed")
    rng = random.Random(f"hooklab-judge:{seed}:{item_id}")
    return ["12" if rng.random() < 0.5 else "21"]


def pairwise_messages(config: PairwiseConfig, prompt: str, answer_a: str, answer_b: str) -> list[dict[str, str]]:
    """The chat messages that ask the judge to compare ``answer_a`` and ``answer_b``."""
    def fill(instruction: str, a: str, b: str) -> str:
        return config.template.format_map(
            {"instruction": instruction, "answer_a": a, "answer_b": b, "criteria": config.criteria}
        )

    messages: list[dict[str, str]] = []
    if config.system:
        messages.append({"role": "system", "content": config.system})
    for ex in config.few_shot:
        messages.append({"role": "user", "content": fill(ex.instruction, ex.answer_a, ex.answer_b)})
        messages.append({"role": "assistant", "content": ex.output})
    messages.append({"role": "user", "content": fill(prompt, answer_a, answer_b)})
    return messages


def score_messages(config: ScoreConfig, prompt: str, answer: str) -> list[dict[str, str]]:
    """The chat messages that ask the judge to score ``answer``."""
    def fill(instruction: str, a: str) -> str:
        return config.template.format_map({"instruction": instruction, "answer": a, "criteria": config.criteria,
                                           "low": config.low, "high": config.high})

    messages: list[dict[str, str]] = []
    if config.system:
        messages.append({"role": "system", "content": config.system})
    for ex in config.few_shot:
        messages.append({"role": "user", "content": fill(ex.instruction, ex.answer)})
        messages.append({"role": "assistant", "content": ex.output})
    messages.append({"role": "user", "content": fill(prompt, answer)})
    return messages


def map_back(verdict: Position | None, order: str) -> Winner | None:
    """Map a position verdict (``A``/``B``/``tie``) shown in ``order`` back to the answers."""
    if verdict is None:
        return None
    if verdict == "tie":
        return "tie"
    first = verdict == "A"
    if order == "12":
        return "answer1" if first else "answer2"
    return "answer2" if first else "answer1"


def combine(calls: Sequence[JudgeCall]) -> tuple[Winner | None, bool | None]:
    """The final winner of one item from its calls, and whether the orders agreed.

    One call: its winner. Two calls (both orders): the common winner when they agree, ``"tie"``
    when they disagree (FastChat's rule), ``None`` when either is invalid.
    """
    if len(calls) == 1:
        return calls[0].winner, None
    winners = [c.winner for c in calls]
    if any(w is None for w in winners):
        return None, None
    if all(w == winners[0] for w in winners):
        return winners[0], True
    return "tie", False


# -- items from data ------------------------------------------------------------------------------


def _text(row: Mapping[str, Any], key: str, where: str) -> str:
    value = row.get(key)
    if value is None:
        raise DataError(f"{where}: missing column {key!r} (columns: {sorted(row)})")
    if isinstance(value, list):  # chat format: the last message's content
        value = value[-1].get("content", "") if value and isinstance(value[-1], dict) else str(value)
    return str(value)


def pair_items(rows: Iterable[Mapping[str, Any]], *, prompt: str = "prompt", answer1: str = "chosen",
               answer2: str = "rejected", id: str = "id", source1: str | None = None,
               source2: str | None = None) -> list[PairItem]:
    """Pairs from records (a preference dataset: ``prompt``/``chosen``/``rejected`` by default).

    The id is the ``id`` column when present, else the row number. ``source1``/``source2`` name
    optional columns saying which model wrote each answer (for the family-bias statistic).
    Raises :class:`DataError` when a column is missing or ids repeat.
    """
    items = []
    for i, row in enumerate(rows):
        where = f"row {i}"
        src1 = _text(row, source1, where) if source1 else None
        src2 = _text(row, source2, where) if source2 else None
        items.append(PairItem(str(row.get(id, i)), _text(row, prompt, where), _text(row, answer1, where),
                              _text(row, answer2, where), src1, src2))
    _unique([it.id for it in items])
    if not items:
        raise DataError("no pairs to judge: the input is empty")
    return items


def score_items(rows: Iterable[Mapping[str, Any]], *, prompt: str = "prompt", answer: str = "answer",
                id: str = "id") -> list[ScoreItem]:
    """Answers to score from records with ``prompt`` and ``answer`` columns (see :func:`pair_items`)."""
    items = [ScoreItem(str(row.get(id, i)), _text(row, prompt, f"row {i}"), _text(row, answer, f"row {i}"))
             for i, row in enumerate(rows)]
    _unique([it.id for it in items])
    if not items:
        raise DataError("no answers to score: the input is empty")
    return items


def candidate_items(rows: Iterable[Mapping[str, Any]], *, prompt: str = "prompt", candidates: str = "candidates",
                    id: str = "id") -> tuple[list[ScoreItem], dict[str, list[str]]]:
    """Flatten ``{prompt, candidates: [answer, ...]}`` records into score items.

    Returns the items (id ``"{row id}#{k}"``) and, per row id, the ids of its candidates in order.
    """
    items: list[ScoreItem] = []
    groups: dict[str, list[str]] = {}
    for i, row in enumerate(rows):
        rid = str(row.get(id, i))
        answers = row.get(candidates)
        if not isinstance(answers, list) or not answers:
            raise DataError(f"row {i}: column {candidates!r} must be a non-empty list of answers")
        text = _text(row, prompt, f"row {i}")
        groups[rid] = []
        for k, a in enumerate(answers):
            items.append(ScoreItem(f"{rid}#{k}", text, str(a)))
            groups[rid].append(f"{rid}#{k}")
    _unique([it.id for it in items])
    return items, groups


def _unique(ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise DataError(f"duplicate item id {i!r}: ids must be unique (they key the journal and the order)")
        seen.add(i)


# -- the judge ------------------------------------------------------------------------------------


class Judge:
    """A judge: this module's prompts and parsing over an LLM backend.

    Every request of a run goes through one :class:`hooklab.llm.BatchRunner`, so concurrency,
    rate limits, retries and the resumable journal come from the backend layer; a failed request
    becomes an invalid verdict with its error, never a made-up one. Build one with
    ``hooklab.get("judge", NAME, backend={...}, ...)`` (``NAME`` = a backend name such as
    ``openai`` or ``local``) or directly::

        judge = Judge(my_backend, JudgeConfig(order="both", journal="judge.db"))
        result = judge.pairwise(items)

    Args:
        backend: an :class:`hooklab.llm.LLMBackend`.
        config: a :class:`JudgeConfig` (or a dict of its fields).
        name: the label in reports (default ``config.name`` or ``backend:model``).
        progress: passed to the batch runner (``progress(stats, result)`` per finished request).
    """

    def __init__(self, backend: Any, config: JudgeConfig | Mapping[str, Any] | None = None, *,
                 name: str | None = None, progress: Callable[..., None] | None = None) -> None:
        from hooklab.config import validate

        self.backend = backend
        self.config = validate(JudgeConfig, dict(config) if isinstance(config, Mapping) else (config or {}),
                               where="judge config")
        model = getattr(backend, "model", "") or ""
        self.name = name or self.config.name or f"{getattr(backend, 'name', 'backend')}:{model}".rstrip(":")
        self.progress = progress
        self.stats: Any = None  # the runner's RunStats of the last run

    def complete(self, requests: list[tuple[str, list[dict[str, str]]]]) -> list[str | BaseException | None]:
        """Send ``(id, messages)`` requests through the batch runner; the text of each answer in
        order, or a :class:`~hooklab.errors.BackendError` for a request that failed for good."""
        import asyncio

        return asyncio.run(self.acomplete(requests))

    async def acomplete(self, requests: list[tuple[str, list[dict[str, str]]]]) -> list[str | BaseException | None]:
        """:meth:`complete` for code already inside an event loop (notebooks, async apps)."""
        from hooklab.errors import BackendError
        from hooklab.llm import BatchRunner, LLMRequest

        cfg = self.config
        reqs = [LLMRequest(messages=m, temperature=cfg.temperature, max_tokens=cfg.max_tokens, id=i)
                for i, m in requests]
        runner = BatchRunner(self.backend, cfg.runner, journal=cfg.journal, progress=self.progress,
                             close_backend=True)
        try:
            results = await runner.arun(reqs)
        finally:
            if runner.journal is not None:
                runner.journal.close()
        self.stats = runner.stats
        return [r.response.text if r.response is not None else BackendError(r.error or "failed")
                for r in results]

    def pairwise(self, items: Sequence[PairItem], *, order: str | None = None, seed: int | None = None) -> PairwiseResult:
        """Judge every pair; returns the verdicts mapped back to ``answer1`` / ``answer2``.

        ``order`` (``random``, ``both``, ``fixed``) and ``seed`` override the config's.
        Raises :class:`DataError` for duplicate item ids.
        """
        order, plan, requests = self._pairwise_requests(items, order, seed)
        return self._pairwise_result(items, order, plan, self.complete(requests))

    async def apairwise(self, items: Sequence[PairItem], *, order: str | None = None,
                        seed: int | None = None) -> PairwiseResult:
        """:meth:`pairwise` for code already inside an event loop (``await judge.apairwise(items)``)."""
        order, plan, requests = self._pairwise_requests(items, order, seed)
        return self._pairwise_result(items, order, plan, await self.acomplete(requests))

    def score(self, items: Sequence[ScoreItem]) -> ScoreResult:
        """Score every answer; an unparseable answer is recorded as ``None`` with its raw text."""
        requests = self._score_requests(items)
        return self._score_result(items, self.complete(requests))

    async def ascore(self, items: Sequence[ScoreItem]) -> ScoreResult:
        """:meth:`score` for code already inside an event loop."""
        requests = self._score_requests(items)
        return self._score_result(items, await self.acomplete(requests))

    def _pairwise_requests(self, items: Sequence[PairItem], order: str | None, seed: int | None
                           ) -> tuple[str, list[tuple[PairItem, str]], list[tuple[str, list[dict[str, str]]]]]:
        cfg = self.config.pairwise
        order = order or cfg.order
        seed = cfg.seed if seed is None else seed
        _unique([it.id for it in items])
        plan = [(item, o) for item in items for o in presentation_orders(item.id, order, seed)]
        requests = []
        for item, o in plan:
            a, b = (item.answer1, item.answer2) if o == "12" else (item.answer2, item.answer1)
            requests.append((f"{item.id}|{o}", pairwise_messages(cfg, item.prompt, a, b)))
        return order, plan, requests

    def _pairwise_result(self, items: Sequence[PairItem], order: str, plan: list[tuple[PairItem, str]],
                         outputs: list[str | BaseException | None]) -> PairwiseResult:
        cfg = self.config.pairwise
        calls: dict[str, list[JudgeCall]] = {}
        for (item, o), out in zip(plan, outputs, strict=True):
            raw, error = _split(out)
            verdict = parse_verdict(raw, allow_tie=cfg.allow_tie)
            if raw is not None and verdict is None:
                error = "unparseable verdict"
            a, b = (item.answer1, item.answer2) if o == "12" else (item.answer2, item.answer1)
            calls.setdefault(item.id, []).append(JudgeCall(o, verdict, map_back(verdict, o), raw, error,
                                                           len(a), len(b), parse_reasoning(raw)))
        verdicts = []
        for item in items:
            winner, consistent = combine(calls[item.id])
            verdicts.append(PairVerdict(item.id, winner, calls[item.id], consistent, len(item.answer1),
                                        len(item.answer2), item.source1, item.source2))
        return PairwiseResult(self.name, verdicts, order, self.config.family)

    def _score_requests(self, items: Sequence[ScoreItem]) -> list[tuple[str, list[dict[str, str]]]]:
        _unique([it.id for it in items])
        return [(f"{it.id}|score", score_messages(self.config.score, it.prompt, it.answer)) for it in items]

    def _score_result(self, items: Sequence[ScoreItem], outputs: list[str | BaseException | None]) -> ScoreResult:
        cfg = self.config.score
        verdicts = []
        for item, out in zip(items, outputs, strict=True):
            raw, error = _split(out)
            value = parse_score(raw, cfg.low, cfg.high)
            if raw is not None and value is None:
                error = "unparseable score"
            verdicts.append(ScoreVerdict(item.id, value, raw, error, parse_reasoning(raw), len(item.answer)))
        return ScoreResult(self.name, verdicts, cfg.low, cfg.high)


def backend_judge(backend_name: str) -> Callable[[JudgeConfig], Judge]:
    """A judge factory for the registry: builds the backend ``backend_name`` from
    ``config.backend`` and wraps it in a :class:`Judge`. Backend plugins register it::

        @hookimpl
        def register_judges(register):
            from hooklab.judges import backend_judge
            register("openai", backend_judge("openai"), config="hooklab.judges:JudgeConfig")
    """

    def factory(config: JudgeConfig) -> Judge:
        from hooklab.plugins import get

        backend = get("backend", backend_name, **config.backend)
        return Judge(backend, config)

    factory.__name__ = f"{backend_name.replace('-', '_')}_judge"
    factory.__doc__ = f"A judge over the {backend_name!r} backend (options: hooklab.judges.JudgeConfig)."
    return factory


def _split(out: str | BaseException | None) -> tuple[str | None, str | None]:
    if isinstance(out, BaseException):
        return None, " ".join(f"{type(out).__name__}: {out}".split())
    if out is None:
        return None, "no output"
    return str(out), None


# -- dataset operations ---------------------------------------------------------------------------


def label_agreement(result: PairwiseResult) -> dict[str, Any]:
    """How often the judge agrees with a preference dataset's labels (answer1 = chosen).

    Returns ``{"pairs", "valid", "agree", "disagree", "ties", "agreement"}``; ``agreement`` is
    agree / (agree + disagree), ``None`` when no pair got a decisive verdict.
    """
    w = [v.winner for v in result.verdicts]
    agree, disagree, ties = w.count("answer1"), w.count("answer2"), w.count("tie")
    decided = agree + disagree
    return {"pairs": len(w), "valid": decided + ties, "agree": agree, "disagree": disagree, "ties": ties,
            "agreement": agree / decided if decided else None}


def filter_pairs(rows: Sequence[Mapping[str, Any]], result: PairwiseResult, *,
                 action: Literal["keep", "drop", "relabel"] = "keep", id: str = "id",
                 chosen: str = "chosen", rejected: str = "rejected") -> list[dict[str, Any]]:
    """Apply a judge's verdicts to a preference dataset (the "LLM-evaluated" step).

    ``keep``: only pairs where the judge agrees with the label. ``drop``: remove those where it
    clearly disagrees (ties and invalid verdicts stay). ``relabel``: swap chosen and rejected where
    the judge prefers the rejected answer, and drop ties and invalid verdicts. Rows are matched to
    verdicts by id (the ``id`` column, else the row number), as :func:`pair_items` assigns them.
    Each returned row gets ``judge_winner``.
    """
    verdicts = result.by_id()
    out = []
    for i, row in enumerate(rows):
        rid = str(row.get(id, i))
        if rid not in verdicts:
            raise DataError(f"row {i} (id {rid!r}) has no verdict: judge the same file first")
        winner = verdicts[rid].winner
        new = {**row, "judge_winner": winner}
        if action == "keep":
            if winner == "answer1":
                out.append(new)
        elif action == "drop":
            if winner != "answer2":
                out.append(new)
        elif action == "relabel":
            if winner == "answer1":
                out.append(new)
            elif winner == "answer2":
                new[chosen], new[rejected] = row[rejected], row[chosen]
                new["relabeled"] = True
                out.append(new)
        else:
            raise ConfigError(f"unknown action {action!r}: use keep, drop or relabel")
    return out


def best_vs_worst(groups: Mapping[str, Sequence[str]], result: ScoreResult, items: Sequence[ScoreItem],
                  *, min_margin: int = 1) -> list[dict[str, Any]]:
    """Preference pairs from scored candidates: per prompt the best-scored vs the worst-scored.

    ``groups`` maps a prompt id to its candidates' item ids (see :func:`candidate_items`). Invalid
    scores are ignored; a prompt with fewer than two valid scores, or whose best and worst differ
    by less than ``min_margin``, yields no pair. Ties keep the earlier candidate. Returns records
    ``{id, prompt, chosen, rejected, chosen_score, rejected_score}``.
    """
    scores = result.by_id()
    by_id = {it.id: it for it in items}
    pairs = []
    for gid, ids in groups.items():
        valid = [(scores[i].score, k, i) for k, i in enumerate(ids) if i in scores and scores[i].score is not None]
        if len(valid) < 2:
            continue
        best = max(valid, key=lambda t: (t[0], -t[1]))
        worst = min(valid, key=lambda t: (t[0], t[1]))
        if best[0] - worst[0] < min_margin:  # type: ignore[operator]
            continue
        pairs.append({"id": gid, "prompt": by_id[best[2]].prompt, "chosen": by_id[best[2]].answer,
                      "rejected": by_id[worst[2]].answer, "chosen_score": best[0], "rejected_score": worst[0]})
    return pairs
