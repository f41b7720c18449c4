"""``run(out, fast=...)``: the eight steps in order, then the report and the summary."""

from __future__ import annotations

import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hooklab.errors import ConfigError
from hooklab_quickstart.config import QuickstartConfig, preset

#: (key, title) of every step, in order; the report has one section each.
STEPS = (
    ("tiny", "1. hooklab-tiny: a GPT-2-style model trained from scratch"),
    ("cpt", "2. Continued pretraining with replay: the forgetting table"),
    ("lens", "3. Logit lens"),
    ("capture", "4. Activation capture to Parquet"),
    ("prefgen", "5. Preference pairs from local documents"),
    ("judge", "6. A local judge: position bias, random order, both orders"),
    ("dpo", "7. DPO with LoRA: reward accuracy before and after"),
)

#: the hidden preset the package's tests use (also: ``hooklab quickstart --preset test``)
PRESET_ENV = "HOOKLAB_QUICKSTART_PRESET"


@dataclass
class QuickstartResult:
    """What :func:`run` produced: per-step results, timings and the report's path."""

    out: Path
    preset: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cpu_seconds: float = 0.0
    report_path: Path | None = None

    @property
    def total_seconds(self) -> float:
        return round(sum(self.seconds.values()), 1)

    def summary(self) -> str:
        """The short summary printed at the end of ``hooklab quickstart``."""
        r = self.results
        lines = [f"hooklab quickstart ({self.preset}) finished in {self.total_seconds:.0f} s "
                 f"(CPU time {self.cpu_seconds:.0f} s)"]
        if "tiny" in r:
            c = r["tiny"]["card"]
            how = "trained now" if r["tiny"]["trained"] else "reused from the cache"
            lines.append(f"  1 hooklab-tiny       {c['parameters']:,} parameters, held-out loss "
                         f"{c['held_out_loss_after']:.2f}, {how} ({r['tiny']['cache_dir']})")
        if "cpt" in r:
            parts = [f"replay {x['replay']:.0%}: D1 {x['d1_change']:+.3f}, D2 {x['d2_change']:+.3f}" for x in r["cpt"]["rows"]]
            lines.append("  2 forgetting        " + "; ".join(parts))
        if "lens" in r:
            lines.append(f"  3 logit lens        {len(r['lens']['points'])} points x {r['lens']['tokens']} tokens, heatmaps in 03-lens/")
        if "capture" in r:
            c = r["capture"]
            lines.append(f"  4 capture           {c['tokens']} tokens x {len(c['points'])} points -> "
                         f"{len(c['shards'])} Parquet shards ({c['bytes'] / 1e6:.1f} MB)")
        if "prefgen" in r:
            p = r["prefgen"]
            how = "fallback: verbatim sentence vs tiny model's continuation" if p["fallback_used"] else "seed triples"
            lines.append(f"  5 preference pairs  {p['pairs']} ({how}; seed path: "
                         f"{p['seed_path']['parse_failures']}/{p['seed_path']['requests']} parse failures)")
        if "judge" in r:
            rows = {row["judge"]: row for row in r["judge"]["rows"]}
            rnd = next((v for k, v in rows.items() if "random" in k), {})
            both = next((v for k, v in rows.items() if "both" in k), {})
            lines.append(f"  6 judge             first-position win {_pct(rnd.get('first_position_win_rate'))} "
                         f"(random order), position consistency {_pct(both.get('position_consistency'))} (both orders)")
        if "dpo" in r and r["dpo"]["before"]:
            b, a = r["dpo"]["before"], r["dpo"]["after"]
            lines.append(f"  7 DPO + LoRA        reward accuracy {b['accuracy_ties_half']:.2f} -> "
                         f"{a['accuracy_ties_half']:.2f} on {r['dpo']['held_out']} held-out pairs")
        if self.report_path:
            lines.append(f"  8 report            {self.report_path}")
        return "\n".join(lines)


