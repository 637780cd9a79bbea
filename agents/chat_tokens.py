"""Chat-template rendering as token ids, one turn at a time, without re-tokenising the past.

A model policy keeps its conversation as the exact token ids it saw and sampled. When the env
answers, only the new messages are turned into tokens: the text the chat template adds for them,
found as the difference between the rendering of the longer conversation (with the generation
prompt) and the rendering of the conversation so far. Tokens the policy sampled are never decoded
and encoded again, so the ids a trainer sees are the ids that were sampled.

Tool messages (``{"role": "tool", "tool_call_id", "name", "content"}``) are passed to the template
as they are (``tool_role="template"``; a ChatML template such as SmolLM2's then renders a ``tool``
turn), or turned into a user turn that starts with the tool's name (``tool_role="user"``, for
templates without a tool role; see ``TOOL_AS_USER``). Tool schemas go to the template as ``tools=``;
a template that ignores them (SmolLM2's) gets them written into the system message instead.

``TemplateTokenPolicy`` is the part of a ``TokenPolicy`` built on this (``start``, ``append``,
``observe``); ``HFPolicy`` samples locally, ``OpenAITokenPolicy`` through a completions server.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

from turngym.agents.trajectory import Sample, TokenTrajectory
from turngym.envs.messages import Message, copy_messages

ToolRole = Literal["template", "user"]
TOOL_ROLES: tuple[str, ...] = ("template", "user")
TOOL_AS_USER = "[{name}] {content}"  # a tool message as a user turn, when ``tool_role="user"``
TOOLS_IN_SYSTEM = "You can call these tools:\n{tools}"  # tools for a template that does not render ``tools=``
_DUMMY = "ASSISTANT_REPLY_7f3a"
_RENDERS_TOOLS: dict[str, bool] = {}  # chat template text -> whether it renders ``tools=``


class ChatTemplateError(ValueError):
    """The chat template cannot be rendered incrementally (or not at all) for these messages."""


def render(
    tokenizer: Any,
    messages: Sequence[Message],
    tools: Sequence[dict] | None = None,
    *,
    add_generation_prompt: bool = False,
    tool_role: ToolRole = "template",
) -> str:
    """The chat template's text for ``messages`` (tool messages mapped as ``tool_role`` says)."""
    if getattr(tokenizer, "chat_template", None) is None:
        raise ChatTemplateError(f"expected a tokenizer with a chat template, got none on {_name(tokenizer)}")
    messages = map_tool_messages(messages, tool_role)
    if tools and not template_renders_tools(tokenizer):
        messages = tools_in_system_prompt(messages, tools)
    text = _apply(tokenizer, messages, tools, add_generation_prompt)
    if not isinstance(text, str):
        raise ChatTemplateError(f"expected the chat template to render a string, got {type(text).__name__}")
    return text


def _apply(tokenizer: Any, messages: Sequence[Message], tools: Sequence[dict] | None, add_generation_prompt: bool) -> Any:
    kwargs: dict[str, Any] = {"tools": list(tools)} if tools else {}
    try:
        return tokenizer.apply_chat_template(
            list(messages), tokenize=False, add_generation_prompt=add_generation_prompt, **kwargs
        )
    except Exception as exc:  # jinja raises anything: unknown roles, missing keys, template exceptions
        hint = " (tool_role='user' maps tool messages to user turns)" if any(m.get("role") == "tool" for m in messages) else ""
        raise ChatTemplateError(f"the chat template of {_name(tokenizer)} failed to render the messages{hint}: {exc}") from exc


def template_renders_tools(tokenizer: Any) -> bool:
    """Whether the chat template writes ``tools=`` into its text (SmolLM2's own template ignores them)."""
    template = str(tokenizer.chat_template)
    if template not in _RENDERS_TOOLS:
        probe = [{"role": "system", "content": "S"}, {"role": "user", "content": "u"}]
        tool = {"type": "function", "function": {"name": "probe_tool_4c1e", "description": "d", "parameters": {"type": "object"}}}
        _RENDERS_TOOLS[template] = _apply(tokenizer, probe, [tool], False) != _apply(tokenizer, probe, None, False)
    return _RENDERS_TOOLS[template]


