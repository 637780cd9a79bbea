"""The OpenEnv adapter: ``turngym serve openenv`` in a real process, driven by openenv-core's own clients.

Concurrent sessions play whole GuessNumber episodes by binary search on what they are told; each session's
transcript must equal a local env's with the same seed and actions (so sessions do not share an env and rewards
come from the env). Malformed actions come back as error observations; a session past ``--max-sessions`` is refused.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import threading

import pytest
from openenv.core import GenericEnvClient
from websockets.asyncio.client import connect as ws_connect

import turngym
from turngym.adapters.openenv import OpenEnvServer, TurngymAction, TurngymEnvClient

ENV_ID = "turngym/GuessNumber-v0"
ENV_KWARGS = {"high": 1000, "max_turns": 12}
SESSIONS = 4
MALFORMED = [  # one per session, sent as its second action
    "I think it is 500",
    "<guess>five hundred</guess>",
    {"role": "assistant", "content": None, "tool_calls": [{"function": "not a dict"}]},
    "",
]


def serve_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "turngym", "serve", "openenv", *args]


def local_replay(seed: int, actions: list) -> list[tuple]:
    """(messages, reward, done) of each reset/step of a local env given the same seed and actions."""
    env = turngym.make(ENV_ID, **ENV_KWARGS)
    messages, _ = env.reset(seed=seed)
    out = [(messages, None, False)]
    for action in actions:
        messages, reward, terminated, truncated, _ = env.step(action)
        out.append((messages, reward, terminated or truncated))
    env.close()
    return out


async def play(url: str, seed: int, typed: bool, ready: asyncio.Barrier, go: asyncio.Event) -> dict:
    """Binary search over one session, with one malformed action; returns its transcript and final state."""
    client = TurngymEnvClient(base_url=url) if typed else GenericEnvClient(base_url=url)

    def observed(result):
        obs = result.observation
        return obs if isinstance(obs, dict) else obs.model_dump()

    async with client:
        result = await client.reset(seed=seed)
        transcript, actions = [(observed(result)["messages"], result.reward, result.done)], []
        await ready.wait()
        await go.wait()
        low, high = 1, ENV_KWARGS["high"]
        while not result.done:
            if len(actions) == 1:
                action = MALFORMED[seed % SESSIONS]
            else:
                action = f"<guess>{(low + high) // 2}</guess>"
            result = await client.step(TurngymAction(message=action) if typed else {"message": action})
            obs = observed(result)
            actions.append(action)
            transcript.append((obs["messages"], result.reward, result.done))
            if len(actions) == 2:
                assert obs["error"] and obs["messages"][0]["content"].startswith("Invalid action"), obs
                assert result.reward == 0.0 and not result.done
                continue
            assert obs["error"] is None, obs
            guess = (low + high) // 2
            reply = obs["messages"][0]["content"] if obs["messages"] else ""
            if reply == "Higher.":
                low = guess + 1
            elif reply == "Lower.":
                high = guess - 1
        state = await client.state()
    state = state if isinstance(state, dict) else state.model_dump()
    return {"seed": seed, "obs": obs, "reward": result.reward, "actions": actions, "transcript": transcript, "state": state}


async def play_sessions(url: str) -> list[dict]:
    ready, go = asyncio.Barrier(SESSIONS + 1), asyncio.Event()
    tasks = [asyncio.create_task(play(url, seed, seed % 2 == 0, ready, go)) for seed in range(SESSIONS)]
    await asyncio.wait_for(ready.wait(), 30)  # every session is open and reset
    async with ws_connect(url.replace("http://", "ws://") + "/ws") as extra:  # openenv's server refuses before any message
        refusal = json.loads(await asyncio.wait_for(extra.recv(), 10))
    assert refusal["type"] == "error" and refusal["data"]["code"] == "CAPACITY_REACHED", refusal
    go.set()
    return await asyncio.wait_for(asyncio.gather(*tasks), 60)


def test_serve_openenv_plays_concurrent_sessions():
    args = ["--env", ENV_ID, "--port", "0", "--max-sessions", str(SESSIONS)]
    args += [item for key, value in ENV_KWARGS.items() for item in ("--set", f"{key}={value}")]
    proc = subprocess.Popen(serve_command(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(90, proc.kill)  # a server that never prints its banner must not hang the suite
    watchdog.start()
    try:
        banner = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+) \(WebSocket /ws, up to 4 sessions", banner)
        assert match, (banner, proc.stderr.read() if proc.poll() is not None else "")
        episodes = asyncio.run(play_sessions(match.group(1)))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=15)
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 0, err
    assert "shutting down" in out
    for episode in episodes:
        assert episode["reward"] == 1.0
        assert episode["obs"]["stop_reason"] == "answered" and episode["obs"]["reward_parts"] == {"outcome": 1.0}
        assert episode["transcript"] == local_replay(episode["seed"], episode["actions"])
        assert episode["state"]["step_count"] == len(episode["actions"])
        assert episode["state"]["env_id"] == ENV_ID and episode["state"]["stop_reason"] == "answered"
    assert len({e["state"]["task_id"] for e in episodes}) == SESSIONS  # four different secrets
    assert len({e["state"]["episode_id"] for e in episodes}) == SESSIONS


def test_tool_call_messages_go_through_and_match_a_local_env():
    """ToolCalc with OpenAI-style tool_calls dicts: the served episode equals a local one, a bad call included."""
    kwargs = {"parser": "openai"}
    call = {"id": "c", "type": "function", "function": {"name": "nope", "arguments": "{}"}}
    action = {"role": "assistant", "content": None, "tool_calls": [call]}  # an unknown tool first
    with (
        turngym.make("turngym/ToolCalc-v0", **kwargs) as local,
        OpenEnvServer("turngym/ToolCalc-v0", max_sessions=1, **kwargs) as server,
        TurngymEnvClient(base_url=server.url).sync() as remote,
    ):
        result = remote.reset(seed=3)
        messages, _ = local.reset(seed=3)
        assert result.observation.messages == messages
        assert result.observation.tools == local.unwrapped.tool_schemas and result.observation.tools
        assert result.observation.stop_strings == list(local.unwrapped.stop_strings)
        while not result.done:
            result = remote.step(TurngymAction(message=action))
            messages, reward, terminated, truncated, info = local.step(action)
            obs = result.observation
            assert (obs.messages, obs.reward, obs.done) == (messages, reward, terminated or truncated)
            assert (obs.reward_parts, obs.error, obs.stop_reason) == (info["reward_parts"], info["error"], info["stop_reason"])
            action = local.unwrapped.oracle_action()
        assert obs.stop_reason == "answered" and obs.reward_parts["outcome"] == 1.0
        assert remote.state().step_count == info["turn"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "turngym/GuesNumber-v0"], "did you mean 'turngym/GuessNumber-v0'"),
        (["--env", ENV_ID, "--set", "hgh=3"], "unexpected keyword argument 'hgh'"),
    ],
)
def test_bad_env_or_argument_is_a_one_line_usage_error(args, message):
    done = subprocess.run(serve_command(*args, "--port", "0"), capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    assert message in done.stderr
    assert done.stdout == ""


def test_a_broken_env_ends_the_session_episode_with_an_error_observation():
    import crash_env  # registers tests/Crash-v0

    from turngym.adapters.openenv import TurngymAction, TurngymEnvironment

    env = TurngymEnvironment(crash_env.ENV_ID)
    env.reset(seed=0)
    obs = env.step(TurngymAction(message="RAISE"))
    assert obs.done and obs.stop_reason == "error" and "told to raise" in obs.error
