"""Serve any turngym env through OpenEnv (``openenv-core``): its ``Environment``, FastAPI server and WebSocket sessions.

Each WebSocket connection is one session with its own ``turngym.make(env_id, **env_kwargs)``, up to ``max_sessions``
at once. Clients step with a :class:`TurngymAction` (the assistant's text, or a message dict with ``tool_calls``) and
get a :class:`TurngymObservation` (the env's new messages, reward parts, stop reason, error). A malformed action is an
error observation, as in turngym itself.

Example (a server in this process; ``turngym serve openenv --env ID`` runs one on its own)::

    from turngym.adapters.openenv import OpenEnvServer, TurngymAction, TurngymEnvClient

    with OpenEnvServer("turngym/GuessNumber-v0", port=0, high=10) as server:
        with TurngymEnvClient(base_url=server.url).sync() as env:
            result = env.reset(seed=0)
            result = env.step(TurngymAction(message="<guess>5</guess>"))
            print(result.observation.messages, result.reward, result.done)
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

try:
    import openenv.core  # noqa: F401
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the install
    raise ImportError(f"turngym.adapters.openenv needs openenv-core: pip install 'turngym[adapters]' ({exc})") from exc
from openenv.core.client_types import StepResult
from openenv.core.env_client import EnvClient
from openenv.core.env_server import Action, Environment, Observation, State, create_fastapi_app
from openenv.core.env_server.types import EnvironmentMetadata
from pydantic import Field

import turngym
from turngym.envs.vector.sync import step_env
from turngym.tools.background_server import BackgroundServer


class TurngymAction(Action):
    """One assistant turn, exactly what ``AgentEnv.step`` takes."""

    message: str | dict[str, Any] = Field(
        description="The assistant's raw text, or an assistant message dict (role, content, tool_calls)."
    )


class TurngymObservation(Observation):
    """What one ``reset`` or ``step`` of a turngym env returned; ``reward`` is the weighted sum of ``reward_parts``."""

    messages: list[dict[str, Any]] = Field(description="The env's new messages (reset: the system prompt and the task).")
    reward_parts: dict[str, float] = Field(default_factory=dict, description="Each reward part, unweighted.")
    truncated: bool = Field(default=False, description="The episode was cut off (done without an answer).")
    stop_reason: str | None = Field(default=None, description="Why the episode ended; None while it runs.")
    error: str | None = Field(default=None, description="What was wrong with the action (an error observation).")
    tools: list[dict[str, Any]] = Field(default_factory=list, description="Reset only: the OpenAI schemas of the tools.")
    stop_strings: list[str] = Field(default_factory=list, description="Reset only: strings that end an action.")


class TurngymState(State):
    """The session's episode; ``step_count`` is the turn."""

    env_id: str = Field(description="The turngym env ID.")
    task_id: str | None = Field(default=None, description="The episode's task, None before the first reset.")
    stop_reason: str | None = Field(default=None, description="Why the episode ended; None while it runs.")


class TurngymEnvironment(Environment[TurngymAction, TurngymObservation, TurngymState]):
    """An OpenEnv ``Environment`` around ``turngym.make(env_id, **env_kwargs)``; one per session."""

    SUPPORTS_CONCURRENT_SESSIONS = True  # every session makes its own turngym env

    def __init__(self, env_id: str, **env_kwargs: Any):
        super().__init__()
        self.env_id = env_id
        self.env = turngym.make(env_id, **env_kwargs)
        self._state = TurngymState(env_id=env_id)

    def reset(
        self, seed: int | None = None, episode_id: str | None = None, options: dict[str, Any] | None = None, **kwargs: Any
    ) -> TurngymObservation:
        if kwargs:
            raise TypeError(f"expected reset arguments seed, episode_id, options; got {sorted(kwargs)}")
        messages, info = self.env.reset(seed=seed, options=options)
        self._state = TurngymState(env_id=self.env_id, episode_id=episode_id or str(uuid.uuid4()), task_id=info["task_id"])
        unwrapped = self.env.unwrapped
        return TurngymObservation(messages=messages, tools=unwrapped.tool_schemas, stop_strings=list(unwrapped.stop_strings))

    def step(self, action: TurngymAction, timeout_s: float | None = None, **kwargs: Any) -> TurngymObservation:
        # a broken env ends the episode with stop_reason "error" instead of failing the request
        messages, reward, terminated, truncated, info, *_ = step_env(self.env, action.message)
        stop_reason = None if info["stop_reason"] is None else str(info["stop_reason"])
        self._state.step_count, self._state.stop_reason = info["turn"], stop_reason
        return TurngymObservation(
            messages=messages,
            reward=reward,
            done=terminated or truncated,
            truncated=truncated,
            reward_parts=info["reward_parts"],
            stop_reason=stop_reason,
            error=info["error"],
        )

    @property
    def state(self) -> TurngymState:
        return self._state

    def get_metadata(self) -> EnvironmentMetadata:
        from turngym.envs.registration import one_line_card

        return EnvironmentMetadata(name=self.env_id, description=one_line_card(self.env_id), version=turngym.__version__)

    def close(self) -> None:
        self.env.close()


class TurngymEnvClient(EnvClient[TurngymAction, TurngymObservation, TurngymState]):
    """OpenEnv's WebSocket client, typed for a turngym env server (``.sync()`` gives the blocking one)."""

    def _step_payload(self, action: TurngymAction) -> dict[str, Any]:
        return action.model_dump()

    def _parse_result(self, payload: dict[str, Any]) -> StepResult[TurngymObservation]:
        reward, done = payload.get("reward"), payload.get("done", False)
        observation = TurngymObservation(**payload.get("observation", {}), reward=reward, done=done)
        return StepResult(observation=observation, reward=reward, done=done)

    def _parse_state(self, payload: dict[str, Any]) -> TurngymState:
        return TurngymState(**payload)


def make_app(env_id: str, *, max_sessions: int = 8, **env_kwargs: Any) -> Any:
    """The OpenEnv FastAPI app (WebSocket ``/ws``, ``/schema``, ``/health``, ...) serving ``env_id``.

    Makes one env first, so an unknown ID or a bad keyword argument raises here (``UnknownEnvError``,
    ``EnvArgumentError``), not in every session.
    """
    turngym.make(env_id, **env_kwargs).close()
    factory = functools.partial(TurngymEnvironment, env_id, **env_kwargs)
    return _quiet_disconnects(create_fastapi_app(factory, TurngymAction, TurngymObservation, max_concurrent_envs=max_sessions))


def _quiet_disconnects(app: Any) -> Any:
    """``app`` without a traceback in the log when a client closes its session (openenv-core closes the closed socket)."""
    from starlette.websockets import WebSocketDisconnect

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            await app(scope, receive, send)
        except WebSocketDisconnect:
            if scope["type"] != "websocket":
                raise

    return asgi


class OpenEnvServer(BackgroundServer):
    """``make_app`` served by uvicorn in a background thread; ``start()`` returns the bound port (0: a free one)."""

    label = "OpenEnv server"

    def __init__(self, env_id: str, host: str = "127.0.0.1", port: int = 0, *, max_sessions: int = 8, **env_kwargs: Any):
        super().__init__(make_app(env_id, max_sessions=max_sessions, **env_kwargs), host, port, graceful_timeout_s=5.0)


def serve(env_id: str, host: str = "127.0.0.1", port: int = 8000, *, max_sessions: int = 8, **env_kwargs: Any) -> None:
    """Serve ``env_id`` over OpenEnv until SIGINT/SIGTERM; prints one line with the URL once it accepts connections."""
    server = OpenEnvServer(env_id, host, port, max_sessions=max_sessions, **env_kwargs)
    server.run_until_signal(
        lambda: f"turngym OpenEnv server: {env_id} at {server.url} (WebSocket /ws, up to {max_sessions} sessions; Ctrl+C to stop)"
    )