def _pct(x: Any) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def resolve_config(fast: bool = False, preset_name: str | None = None) -> tuple[str, QuickstartConfig]:
    """The preset to run: ``preset_name``, else ``$HOOKLAB_QUICKSTART_PRESET``, else fast/full."""
    name = preset_name or os.environ.get(PRESET_ENV) or ("fast" if fast else "full")
    return name, preset(name)


def run(out: str | Path = "quickstart-out", *, fast: bool = False, preset: str | None = None,
        config: QuickstartConfig | None = None, cache_dir: str | Path | None = None,
        progress: bool = True, threads: int | None = 1) -> QuickstartResult:
    """Run every step, write ``OUT/report.html`` and return a :class:`QuickstartResult`.

    Args:
        out: output folder (created; each step writes a subfolder; rerunning overwrites).
        fast: the ``fast`` preset (under 2 minutes on 2 CPU cores) instead of ``full``.
        preset: a preset by name (``full``, ``fast``, ``test``); wins over ``fast``.
        config: explicit sizes (wins over both).
        cache_dir: where hooklab-tiny is cached (default: the user cache dir, see
            :func:`~hooklab_quickstart.steps.default_cache_root`).
        progress: show progress bars on stderr.
        threads: torch CPU threads (default 1: hooklab-tiny's matrices are too small to gain from
            more, and on a busy machine spinning threads make it several times slower; ``None``
            keeps torch's default).

    Raises:
        ConfigError: unknown preset, or ``out`` is a file.
    """
    for key, value in {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
                       "TOKENIZERS_PARALLELISM": "false", "MPLBACKEND": "Agg"}.items():
        os.environ.setdefault(key, value)
    from hooklab_quickstart import steps
    from hooklab_quickstart.report import write_report

    _quiet_libraries()
    if threads is not None:
        import torch

        torch.set_num_threads(threads)

    name, cfg = resolve_config(fast, preset)
    if config is not None:
        name, cfg = "custom", config
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; give a folder")
    out.mkdir(parents=True, exist_ok=True)
    ctx = steps.Context(out=out, config=cfg, progress=progress,
                        cache_root=Path(cache_dir) if cache_dir else steps.default_cache_root())
    result = QuickstartResult(out=out, preset=name)
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    steps.write_corpora(ctx)
    result.seconds["data"] = round(time.perf_counter() - t0, 1)
    funcs = {"tiny": steps.step_tiny, "cpt": steps.step_cpt, "lens": steps.step_lens,
             "capture": steps.step_capture, "prefgen": steps.step_prefgen, "judge": steps.step_judge,
             "dpo": steps.step_dpo}
    for key, _title in STEPS:
        t0 = time.perf_counter()
        result.results[key] = funcs[key](ctx)
        result.seconds[key] = round(time.perf_counter() - t0, 1)
    result.cpu_seconds = round(time.process_time() - cpu0 + _children_cpu(), 1)
    t0 = time.perf_counter()
    bar = ctx.bar(1, "8/8 report", "file")
    result.report_path = write_report(result, cfg)
    bar.update(1)
    bar.close()
    result.seconds["report"] = round(time.perf_counter() - t0, 1)
    (out / "summary.json").write_text(json.dumps(
        {"preset": name, "seconds": result.seconds, "total_seconds": result.total_seconds,
         "cpu_seconds": result.cpu_seconds, "config": cfg.model_dump(),
         "results": result.results}, indent=2, default=str))
    if progress:
        print(file=sys.stderr, flush=True)
    return result


def _quiet_libraries() -> None:
    """Our own progress bars say what runs; the libraries' loading bars and deprecation notices
    would drown them."""
    import warnings

    import datasets
    import transformers

    transformers.utils.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    datasets.disable_progress_bars()
    datasets.utils.logging.set_verbosity_error()
    for module in ("transformers", "peft", "trl", "torch", "accelerate"):
        warnings.filterwarnings("ignore", category=FutureWarning, module=module)
        warnings.filterwarnings("ignore", category=UserWarning, module=module)
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=module)


def _children_cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime
