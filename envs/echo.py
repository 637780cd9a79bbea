"""``turngym/Echo-v0``: repeat the word the env shows (the smallest env a random tiny model can learn)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.messages import Action, user_message
from turngym.envs.parsers import ParsedAction

ECHO_WORDS = ("apple", "river", "stone", "cloud", "tiger", "piano", "lemon", "rocket")
_FIRST_WORD = re.compile(r"\s*([^\W\d_]+)")


class EchoEnv(AgentEnv):
    """Read a word and say it back; a wrong word is answered with the word again.

    Description:
        Each task shows one word drawn with the seed from ``words`` ("echo apple"); the agent must
        say it back. A learning check for trainers: with a word-level tokenizer
        (``turngym.agents.tiny_lm.tiny_tokenizer("words", [*ECHO_WORDS, "echo"])``) each word is
        one token, so a randomly initialised model says the right word with a few-percent chance
        per episode, and only a policy that reads the observation is right more often than
        ``1 / len(words)``.

    Observation:
        Reset: a system prompt with the answer format and the task as a user message
        ("echo WORD"). Step: "No. echo WORD" after a wrong word, or what was wrong with a
        malformed action.

    Action:
        ``<answer>WORD</answer>`` (``parser="tags"``), or text that starts with the word (its
        first run of letters is the answer). An action that starts with no letters and holds no
        answer tag is malformed.

    Rewards:
        ``outcome``: 1.0 when the right word is said within the episode, else 0.0 (at the end).

    Episode End:
        Terminated when the right word is said. Truncated after ``max_turns`` (default 3) or
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
        >>> env.step("apple")[0][0]["content"]
        'No. echo lemon'
        >>> obs, reward, terminated, truncated, info = env.step("<answer>lemon</answer>")
        >>> reward, terminated, info["turn"]
        (1.0, True, 2)
    """

    instructions = "Say the word after echo."
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

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        word = self.words[int(self.np_random.integers(len(self.words)))]
        return Task(id=f"echo-{word}", prompt=f"echo {word}", answer=word, facts={"word": word})

    def _respond(self, parsed: ParsedAction) -> Reply:
        answer = parsed.answer
        if answer is None:
            first = _FIRST_WORD.match(parsed.text)
            if first is None:
                return self._reply_error("found no word and no <answer>")
            answer = first.group(1)
        if self._score_answer(answer) == 1.0:
            return Reply(outcome=1.0, done=True)
        return Reply(messages=[user_message(f"No. echo {self._state().task.facts['word']}")])

    def oracle_action(self) -> Action | None:
        return self.parser.render(answer=self._state().task.facts["word"])
