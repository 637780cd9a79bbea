"""turngym envs as a verl agent loop: ``TurngymAgentLoop``, registered as ``"turngym_agent"``.

verl's agent-loop worker instantiates the loop per dataset row and awaits ``run(sampling_params,
**row)``. The loop makes the turngym env, resets it with the row's seed, renders the reset messages
with the tokenizer's chat template (and the env's tool schemas), then asks the server manager for
tokens (``generate(request_id, prompt_ids=, sampling_params=)``), steps the env with the decoded
text and appends the env's reply as chat-template tokens (``agents.chat_tokens``), until the
episode ends, ``max_turns`` or the response budget (``rollout.response_length``) runs out. Token
ids go in and come out; the past is never decoded and encoded again.

Which env: ``env_id`` / ``env_kwargs`` from the row's ``extra_info`` (rows from ``dataset_rows``
carry them), else from the agent-loop config entry; the seed is ``extra_info["seed"]``, else the
row's ``index``. verl finds the class through an agent-loop config file
(``actor_rollout_ref.rollout.agent.agent_loop_config_path``)::

    - name: turngym_agent
      _target_: turngym.adapters.verl.TurngymAgentLoop
      max_turns: 8            # optional; else rollout.multi_turn.max_assistant_turns, else the env's

Importing this module needs no verl: ``play_episode`` (the loop itself, duck-typed against the
server manager) and ``dataset_rows`` run without it; the attribute ``TurngymAgentLoop`` imports
verl, subclasses its ``AgentLoopBase`` and registers it on first access.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any
from uuid import uuid4

import turngym
from turngym.agents.chat_tokens import ToolRole, continuation_ids, prompt_ids
from turngym.agents.trajectory import TokenTrajectory
from turngym.envs.errors import EnvArgumentError
from turngym.envs.info import StopReason
from turngym.envs.messages import Message, copy_messages
from turngym.envs.vector.sync import step_env

AGENT_NAME = "turngym_agent"
logger = logging.getLogger(__name__)


@dataclass
class VerlEpisode:
    """One played episode in verl's terms.

    ``response_mask`` is 1 on the tokens the server sampled, 0 on the env's reply tokens;
    ``response_logprobs`` holds the server's log-probs there (0.0 on env tokens), or None when the
    server returned none. ``rewards`` has the env's reward per step; ``reward_parts`` each part
    summed over the steps. ``stop_reason`` is the env's, or ``max_turns`` / ``token_budget`` when
    the loop stopped first; ``error`` is set when the env broke (``stop_reason == "error"``).
    """

    prompt_ids: list[int]
    response_ids: list[int]
    response_mask: list[int]
    response_logprobs: list[float] | None
    messages: list[Message]
    rewards: list[float] = field(default_factory=list)
    reward_parts: dict[str, float] = field(default_factory=dict)
    stop_reason: str = ""
    error: str | None = None
    env_replies: int = 0
    generate_s: float = 0.0

    @property
    def reward_score(self) -> float:
        """The episode's total reward (what the env's steps returned, summed)."""
        return float(sum(self.rewards))

    @property
    def num_turns(self) -> int:
        """verl's count: the prompt, each assistant turn and each env reply that was tokenised."""
        return 1 + len(self.rewards) + self.env_replies

    @property
    def trainable(self) -> bool:
        """False when the env, its tools or the adapter's step broke the episode (``stop_reason="error"``)."""
        return self.stop_reason != StopReason.ERROR

    def extra_fields(self) -> dict[str, Any]:
        """What verl keeps per sample in ``non_tensor_batch`` (``turn_scores``, ``tool_rewards``: its tool loop's names)."""
        return {
            "turn_scores": list(self.rewards),
            "tool_rewards": [],
            "reward_parts": dict(self.reward_parts),
            "stop_reason": self.stop_reason,
            "error": self.error,
            "trainable": self.trainable,
        }


