"""Trainer configs: dataclasses whose field docs are the CLI help, loaded from YAML with ``--set key=value``.

``TrainConfig`` holds what every trainer shares (env, model, optimiser, budgets, logging);
``RLConfig`` adds sampling groups and the clipped loss; ``GRPOConfig``, ``ReinforceConfig`` and
``SFTConfig`` add their own few fields. ``load_config`` reads a YAML file (its optional ``algo``
key picks the class), applies overrides and returns the checked config.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


def doc(default: Any, help: str) -> Any:
    """A dataclass field with a default (a fresh copy for lists and dicts) and its CLI help."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata={"help": help})
    return field(default=default, metadata={"help": help})


class ConfigError(ValueError):
    """A config key or value that is not what the config expects."""


HOOK_NAMES = (
    "judge",
    "format",
    "valid_tool_call",
    "repeat",
    "turn_cost",
    "gui/valid_action",
    "gui/reference",
    "gui/box",
)  # process_rewards a config can name


@dataclass
class TrainConfig:
    """What every trainer shares."""

    env_id: str = doc("turngym/Echo-v0", "Registered env ID to train on.")
    env_kwargs: dict[str, Any] = doc({}, "Keyword arguments for the env (e.g. {high: 10}).")
    model: str = doc("tiny", 'A local Hugging Face model folder, or "tiny" for a small random model built from tiny_* fields.')
    tiny_tokenizer: Literal["bytes", "words"] = doc("words", "Tokenizer of the tiny model: byte-level or a word vocabulary.")
    tiny_words: list[str] = doc([], "Vocabulary of the words tokenizer (tags, digits and punctuation are added).")
    tiny_layers: int = doc(2, "Layers of the tiny model.")
    tiny_hidden: int = doc(64, "Hidden size of the tiny model.")
    tiny_heads: int = doc(4, "Attention heads of the tiny model.")
    lora: dict[str, Any] | None = doc(None, "LoRA settings (r, alpha, dropout, target_modules); None trains all weights.")
    lr: float = doc(1e-3, "AdamW learning rate.")
    weight_decay: float = doc(0.0, "AdamW weight decay.")
    max_grad_norm: float = doc(1.0, "Clip the gradient to this norm (0 for no clipping).")
    steps: int = doc(100, "Optimiser steps to run.")
    max_turns: int = doc(4, "Most actions per episode (passed to the env as max_turns).")
    max_new_tokens: int = doc(16, "Most tokens sampled per action.")
    temperature: float = doc(1.0, "Sampling temperature (log-probs are taken at the same temperature).")
    stop: list[str] = doc([], "Strings that end an action (empty: the env's own, from its parser).")
    vec_mode: Literal["sync", "process", "ray"] = doc(
        "sync", "Vector env of the rollouts: sync (in process), process (a worker per env) or ray (Ray actors, see ray_address)."
    )
    ray_address: str = doc(
        "auto", 'vec_mode ray: the cluster ("auto", HOST:PORT, ray://...) or "local" (start one in this process).'
    )
    seed: int = doc(0, "Seeds torch, numpy and Python RNGs, the model init and the task seeds.")
    out_dir: str = doc("runs/train", "Where metrics.jsonl, the learning curve, checkpoints and config.yaml go.")
    eval_every: int = doc(10, "Evaluate every this many steps (0 for never).")
    eval_episodes: int = doc(32, "Episodes per evaluation, on held-out seeds, sampled at eval_temperature.")
    eval_temperature: float = doc(0.0, "Sampling temperature at evaluation (0 for greedy).")
    stop_at_eval_success: float = doc(0.0, "Stop early once an evaluation's success reaches this (0: run every step).")
    max_seconds: float = doc(0.0, "Stop after the step that passes this many seconds (evaluated and saved; 0: no limit).")
    checkpoint_every: int = doc(1, "Save a checkpoint every this many steps (0 for only at the end).")
    keep_checkpoints: int = doc(2, "Most recent checkpoints to keep.")
    device: str = doc("cpu", 'Torch device: "cpu", "cuda", "cuda:1"...')
    threads: int = doc(0, "Torch CPU threads (0: leave torch's default; 1 is fastest for tiny models on a busy machine).")
    tensorboard: bool = doc(True, "Also write TensorBoard events when tensorboard is installed.")

    def __post_init__(self) -> None:
        for name in ("tiny_layers", "tiny_hidden", "tiny_heads", "steps", "max_turns", "max_new_tokens", "keep_checkpoints"):
            _check(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        for name in ("eval_every", "checkpoint_every", "eval_episodes", "threads"):
            _check(getattr(self, name) >= 0, name, "an int >= 0", getattr(self, name))
        _check(self.lr > 0, "lr", "a float > 0", self.lr)
        _check(self.max_seconds >= 0, "max_seconds", "a float >= 0", self.max_seconds)
        _check(self.weight_decay >= 0, "weight_decay", "a float >= 0", self.weight_decay)
        _check(self.max_grad_norm >= 0, "max_grad_norm", "a float >= 0", self.max_grad_norm)
        _check(self.temperature > 0, "temperature", "a float > 0", self.temperature)
        _check(self.eval_temperature >= 0, "eval_temperature", "a float >= 0", self.eval_temperature)
        _check(0 <= self.stop_at_eval_success <= 1, "stop_at_eval_success", "a float in [0, 1]", self.stop_at_eval_success)
        pair = 2 * self.tiny_heads
        _check(self.tiny_hidden % pair == 0, "tiny_hidden", f"a multiple of 2 * tiny_heads ({pair})", self.tiny_hidden)
        if self.model != "tiny":
            _check(Path(self.model).is_dir(), "model", '"tiny" or an existing local model folder', self.model)
        if self.eval_every:
            _check(self.eval_episodes >= 1, "eval_episodes", "an int >= 1 when eval_every > 0", self.eval_episodes)

    def to_dict(self) -> dict[str, Any]:
        return {"algo": algo_name(type(self)), **dataclasses.asdict(self)}


@dataclass
class RLConfig(TrainConfig):
    """Adds sampling groups and the clipped policy-gradient loss."""

    group_size: int = doc(8, "Episodes sampled per task (G).")
    tasks_per_step: int = doc(8, "Tasks (env seeds) per optimiser step.")
    clip_eps: float = doc(0.2, "The probability ratio is clipped to [1 - clip_eps, 1 + clip_eps].")
    kl_coef: float = doc(0.0, "Weight of the KL penalty to the frozen initial model (0: no reference model).")
    ppo_epochs: int = doc(1, "Gradient steps on each batch of episodes (old log-probs are the sampling ones).")
    micro_batch: int = doc(64, "Episodes per forward/backward pass (gradients are accumulated).")
    process_rewards: list[str] = doc(
        [], f"Hooks scored over each vector step in one batch, beside the env's own: any of {list(HOOK_NAMES)}."
    )
    reward_weights: dict[str, float] = doc({}, "Weight per reward part or hook name (outcome too), given to the env.")
    judge_model: str = doc("", "Judge hook: a local HF model folder, or the model name served at judge_url.")
    judge_url: str = doc("", "Judge hook: base URL of an OpenAI-compatible server (empty: judge_model is a local folder).")
    judge_rubric: str = doc("", "Judge hook: the rubric (empty: the default 0-10 rubric).")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("group_size", "tasks_per_step", "ppo_epochs", "micro_batch"):
            _check(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        _check(0 < self.clip_eps < 1, "clip_eps", "a float in (0, 1)", self.clip_eps)
        _check(self.kl_coef >= 0, "kl_coef", "a float >= 0", self.kl_coef)
        for name in self.process_rewards:
            _check(name in HOOK_NAMES, "process_rewards", f"names from {list(HOOK_NAMES)}", self.process_rewards)
        if "judge" in self.process_rewards:
            _check(
                bool(self.judge_model),
                "judge_model",
                "a model folder or served model name when 'judge' is used",
                self.judge_model,
            )


@dataclass
class GRPOConfig(RLConfig):
    """Trajectory-level GRPO: one group-relative advantage per episode from its total reward."""

    normalize_std: bool = doc(True, "Divide advantages by the group's std (Dr. GRPO sets False).")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.group_size >= 2, "group_size", "an int >= 2 (GRPO compares episodes of a task)", self.group_size)


@dataclass
class ReinforceConfig(RLConfig):
    """REINFORCE with per-turn discounted returns and return batch normalisation (GEM's baseline)."""

    group_size: int = doc(1, "Episodes sampled per task.")
    tasks_per_step: int = doc(64, "Tasks (env seeds) per optimiser step.")
    gamma: float = doc(1.0, "Discount per turn.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(0 <= self.gamma <= 1, "gamma", "a float in [0, 1]", self.gamma)


@dataclass
class SFTConfig(TrainConfig):
    """Supervised fine-tuning on recorded episodes (``turngym rollout --policy scripted --out FILE``)."""

    data: str = doc(
        "",
        "JSONL of recorded episodes, or a folder of exported episodes (Dataset.save_to_disk); loss on the assistant tokens only.",
    )
    batch_size: int = doc(16, "Conversations per optimiser step.")
    only_successful: bool = doc(True, "Train only on episodes whose outcome is > 0.")

    def __post_init__(self) -> None:
        super().__post_init__()
        _check(self.batch_size >= 1, "batch_size", "an int >= 1", self.batch_size)
        readable = Path(self.data).is_file() or (Path(self.data) / "dataset_info.json").is_file()
        expected = "an existing JSONL file of recorded episodes or a folder saved by episodes_to_dataset(...).save_to_disk"
        _check(bool(self.data) and readable, "data", expected, self.data)


@dataclass(frozen=True)
class Algorithm:
    """A training algorithm: its config class and its trainer, as lazy ``module:name`` references."""

    config: str
    trainer: str


ALGORITHMS: dict[str, Algorithm] = {  # the one registry of algorithms: config, trainer, CLI name
    "grpo": Algorithm("turngym.baselines.config:GRPOConfig", "turngym.baselines.grpo:train_grpo"),
    "reinforce_rebn": Algorithm(
        "turngym.baselines.config:ReinforceConfig", "turngym.baselines.reinforce_rebn:train_reinforce_rebn"
    ),
    "sft": Algorithm("turngym.baselines.config:SFTConfig", "turngym.baselines.sft:train_sft"),
    "step_grpo": Algorithm("turngym.baselines.step_grpo:StepGRPOConfig", "turngym.baselines.step_grpo:train_step_grpo"),
}


def load_ref(algo: str, what: str) -> Any:
    """The ``config`` class or ``trainer`` function of ``algo`` (one of ``ALGORITHMS``)."""
    if algo not in ALGORITHMS:
        raise ConfigError(f"algo must be one of {sorted(ALGORITHMS)}, got {algo!r}")
    module, _, name = getattr(ALGORITHMS[algo], what).partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"algo {algo!r} is not available here ({exc})") from None


def config_class(algo: str) -> type[TrainConfig]:
    """The config class of ``algo`` (one of ``ALGORITHMS``)."""
    return load_ref(algo, "config")


def algo_name(cls: type) -> str:
    for algo, entry in ALGORITHMS.items():
        if entry.config.endswith(f":{cls.__name__}"):
            return algo
    return cls.__name__


def load_config(path: str | Path | None = None, overrides: list[str] | None = None, *, algo: str | None = None) -> TrainConfig:
    """Read a YAML config (``algo`` from the argument, else the file's ``algo`` key, else grpo) and apply
    ``key=value`` overrides (values in YAML syntax; ``env_kwargs.high=10`` sets one dict entry)."""
    values: dict[str, Any] = {}
    if path is not None:
        text = Path(path).read_text()
        loaded = yaml.safe_load(text) if text.strip() else {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: expected a YAML mapping of config keys, got {type(loaded).__name__}")
        values = dict(loaded)
    file_algo = values.pop("algo", None)
    cls = config_class(algo or file_algo or "grpo")
    for pair in overrides or []:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"expected key=value, got {pair!r}")
        key = key.strip()
        value = yaml.safe_load(raw) if raw.strip() else ""
        if "." in key:
            head, _, sub = key.partition(".")
            inner = values.get(head)
            inner = dict(inner) if isinstance(inner, dict) else {}
            _set_nested(inner, sub, value)
            values[head] = inner
        else:
            values[key] = value
    return from_dict(cls, values)


def _set_nested(target: dict[str, Any], dotted: str, value: Any) -> None:
    head, _, rest = dotted.partition(".")
    if rest:
        inner = target.get(head)
        target[head] = inner = dict(inner) if isinstance(inner, dict) else {}
        _set_nested(inner, rest, value)
    else:
        target[head] = value


def from_dict(cls: type[TrainConfig], values: dict[str, Any]) -> TrainConfig:
    """Build ``cls`` from plain values, checking every key and converting each value to its field's type."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls) if f.init]
    kwargs = {}
    for key, value in values.items():
        if key == "algo":
            continue
        if key not in names:
            raise ConfigError(f"expected a key of {cls.__name__} ({', '.join(names)}), got {key!r}")
        kwargs[key] = coerce(key, value, hints[key])
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise ConfigError(str(exc)) from None


def coerce(name: str, value: Any, annotation: Any) -> Any:
    """``value`` as ``annotation`` (int, float, bool, str, Literal, list[...], dict, Optional) or ConfigError."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for option in (a for a in args if a is not type(None)):
            try:
                return coerce(name, value, option)
            except ConfigError:
                continue
        raise ConfigError(f"{name}: expected {_type_name(annotation)}, got {value!r}")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigError(f"{name}: expected one of {list(args)}, got {value!r}")
    if annotation is Any:
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
    elif annotation is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif annotation is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # YAML 1.1 reads 1e-3 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    elif annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif origin is list or annotation is list:
        if isinstance(value, (list, tuple)):
            item = args[0] if args else Any
            return [coerce(f"{name}[{i}]", v, item) for i, v in enumerate(value)]
    elif origin is dict or annotation is dict:
        if isinstance(value, dict):
            return {str(k): v for k, v in value.items()}
    else:
        return value
    raise ConfigError(f"{name}: expected {_type_name(annotation)}, got {value!r}")


def _type_name(annotation: Any) -> str:
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def _check(ok: bool, name: str, expected: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"{name}: expected {expected}, got {value!r}")


def config_help(cls: type[TrainConfig]) -> list[tuple[str, str, str, str]]:
    """(name, type, default, help) of every field, for the CLI."""
    hints = typing.get_type_hints(cls)
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
        rows.append((f.name, _type_name(hints[f.name]), repr(default), f.metadata.get("help", "")))
    return rows


def save_config(config: TrainConfig, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(yaml.safe_dump(config.to_dict(), sort_keys=False))
