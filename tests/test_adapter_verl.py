"""The verl adapter plays turngym envs token-in/token-out behind verl's server-manager interface.

A tiny random Llama (built from a config) samples through transformers' ``generate``; a scripted
server answers the env's oracle action. The last test runs ``TurngymAgentLoop`` as verl's
agent-loop worker does (its registry, ``hydra.utils.instantiate``, an ``LLMServerClient``).
"""

from __future__ import annotations

import asyncio
import string
from dataclasses import dataclass

import crash_env  # registers tests/Crash-v0
import pytest
import torch

import turngym
from turngym.adapters.verl import AGENT_NAME, cut_at_stop, dataset_rows, episode_spec, play_episode
from turngym.agents.chat_tokens import encode, render
from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.envs.errors import EnvArgumentError

VERL_MISSING = (
    "verl's agent loop does not import; install it with "
    "pip install --no-deps verl==0.9.1 && pip install ray tensordict hydra-core codetiming -c constraints.txt"
)
ALLOWED = sorted({ord(c) for c in string.printable if c not in "\t\r\x0b\x0c"})  # byte ids == byte values


@dataclass
class Generated:
    """What a server manager's ``generate`` returns (verl's ``TokenOutput`` has these fields)."""

    token_ids: list[int]
    log_probs: list[float] | None = None


class TinyServer:
    """A server manager whose ``generate`` samples the tiny model (ASCII tokens and eos only), with log-probs."""

    def __init__(self, tok, seed=0, max_new_tokens=24):
        self.tok, self.model, self.max_new_tokens = tok, tiny_model(tok, seed=seed), max_new_tokens
        self.suppress = [i for i in range(len(tok)) if i not in ALLOWED and i != tok.eos_token_id]
        self.seed, self.calls = seed, []

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
        ids = torch.tensor([prompt_ids])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed + len(self.calls))
            out = self.model.generate(
                ids,
                attention_mask=torch.ones_like(ids),
                do_sample=True,
                temperature=sampling_params["temperature"],
                max_new_tokens=min(sampling_params["max_tokens"], self.max_new_tokens),
                suppress_tokens=self.suppress,
                stop_strings=sampling_params.get("stop"),
                tokenizer=self.tok,
                output_scores=True,
                return_dict_in_generate=True,
                pad_token_id=self.tok.pad_token_id,
            )
        scores = self.model.compute_transition_scores(out.sequences, out.scores, normalize_logits=True)
        new = out.sequences[0, ids.shape[1] :].tolist()
        self.calls.append(new)
        return Generated(new, scores[0, : len(new)].tolist())


class OracleServer:
    """A scripted server: the encoding of the oracle action of a twin env (same ID and seed), plus ``tail``."""

    def __init__(self, tok, env_id, seed, tail=""):
        self.tok, self.twin, self.tail = tok, turngym.make(env_id), tail
        self.twin.reset(seed=seed)

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
        action = self.twin.unwrapped.oracle_action()
        self.twin.step(action)
        tail = [self.tok.eos_token_id] if self.tail == "eos" else encode(self.tok, self.tail)
        return Generated(encode(self.tok, action) + tail)


@pytest.fixture(scope="module")
def tok():
    return tiny_tokenizer("bytes")


def play(server, tok, env_id, seed, **kwargs):
    env = turngym.make(env_id)
    try:
        kwargs.setdefault("response_length", 2000)
        return asyncio.run(play_episode(server, tok, env, seed=seed, sampling_params={"temperature": 1.0}, **kwargs))
    finally:
        env.close()


def replayed_total(env_id, seed, messages):
    """The env's own episode total for the assistant messages played again, and its stop reason."""
    env = turngym.make(env_id)
    env.reset(seed=seed)
    total, info = 0.0, {}
    for message in messages:
        if message["role"] == "assistant":
            _, reward, _, _, info = env.step(message["content"])
            total += reward
    env.close()
    return total, info.get("stop_reason")


def assert_token_exact(tok, episode, policy_segments):
    """Mask-1 runs are the sampled segments; prompt+response is the template's encoding of the conversation."""
    runs, run = [], None
    for token, mask in zip(episode.response_ids, episode.response_mask, strict=True):
        if mask and run is None:
            run = []
            runs.append(run)
        if mask:
            run.append(token)
        else:
            run = None
    assert runs == [s for s in policy_segments if s]
    ids = episode.prompt_ids + episode.response_ids
    last = max(i for i, m in enumerate(episode.messages) if m["role"] == "assistant")
    expected = render(tok, episode.messages[: last + 1])  # the last env reply is not tokenised: nothing follows it
    closing_left = "\n" if ids[-1] == tok.eos_token_id else "<|im_end|>\n"
    assert tok.decode(ids) + closing_left == expected
    assert ids == encode(tok, expected[: len(expected) - len(closing_left)])


@pytest.mark.parametrize("env_id", ["turngym/GuessNumber-v0", "turngym/Echo-v0"])
def test_tiny_model_episode_is_token_exact_and_scored_by_the_env(tok, env_id):
    server = TinyServer(tok)
    episode = play(server, tok, env_id, seed=3)
    assert len(server.calls) == len(episode.rewards) >= 2 and episode.env_replies >= 1  # multi-turn
    assert_token_exact(tok, episode, server.calls)
    sampled = [lp for lp, m in zip(episode.response_logprobs, episode.response_mask, strict=True) if m]
    assert all(lp <= 0 for lp in sampled) and len(sampled) == sum(map(len, server.calls))
    assert [lp for lp, m in zip(episode.response_logprobs, episode.response_mask, strict=True) if not m] == [0.0] * (
        len(episode.response_mask) - len(sampled)
    )
    total, stop_reason = replayed_total(env_id, 3, episode.messages)
    assert episode.reward_score == total and episode.stop_reason == stop_reason
    assert episode.num_turns == 1 + len(episode.rewards) + episode.env_replies
    assert episode.extra_fields()["turn_scores"] == episode.rewards and episode.trainable


@pytest.mark.parametrize("tail", ["", "eos", " and more text after the stop"])
def test_oracle_actions_get_reward_1_and_text_after_the_stop_string_is_cut(tok, tail):
    server = OracleServer(tok, "turngym/GuessNumber-v0", seed=5, tail=tail)
    episode = play(server, tok, "turngym/GuessNumber-v0", seed=5)
    assert episode.reward_score == 1.0 and episode.reward_parts["outcome"] == 1.0
    assert episode.stop_reason == "answered" and len(episode.rewards) >= 3  # a binary search over 1..100
    actions = [m["content"] for m in episode.messages if m["role"] == "assistant"]
    assert all(a.startswith("<guess>") and a.endswith("</guess>") for a in actions)
    assert_token_exact(tok, episode, [encode(tok, a) for a in actions])  # an eos after the stop string goes too
    assert episode.response_logprobs is None  # the server gave none


def test_budgets_stop_the_loop(tok):
    episode = play(TinyServer(tok), tok, "turngym/GuessNumber-v0", seed=1, max_turns=1)
    assert episode.stop_reason == "max_turns" and len(episode.rewards) == 1
    episode = play(TinyServer(tok, max_new_tokens=8), tok, "turngym/GuessNumber-v0", seed=1, response_length=30)
    assert episode.stop_reason == "token_budget" and len(episode.response_ids) == 30


def test_an_env_that_breaks_is_flagged_not_silently_scored_0(tok):
    class RaiseServer:
        async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
            return Generated(encode(tok, "RAISE"), [-0.5] * 5)

    episode = play(RaiseServer(), tok, crash_env.ENV_ID, seed=0)
    fields = episode.extra_fields()
    assert fields["stop_reason"] == "error" and fields["trainable"] is False
    assert "RuntimeError" in fields["error"] and episode.reward_score == 0.0