async def play_episode(
    server_manager: Any,
    tokenizer: Any,
    env: Any,
    *,
    seed: int,
    sampling_params: Mapping[str, Any],
    response_length: int,
    max_turns: int | None = None,
    tool_role: ToolRole = "template",
    request_id: str | None = None,
) -> VerlEpisode:
    """Play one episode of ``env`` with tokens from ``server_manager.generate``; see the module docstring.

    Each ``generate`` call gets ``sampling_params`` plus ``max_tokens`` (what is left of
    ``response_length``) and ``stop`` (the env's stop strings); its output needs ``token_ids`` and
    may have ``log_probs``. Tokens after the first stop string are dropped when the server did not stop there.
    """
    if not isinstance(response_length, int) or response_length < 1:
        raise ValueError(f"expected response_length an int >= 1, got {response_length!r}")
    if max_turns is not None and (not isinstance(max_turns, int) or max_turns < 1):
        raise ValueError(f"expected max_turns None or an int >= 1, got {max_turns!r}")
    obs, _ = await asyncio.to_thread(env.reset, seed=seed)
    core = env.unwrapped
    tools, stops = list(core.tool_schemas) or None, tuple(core.stop_strings)
    traj = TokenTrajectory(messages=copy_messages(list(obs)))
    traj.extend_prompt(prompt_ids(tokenizer, obs, tools, tool_role=tool_role))
    start, request_id = len(traj), request_id or uuid4().hex
    episode = VerlEpisode(traj.token_ids[:start], [], [], None, traj.messages)
    with_logprobs = True
    while not episode.stop_reason:
        left = response_length - (len(traj) - start)
        if left <= 0 or (max_turns is not None and len(episode.rewards) >= max_turns):
            episode.stop_reason = StopReason.TOKEN_BUDGET if left <= 0 else StopReason.MAX_TURNS
            break
        params = {**sampling_params, "max_tokens": left, **({"stop": list(stops)} if stops else {})}
        began = time.perf_counter()
        out = await server_manager.generate(request_id=request_id, prompt_ids=list(traj.token_ids), sampling_params=params)
        episode.generate_s += time.perf_counter() - began
        ids, logprobs = _generated(out)
        with_logprobs = with_logprobs and logprobs is not None
        ids, logprobs = cut_at_stop(tokenizer, ids, logprobs, stops)
        text = tokenizer.decode(ids, skip_special_tokens=True)
        traj.extend_policy(ids, logprobs if logprobs is not None else [0.0] * len(ids))
        traj.messages.append({"role": "assistant", "content": text})
        obs, reward, terminated, truncated, info, *_ = await asyncio.to_thread(step_env, env, text)
        _add_step(episode, reward, info)
        if terminated or truncated:
            episode.stop_reason = str(info["stop_reason"])
            if episode.stop_reason == StopReason.ERROR:
                episode.error = str(info.get("error") or "the env reported an error")
        else:
            traj.extend_prompt(
                continuation_ids(
                    tokenizer, traj.messages, obs, tools, after_policy_action=True, action_ids=ids, tool_role=tool_role
                )
            )
            episode.env_replies += 1
        traj.messages.extend(copy_messages(list(obs)))
    episode.response_ids = traj.token_ids[start:][:response_length]
    episode.response_mask = traj.mask[start:][:response_length]
    episode.response_logprobs = traj.logprobs[start:][:response_length] if with_logprobs else None
    if episode.error is not None:
        logger.warning("turngym episode (seed %s) ended with an env error: %s", seed, episode.error.strip().splitlines()[-1:])
    return episode


def cut_at_stop(
    tokenizer: Any, ids: Sequence[int], logprobs: Sequence[float] | None, stops: Sequence[str]
) -> tuple[list[int], list[float] | None]:
    """``ids`` (and their log-probs) up to the token that completes the first stop string; all of them if none does."""
    ids = list(ids)
    logprobs = None if logprobs is None else list(logprobs)
    if not stops or not any(s in tokenizer.decode(ids, skip_special_tokens=True) for s in stops):
        return ids, logprobs
    end = next(n for n in range(1, len(ids) + 1) if any(s in tokenizer.decode(ids[:n], skip_special_tokens=True) for s in stops))
    return ids[:end], None if logprobs is None else logprobs[:end]


def _generated(out: Any) -> tuple[list[int], list[float] | None]:
    ids = getattr(out, "token_ids", None)
    if ids is None or isinstance(ids, (str, bytes)) or not all(isinstance(t, Integral) for t in ids):
        raise TypeError(f"expected the server manager's generate to return an output with token_ids (ints), got {out!r:.200}")
    logprobs = getattr(out, "log_probs", None)
    if logprobs is not None and len(logprobs) != len(ids):
        raise ValueError(f"expected one log-prob per generated token, got {len(logprobs)} for {len(ids)} tokens")
    return [int(t) for t in ids], None if logprobs is None else [float(x) for x in logprobs]


def _add_step(episode: VerlEpisode, reward: float, info: Mapping[str, Any]) -> None:
    episode.rewards.append(float(reward))
    for key, value in (info.get("reward_parts") or {}).items():
        episode.reward_parts[key] = episode.reward_parts.get(key, 0.0) + float(value)


