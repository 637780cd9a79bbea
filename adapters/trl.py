"""TRL adapter: any turngym env as an ``environment_factory`` of TRL's ``GRPOTrainer``.

TRL makes one instance per rollout, calls ``reset(**row)`` with the dataset row, shows the model
the instance's public methods as tools (the env's tools, plus ``answer`` for its text answer), runs
the calls the model makes, and passes the instances to reward functions as ``environments``::

    from trl import GRPOConfig, GRPOTrainer
    from turngym.adapters.trl import turngym_dataset, turngym_environment_factory, turngym_reward

    trainer = GRPOTrainer(
        model=model,
        args=GRPOConfig(...),
        train_dataset=turngym_dataset("turngym/ToolCalc-v0", 256),
        reward_funcs=turngym_reward,
        environment_factory=turngym_environment_factory("turngym/ToolCalc-v0"),
    )

>>> Env = turngym_environment_factory("turngym/ToolCalc-v0")
>>> env = Env()
>>> env.reset(seed=0)
'You solve arithmetic tasks...'
>>> env.calculator(expression="2 + 3")
'5'
>>> env.reward, env.reward_parts["valid_tool_call"], env.done
(0.1, 1.0, False)
"""

from __future__ import annotations

import inspect
import itertools
import keyword
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal, Union

from turngym.envs.errors import TurngymError
from turngym.envs.registration import make
from turngym.envs.vector.sync import step_env

# Attributes of a TRLEnvironment; a tool of the same name would hide them (or they it).
STATE = ("env", "seed", "reward", "reward_parts", "actions", "done", "stop_reason")
RESERVED = frozenset({*STATE, "reset", "get_reward", "env_id", "env_kwargs", "seeds"})
JSON_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool, "object": dict}


class AdapterError(TurngymError, ValueError):
    """A turngym env that cannot be shown to a peer library as it is (e.g. a tool name TRL cannot call)."""


class TRLEnvironment:
    """One turngym episode per ``reset``, played through tool methods; ``turngym_environment_factory``
    subclasses it per env ID with the env's tools as methods."""

    env_id: ClassVar[str]
    env_kwargs: ClassVar[dict[str, Any]]
    seeds: ClassVar[Iterator[int]]  # seeds for rows without one, shared by all instances of the class

    def __init__(self) -> None:
        self.env = make(self.env_id, **self.env_kwargs)
        self.seed: int | None = None  # this episode's seed
        self.reward = 0.0  # the step rewards summed
        self.reward_parts: dict[str, float] = {}  # each reward part summed over the steps
        self.actions: list[str | dict[str, Any]] = []  # the actions stepped, in order
        self.done = False  # the episode ended (answered or a budget ran out)
        self.stop_reason: str | None = None  # why it ended

    def reset(self, seed: int | None = None, prompt: Any = None, **row: Any) -> str | None:
        """Start an episode with the row's ``seed`` (else the class's next seed).

        Returns None when the row has a ``prompt`` (``turngym_dataset`` puts the reset messages there),
        else the reset messages as text, which TRL appends to its empty placeholder prompt. Without a
        dataset every rollout takes a new seed, so a GRPO group compares different tasks: pass
        ``turngym_dataset`` to have each group of ``num_generations`` rollouts play one task.
        """
        self.seed = next(self.seeds) if seed is None else int(seed)
        messages, _ = self.env.reset(seed=self.seed)
        self.reward, self.reward_parts, self.actions = 0.0, {}, []
        self.done, self.stop_reason = False, None
        return None if prompt is not None else "\n\n".join(m["content"] for m in messages)

    def _step(self, action: str | dict[str, Any]) -> str:
        """Step the env with ``action``; the text of its new messages (tool outputs, errors, feedback)."""
        if self.done:
            return f"Error: the episode is over ({self.stop_reason}); no more actions are taken."
        messages, reward, terminated, truncated, info, *_ = step_env(self.env, action)  # a broken env: stop_reason "error"
        self.actions.append(action)
        self.reward += reward
        for name, value in info["reward_parts"].items():
            self.reward_parts[name] = self.reward_parts.get(name, 0.0) + value
        if terminated or truncated:
            self.done, self.stop_reason = True, str(info["stop_reason"])
        text = "\n".join(m["content"] for m in messages if m.get("content"))
        return text or f"The episode is over ({self.stop_reason})."


