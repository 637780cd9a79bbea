"""Shared fixtures."""

from __future__ import annotations

import pytest

import turngym


def pytest_configure(config):
    """One torch thread: tiny models run many times slower with two threads on a busy machine."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``docker`` skip, saying what to install, where no dockerd is there to talk to."""
    from sandbox_docker_helpers import dockerd_missing

    reason = dockerd_missing()
    if reason is None:
        return
    for item in items:
        if item.get_closest_marker("docker") is not None:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def toolcalc():
    env = turngym.make("turngym/ToolCalc-v0", difficulty=3)
    yield env
    env.close()


@pytest.fixture
def guess():
    env = turngym.make("turngym/GuessNumber-v0", high=100)
    yield env
    env.close()


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny random model and its byte tokenizer saved as a local model folder (no download)."""
    from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

    folder = tmp_path_factory.mktemp("tiny")
    tokenizer = tiny_tokenizer("bytes")
    tiny_model(tokenizer, seed=1).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