def tools_in_system_prompt(messages: Sequence[Message], tools: Sequence[dict]) -> list[Message]:
    """The messages with the tool schemas written into the system message (one is added if there is none)."""
    text = TOOLS_IN_SYSTEM.format(tools="\n".join(json.dumps(t) for t in tools))
    if messages and messages[0].get("role") == "system":
        return [{**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{text}"}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def map_tool_messages(messages: Sequence[Message], tool_role: ToolRole) -> list[Message]:
    """The messages as the template gets them: tool messages unchanged or as user turns."""
    if tool_role not in TOOL_ROLES:
        raise ValueError(f"expected tool_role in {TOOL_ROLES}, got {tool_role!r}")
    if tool_role == "template":
        return list(messages)
    return [
        {"role": "user", "content": TOOL_AS_USER.format(name=m.get("name", "tool"), content=m.get("content", ""))}
        if m.get("role") == "tool"
        else m
        for m in messages
    ]


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of rendered text; special tokens written in the text become their ids, none are added."""
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def prompt_ids(
    tokenizer: Any, messages: Sequence[Message], tools: Sequence[dict] | None = None, *, tool_role: ToolRole = "template"
) -> list[int]:
    """The first prompt: the rendering of ``messages`` with the generation prompt, as token ids."""
    return encode(tokenizer, render(tokenizer, messages, tools, add_generation_prompt=True, tool_role=tool_role))


def assistant_closing(tokenizer: Any, tools: Sequence[dict] | None = None, *, tool_role: ToolRole = "template") -> str:
    """The text the template writes after an assistant message's content (``"<|im_end|>\\n"`` in ChatML).

    Found by rendering a conversation that ends with a dummy assistant message.
    """
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": _DUMMY}]
    text = render(tokenizer, messages, tools, tool_role=tool_role)
    at = text.rfind(_DUMMY)
    if at < 0:
        raise ChatTemplateError(f"the chat template of {_name(tokenizer)} does not render an assistant message's content")
    return text[at + len(_DUMMY) :]


def continuation_ids(
    tokenizer: Any,
    history_messages: Sequence[Message],
    new_messages: Sequence[Message],
    tools: Sequence[dict] | None = None,
    *,
    after_policy_action: bool,
    action_ids: Sequence[int] = (),
    tool_role: ToolRole = "template",
) -> list[int]:
    """Token ids that follow the conversation so far: the new messages, then the generation prompt.

    The text is rendering(history + new, generation prompt) minus rendering(history). With
    ``after_policy_action`` the history ends with the policy's own action, whose tokens were
    sampled without the template's closing of the assistant turn; the closing is put first, less
    the part the sampled ``action_ids`` already end with (the end-of-turn token when the sample
    stopped at eos rather than at a stop string).
    """
    base = render(tokenizer, history_messages, tools, tool_role=tool_role)
    full = render(tokenizer, [*history_messages, *new_messages], tools, add_generation_prompt=True, tool_role=tool_role)
    if not full.startswith(base):
        at = next((i for i, (a, b) in enumerate(zip(base, full, strict=False)) if a != b), min(len(base), len(full)))
        raise ChatTemplateError(
            f"the chat template of {_name(tokenizer)} renders the conversation so far differently once new messages "
            f"follow, so it cannot be extended token by token: at character {at}, expected {base[at : at + 40]!r}, "
            f"got {full[at : at + 40]!r}"
        )
    ids = encode(tokenizer, full[len(base) :])
    if not after_policy_action:
        return ids
    if not history_messages or history_messages[-1].get("role") != "assistant":
        raise ValueError("after_policy_action is set, but the history does not end with an assistant message")
    closing = assistant_closing(tokenizer, tools, tool_role=tool_role)
    if not base.endswith(closing):
        raise ChatTemplateError(
            f"the chat template of {_name(tokenizer)} does not end the last assistant turn with {closing!r} "
            f"(it ends with {base[-40:]!r}); the closing of the sampled turn cannot be found"
        )
    closing_ids = encode(tokenizer, closing)
    return closing_ids[emitted_overlap(action_ids, closing_ids, special_ids(tokenizer)) :] + ids


def emitted_overlap(action_ids: Sequence[int], closing_ids: Sequence[int], special_ids: set[int]) -> int:
    """How many leading tokens of ``closing_ids`` the sampled ``action_ids`` already end with.

    Only trailing special tokens count (an eos the sampler stopped at): they are not part of the
    action's text, whereas text tokens are, and the template writes its closing after the text.
    """
    tail = 0
    while tail < len(action_ids) and action_ids[len(action_ids) - 1 - tail] in special_ids:
        tail += 1
    for n in range(min(tail, len(closing_ids)), 0, -1):
        if list(action_ids[len(action_ids) - n :]) == list(closing_ids[:n]):
            return n
    return 0


def special_ids(tokenizer: Any) -> set[int]:
    """Ids of the tokenizer's special tokens (bos, eos, pad and added special tokens such as ``<|im_start|>``)."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return set(tokenizer.all_special_ids) | {i for i, token in added.items() if getattr(token, "special", False)}


class TemplateTokenPolicy:
    """``start``, ``append`` and ``observe`` of a ``TokenPolicy`` whose trajectories are chat-template tokens.

    Subclasses set ``tokenizer``, ``tools`` and ``tool_role`` through ``__init__`` and add ``sample``
    (k continuations of ``traj.token_ids``, each a ``Sample`` with its exact ids and log-probs).
    """

    def __init__(self, tokenizer: Any, tools: Sequence[dict] | None = None, tool_role: ToolRole = "template"):
        self.tokenizer = tokenizer
        self.tools = list(tools) if tools else None
        self.tool_role: ToolRole = tool_role
        self.closing = assistant_closing(tokenizer, self.tools, tool_role=tool_role)  # checks the template early

    def start(self, messages: Sequence[Message]) -> TokenTrajectory:
        """A new trajectory: the reset observation as prompt tokens (mask 0) ending with the generation prompt."""
        ids = prompt_ids(self.tokenizer, messages, self.tools, tool_role=self.tool_role)
        traj = TokenTrajectory(messages=copy_messages(list(messages)))
        traj.extend_prompt(ids)
        return traj

    def append(self, traj: TokenTrajectory, sample: Sample) -> None:
        """Add the policy's chosen sample: its tokens with mask 1 and their log-probs; its text as the action."""
        if not self._awaits_action(traj):
            raise ValueError(
                "expected a trajectory that awaits an action (after start or observe), got one that ends with an action"
            )
        traj.extend_policy(list(sample.token_ids), list(sample.logprobs))
        traj.messages.append({"role": "assistant", "content": sample.text})

    def observe(self, traj: TokenTrajectory, new_messages: Sequence[Message]) -> None:
        """Add the env's reply (mask 0): the closing of the policy's turn, the new messages, the generation prompt."""
        if self._awaits_action(traj):
            raise ValueError(
                "expected the policy's action (append) before the env's next messages, got none since the last observation"
            )
        action_ids = traj.token_ids[traj.turn_starts[-1] :]
        ids = continuation_ids(
            self.tokenizer,
            traj.messages,
            new_messages,
            self.tools,
            after_policy_action=True,
            action_ids=action_ids,
            tool_role=self.tool_role,
        )
        traj.extend_prompt(ids)
        traj.messages.extend(copy_messages(list(new_messages)))

    def check_awaiting(self, trajs: Sequence[TokenTrajectory]) -> None:
        """Raise unless every trajectory awaits an action (``sample`` calls this first)."""
        for i, traj in enumerate(trajs):
            if not self._awaits_action(traj):
                raise ValueError(
                    f"expected trajectory {i} to await an action (after start or observe), got one ending with an action"
                )

    def _awaits_action(self, traj: TokenTrajectory) -> bool:
        return not traj.mask or traj.mask[-1] == 0


def _name(tokenizer: Any) -> str:
    name = getattr(tokenizer, "name_or_path", "") or ""
    return f"tokenizer {name!r}" if name else f"the {type(tokenizer).__name__}"
