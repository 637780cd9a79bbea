"""A test env whose every step resets the context, registered as ``tests/ChunkRecall-v0`` at import.

The key word sits in the first of ``chunks`` chunks. After each chunk the agent writes its memory
(``<memory>TEXT</memory>``, or its whole action; up to 40 characters); the next context is a system prompt holding that memory
and the next chunk, then the question. ``<answer>WORD</answer>`` scores 1 when WORD is the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import turngym
from turngym.envs import AgentEnv, Task
from turngym.envs.core import Reply
from turngym.envs.messages import Action, system_message, user_message

ENV_ID = "tests/ChunkRecall-v0"
WORDS = ("apple", "river", "stone", "cloud")


class ChunkRecallEnv(AgentEnv):
    default_parser = "tags"
    instructions = "Keep what matters in your memory; answer with <answer>WORD</answer>."

    def __init__(self, chunks: int = 3, **kwargs: Any):
        self.chunks = chunks
        kwargs.setdefault("max_turns", chunks + 2)
        super().__init__(**kwargs)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        word = WORDS[int(self.np_random.integers(len(WORDS)))]
        return Task(id=f"chunk-{word}", prompt=self._chunk_text(0, word), answer=word, facts={"word": word})

    def _chunk_text(self, index: int, word: str) -> str:
        return f"chunk {index + 1}: the key is {word}" if index == 0 else f"chunk {index + 1}: nothing here"

    def _respond(self, parsed) -> Reply:
        state = self._state()
        seen = state.data.setdefault("seen", 1)
        if parsed.answer is not None or seen > self.chunks:
            return Reply(outcome=self._score_answer(parsed.answer or ""), done=True)
        memory = parsed.text.strip().removeprefix("<memory>").removesuffix("</memory>").strip()[:40]
        state.data["memory"], state.data["seen"] = memory, seen + 1
        text = self._chunk_text(seen, state.task.facts["word"]) if seen < self.chunks else "question: what is the key?"
        return Reply(messages=[system_message(f"{self.instructions}\nMemory: {memory}"), user_message(text)], new_context=True)

    def oracle_action(self) -> Action | None:
        state = self._state()
        word = state.task.facts["word"]
        return self.parser.render(answer=word) if state.data.get("seen", 1) > self.chunks else f"<memory>key {word}</memory>"

    @property
    def stop_strings(self) -> tuple[str, ...]:
        return (*super().stop_strings, "</memory>")


if ENV_ID not in turngym.registered_ids():
    turngym.register(ENV_ID, entry_point="chunk_env:ChunkRecallEnv")
