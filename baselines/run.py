"""What every trainer does around its update: build the policy and envs, seed, resume, evaluate, log, checkpoint.

A trainer reads::

    run = TrainingRun(config)
    for step in run.steps():                      # 1, 2, ... resuming after the last checkpoint
        seeds = run.task_seeds(step)
        ...sample episodes, compute advantages, update...
        run.end_step(step, metrics)               # log, evaluate, checkpoint when due
    run.close()                                   # final checkpoint, learning curve, exported model

Steps count completed optimiser steps: the checkpoint of step N holds the weights after N updates,
and a resumed run starts at N + 1 with the same sampling generator state, so a run killed at any
moment replays exactly the steps it had not saved.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from turngym.baselines.checkpoint import checkpoint_dir, latest_checkpoint, load_checkpoint, save_checkpoint
from turngym.baselines.config import ConfigError, RLConfig, TrainConfig, save_config
from turngym.baselines.metrics import MetricsLogger
from turngym.baselines.update import policy_update
from turngym.engine import Engine, EpisodeTokens, rollout_metrics
from turngym.evaluation.suite import EVAL_SEED_BASE

if TYPE_CHECKING:
    from turngym.agents.hf_policy import HFPolicy
    from turngym.envs.vector.base import VectorAgentEnv

FINAL_MODEL = "final_model"
FINAL_ADAPTER = "final_adapter"


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch's global RNGs (dropout and anything else that reads them)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def build_policy(config: TrainConfig) -> HFPolicy:
    """An ``HFPolicy`` from ``config.model``: a local folder, or "tiny" (a random tiny Llama and tokenizer)."""
    from turngym.agents.hf_policy import HFPolicy, with_lora

    sampling = {
        "stop": config.stop,
        "max_new_tokens": config.max_new_tokens,
        "temperature": config.temperature,
    }  # stop: the engine passes the env's
    if config.model != "tiny":
        return HFPolicy.from_pretrained(config.model, lora=config.lora, device=config.device, **sampling)
    from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

    tokenizer = tiny_tokenizer(config.tiny_tokenizer, config.tiny_words if config.tiny_tokenizer == "words" else ())
    model = tiny_model(tokenizer, layers=config.tiny_layers, hidden=config.tiny_hidden, heads=config.tiny_heads, seed=config.seed)
    model = model.to(config.device)
    if config.lora is not None:
        model = with_lora(model, config.lora)
    return HFPolicy(model.eval(), tokenizer, **sampling)


def env_kwargs(config: TrainConfig) -> dict[str, Any]:
    """The env's keyword arguments: ``max_turns``, ``env_kwargs``, and the config's ``reward_weights`` over the env's."""
    kwargs = {"max_turns": config.max_turns, **config.env_kwargs}
    if getattr(config, "reward_weights", None):
        kwargs["reward_weights"] = {**kwargs.get("reward_weights", {}), **config.reward_weights}
    return kwargs


def make_vec_env(config: TrainConfig, n: int, policy: Any = None) -> VectorAgentEnv:
    """``n`` envs of the config in a vector env of ``config.vec_mode`` (``ray``: on the cluster at ``config.ray_address``).

    ``env_kwargs: {opponent: self}`` (a ``turngym/Seat-v0`` game) is self-play: the other seats are
    played by ``policy``, the run's own, sampled at the config's temperature (sync vector envs only).
    """
    from turngym.envs.vector import make_vec

    kwargs = env_kwargs(config)
    if kwargs.get("opponent") == "self":
        if policy is None or config.vec_mode != "sync":
            raise ConfigError(
                f"env_kwargs opponent: self (self-play) needs vec_mode sync and the run's policy, got vec_mode {config.vec_mode}"
            )
        from turngym.envs.multiagent.seat import PolicyOpponent

        kwargs["opponent"] = PolicyOpponent(policy, temperature=config.temperature, seed=config.seed)
    ray = {"address": config.ray_address} if config.vec_mode == "ray" else None
    return make_vec(config.env_id, n, mode=config.vec_mode, ray=ray, **kwargs)


