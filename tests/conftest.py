"""Shared fixtures."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading

import pytest

import turngym

POLICY_SEED = 3  # the weights of ``policy_dir``: ``tiny_model(tiny_tokenizer("bytes"), seed=POLICY_SEED)``


def pytest_configure(config):
    """One torch thread: tiny models run many times slower with two threads on a busy machine."""
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items):
    """Tests marked ``docker`` skip, saying what to install, where no dockerd is there to talk to;
    tests marked ``browser`` likewise where Chromium or Playwright is missing."""
    from sandbox_docker_helpers import dockerd_missing

    reasons = {"docker": dockerd_missing(), "browser": _browser_missing()}
    for item in items:
        for marker, reason in reasons.items():
            if reason is not None and item.get_closest_marker(marker) is not None:
                item.add_marker(pytest.mark.skip(reason=reason))


def _browser_missing() -> str | None:
    import importlib.util

    from turngym.envs.gui.browser import BrowserError, chromium_path

    if importlib.util.find_spec("playwright") is None or importlib.util.find_spec("miniwob") is None:
        return "needs playwright and miniwob: pip install 'turngym[gui]'"
    try:
        chromium_path()
    except BrowserError as exc:
        return str(exc)
    return None


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


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory):
    """The tiny model that ``policy_server`` serves (seed ``POLICY_SEED``), saved as a local model folder."""
    from turngym.agents.tiny_lm import tiny_model, tiny_tokenizer

    folder = tmp_path_factory.mktemp("tiny-policy")
    tokenizer = tiny_tokenizer("bytes")
    tiny_model(tokenizer, seed=POLICY_SEED).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def policy_server(policy_dir):
    """``turngym serve policy`` on ``policy_dir`` as a separate process on a free port (model name "tiny"): its base URL."""
    command = [sys.executable, "-m", "turngym", "serve", "policy", "--model", str(policy_dir), "--port", "0", "--name", "tiny"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    watchdog = threading.Timer(120, proc.kill)  # a server that never prints its banner must not hang the suite
    watchdog.start()
    banner = proc.stdout.readline()
    watchdog.cancel()
    match = re.search(r"model 'tiny' from .* at (http://127\.0\.0\.1:\d+)/v1", banner)
    if not match:
        proc.kill()
        pytest.fail(f"no banner from the policy server: {banner!r} {proc.stderr.read()}")
    yield match.group(1)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "shutting down" in out
