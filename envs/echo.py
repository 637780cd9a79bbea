"""``turngym/Echo-v0``: repeat the word the env shows (the smallest env a random tiny model can learn)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.hooks.base import Score, StepContext
from turngym.envs.messages import Action
from turngym.envs.parsers import ParsedAction

ECHO_WORDS = ("apple", "river", "stone", "cloud", "tiger", "piano", "lemon", "rocket")


@dataclass(frozen=True)
class EchoShaping:
    """Partial credit on an episode's last action: the answer tag, the shown word and a well-formed answer.

    Scored only when the episode ends (None before), so it cannot be collected once per turn.
    """

    name: str = "shaping"

    def score_batch(self, contexts: Sequence[StepContext]) -> list[Score]:
        return [_shaping(ctx) if ctx.terminated or ctx.truncated else None for ctx in contexts]


def _shaping(ctx: StepContext) -> dict[str, float]:
    text = ctx.action.get("content") or ""
    return {
        "tag": float("<answer>" in text),
        "word": float(ctx.facts["word"] in text),
        "format": float(ctx.parsed.answer is not None and ctx.action_error is None),
    }


class EchoEnv(AgentEnv):
    """Read a word and answer it back in answer tags.

    Description:
        Each task shows one word drawn with the seed from ``words`` ("echo apple"); the agent must
        answer ``<answer>apple</answer>``. A learning check for trainers: with a word-level
        tokenizer (``turngym.agents.tiny_lm.tiny_tokenizer("words", ECHO_WORDS)``) the tags and the
        words are single tokens, a random model finds the shaping parts by chance, and only a
        policy that reads the observation answers right more than ``1 / len(words)`` of the time.

    Observation:
        Reset: a system prompt with the answer format and the task as a user message
        ("echo WORD"). Step: a user message saying what was wrong with a malformed action.

    Action:
        ``<answer>WORD</answer>`` (``parser="tags"``).

    Rewards:
        ``outcome``: 1.0 when the answer is the shown word, else 0.0 (at the end).
        ``shaping/tag``, ``shaping/word``, ``shaping/format`` (weight 0.1 each, on the last step
        only): the last action holds ``<answer>``, holds the shown word, is a well-formed answer.
        Pass ``process_rewards=[]`` for the outcome alone.

    Episode End:
        Terminated on any answer, right or wrong. Truncated after ``max_turns`` (default 3) or
        ``max_invalid_actions`` malformed actions.

    Arguments:
        words: the words a task may show (letters only; default ``ECHO_WORDS``, 8 words).
        Plus every ``AgentEnv`` argument.

    Example:
        >>> import gymnasium as gym, turngym
        >>> env = gym.make("turngym/Echo-v0")
        >>> obs, info = env.reset(seed=0)
        >>> obs[1]["content"]
        'echo lemon'
        >>> obs, reward, terminated, truncated, info = env.step("<answer>lemon</answer>")
        >>> round(reward, 3), terminated, info["reward_parts"]["outcome"]
        (1.3, True, 1.0)
    """

    instructions = "Repeat the word after echo."
    default_parser = "tags"
    answer_tag = "answer"

    def __init__(self, words: Sequence[str] = ECHO_WORDS, **kwargs: Any):
        words = tuple(words) if isinstance(words, (list, tuple)) else words
        if not isinstance(words, tuple) or len(words) < 2 or not all(isinstance(w, str) and w.isalpha() for w in words):
            raise ValueError(f"words must be a list of at least 2 words of letters, got {words!r}")
        if len(set(words)) != len(words):
            raise ValueError(f"words must be distinct, got {list(words)}")
        self.words = words
        kwargs.setdefault("max_turns", 3)
        super().__init__(**kwargs)

    def default_process_rewards(self) -> list[Any]:
        return [EchoShaping()]

    def default_reward_weights(self) -> dict[str, float]:
        return {"shaping": 0.1}

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        word = self.words[int(self.np_random.integers(len(self.words)))]
        return Task(id=f"echo-{word}", prompt=f"echo {word}", answer=word, facts={"word": word})

    def _respond(self, parsed: ParsedAction) -> Reply:
        if parsed.answer is None:
            return self._reply_error("found no <answer>")
        return Reply(outcome=self._score_answer(parsed.answer), done=True)

    def oracle_action(self) -> Action | None:
        return self.parser.render(answer=self._state().task.facts["word"])
