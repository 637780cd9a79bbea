"""RuleUser and ModelUser: facts only when asked, refusals, end markers, and the same seed giving the same
conversation, live with a tiny seeded HF model and replayed from its record without the model."""

from __future__ import annotations

import copy

import pytest

from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer
from turngym.envs.dialogue.user import STOP, TRANSFER, UserProfile, UserSimulator, ended
from turngym.envs.dialogue.users import ACKNOWLEDGEMENTS, REFUSALS, ModelUser, RuleUser, user_prompt
from turngym.envs.model_calls import HFClient, MissingModelCall, RecordedClient

PROFILE = UserProfile(
    scenario="You bought a lamp that arrived broken and want a refund.",
    opening="Hi, my lamp arrived broken. Can I get a refund?",
    facts={"order_id": "W4817", "email": "ana@example.com", "zip_code": "90210"},
    aliases={"email": ("email", "e-mail")},
    done_when=("refund has been issued",),
)
SCRIPT = [
    "Sorry to hear that. What is your order id?",
    "Thanks. Could you give me your e-mail and zip code?",
    "What is your date of birth?",
    "Let me check the order.",
    "Your refund has been issued.",
]


def play(user: UserSimulator, seed: int, script=SCRIPT) -> list[dict]:
    """A scripted agent talks to ``user`` until it ends the conversation or the script runs out."""
    conversation = [{"role": "system", "content": "You are a support agent."}]
    conversation.append({"role": "user", "content": user.start(PROFILE, seed)})
    for line in script:
        conversation.append({"role": "assistant", "content": line})
        conversation.append({"role": "user", "content": user.respond(conversation)})
        if ended(conversation[-1]["content"]):
            break
    return conversation


def test_rule_user_answers_asked_facts_refuses_the_rest_and_stops_when_done():
    transcript = play(RuleUser(), seed=0)
    replies = [m["content"] for m in transcript if m["role"] == "user"]
    assert replies[0] == PROFILE.opening
    assert "W4817" in replies[1] and "ana@" not in replies[1] and "90210" not in replies[1]
    assert "ana@example.com" in replies[2] and "90210" in replies[2] and "W4817" not in replies[2]
    assert replies[3] in REFUSALS and replies[4] in ACKNOWLEDGEMENTS
    assert ended(replies[5]) == STOP and replies[5].endswith(STOP) and len(replies) == 6
    values = set(PROFILE.facts.values())
    for reply in replies[1:]:  # never invents: every word with a digit or '@' is a profile value
        assert all(w.strip(".,!?") in values for w in reply.split() if any(c.isdigit() or c == "@" for c in w))


def test_rule_user_ends_with_transfer_when_handed_to_a_human():
    user = RuleUser()
    user.start(PROFILE, seed=1)
    reply = user.respond([{"role": "assistant", "content": "I will transfer you to a human agent."}])
    assert ended(reply) == TRANSFER


def test_rule_user_same_seed_same_transcript_other_seeds_other_wording():
    assert play(RuleUser(), seed=3) == play(RuleUser(), seed=3)
    transcripts = {str(play(RuleUser(), seed=s)) for s in range(8)}
    assert len(transcripts) > 1


def test_a_forked_user_continues_like_the_original_and_independently():
    for user in (RuleUser(), ModelUser(Echo())):
        user.start(PROFILE, seed=4)
        ask = [{"role": "assistant", "content": "What is your order id?"}]
        user.respond(ask)
        fork, deep = user.fork(), copy.deepcopy(user)
        assert user.respond(ask) == fork.respond(ask) == deep.respond(ask)
        user.respond(ask)
        assert (fork.turn, user.turn) == (2, 3)
    assert deep.client is user.client  # a model is shared by forks, never copied


def test_users_follow_the_protocol_and_refuse_misuse():
    assert isinstance(RuleUser(), UserSimulator) and isinstance(ModelUser(Echo()), UserSimulator)
    with pytest.raises(RuntimeError, match="before start"):
        RuleUser().respond([])
    with pytest.raises(TypeError, match="expected a UserProfile"):
        RuleUser().start({"opening": "hi"}, 0)
    with pytest.raises(TypeError, match="expected a model client"):
        ModelUser("gpt-4")


class Echo:
    """A text model stand-in: replies with the seed and the agent's last message, marker and all."""

    model_name = "echo"
    settings: dict = {}

    def complete(self, messages, *, seed, **settings):
        return f"  ({seed}) {messages[-1]['content']} trailing words  "


def test_model_user_sees_tau2s_prompt_with_roles_flipped_and_keeps_a_marker():
    user = ModelUser(Echo())
    user.start(PROFILE, seed=0)
    conversation = play(RuleUser(), 0)[:4]
    conversation.append({"role": "tool", "content": "order W4817: broken lamp"})
    asked = user.messages(conversation)
    assert asked[0]["role"] == "system" and asked[0]["content"] == user_prompt(PROFILE)
    assert "reveal only when asked" in asked[0]["content"] and STOP in asked[0]["content"]
    assert PROFILE.scenario in asked[0]["content"] and "- order id: W4817" in asked[0]["content"]
    assert [m["role"] for m in asked[1:]] == ["assistant", "user", "assistant"]  # no tool message, no agent system
    assert [m["content"] for m in asked[1:]] == [conversation[1]["content"], SCRIPT[0], conversation[3]["content"]]
    reply = user.respond([{"role": "assistant", "content": f"Done. {STOP}"}])
    assert reply.startswith("(") and reply.endswith(STOP)  # stripped; what follows the marker is dropped


@pytest.fixture(scope="module")
def tiny():
    tokenizer = tiny_tokenizer("bytes")
    return tiny_model(tokenizer, seed=7), tokenizer


def model_user(client):
    return ModelUser(client, settings={"temperature": 1.0, "max_new_tokens": 10})


def test_a_model_user_gives_the_same_transcript_live_and_replayed_without_the_model(tiny, tmp_path):
    model, tokenizer = tiny
    live = HFClient(model, tokenizer, model_name="tiny-user")
    first, second = play(model_user(live), seed=11), play(model_user(live), seed=11)
    assert first == second and len(first) == 2 + 2 * len(SCRIPT)
    assert play(model_user(live), seed=12) != first

    path = tmp_path / "user_calls.jsonl"
    recorded = play(model_user(RecordedClient(live, path, "record")), seed=11)
    assert recorded == first
    no_model = RecordedClient(Unreachable(), path, "replay")
    assert play(model_user(no_model), seed=11) == first and no_model.replayed == len(SCRIPT)
    assert play(model_user(RecordedClient(None, path, "replay")), seed=11) == first

    with pytest.raises(MissingModelCall) as err:
        play(model_user(RecordedClient(None, path, "replay")), seed=12)
    assert "'tiny-user'" in str(err.value) and SCRIPT[0][:40] in str(err.value)


class Unreachable:
    """Stands where the model was: names it like the recorded client, fails if asked."""

    model_name = "tiny-user"
    settings = {"max_new_tokens": 64, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "stop": []}

    def complete(self, messages, *, seed, **settings):
        raise AssertionError("the model was called during a replay")