def turngym_environment_factory(env_id: str, *, first_seed: int = 0, **env_kwargs: Any) -> type[TRLEnvironment]:
    """A zero-argument class for ``GRPOTrainer(environment_factory=...)`` playing ``turngym.make(env_id, **env_kwargs)``.

    Its methods are the env's tools (named, typed and documented from ``env.tool_schemas``) and
    ``answer``, unless the env has a tool of that name; rows without a ``seed`` take seeds
    ``first_seed, first_seed + 1, ...``.
    """
    env = make(env_id, **env_kwargs)
    try:
        schemas, answer_tag = env.tool_schemas, env.parser.answer_tag
    finally:
        env.close()
    namespace: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"{env_id} for TRL's GRPOTrainer (see TRLEnvironment).",
        "env_id": env_id,
        "env_kwargs": dict(env_kwargs),
        "seeds": itertools.count(first_seed),
    }
    for schema in schemas:
        method = tool_method(env_id, schema)
        namespace[method.__name__] = method
    namespace.setdefault("answer", answer_method(answer_tag))
    name = "".join(c for c in env_id.rpartition("/")[2] if c.isalnum()) + "Environment"
    return type(name, (TRLEnvironment,), namespace)


def tool_method(env_id: str, schema: Mapping[str, Any]) -> Callable[..., str]:
    """A method calling the tool ``schema`` (OpenAI function format) as one env step; its signature,
    hints and Google docstring give TRL the same schema back. Any arguments go to the env, which
    answers bad ones with an error text."""
    function = schema["function"]
    name = function["name"]
    if not name.isidentifier() or keyword.iskeyword(name) or name.startswith("_") or name in RESERVED:
        raise AdapterError(
            f"{env_id}: expected tool names that can be public Python methods and are not in {sorted(RESERVED)}, got {name!r}"
        )
    params = function.get("parameters") or {}
    required = set(params.get("required", ()))
    hints: dict[str, Any] = {}
    signature = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
    docs = []
    for arg, spec in (params.get("properties") or {}).items():
        if not arg.isidentifier() or keyword.iskeyword(arg):
            raise AdapterError(f"{env_id}: expected argument names that are Python identifiers, got {name}({arg!r})")
        hint = json_hint(spec, f"{env_id}: {name}({arg})")
        optional = arg not in required
        hints[arg] = hint | None if optional else hint
        default = None if optional else inspect.Parameter.empty
        signature.append(inspect.Parameter(arg, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=hints[arg]))
        docs.append(f"    {arg}: {one_line(spec.get('description') or f'The {arg}.')}")

    def method(self: TRLEnvironment, **arguments: Any) -> str:
        call = {"type": "function", "function": {"name": name, "arguments": arguments}}
        return self._step({"role": "assistant", "content": "", "tool_calls": [call]})

    method.__name__ = name
    method.__qualname__ = f"TRLEnvironment.{name}"
    method.__doc__ = one_line(function.get("description") or f"Call the {name} tool.") + (
        "\n\nArgs:\n" + "\n".join(docs) if docs else ""
    )
    method.__annotations__ = {**hints, "return": str}
    method.__signature__ = inspect.Signature(signature, return_annotation=str)  # type: ignore[attr-defined]
    return method


