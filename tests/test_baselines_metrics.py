"""Metrics: JSONL lines per step, truncation on resume, torn lines, TensorBoard, the learning curve."""

from __future__ import annotations

import json

from turngym.baselines.metrics import MetricsLogger, plot_learning_curve, read_metrics


def test_one_flushed_line_per_step_and_truncation(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=False)
    for step in (1, 2, 3):
        logger.log(step, {"reward/mean": step / 10, "rollout/success": 0.5})
        # flushed: another reader sees the line at once
        assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == step
    logger.truncate_after(2)
    logger.log(3, {"reward/mean": 0.9})
    records = read_metrics(tmp_path / "metrics.jsonl")
    assert [r["step"] for r in records] == [1, 2, 3]
    assert records[-1] == {"step": 3, "reward/mean": 0.9}
    logger.close()


def test_torn_last_line_is_skipped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text(json.dumps({"step": 1, "x": 1.0}) + "\n" + '{"step": 2, "x"')
    assert read_metrics(path) == [{"step": 1, "x": 1.0}]


def test_non_finite_values_become_null(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=False)
    logger.log(1, {"loss/policy": float("nan")})
    assert read_metrics(tmp_path / "metrics.jsonl") == [{"step": 1, "loss/policy": None}]


def test_tensorboard_events_are_written(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=True)
    logger.log(1, {"reward/mean": 0.5, "rollout/stop/answered": 1.0})
    logger.close()
    assert list((tmp_path / "tb").glob("events.out.tfevents.*"))


def test_learning_curve_png(tmp_path):
    logger = MetricsLogger(tmp_path, tensorboard=False)
    assert logger.plot() is None  # nothing logged yet
    for step in range(1, 6):
        evaluation = {"eval/success": 0.4} if step % 2 == 0 else {}
        logger.log(step, {"reward/mean": step / 5, "rollout/success": step / 5, **evaluation})
    png = logger.plot()
    assert png == tmp_path / "learning_curve.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_learning_curve(tmp_path / "missing.jsonl", tmp_path / "x.png") is None