def make_hooks(config: TrainConfig) -> list[Any]:
    """The hooks named in ``config.process_rewards`` (the judge from ``judge_url`` / ``judge_model``)."""
    from turngym.envs.hooks import FormatReward, LLMJudge, RepeatPenalty, TurnCost, ValidToolCall
    from turngym.envs.hooks.judge import DEFAULT_RUBRIC

    hooks: list[Any] = []
    for name in getattr(config, "process_rewards", []):
        if name == "judge":
            rubric = config.judge_rubric or DEFAULT_RUBRIC
            if config.judge_url:
                hooks.append(LLMJudge.from_endpoint(config.judge_url, config.judge_model, rubric=rubric))
            else:
                from transformers import AutoModelForCausalLM, AutoTokenizer

                tokenizer = AutoTokenizer.from_pretrained(config.judge_model, local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(config.judge_model, local_files_only=True).to(config.device).eval()
                hooks.append(LLMJudge.from_hf(model, tokenizer, rubric=rubric))
        elif name.startswith("gui/"):
            from turngym.envs.gui.rewards import GUI_HOOKS

            hooks.append(GUI_HOOKS[name]())
        else:
            hooks.append(
                {"format": FormatReward, "valid_tool_call": ValidToolCall, "repeat": RepeatPenalty, "turn_cost": TurnCost}[name]()
            )
    return hooks


class TrainingRun:
    """Policy, optimizer, generator, envs, metrics and checkpoints of one training run.

    With ``resume`` the newest checkpoint in ``out_dir`` is loaded and metrics past it are dropped;
    without, earlier checkpoints and metrics in ``out_dir`` are deleted.
    """

    def __init__(
        self,
        config: TrainConfig,
        *,
        resume: bool = True,
        on_log: Callable[[int, dict], None] | None = None,
        hooks: list[Any] | None = None,
    ):
        self.config = config
        self.out_dir = Path(config.out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        save_config(config, self.out_dir / "config.yaml")
        seed_everything(config.seed)
        if config.threads:
            torch.set_num_threads(config.threads)
        self.policy = build_policy(config)
        self.model = self.policy.model
        self.tokenizer = self.policy.tokenizer
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
        self.generator = torch.Generator(device=config.device).manual_seed(config.seed)
        self.ref_model = self._reference() if isinstance(config, RLConfig) and config.kl_coef > 0 else None
        self.metrics = MetricsLogger(self.out_dir, tensorboard=config.tensorboard)
        self.on_log = on_log
        self.start_step = 1
        self._step = 0
        self.stopped_early = False
        self.resumed_from: Path | None = None
        self.hooks = [*make_hooks(config), *(hooks or [])]
        self._engines: dict[str, Engine] = {}
        self._clock = self._started = time.perf_counter()
        if not resume:  # a fresh start in a used folder: earlier checkpoints must not be resumed later
            shutil.rmtree(checkpoint_dir(self.out_dir), ignore_errors=True)
        checkpoint = latest_checkpoint(self.out_dir)
        if checkpoint is not None:
            state = load_checkpoint(checkpoint, self.model, self.optimizer, generators={"sampling": self.generator})
            self.start_step = state["step"] + 1
            self.resumed_from = checkpoint
        self.metrics.truncate_after(self.start_step - 1)

    # ---- the loop ------------------------------------------------------------------------------
    def update(self, trajectories: list[Any], advantages: Any) -> dict[str, float]:
        """``policy_update`` on this run's model and optimiser with the config's loss settings."""
        config = self.config
        return policy_update(
            self.model,
            self.optimizer,
            trajectories,
            advantages,
            pad_id=self.pad_id,
            temperature=config.temperature,
            clip_eps=config.clip_eps,
            kl_coef=config.kl_coef,
            ref_model=self.ref_model,
            ppo_epochs=config.ppo_epochs,
            micro_batch=config.micro_batch,
            max_grad_norm=config.max_grad_norm,
        )

    def steps(self) -> Iterator[int]:
        """Steps left to run; stops early once an evaluation reaches ``stop_at_eval_success``."""
        for step in range(self.start_step, self.config.steps + 1):
            if self.stopped_early:
                return
            self._step = step
            yield step

    def task_seeds(self, step: int, n: int) -> list[int]:
        """``n`` training task seeds for ``step``: a function of (seed, step) only, so a resumed run draws the same."""
        rng = np.random.default_rng([self.config.seed, step])
        return [int(s) for s in rng.integers(0, EVAL_SEED_BASE, size=n)]

    def engine(self, n: int, purpose: str = "train") -> Engine:
        """The engine over at least ``n`` envs for ``purpose`` (train or eval), made once and grown when needed."""
        engine = self._engines.get(purpose)
        if engine is None or engine.vec.num_envs < n:
            if engine is not None:
                engine.vec.close()
            config = self.config
            stop = config.stop or None
            vec = make_vec_env(config, n, self.policy)
            engine = Engine(vec, self.policy, hooks=self.hooks, stop=stop, max_turns=config.max_turns)
            self._engines[purpose] = engine
        return engine

    def collect(self, seeds: list[int]) -> list[EpisodeTokens]:
        """One episode per seed with the training policy at the sampling temperature; broken episodes are reported."""
        self.model.eval()
        episodes = self.engine(len(seeds)).play(seeds, generator=self.generator)
        self.report_errors(episodes)
        return episodes

    def report_errors(self, episodes: list[EpisodeTokens]) -> None:
        """Append episodes that ended with ``stop_reason="error"`` to ``errors.jsonl`` (they are left out of training)."""
        broken = [e for e in episodes if not e.trainable]
        if not broken:
            return
        import json

        with (self.out_dir / "errors.jsonl").open("a") as f:
            for e in broken:
                record = {"step": self._step, "seed": e.seed, "task_id": e.task_id, "turns": e.turns, "error": e.error}
                f.write(json.dumps(record) + "\n")

    def end_step(self, step: int, metrics: dict[str, Any]) -> dict[str, Any]:
        """Log the step's metrics (with an evaluation when due), then checkpoint when due."""
        config = self.config
        now = time.perf_counter()
        metrics = {**metrics, "time/step_s": now - self._clock}
        if config.eval_every and (step % config.eval_every == 0 or step == config.steps):
            metrics.update(self.evaluate(step))
        out_of_time = bool(config.max_seconds) and now - self._started >= config.max_seconds
        if config.eval_every and out_of_time and "eval/success" not in metrics:
            metrics.update(self.evaluate(step))
        target = config.stop_at_eval_success
        self.stopped_early = (bool(target) and metrics.get("eval/success", -1.0) >= target) or out_of_time
        self.metrics.log(step, metrics)
        if "eval/success" in metrics:
            self.metrics.plot()
        if (config.checkpoint_every and step % config.checkpoint_every == 0) or step == config.steps or self.stopped_early:
            self.save(step)
        if self.on_log is not None:
            self.on_log(step, metrics)
        self._clock = time.perf_counter()
        return metrics

    def evaluate(self, step: int) -> dict[str, float]:
        """``eval_episodes`` episodes on held-out seeds at ``eval_temperature`` (0: greedy)."""
        config = self.config
        start = time.perf_counter()
        generator = torch.Generator(device=config.device).manual_seed(config.seed + step)
        seeds = [EVAL_SEED_BASE + i for i in range(config.eval_episodes)]
        self.model.eval()
        engine = self.engine(min(config.eval_episodes, 64), "eval")
        episodes = engine.play(seeds, generator=generator, temperature=config.eval_temperature)
        self.report_errors(episodes)
        return {**rollout_metrics(episodes, prefix="eval"), "time/eval_s": time.perf_counter() - start}

    def save(self, step: int) -> Path:
        return save_checkpoint(
            self.out_dir,
            step,
            self.model,
            self.optimizer,
            config=self.config.to_dict(),
            generators={"sampling": self.generator},
            keep=self.config.keep_checkpoints,
        )

    def close(self) -> Path:
        """Plot the learning curve, export the model with its tokenizer, release envs.

        A LoRA run also keeps its adapter alone in ``final_adapter``; ``final_model`` holds the
        weights with the adapter merged in, so it loads like any model folder (``HFPolicy.from_pretrained``,
        ``turngym rollout --policy hf``, ``turngym serve policy``). This is the run's last act on the model.
        """
        self.metrics.plot()
        self.metrics.close()
        final = self.out_dir / FINAL_MODEL
        model = self.model
        if hasattr(model, "merge_and_unload"):  # a peft model
            model.save_pretrained(self.out_dir / FINAL_ADAPTER)
            self.tokenizer.save_pretrained(self.out_dir / FINAL_ADAPTER)
            model = model.merge_and_unload()
        with _quiet_progress():
            model.save_pretrained(final)
        self.tokenizer.save_pretrained(final)
        for engine in self._engines.values():
            engine.vec.close()
        return final

    def _reference(self) -> Any:
        """The KL reference: the adapter switched off for a PEFT model, else a frozen copy of the initial model."""
        if hasattr(self.model, "disable_adapter"):
            return self.model.disable_adapter
        import copy

        ref = copy.deepcopy(self.model).eval()
        for p in ref.parameters():
            p.requires_grad_(False)
        return ref


@contextlib.contextmanager
def _quiet_progress() -> Iterator[None]:
    """No transformers progress bar (its "Writing model shards" bar) inside the block; restored after."""
    from transformers.utils import logging as hf_logging

    enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            hf_logging.enable_progress_bar()