def episode_spec(row: Mapping[str, Any], env_id: str | None = None, env_kwargs: Any = None) -> tuple[str, dict[str, Any], int]:
    """(env ID, ``turngym.make`` kwargs, seed) for a verl dataset row; the row's ``extra_info`` wins over the defaults."""
    extra = _plain(row.get("extra_info")) or {}
    if not isinstance(extra, Mapping):
        raise EnvArgumentError(f"expected the row's extra_info to be a mapping, got {type(extra).__name__}")
    env_id = extra.get("env_id") or env_id
    if not isinstance(env_id, str) or not env_id:
        raise EnvArgumentError(
            f"expected env_id in the row's extra_info or the agent-loop config, got {env_id!r} (extra_info keys: {sorted(extra)})"
        )
    kwargs = extra.get("env_kwargs", env_kwargs)
    kwargs = json.loads(kwargs) if isinstance(kwargs, str) else _plain(kwargs) or {}
    if not isinstance(kwargs, Mapping):
        raise EnvArgumentError(f"{env_id}: expected env_kwargs a mapping (or its JSON), got {kwargs!r}")
    seed = extra.get("seed", row.get("index"))
    if not isinstance(seed, Integral) or isinstance(seed, bool) or seed < 0:
        raise EnvArgumentError(
            f"{env_id}: expected a non-negative int seed in extra_info['seed'] or the row's index, got {seed!r}"
        )
    return env_id, dict(kwargs), int(seed)


def dataset_rows(env_id: str, seeds: Iterable[int], **env_kwargs: Any) -> list[dict[str, Any]]:
    """verl dataset rows (``RLHFDataset`` parquet), one per seed, played by ``TurngymAgentLoop``.

    ``prompt`` holds the env's reset messages (for verl's prompt-length filter; the loop renders
    the env's own), ``agent_name`` is ``"turngym_agent"``, ``extra_info`` holds ``env_id``,
    ``env_kwargs`` (as JSON, so parquet keeps rows with different keys apart) and ``seed``.
    """
    env = turngym.make(env_id, **env_kwargs)
    try:
        rows = []
        for seed in seeds:
            messages, _ = env.reset(seed=int(seed))
            extra = {"env_id": env_id, "env_kwargs": json.dumps(env_kwargs), "seed": int(seed), "index": int(seed)}
            rows.append(
                {
                    "data_source": env_id,
                    "prompt": messages,
                    "agent_name": AGENT_NAME,
                    "reward_model": {"style": "rule", "ground_truth": ""},
                    "extra_info": extra,
                }
            )
        return rows
    finally:
        env.close()


def _plain(value: Any) -> Any:
    """An omegaconf container (verl's configs) as plain dicts and lists; anything else as it is."""
    if type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf

        return OmegaConf.to_container(value, resolve=True)
    return value


def _agent_loop_class() -> type:
    try:
        from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register
    except ImportError as exc:
        raise ImportError(
            f"turngym.adapters.verl.TurngymAgentLoop needs verl's agent loop, which failed to import ({exc}); "
            "install verl (pip install --no-deps verl, then ray tensordict hydra-core codetiming)"
        ) from exc

    class TurngymAgentLoop(AgentLoopBase):
        """Plays one turngym episode per row (see ``turngym.adapters.verl``); extra config keys:
        ``env_id``, ``env_kwargs``, ``max_turns``, ``tool_role``."""

        def __init__(
            self,
            *args: Any,
            env_id: str | None = None,
            env_kwargs: Any = None,
            max_turns: int | None = None,
            tool_role: ToolRole = "template",
            **kwargs: Any,
        ):
            super().__init__(*args, **kwargs)
            self.env_id, self.env_kwargs, self.tool_role = env_id, _plain(env_kwargs), tool_role
            self.max_turns = max_turns or self.rollout_config.multi_turn.get("max_assistant_turns") or None
            self.response_length = int(self.rollout_config.response_length)

        async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
            env_id, env_kwargs, seed = episode_spec(kwargs, self.env_id, self.env_kwargs)
            env = await asyncio.to_thread(turngym.make, env_id, **env_kwargs)
            try:
                episode = await play_episode(
                    self.server_manager,
                    self.tokenizer,
                    env,
                    seed=seed,
                    sampling_params=sampling_params,
                    response_length=self.response_length,
                    max_turns=self.max_turns,
                    tool_role=self.tool_role,
                )
            finally:
                await asyncio.to_thread(env.close)
            return AgentLoopOutput(
                prompt_ids=self._cap_text_prompt_length(episode.prompt_ids),
                response_ids=episode.response_ids,
                response_mask=episode.response_mask,
                response_logprobs=episode.response_logprobs,
                reward_score=episode.reward_score,
                num_turns=episode.num_turns,
                metrics={"generate_sequences": episode.generate_s},
                extra_fields=episode.extra_fields(),
            )

    TurngymAgentLoop.__module__, TurngymAgentLoop.__qualname__ = __name__, "TurngymAgentLoop"
    return register(AGENT_NAME)(TurngymAgentLoop)


def __getattr__(name: str) -> Any:
    """``TurngymAgentLoop`` is built (importing verl) and registered on first access."""
    if name == "TurngymAgentLoop":
        globals()[name] = _agent_loop_class()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
