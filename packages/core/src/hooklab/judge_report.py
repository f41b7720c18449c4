"""Bias and quality reports of LLM judges, and agreement between several judges.

Per judge (pairwise): position consistency (both-order runs: how often the two orders name the
same answer; MT-Bench reports 65% for GPT-4), first-position win rate (0.5 = no position bias),
win rate of the longer answer and the correlation of the verdict with the length difference
(0.5 / 0 = no length bias), invalid rate, and how often answer1 wins (with a preference dataset,
answer1 is ``chosen``: that is the agreement with its labels). Per judge (score): invalid rate,
mean score and the correlation of score with answer length. Several judges: the majority vote
(pairwise) or mean score, and agreement: Cohen's kappa for two judges, Fleiss' kappa for more.

Example::

    from hooklab.judge_report import report
    rep = report([result_gpt, result_local])   # PairwiseResult / ScoreResult objects
    print(rep.table())
    rep.save("report.json"); rep.plot("report.png")
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooklab.errors import DataError
from hooklab.judges import PairVerdict, PairwiseResult, ScoreResult, ScoreVerdict

# -- statistics -----------------------------------------------------------------------------------


def pearson(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Pearson correlation; ``None`` with fewer than two points or a constant variable."""
    n = len(xs)
    if n < 2 or n != len(ys):
        return None
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float | None:
    """Cohen's kappa of two raters' labels on the same items (``None`` if undefined)."""
    n = len(a)
    if n == 0 or n != len(b):
        return None
    po = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb[k] for k in ca) / (n * n)
    if pe == 1:
        return 1.0 if po == 1 else None
    return (po - pe) / (1 - pe)


def fleiss_kappa(ratings: Sequence[Sequence[Hashable]]) -> float | None:
    """Fleiss' kappa: ``ratings[i]`` holds every rater's label for item ``i`` (same count per item).

    Returns ``None`` when undefined (no items, fewer than two raters, one category overall).
    """
    items = [list(r) for r in ratings]
    if not items:
        return None
    m = len(items[0])
    if m < 2 or any(len(r) != m for r in items):
        return None
    n = len(items)
    totals: Counter[Hashable] = Counter()
    p_bar = 0.0
    for r in items:
        counts = Counter(r)
        totals.update(counts)
        p_bar += (sum(c * c for c in counts.values()) - m) / (m * (m - 1))
    p_bar /= n
    pe = sum((c / (n * m)) ** 2 for c in totals.values())
    if pe == 1:
        return 1.0 if p_bar == 1 else None
    return (p_bar - pe) / (1 - pe)


def _rate(k: int, n: int) -> float | None:
    return k / n if n else None


