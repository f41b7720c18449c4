"""LensResult: the logit lens's statistics per (prompt, hook point, position), with tables and heatmaps.

Importing this module imports numpy only; pandas and matplotlib load inside the methods that use them.
"""

from __future__ import annotations

import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hooklab.errors import DataError

KINDS = ("top1", "rank", "prob")


@dataclass
class LensResult:
    """What :func:`~hooklab_lens.logit_lens` returns.

    Arrays are numpy, indexed ``[point, row, ...]`` where ``row`` runs over the decoded
    (prompt, position) pairs (``prompt_idx[row]``, ``positions[row]``):

    * ``topk_ids``, ``topk_probs`` — ``[P, N, k]``: the top-k tokens of each row and their probabilities.
    * ``target_ids`` — ``[N, M]``: the target of each row (the actual next token, ``-1`` at a
      prompt's last position) or the ``M`` given targets.
    * ``target_rank`` (1 = top; ``-1`` where there is no target), ``target_logprob`` — ``[P, N, M]``.
    * ``entropy`` (nats), ``kl`` (KL(final ‖ this row), nats) — ``[P, N]``.

    ``points`` are hook-point names (``layers.0.input`` is the stream entering the first block,
    ``layers.{i}`` the stream after block ``i``, ``layers.{i}.attn`` the stream entering block ``i``
    plus its attention output). ``prompts`` are the token ids of each prompt.
    """

    points: list[str]
    prompts: list[list[int]]
    prompt_idx: list[int]
    positions: list[int]
    target_ids: np.ndarray
    topk_ids: np.ndarray
    topk_probs: np.ndarray
    target_rank: np.ndarray
    target_logprob: np.ndarray
    entropy: np.ndarray
    kl: np.ndarray
    fixed_targets: bool = False
    tokenizer: Any = field(default=None, repr=False)
    chunk: tuple[int, int] = (0, 0)
    _names: dict[int, str] = field(default_factory=dict, repr=False)

    # -- helpers ------------------------------------------------------------------------------
    @property
    def target_prob(self) -> np.ndarray:
        """Probability of each target, ``[P, N, M]`` (NaN where there is no target)."""
        return np.exp(self.target_logprob)

    def token_str(self, token_id: int) -> str:
        """The text of one token id (``'#id'`` without a tokenizer; ``''`` for -1)."""
        token_id = int(token_id)
        if token_id < 0:
            return ""
        if token_id not in self._names:
            self._names[token_id] = (
                self.tokenizer.decode([token_id]) if self.tokenizer is not None else f"#{token_id}"
            )
        return self._names[token_id]

    def _rows_of(self, prompt: int) -> np.ndarray:
        if not 0 <= prompt < len(self.prompts):
            raise DataError(f"prompt {prompt} out of range: this result has {len(self.prompts)} prompt(s)")
        return np.flatnonzero(np.asarray(self.prompt_idx) == prompt)

    def _row(self, prompt: int, position: int) -> int:
        rows = self._rows_of(prompt)
        n = len(self.prompts[prompt])
        pos = position % n if -n <= position < n else position
        for r in rows:
            if self.positions[r] == pos:
                return int(r)
        have = [self.positions[r] for r in rows]
        raise DataError(f"position {position} was not decoded for prompt {prompt}; decoded: {have}")

    # -- tables -------------------------------------------------------------------------------
    def to_pandas(self) -> Any:
        """A long table: one row per (prompt, point, position[, target]).

        Columns: prompt, point, layer, position, token_id, token, target_id, target, target_rank,
        target_prob, target_logprob, entropy, kl, top1_id, top1, top1_prob, topk_ids, topk_tokens,
        topk_probs.
        """
        import pandas as pd

        n_p, n, _ = self.topk_ids.shape
        m = self.target_ids.shape[1]
        pidx = np.asarray(self.prompt_idx)
        pos = np.asarray(self.positions)
        tok_ids = np.array([self.prompts[b][p] for b, p in zip(pidx, pos, strict=True)], np.int64)
        layers = np.array([_layer_of(p) for p in self.points], np.int64)
        # order: prompt, point, position, target
        P, N, M = np.meshgrid(np.arange(n_p), np.arange(n), np.arange(m), indexing="ij")
        P, N, M = P.ravel(), N.ravel(), M.ravel()
        order = np.lexsort((M, pos[N], P, pidx[N]))
        P, N, M = P[order], N[order], M[order]
        tids = self.target_ids[N, M]
        topk = self.topk_ids[P, N]
        df = pd.DataFrame({
            "prompt": pidx[N],
            "point": np.asarray(self.points, dtype=object)[P],
            "layer": layers[P],
            "position": pos[N],
            "token_id": tok_ids[N],
            "token": [self.token_str(t) for t in tok_ids[N]],
            "target_id": tids,
            "target": [self.token_str(t) for t in tids],
            "target_rank": self.target_rank[P, N, M],
            "target_prob": np.exp(self.target_logprob[P, N, M]),
            "target_logprob": self.target_logprob[P, N, M],
            "entropy": self.entropy[P, N],
            "kl": self.kl[P, N],
            "top1_id": topk[:, 0],
            "top1": [self.token_str(t) for t in topk[:, 0]],
            "top1_prob": self.topk_probs[P, N, 0],
            "topk_ids": list(topk),
            "topk_tokens": [[self.token_str(t) for t in row] for row in topk],
            "topk_probs": list(self.topk_probs[P, N]),
        })
        return df.reset_index(drop=True)

    def table(self, prompt: int = 0, position: int = -1, target: int = 0) -> str:
        """The seed's terminal view: one line per hook point (input -> output) for one position.

        Each line: point, top-1 token and its probability, and the rank/probability of the target.
        """
        r = self._row(prompt, position)
        tid = int(self.target_ids[r, target])
        head = f"prompt {prompt}, position {self.positions[r]} ({self.token_str(self.prompts[prompt][self.positions[r]])!r})"
        if tid >= 0:
            head += f", target {self.token_str(tid)!r}"
        width = max(len(p) for p in self.points)
        lines = [head, f"{'point'.ljust(width)}  {'top-1':<18} {'p':>6}" + ("  rank   p(target)" if tid >= 0 else "")]
        for i, name in enumerate(self.points):
            top = repr(self.token_str(self.topk_ids[i, r, 0]))
            line = f"{name.ljust(width)}  {top:<18} {self.topk_probs[i, r, 0]:6.3f}"
            if tid >= 0:
                line += f"  {self.target_rank[i, r, target]:<6d} {math.exp(self.target_logprob[i, r, target]):.3g}"
            lines.append(line)
        return "\n".join(lines)

    # -- files --------------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write ``.parquet`` (the :meth:`to_pandas` table), ``.json`` (metadata + rows), or a
        heatmap (``.png``/``.svg``/``.pdf``/``.html``, kind ``top1``). Returns the path.

        Raises:
            DataError: unknown extension.
        """
        p = Path(path)
        suffix = p.suffix.lower()
        if suffix in {".png", ".svg", ".pdf", ".html", ".htm"}:
            return self.plot(path=p)
        p.parent.mkdir(parents=True, exist_ok=True)
        if suffix == ".parquet":
            self.to_pandas().to_parquet(p, index=False)
        elif suffix == ".json":
            p.write_text(json.dumps(self.to_dict(), ensure_ascii=False))
        else:
            raise DataError(f"cannot save a lens result as {suffix or 'a file without extension'!r}; "
                            f"use .parquet, .json, .png or .html")
        return p

    def to_dict(self) -> dict[str, Any]:
        """Metadata and rows as plain JSON-able Python objects."""
        rows = json.loads(self.to_pandas().to_json(orient="records"))
        return {
            "points": list(self.points),
            "prompts": [{"ids": ids, "tokens": [self.token_str(t) for t in ids]} for ids in self.prompts],
            "targets": "given" if self.fixed_targets else "next token",
            "rows": rows,
        }

    # -- heatmaps -----------------------------------------------------------------------------
    def grid(self, kind: str = "top1", prompt: int = 0, target: int = 0) -> dict[str, Any]:
        """The heatmap's content for one prompt: ``values`` [points, positions] (colour), ``text``
        (cell labels), ``hover`` (details), ``rows`` (point names), ``cols`` (input tokens)."""
        if kind not in KINDS:
            raise DataError(f"unknown plot kind {kind!r}; use one of {', '.join(KINDS)}")
        rows = self._rows_of(prompt)
        ids = self.prompts[prompt]
        cols = [self.token_str(ids[self.positions[r]]) for r in rows]
        probs_t = np.exp(self.target_logprob[:, rows, target])
        rank = self.target_rank[:, rows, target]
        if kind == "rank":
            values = np.where(rank > 0, np.log10(np.maximum(rank, 1)), np.nan)
            text = [[str(v) if v > 0 else "" for v in line] for line in rank]
        else:
            values = self.topk_probs[:, rows, 0] if kind == "top1" else probs_t
            text = [[self.token_str(t) for t in line] for line in self.topk_ids[:, rows, 0]]
        hover = []
        for i, name in enumerate(self.points):
            line = []
            for j, r in enumerate(rows):
                tops = ", ".join(f"{self.token_str(t)!r} {p:.3f}" for t, p in
                                 zip(self.topk_ids[i, r], self.topk_probs[i, r], strict=True))
                tid = int(self.target_ids[r, target])
                tgt = (f"; target {self.token_str(tid)!r}: rank {rank[i, j]}, p {probs_t[i, j]:.3g}"
                       if tid >= 0 else "")
                line.append(f"{name} @ {self.positions[r]} {cols[j]!r}: top {tops}{tgt}; "
                            f"entropy {self.entropy[i, r]:.3f}; KL {self.kl[i, r]:.3f}")
            hover.append(line)
        return {"values": np.asarray(values, float), "text": text, "hover": hover,
                "rows": list(self.points), "cols": cols}

    def plot(self, kind: str = "top1", path: str | Path | None = None, *, prompt: int = 0,
             target: int = 0, max_positions: int = 64) -> Any:
        """Heatmap like the original logit-lens post: points on the y axis (input at the bottom,
        output at the top), the prompt's tokens on the x axis, the top-1 token (or, for
        ``kind="rank"``, the target's rank) in each cell; colour = top-1 probability (``top1``),
        target probability (``prob``) or log10 rank (``rank``).

        ``path`` ending in ``.html`` writes a self-contained HTML page with hover details; other
        extensions (``.png``, ``.svg``, ``.pdf``) use matplotlib. Without a path, returns the
        matplotlib figure. Only the last ``max_positions`` positions are drawn.

        Returns the path written (or the figure).
        """
        g = self.grid(kind, prompt, target)
        if len(g["cols"]) > max_positions:
            cut = len(g["cols"]) - max_positions
            g = {"values": g["values"][:, cut:], "text": [t[cut:] for t in g["text"]],
                 "hover": [h[cut:] for h in g["hover"]], "rows": g["rows"], "cols": g["cols"][cut:]}
        title = {"top1": "top-1 token (colour: its probability)",
                 "prob": "top-1 token (colour: probability of the target)",
                 "rank": "rank of the target token (colour: log10 rank)"}[kind]
        if not self.fixed_targets and kind != "top1":
            title = title.replace("the target", "the next token").replace("target token", "next token")
        if path is not None and Path(path).suffix.lower() in {".html", ".htm"}:
            p = Path(path)
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(_html(g, kind, title), encoding="utf-8")
            return p
        fig = _figure(g, kind, title)
        if path is None:
            return fig
        import matplotlib.pyplot as plt

        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        return p


def _layer_of(point: str) -> int:
    parts = point.split(".")
    if len(parts) >= 2 and parts[0] == "layers" and parts[1].lstrip("-").isdigit():
        i = int(parts[1])
        return i - 1 if point.endswith(".input") else i
    return -1


def _short(text: str, n: int = 10) -> str:
    """A token as a cell label: spaces shown as '␣', control characters escaped, cut to ``n``."""
    text = "".join(
        "\\n" if c == "\n" else "\\t" if c == "\t" else f"\\x{ord(c):02x}" if ord(c) < 32 or ord(c) == 127 else c
        for c in text
    ).replace(" ", "␣")
    return text if len(text) <= n else text[: n - 1] + "…"


def _figure(g: dict[str, Any], kind: str, title: str) -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise DataError("PNG heatmaps need matplotlib: pip install 'hooklab-lens[plot]' (or save .html)") from exc
    values = g["values"][::-1]  # input at the bottom, output at the top
    text = g["text"][::-1]
    rows = g["rows"][::-1]
    n_r, n_c = values.shape
    fig, ax = plt.subplots(figsize=(1.6 + 0.85 * n_c, 1.2 + 0.32 * n_r))
    if kind == "rank":
        vmax = max(1.0, float(np.nanmax(values)) if np.isfinite(values).any() else 1.0)
        im = ax.imshow(values, aspect="auto", cmap="Blues_r", vmin=0, vmax=vmax)
        label = "log10 rank"
    else:
        im = ax.imshow(values, aspect="auto", cmap="Blues", vmin=0, vmax=1)
        label = "probability"
    for i in range(n_r):
        for j in range(n_c):
            v = values[i, j]
            dark = np.isfinite(v) and ((v > 0.55) if kind != "rank" else (v < 0.45 * im.norm.vmax))
            ax.text(j, i, _short(text[i][j]), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    ax.set_yticks(range(n_r), rows, fontsize=7)
    ax.set_xticks(range(n_c), [_short(c, 12) for c in g["cols"]], rotation=60, ha="right", fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, label=label, fraction=0.03, pad=0.01)
    return fig


def _colour(v: float, kind: str, vmax: float) -> str:
    if not np.isfinite(v):
        return "#f0f0f0"
    x = v / vmax if vmax > 0 else 0.0
    x = 1 - x if kind == "rank" else x  # rank: small rank = strong colour
    x = min(1.0, max(0.0, x))
    lo, hi = (247, 251, 255), (8, 48, 107)  # matplotlib 'Blues' end points
    r, g, b = (round(a + (c - a) * x) for a, c in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


def _html(g: dict[str, Any], kind: str, title: str) -> str:
    values = g["values"]
    vmax = 1.0 if kind != "rank" else max(1.0, float(np.nanmax(values)) if np.isfinite(values).any() else 1.0)
    out = [
        "<!doctype html><html><head><meta charset='utf-8'><title>logit lens</title><style>",
        "body{font-family:sans-serif;font-size:12px}table{border-collapse:collapse}",
        "td,th{border:1px solid #ddd;padding:2px 4px;white-space:pre;font-family:monospace;font-size:11px}",
        "th{background:#fafafa}td:hover{outline:2px solid #e6550d}#info{margin:8px 0;min-height:2em}",
        "</style></head><body>",
        f"<h3>logit lens: {html.escape(title)}</h3><div id='info'>hover a cell for details</div><table>",
    ]
    n_r = values.shape[0]
    for i in range(n_r - 1, -1, -1):  # output at the top, input at the bottom
        out.append(f"<tr><th>{html.escape(g['rows'][i])}</th>")
        for j in range(values.shape[1]):
            v = values[i, j]
            x = (v / vmax) if np.isfinite(v) else 0.0
            dark = (x > 0.55) if kind != "rank" else (np.isfinite(v) and x < 0.45)
            style = f"background:{_colour(v, kind, vmax)};color:{'#fff' if dark else '#000'}"
            tip = html.escape(g["hover"][i][j], quote=True)
            out.append(f"<td style='{style}' title='{tip}' data-info='{tip}'>{html.escape(_short(g['text'][i][j], 14))}</td>")
        out.append("</tr>")
    out.append("<tr><th></th>" + "".join(f"<th>{html.escape(_short(c, 14))}</th>" for c in g["cols"]) + "</tr>")
    out.append("</table><script>for(const td of document.querySelectorAll('td[data-info]'))"
               "td.addEventListener('mouseover',()=>{document.getElementById('info').textContent=td.dataset.info});"
               "</script></body></html>")
    return "\n".join(out)
