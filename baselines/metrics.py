"""Training metrics: one JSON line per step (flushed), TensorBoard when installed, a learning-curve PNG.

Names are stable and grouped: ``rollout/...`` (episodes sampled for training), ``reward/...``,
``loss/...``, ``eval/...`` (held-out episodes), ``time/...``. Each line holds ``step`` and the
metrics logged at that step.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.jsonl"
CURVE_FILE = "learning_curve.png"


class MetricsLogger:
    """Appends one line per ``log`` call to ``out_dir/metrics.jsonl`` and mirrors it to TensorBoard.

    ``truncate_after(step)`` drops lines past a step (a run resumed from a checkpoint rewrites the
    steps it lost), so the file holds each step once.
    """

    def __init__(self, out_dir: str | Path, *, tensorboard: bool = True):
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / METRICS_FILE
        self._writer = _tensorboard_writer(self.out_dir / "tb") if tensorboard else None

    def truncate_after(self, step: int) -> None:
        """Keep only lines whose step is <= ``step`` (atomically)."""
        if not self.path.exists():
            return
        kept = [r for r in read_metrics(self.path) if r["step"] <= step]
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(r) + "\n" for r in kept))
        os.replace(tmp, self.path)

    def log(self, step: int, metrics: Mapping[str, Any]) -> None:
        record = {"step": int(step), **{k: _plain(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())
        if self._writer is not None:
            for key, value in record.items():
                if key != "step" and isinstance(value, (int, float)) and math.isfinite(value):
                    self._writer.add_scalar(key, value, step)
            self._writer.flush()

    def plot(self) -> Path | None:
        """Write the learning curve PNG from the JSONL; None when there is nothing to plot."""
        return plot_learning_curve(self.path, self.out_dir / CURVE_FILE)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """The records of a metrics file; a torn last line (a killed run) is skipped."""
    records = []
    with open(path) as f:
        for line in f:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and "step" in record:
                records.append(record)
    return records


CURVES = [
    ("reward/mean", "train reward (mean)"),
    ("rollout/success", "train success"),
    ("eval/success", "eval success"),
    ("eval/reward_mean", "eval reward (mean)"),
]


def plot_learning_curve(metrics_path: str | Path, png_path: str | Path) -> Path | None:
    """Plot reward and success against step (matplotlib, Agg backend)."""
    if not Path(metrics_path).exists():
        return None
    records = read_metrics(metrics_path)
    series = {}
    for key, label in CURVES:
        points = [(r["step"], r[key]) for r in records if isinstance(r.get(key), (int, float))]
        if points:
            series[label] = points
    if not series:
        return None
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), dpi=100)
    ax = fig.add_subplot()
    for label, points in series.items():
        xs, ys = zip(*points, strict=True)
        ax.plot(xs, ys, label=label, marker="o" if len(xs) < 30 else None, markersize=3)
    ax.set_xlabel("step")
    ax.set_ylabel("value")
    ax.grid(alpha=0.3)
    ax.legend(loc="best")
    fig.tight_layout()
    out = Path(png_path)
    tmp = out.with_name(out.name + ".tmp.png")
    fig.savefig(tmp)
    os.replace(tmp, out)
    return out


def _tensorboard_writer(log_dir: Path) -> Any:
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(log_dir))


def _plain(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