def length_curve(diffs: Sequence[float], chose_a: Sequence[bool], bins: int = 8) -> list[dict[str, float]]:
    """How often A wins as a function of len(A) - len(B): equal-count bins of the difference,
    each ``{"diff": median difference, "a_rate": share of A verdicts, "n": calls}``."""
    pairs = sorted(zip(diffs, chose_a, strict=True))
    if not pairs:
        return []
    k = max(1, min(bins, len(pairs)))
    out = []
    for b in range(k):
        chunk = pairs[b * len(pairs) // k:(b + 1) * len(pairs) // k]
        if chunk:
            out.append({"diff": float(chunk[len(chunk) // 2][0]),
                        "a_rate": sum(a for _, a in chunk) / len(chunk), "n": float(len(chunk))})
    return out


# -- per-judge statistics -------------------------------------------------------------------------


def pairwise_stats(result: PairwiseResult) -> dict[str, Any]:
    """The bias and quality numbers of one pairwise judge (see the module docstring).

    Rates are fractions in [0, 1] (``None`` when nothing was measurable). Position and length
    statistics count every valid, decisive call (both orders of a both-order run).
    """
    calls = [c for v in result.verdicts for c in v.calls]
    valid = [c for c in calls if c.verdict is not None]
    decisive = [c for c in valid if c.verdict in ("A", "B")]
    first = sum(c.verdict == "A" for c in decisive)
    by_length = [c for c in decisive if c.len_a != c.len_b]
    longer = sum((c.verdict == "A") == (c.len_a > c.len_b) for c in by_length)
    corr = pearson([c.len_a - c.len_b for c in decisive], [1.0 if c.verdict == "A" else 0.0 for c in decisive])
    both = [v for v in result.verdicts if v.consistent is not None]
    finals = [v.winner for v in result.verdicts]
    decided = [w for w in finals if w in ("answer1", "answer2")]
    return {
        "judge": result.judge,
        "kind": "pairwise",
        "order": result.order,
        "items": len(result.verdicts),
        "calls": len(calls),
        "invalid_calls": len(calls) - len(valid),
        "invalid_rate": _rate(len(calls) - len(valid), len(calls)),
        "invalid_item_rate": _rate(sum(w is None for w in finals), len(finals)),
        "first_position_win_rate": _rate(first, len(decisive)),
        "longer_answer_win_rate": _rate(longer, len(by_length)),
        "length_diff_correlation": corr,
        "position_consistency": _rate(sum(bool(v.consistent) for v in both), len(both)) if both else None,
        "tie_rate": _rate(finals.count("tie"), len(finals) - finals.count(None)),
        "answer1_win_rate": _rate(decided.count("answer1"), len(decided)),
        "length_curve": length_curve([c.len_a - c.len_b for c in decisive], [c.verdict == "A" for c in decisive]),
        "own_family_win_rate": own_family_win_rate(result),
    }


def own_family_win_rate(result: PairwiseResult) -> float | None:
    """Family bias: among decided pairs where exactly one answer's source contains the judge's
    ``family`` (case-insensitive), the share won by that answer. ``None`` without a family or
    without such pairs; 0.5 = no family bias."""
    fam = (result.family or "").lower()
    if not fam:
        return None
    own = total = 0
    for v in result.verdicts:
        if v.winner not in ("answer1", "answer2"):
            continue
        mine1, mine2 = fam in (v.source1 or "").lower(), fam in (v.source2 or "").lower()
        if mine1 != mine2:
            total += 1
            own += (v.winner == "answer1") == mine1
    return _rate(own, total)


def score_stats(result: ScoreResult) -> dict[str, Any]:
    """Invalid rate, mean score (valid answers only), score histogram, length correlation."""
    valid = [v for v in result.verdicts if v.score is not None]
    scores = [float(v.score) for v in valid]  # type: ignore[arg-type]
    return {
        "judge": result.judge,
        "kind": "score",
        "items": len(result.verdicts),
        "invalid": len(result.verdicts) - len(valid),
        "invalid_rate": _rate(len(result.verdicts) - len(valid), len(result.verdicts)),
        "mean_score": sum(scores) / len(scores) if scores else None,
        "score_counts": {str(k): c for k, c in sorted(Counter(int(s) for s in scores).items())},
        "length_score_correlation": pearson([float(v.length) for v in valid], scores),
    }


# -- several judges -------------------------------------------------------------------------------


def majority_vote(results: Sequence[PairwiseResult]) -> PairwiseResult:
    """One verdict per pair from several judges: the answer most judges chose among valid verdicts;
    a tie when no answer has a strict majority of the valid votes; ``None`` when no judge was valid.

    The combined result carries no calls (the judges' raw outputs stay in their own results).
    """
    ids = _common_ids(results)
    tables = [r.by_id() for r in results]
    out = []
    for i in ids:
        votes = [t[i].winner for t in tables if t[i].winner is not None]
        winner: Any = None
        if votes:
            top, n = Counter(votes).most_common(1)[0]
            winner = top if n * 2 > len(votes) else "tie"
        first = tables[0][i]
        out.append(PairVerdict(i, winner, [], None, first.len1, first.len2, first.source1, first.source2))
    return PairwiseResult("majority(" + ",".join(r.judge for r in results) + ")", out, "mixed")


def mean_scores(results: Sequence[ScoreResult]) -> dict[str, float | None]:
    """Per item, the mean of the judges' valid scores (``None`` when no judge gave a valid one)."""
    ids = _common_ids(results)
    tables = [r.by_id() for r in results]
    out: dict[str, float | None] = {}
    for i in ids:
        vals = [t[i].score for t in tables if t[i].score is not None]
        out[i] = sum(vals) / len(vals) if vals else None  # type: ignore[arg-type]
    return out


def agreement(results: Sequence[PairwiseResult] | Sequence[ScoreResult]) -> dict[str, Any]:
    """Inter-judge agreement on the items every judge answered validly.

    Two judges: Cohen's kappa (``method="cohen"``); more: Fleiss' kappa. Labels are the winners
    (pairwise) or the integer scores. Also the raw fraction of items where all judges agree.
    """
    if len(results) < 2:
        return {}
    ids = _common_ids(results)
    tables = [r.by_id() for r in results]

    def label(v: PairVerdict | ScoreVerdict) -> Any:
        return v.winner if isinstance(v, PairVerdict) else v.score

    rows = [[label(t[i]) for t in tables] for i in ids]
    rows = [r for r in rows if all(x is not None for x in r)]
    method = "cohen" if len(results) == 2 else "fleiss"
    if method == "cohen":
        kappa = cohen_kappa([r[0] for r in rows], [r[1] for r in rows])
    else:
        kappa = fleiss_kappa(rows)
    return {"judges": [r.judge for r in results], "method": method, "kappa": kappa, "items": len(rows),
            "all_agree_rate": _rate(sum(len(set(r)) == 1 for r in rows), len(rows))}


def _common_ids(results: Sequence[PairwiseResult] | Sequence[ScoreResult]) -> list[str]:
    if not results:
        raise DataError("no judge results to combine")
    kinds = {r.kind for r in results}
    if len(kinds) > 1:
        raise DataError("cannot combine pairwise and score results; report them separately")
    first = [v.id for v in results[0].verdicts]
    others = [{v.id for v in r.verdicts} for r in results[1:]]
    common = [i for i in first if all(i in o for o in others)]
    if not common:
        raise DataError("the judges' results share no item ids: judge the same input with each")
    return common


# -- the report -----------------------------------------------------------------------------------

_PAIR_COLUMNS = ["judge", "order", "items", "invalid_rate", "first_position_win_rate",
                 "longer_answer_win_rate", "length_diff_correlation", "position_consistency",
                 "tie_rate", "answer1_win_rate", "own_family_win_rate"]
_SCORE_COLUMNS = ["judge", "items", "invalid_rate", "mean_score", "length_score_correlation"]


@dataclass
class JudgeReport:
    """Per-judge rows (``rows``), the combined verdict stats (``combined``) and ``agreement``."""

    kind: str
    rows: list[dict[str, Any]]
    agreement: dict[str, Any] = field(default_factory=dict)
    combined: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "judges": self.rows, "agreement": self.agreement, "combined": self.combined}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: str | Path) -> Path:
        """Write the report as JSON; returns the path."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(self.to_json() + "\n", encoding="utf-8")
        return p

    def to_pandas(self) -> Any:
        import pandas as pd

        return pd.DataFrame(self.rows)

    def table(self) -> str:
        """A plain-text table (rates as percentages), with the agreement line below."""
        cols = _PAIR_COLUMNS if self.kind == "pairwise" else _SCORE_COLUMNS
        rows = [*self.rows, *([self.combined] if self.combined else [])]
        cols = [c for c in cols if c != "own_family_win_rate" or any(r.get(c) is not None for r in rows)]
        cells = [[_fmt(c, r.get(c)) for c in cols] for r in rows]
        heads = [c.replace("_rate", " %").replace("_", " ") for c in cols]
        widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(heads)]
        lines = ["  ".join(h.ljust(w) for h, w in zip(heads, widths, strict=True))]
        lines += ["  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in cells]
        if self.agreement:
            a = self.agreement
            k = "n/a" if a["kappa"] is None else f"{a['kappa']:.3f}"
            lines.append(f"agreement: {a['method']} kappa {k} on {a['items']} items "
                         f"(all agree {_fmt('x_rate', a['all_agree_rate'])}%)")
        return "\n".join(lines)

    def plot(self, path: str | Path | None = None) -> Any:
        """Bar chart of the bias and quality rates per judge (0.5 = unbiased line).

        Saves a PNG when ``path`` is given; returns the matplotlib figure. Raises
        :class:`DataError` when matplotlib is not installed.
        """
        try:
            import matplotlib

            if path is not None:
                matplotlib.use("Agg", force=False)
            import matplotlib.pyplot as plt
        except ImportError:
            raise DataError("plots need matplotlib: pip install matplotlib") from None
        if self.kind == "pairwise":
            metrics = ["first_position_win_rate", "longer_answer_win_rate", "position_consistency",
                       "invalid_rate", "tie_rate", "answer1_win_rate"]
            if any(r.get("own_family_win_rate") is not None for r in self.rows):
                metrics.append("own_family_win_rate")
        else:
            metrics = ["invalid_rate"]
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), squeeze=False)
        ax = axes[0][0]
        n = len(self.rows)
        width = 0.8 / max(n, 1)
        for j, row in enumerate(self.rows):
            vals = [row.get(m) if row.get(m) is not None else 0.0 for m in metrics]
            ax.bar([i + j * width for i in range(len(metrics))], vals, width, label=row["judge"])
        ax.axhline(0.5, color="grey", linestyle="--", linewidth=1)
        ax.set_xticks([i + width * (n - 1) / 2 for i in range(len(metrics))])
        ax.set_xticklabels([m.replace("_rate", "").replace("_", "\n") for m in metrics], fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("rate")
        title = "judge bias and quality"
        if self.agreement and self.agreement.get("kappa") is not None:
            title += f" ({self.agreement['method']} kappa {self.agreement['kappa']:.2f})"
        ax.set_title(title)
        ax.legend(fontsize=8)
        if self.kind == "pairwise":
            ax2 = axes[0][1]
            for row in self.rows:
                curve = row.get("length_curve") or []
                ax2.plot([p["diff"] for p in curve], [p["a_rate"] for p in curve], marker="o", label=row["judge"])
            ax2.axhline(0.5, color="grey", linestyle="--", linewidth=1)
            ax2.axvline(0, color="grey", linestyle=":", linewidth=1)
            ax2.set_ylim(0, 1)
            ax2.set_xlabel("len(A) - len(B), characters")
            ax2.set_ylabel("share of verdicts for A")
            ax2.set_title("length bias")
        else:
            ax2 = axes[0][1]
            for row in self.rows:
                counts = row.get("score_counts", {})
                ax2.plot([int(k) for k in counts], list(counts.values()), marker="o", label=row["judge"])
            ax2.set_xlabel("score")
            ax2.set_ylabel("answers")
            ax2.set_title("score distribution")
        fig.tight_layout()
        if path is not None:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path, dpi=100)
            plt.close(fig)
        return fig


def _fmt(col: str, v: Any) -> str:
    if v is None:
        return "-"
    if col.endswith("_rate") or col == "position_consistency":
        return f"{100 * v:.1f}"
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v)


def report(results: Sequence[PairwiseResult] | Sequence[ScoreResult]) -> JudgeReport:
    """The bias and quality report of one or several judges over the same items.

    With several judges, ``combined`` describes the majority vote (pairwise) or the mean scores,
    and ``agreement`` holds Cohen's (two judges) or Fleiss' (more) kappa.

    Raises:
        DataError: no results, or pairwise and score results mixed.
    """
    if not results:
        raise DataError("no judge results to report on")
    kinds = {r.kind for r in results}
    if len(kinds) > 1:
        raise DataError("cannot report pairwise and score results together; report them separately")
    kind = kinds.pop()
    if kind == "pairwise":
        rows = [pairwise_stats(r) for r in results]  # type: ignore[arg-type]
    else:
        rows = [score_stats(r) for r in results]  # type: ignore[arg-type]
    rep = JudgeReport(kind, rows)
    if len(results) > 1:
        rep.agreement = agreement(results)
        if kind == "pairwise":
            rep.combined = pairwise_stats(majority_vote(results))  # type: ignore[arg-type]
            for k in ("first_position_win_rate", "longer_answer_win_rate", "length_diff_correlation",
                      "invalid_rate"):
                rep.combined[k] = None
            rep.combined["length_curve"] = []  # a vote has no positions or calls of its own
            rep.combined["invalid_rate"] = rep.combined.pop("invalid_item_rate")
        else:
            means = mean_scores(results)  # type: ignore[arg-type]
            vals = [m for m in means.values() if m is not None]
            rep.combined = {"judge": "mean(" + ",".join(r.judge for r in results) + ")", "kind": "score",
                            "items": len(means), "invalid_rate": _rate(len(means) - len(vals), len(means)),
                            "mean_score": sum(vals) / len(vals) if vals else None}
    return rep