def answer_method(tag: str) -> Callable[[TRLEnvironment, str], str]:
    """The ``answer`` method: steps the env with ``<tag>answer</tag>``, its text answer."""

    def answer(self: TRLEnvironment, answer: str) -> str:
        return self._step(self.env.parser.render(answer=str(answer)))

    answer.__qualname__ = "TRLEnvironment.answer"
    answer.__doc__ = (
        f"Give your answer to the task (the env reads it as <{tag}>answer</{tag}>).\n\n"
        "Args:\n    answer: The answer, e.g. a number or a short phrase."
    )
    return answer


def json_hint(spec: Mapping[str, Any], where: str) -> Any:
    """The Python type hint of a JSON schema: basic types, ``enum`` (a Literal), arrays, unions."""
    if "enum" in spec:
        return Literal[tuple(spec["enum"])]
    kind = spec.get("type")
    if isinstance(kind, list) or "anyOf" in spec:
        options = [{"type": k} for k in kind] if isinstance(kind, list) else spec["anyOf"]
        return Union[tuple(type(None) if o.get("type") == "null" else json_hint(o, where) for o in options)]  # noqa: UP007
    if kind == "array":
        return list[json_hint(spec["items"], where)] if "items" in spec else list
    if kind in JSON_TYPES:
        return JSON_TYPES[kind]
    raise AdapterError(
        f"{where}: expected a JSON schema type in {sorted(JSON_TYPES)} or 'array', an enum or a union, got {dict(spec)}"
    )


def one_line(text: str) -> str:
    """``text`` with its whitespace runs (newlines too) made single spaces, as a docstring line needs."""
    return " ".join(text.split())


def turngym_reward(environments: list[TRLEnvironment], completions: list[Any] | None = None, **kwargs: Any) -> list[float | None]:
    """A TRL reward function: each rollout's episode reward, the env's step rewards summed.

    An episode still running first gets one more step, the completion's final assistant text (a
    text answer such as ``<answer>42</answer>``), since TRL only hands the env the model's tool
    calls. Each reward part's mean goes to TRL's ``log_metric`` as ``turngym/<part>``. An episode
    whose env broke (``stop_reason="error"``) gets None, which TRL leaves out of the loss.
    """
    if environments is None or not all(isinstance(e, TRLEnvironment) for e in environments):
        raise TypeError(
            f"expected environments made by turngym_environment_factory, got {[type(e).__name__ for e in environments or ()]}"
        )
    for env, completion in zip(environments, completions or [None] * len(environments), strict=True):
        text = final_text(completion)
        if text and not env.done:
            env._step(text)
    log_metric = kwargs.get("log_metric")
    if log_metric is not None:
        for part in sorted({p for env in environments for p in env.reward_parts}):
            log_metric(f"turngym/{part}", sum(env.reward_parts.get(part, 0.0) for env in environments) / len(environments))
    # an episode its env broke (stop_reason "error") gets None: TRL leaves it out of the loss, not a silent 0
    return [None if env.stop_reason == "error" else env.reward for env in environments]


def final_text(completion: Any) -> str:
    """The completion's closing assistant text: a standard completion's string, or the content of a
    conversational completion's last message when it is an assistant message without tool calls."""
    if isinstance(completion, str):
        return completion.strip()
    if not completion:
        return ""
    last = completion[-1]
    if last.get("role") != "assistant" or last.get("tool_calls") or not isinstance(last.get("content"), str):
        return ""
    return last["content"].strip()


def turngym_dataset(env_id: str, n: int, *, first_seed: int = 0, **env_kwargs: Any) -> Any:
    """A ``datasets.Dataset`` of ``n`` rows: ``seed`` (``first_seed + i``) and ``prompt``, the env's
    reset messages for that seed (which ``reset`` replays)."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"expected n >= 1 rows, got {n!r}")
    from datasets import Dataset

    env = make(env_id, **env_kwargs)
    try:
        seeds = list(range(first_seed, first_seed + n))
        prompts = [[{"role": m["role"], "content": m["content"]} for m in env.reset(seed=s)[0]] for s in seeds]
    finally:
        env.close()
    return Dataset.from_dict({"prompt": prompts, "seed": seeds})