def test_cut_at_stop_keeps_the_token_that_completes_the_stop_string(tok):
    ids = encode(tok, "<guess>7</guess> extra")
    kept, logprobs = cut_at_stop(tok, ids, [-1.0] * len(ids), ["</guess>"])
    assert tok.decode(kept) == "<guess>7</guess>" and logprobs == [-1.0] * len(kept)
    assert cut_at_stop(tok, ids, None, ["</answer>"]) == (ids, None)


def test_rows_name_the_env_and_the_seed():
    rows = dataset_rows("turngym/GuessNumber-v0", [4, 9], max_turns=5)
    assert [r["agent_name"] for r in rows] == [AGENT_NAME] * 2 and rows[1]["prompt"][0]["role"] == "system"
    assert episode_spec(rows[1]) == ("turngym/GuessNumber-v0", {"max_turns": 5}, 9)
    assert episode_spec({"index": 2}, "turngym/Echo-v0", {"max_turns": 1}) == ("turngym/Echo-v0", {"max_turns": 1}, 2)
    with pytest.raises(EnvArgumentError, match="expected env_id in the row's extra_info or the agent-loop config"):
        episode_spec({"extra_info": {"seed": 1}})
    with pytest.raises(EnvArgumentError, match="expected a non-negative int seed"):
        episode_spec({"extra_info": {"env_id": "turngym/Echo-v0", "seed": "one"}})


def test_verl_runs_the_registered_loop_with_a_tiny_model_behind_its_server_client(tok):
    agent_loop = pytest.importorskip("verl.experimental.agent_loop.agent_loop", reason=VERL_MISSING)
    import hydra
    from omegaconf import OmegaConf
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.workers.rollout.llm_server import LLMServerClient
    from verl.workers.rollout.replica import TokenOutput

    import turngym.adapters.verl as adapter

    assert adapter.TurngymAgentLoop.__name__ == "TurngymAgentLoop"  # first access registers it
    config = OmegaConf.create(
        {
            "actor_rollout_ref": {"rollout": {"prompt_length": 512, "response_length": 600, "multi_turn": {}}},
            "data": {"apply_chat_template_kwargs": {}},
        }
    )
    tiny = TinyServer(tok, seed=7)

    class TinyLLMServerClient(LLMServerClient):
        async def generate(self, request_id, *, prompt_ids, sampling_params, **kwargs):
            out = await tiny.generate(request_id, prompt_ids=prompt_ids, sampling_params=sampling_params)
            return TokenOutput(token_ids=out.token_ids, log_probs=out.log_probs, stop_reason="completed")

    async def run_row(row):
        loop = hydra.utils.instantiate(
            config=agent_loop._agent_loop_registry[row["agent_name"]],
            trainer_config=agent_loop.DictConfigWrap(config),
            server_manager=TinyLLMServerClient(config),
            tokenizer=tok,
            processor=None,
            hf_model_type=None,
            dataset_cls=RLHFDataset,
            data_config=agent_loop.DictConfigWrap(config.data),
            tools=agent_loop.ToolListWrap([]),
        )
        return await loop.run(
            {"temperature": 1.0, "logprobs": True}, raw_prompt=row["prompt"], extra_info=row["extra_info"], index=0
        )

    row = dataset_rows("turngym/Echo-v0", [2])[0]
    output = asyncio.run(run_row(row))
    assert isinstance(output, agent_loop.AgentLoopOutput)
    episode = play(TinyServer(tok, seed=7), tok, "turngym/Echo-v0", seed=2, response_length=600)
    assert (output.prompt_ids, output.response_ids, output.response_mask) == (
        episode.prompt_ids,
        episode.response_ids,
        episode.response_mask,
    )
    assert output.response_logprobs == pytest.approx(episode.response_logprobs)
    assert output.reward_score == episode.reward_score and output.num_turns == episode.num_turns
    assert_token_exact(tok, episode, tiny.calls)
    batch = output.as_dict()
    assert batch["rm_scores"][-1].item() == episode.reward_score and batch["responses"].tolist() == episode.response_ids
    assert output.extra_fields["stop_reason"] == episode.stop_reason and output.extra_fields["trainable"]
