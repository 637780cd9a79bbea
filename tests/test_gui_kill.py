"""A browser killed mid-episode: its episodes end with ``error`` (kept out of training), the other
browser's go on, the pool starts a new browser for the next reset, and no Chromium is left behind
after ``close()`` or at interpreter exit."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import psutil
import pytest

import turngym
from turngym.agents.scripted import ScriptedPolicy
from turngym.engine.play import Engine
from turngym.envs.gui.browser import BrowserPool

LOGIN = "turngym/miniwob.login-user-v0"


def chromium_browsers() -> set[int]:
    """Browser (not renderer) processes under this process: chromium whose parent is not chromium."""
    found = set()
    for p in psutil.Process().children(recursive=True):
        try:
            if p.name() == "chromium" and psutil.Process(p.ppid()).name() != "chromium":
                found.add(p.pid)
        except psutil.NoSuchProcess:
            pass
    return found


def process_tree(pid: int) -> set[int]:
    try:
        root = psutil.Process(pid)
        return {pid, *(c.pid for c in root.children(recursive=True))}
    except psutil.NoSuchProcess:
        return set()


def alive(pids: set[int]) -> set[int]:
    living = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                living.add(pid)
        except psutil.NoSuchProcess:
            pass
    return living


def wait_gone(pids: set[int], timeout: float = 15.0) -> set[int]:
    deadline = time.monotonic() + timeout
    while alive(pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return alive(pids)


def login_policy(kill_at_turn: int, kill) -> ScriptedPolicy:
    """Solves login-user in three turns; before the actions of ``kill_at_turn`` it calls ``kill()`` once."""
    killed = []

    def act(conversation):
        turn = sum(m["role"] == "assistant" for m in conversation)
        if turn == kill_at_turn and not killed:
            killed.append(kill())
        user, password = re.search(r'username "(.*?)" and the password "(.*?)"', conversation[1]["content"]).groups()
        page = conversation[-1]["content"]
        boxes, button = re.findall(r"\[(\d+)\] textbox", page), re.findall(r"\[(\d+)\] button", page)
        if turn == 0:
            return f'<action>fill("{boxes[0]}", "{user}")</action>'
        if turn == 1:
            return f'<action>fill("{boxes[1]}", "{password}")</action>'
        return f'<action>click("{button[0]}")</action>'

    return ScriptedPolicy(act)


@pytest.mark.browser
@pytest.mark.slow
def test_killed_browser_ends_its_episodes_as_errors_and_the_pool_recovers():
    pool = BrowserPool(browsers=2)
    n = 4
    vec = turngym.make_vec(LOGIN, n, pool=pool)
    started: set[int] = set()
    try:
        before = chromium_browsers()
        browser_pid = {}
        for i in range(n):  # tabs go round robin: env i lives in browser i % 2
            vec.reset(indices=[i], seed=[100 + i])
            new = chromium_browsers() - before - set(browser_pid.values())
            if i < 2:
                assert len(new) == 1, new
                browser_pid[i] = new.pop()
        assert [vec.envs[i].unwrapped.session.tab.browser_id for i in range(n)] == [0, 1, 0, 1]
        for pid in browser_pid.values():
            started |= process_tree(pid)
        victim = process_tree(browser_pid[1])

        def kill() -> int:
            os.killpg(os.getpgid(browser_pid[1]), signal.SIGKILL)
            assert not wait_gone(victim), "the killed browser's processes are still there"
            return browser_pid[1]

        episodes = Engine(vec, login_policy(kill_at_turn=1, kill=kill)).play(seeds=range(n))
        assert [e.seed for e in episodes] == list(range(n))
        for i, episode in enumerate(episodes):
            if i % 2:  # browser 1: the kill ends the episode as an error, reported, out of training
                assert episode.stop_reason == "error" and not episode.trainable, (i, episode.stop_reason)
                assert "browser" in (episode.error or "").lower()
                assert episode.turns == 2 and episode.outcome == 0.0
            else:  # browser 0 goes on and solves the task
                assert (episode.stop_reason, episode.outcome, episode.turns) == ("answered", 1.0, 3), (i, episode.error)
                assert episode.trainable
        # the pool starts a new browser in place of the killed one; every env plays again
        before_restart = chromium_browsers()
        again = Engine(vec, login_policy(kill_at_turn=-1, kill=lambda: None)).play(seeds=range(10, 10 + n))
        assert [(e.stop_reason, e.outcome) for e in again] == [("answered", 1.0)] * n
        assert pool.restarts == 1
        restarted = chromium_browsers() - before_restart
        assert len(restarted) == 1 and not restarted & set(browser_pid.values())
        for pid in restarted:
            started |= process_tree(pid)
        assert alive({browser_pid[0]})  # the other browser was never restarted
    finally:
        vec.close()
        pool.close()
    assert not wait_gone(started), f"Chromium processes left after close(): {sorted(alive(started))}"


@pytest.mark.browser
@pytest.mark.slow
def test_no_chromium_left_at_interpreter_exit_without_close():
    script = textwrap.dedent(
        """
        import json, psutil, turngym
        from turngym.envs.gui.browser import BrowserPool
        env = turngym.make("turngym/miniwob.click-test-v0")
        env.reset(seed=0)
        pool = BrowserPool(browsers=2)
        others = [turngym.make("turngym/miniwob.click-test-v0", pool=pool) for _ in range(2)]
        for other in others:
            other.reset(seed=1)
        pids = [p.pid for p in psutil.Process().children(recursive=True) if p.name() == "chromium"]
        print(json.dumps(pids), flush=True)
        """
    )  # no close(): the pools' atexit handlers must end their browsers
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    pids = set(json.loads(done.stdout.strip().splitlines()[-1]))
    assert len(pids) >= 3  # three browsers (the default pool's and two) with their helper processes
    assert not wait_gone(pids), f"Chromium processes left after the interpreter exited: {sorted(alive(pids))}"


@pytest.mark.browser
def test_tabs_opened_at_once_on_a_fresh_pool_share_one_browser():
    before = alive(chromium_browsers())
    pool = BrowserPool(browsers=1)
    try:

        async def open_many():
            return await asyncio.gather(*(pool.open_tab() for _ in range(6)))

        tabs = pool.run(open_many(), timeout=120)
        assert len({id(t.context) for t in tabs}) == 6
        assert len(alive(chromium_browsers()) - before) == 1, "each concurrent open_tab launched a browser of its own"
    finally:
        pool.close()
