"""GUI envs: the action parser and tools, and MiniWoB in a real headless Chromium (observations,
errors, screenshots, seeding, fork by replay, concurrent vector steps, reset time)."""

from __future__ import annotations

import json
import re
import statistics
import sys
import time

import numpy as np
import pytest

import turngym
from turngym.envs.gui.actions import BROWSER_TOOLS, BrowserGymParser, GuiAction, parse_action_string

CLICK_TEST = "turngym/miniwob.click-test-v0"
LOGIN = "turngym/miniwob.login-user-v0"
CHECKBOXES = "turngym/miniwob.click-checkboxes-v0"
SHIFT = ["Shift"]
BUTTONS = "turngym/miniwob.click-button-v0"
LINKS = "turngym/miniwob.click-link-v0"


def bids(text: str, role: str) -> list[str]:
    return re.findall(rf"\[(\d+)\] {role}\b", text)


def page_of(obs) -> str:
    messages = obs["messages"] if isinstance(obs, dict) else obs
    return messages[-1]["content"]


# ---- the action parser (no browser) ------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "action"),
    [
        ('click("12")', GuiAction("click", {"bid": "12"})),
        ("click(12)", GuiAction("click", {"bid": "12"})),
        (
            'click("12", button="right", modifiers=["Shift"])',
            GuiAction("click", {"bid": "12", "button": "right", "modifiers": ["Shift"]}),
        ),
        ('fill("5", "hello, world")', GuiAction("fill", {"bid": "5", "value": "hello, world"})),
        ('fill(bid="5", value="x")', GuiAction("fill", {"bid": "5", "value": "x"})),
        ('select_option("3", ["a", "b"])', GuiAction("select_option", {"bid": "3", "options": ["a", "b"]})),
        ("drag_and_drop(1, 2)", GuiAction("drag_and_drop", {"from_bid": "1", "to_bid": "2"})),
        ("mouse_click(10, 20.5)", GuiAction("mouse_click", {"x": 10, "y": 20.5})),
        ("mouse_down(10, 20, 'right')", GuiAction("mouse_down", {"x": 10, "y": 20, "button": "right"})),
        ("mouse_up(x=10, y=20)", GuiAction("mouse_up", {"x": 10, "y": 20})),
        (
            "mouse_drag_and_drop(1, 2.5, 30, 40)",
            GuiAction("mouse_drag_and_drop", {"from_x": 1, "from_y": 2.5, "to_x": 30, "to_y": 40}),
        ),
        ("scroll(0, -200)", GuiAction("scroll", {"delta_x": 0, "delta_y": -200})),
        ("noop()", GuiAction("noop", {})),
        ('```python\nsend_msg_to_user("done")\n```', GuiAction("send_msg_to_user", {"text": "done"})),
    ],
)
def test_parse_action_string_reads_calls(text, action):
    assert parse_action_string(text) == (action, None)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('click("12"', "cannot read the action"),
        ("click", "expected one call"),
        ('os.system("ls")', "expected one call"),
        ('explode("1")', "unknown action 'explode'"),
        ('click("1", colour="red")', "click has no argument 'colour'"),
        ('click("1", bid="2")', "got argument 'bid' twice"),
        ('fill("1", "a", "b")', "fill takes at most 2 arguments"),
        ('fill("1", "a" + "b")', "must be literal"),
        ("click(*ids)", "must be literal"),
        ('click("1", **opts)', "has no argument None"),
    ],
)
def test_parse_action_string_explains_malformed_actions(text, needle):
    action, error = parse_action_string(text)
    assert action is None and needle in error


def test_parse_action_string_never_evaluates_code(tmp_path):
    marker = tmp_path / "ran"
    attacks = [
        "__import__('os')",
        f"__import__('os').system('touch {marker}')",
        f"click(__import__('os').system('touch {marker}'))",
        f"click(bid=open('{marker}', 'w').write('x'))",
        "click((lambda: 1)())",
    ]
    for text in attacks:
        action, error = parse_action_string(text)
        assert action is None and error, text
    assert not marker.exists()


def test_browsergym_parser_wants_exactly_one_closed_action():
    parser = BrowserGymParser()
    ok = parser.parse_text('I will click it.\n<action>click("4")</action>', turn=1)
    assert ok.error is None and [(c.name, c.arguments) for c in ok.tool_calls] == [("click", {"bid": "4"})]
    assert "found no <action>" in parser.parse_text("click('4')", turn=1).error
    assert "exactly one" in parser.parse_text('<action>click("4")</action><action>click("5")</action>', turn=1).error
    assert "</action>" in parser.parse_text('<action>click("4")', turn=1).error  # unclosed
    assert parser.render([("fill", {"bid": "5", "value": "a"})]) == '<action>fill(bid="5", value="a")</action>'


def test_tool_schemas_hide_the_browser_and_match_the_parser():
    names = {t.name for t in BROWSER_TOOLS}
    assert {"click", "fill", "select_option", "press", "hover", "focus", "clear", "dblclick", "scroll"} <= names
    assert {"keyboard_type", "mouse_click", "noop", "send_msg_to_user"} <= names
    for t in BROWSER_TOOLS:
        params = t.schema["function"]["parameters"]
        assert "browser" not in params["properties"], t.name
        assert t.schema["function"]["description"], t.name
    fill = next(t for t in BROWSER_TOOLS if t.name == "fill").schema["function"]["parameters"]
    assert set(fill["required"]) == {"bid", "value"} and fill["properties"]["bid"]["type"] == "string"


# ---- MiniWoB in Chromium -------------------------------------------------------------------
@pytest.mark.browser
def test_hermes_and_openai_parsers_solve_click_test():
    hermes = turngym.make(CLICK_TEST, parser="hermes")
    openai = turngym.make(CLICK_TEST, parser="openai")
    try:
        obs, _ = hermes.reset(seed=0)
        schemas = {s["function"]["name"] for s in hermes.unwrapped.tool_schemas}
        assert {"click", "fill", "mouse_click"} <= schemas
        assert "<tool_call>" in obs[0]["content"] and '"name": "click"' in obs[0]["content"]
        button = bids(obs[-1]["content"], "button")[0]
        call = json.dumps({"name": "click", "arguments": {"bid": button}})
        obs, reward, terminated, _, info = hermes.step(f"<tool_call>{call}</tool_call>")
        assert (reward, terminated, info["error"]) == (1.0, True, None)
        assert obs[-1]["role"] == "tool" and "# Page" in obs[-1]["content"]

        obs, _ = openai.reset(seed=0)
        button = bids(obs[-1]["content"], "button")[0]
        action = {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "click", "arguments": json.dumps({"bid": button})}}
            ],
        }
        _, reward, terminated, _, info = openai.step(action)
        assert (reward, terminated, info["error"]) == (1.0, True, None)
    finally:
        hermes.close()
        openai.close()


@pytest.mark.browser
def test_mouse_down_then_up_on_a_button_clicks_it_and_apart_does_not():
    env = turngym.make(CLICK_TEST, show_boxes=True)
    try:
        for apart, wanted in ((0, 1.0), (60, 0.0)):
            obs, _ = env.reset(seed=0)
            line = next(ln for ln in page_of(obs).splitlines() if " button " in ln)
            x, y, w, h = (float(v) for v in re.search(r"box=\(([^)]*)\)", line).group(1).split(","))
            cx, cy = x + w / 2, y + h / 2
            _, reward, _, _, info = env.step(f"<action>mouse_down({cx}, {cy})</action>")
            assert (reward, info["error"]) == (0.0, None)
            _, reward, _, _, info = env.step(f"<action>mouse_up({cx}, {cy + apart})</action>")
            assert (reward, info["error"]) == (wanted, None), apart
    finally:
        env.close()


@pytest.mark.browser
def test_observation_is_a_flat_indented_tree_with_bids():
    env = turngym.make(LOGIN)
    try:
        obs, _ = env.reset(seed=0)
        text = obs[1]["content"]
        assert text.startswith("Task: Enter the username")
        lines = text.split("# Page: Login User Task\n", 1)[1].splitlines()
        line = re.compile(r"^(\t*)(\[(\d+)\] [A-Za-z]+( '(?:[^'\\]|\\.)*')?( \S+)*|StaticText '(?:[^'\\]|\\.)*')$")
        depths, seen = [], []
        for raw in lines:
            match = line.match(raw)
            assert match, raw
            depths.append(len(match.group(1)))
            if match.group(3):
                seen.append(match.group(3))
        assert lines[0] == "[1] RootWebArea" and depths[0] == 0
        assert all(b <= a + 1 for a, b in zip(depths, depths[1:], strict=False))
        assert max(depths) >= 2 and len(seen) == len(set(seen))
        assert "\t[11] button 'Login'" in lines
        assert re.search(r"^\t\t\[\d+\] textbox$", "\n".join(lines), re.M)
        box = bids(text, "textbox")[0]
        obs, *_ = env.step(f'<action>fill("{box}", "cierra")</action>')
        assert f"[{box}] textbox value='cierra' focused" in obs[-1]["content"]
    finally:
        env.close()


@pytest.mark.browser
def test_impossible_actions_are_error_observations_counted_in_info():
    env = turngym.make("turngym/miniwob.click-tab-2-v0", max_invalid_actions=10)
    try:
        obs, _ = env.reset(seed=0)
        tabs = bids(obs[1]["content"], "tab")
        words = bids(obs[1]["content"], "generic")
        obs, _, terminated, _, info = env.step(f'<action>click("{tabs[1]}")</action>')  # hides the first tab's words
        assert info["error"] is None and words[0] not in [b for b in re.findall(r"\[(\d+)\]", page_of(obs))]
        cases = [
            ('click("999")', 'no element with bid "999"'),
            (f'click("{words[0]}")', f"element {words[0]} is not visible"),
            (f'fill("{tabs[0]}", "x")', "it cannot be filled"),
            ("mouse_click(900, 10)", "outside the 500x400 viewport"),
            ("mouse_drag_and_drop(10, 10, 10, 900)", "outside the 500x400 viewport"),
            ('select_option("1", "a")', "not a select"),
        ]
        for n, (action, needle) in enumerate(cases, start=1):
            obs, reward, terminated, truncated, info = env.step(f"<action>{action}</action>")
            assert needle in info["error"], (action, info["error"])
            assert page_of(obs).startswith(f"Last action failed: {info['error']}") and "# Page: Click Tab Task" in page_of(obs)
            assert info["invalid_actions"] == n and not terminated and not truncated and reward == 0.0
    finally:
        env.close()


@pytest.mark.browser
def test_screenshot_observation_and_set_of_marks():
    plain = turngym.make(BUTTONS, observation="screenshot")
    marked = turngym.make(BUTTONS, observation="screenshot", set_of_marks=True)
    try:
        obs, _ = plain.reset(seed=4)
        obs_marked, _ = marked.reset(seed=4)
        image, image_marked = obs["screenshot"], obs_marked["screenshot"]
        assert plain.observation_space["screenshot"].contains(image)
        assert image.shape == (400, 500, 3) and image.dtype == np.uint8
        assert len(np.unique(image.reshape(-1, 3), axis=0)) > 10  # the page, not a blank frame
        assert obs["messages"] == obs_marked["messages"]
        red = (image_marked[..., 0] > 200) & (image_marked[..., 1] < 80) & (image_marked[..., 2] < 80)
        red_plain = (image[..., 0] > 200) & (image[..., 1] < 80) & (image[..., 2] < 80)
        assert red.sum() > red_plain.sum() + 100
        obs, *_ = plain.step("<action>noop(wait_ms=0)</action>")
        assert obs["screenshot"].shape == (400, 500, 3) and isinstance(obs["messages"], list)
        obs_marked, *_ = marked.step("<action>noop(wait_ms=0)</action>")  # the marks leave the page as it was
        assert page_of(obs_marked) == page_of(obs)
    finally:
        plain.close()
        marked.close()


@pytest.mark.browser
def test_screenshot_waits_for_images_a_script_inserted_after_the_load():
    """MiniWoB builds each episode's page in a script; the icons it shows load after the load event."""
    import asyncio
    import io

    from PIL import Image

    from turngym.envs.gui import driver
    from turngym.envs.gui.browser import BrowserPool

    blue = io.BytesIO()
    Image.new("RGB", (40, 40), (0, 0, 255)).save(blue, format="PNG")
    page = (
        "<html><body><script>window.addEventListener('load', () => setTimeout(() => {"
        "const s = document.createElement('span'); s.style.cssText = 'display:block;height:40px;content:url(/blue.png)';"
        "document.body.appendChild(s); }, 0));</script></body></html>"
    )

    async def serve(route):
        if route.request.url.endswith("/blue.png"):
            await asyncio.sleep(0.8)
            await route.fulfill(status=200, body=blue.getvalue(), content_type="image/png")
        else:
            await route.fulfill(status=200, body=page, content_type="text/html")

    async def picture():
        tab = await pool.open_tab()
        await driver.install(tab)
        await tab.context.route("http://slow.turngym/**", serve)
        await driver.goto(tab, "http://slow.turngym/page.html")
        return await driver.screenshot(tab)

    pool = BrowserPool(browsers=1)
    try:
        image = np.asarray(Image.open(io.BytesIO(pool.run(picture(), timeout=60))).convert("RGB"))
        is_blue = (image[..., 2] > 200) & (image[..., 0] < 50) & (image[..., 1] < 50)
        assert is_blue.sum() >= 40 * 40
    finally:
        pool.close()


@pytest.mark.browser
def test_same_seed_same_page_other_seeds_other_tasks():
    a, b = turngym.make(LINKS), turngym.make(LINKS)
    try:
        first = [a.reset(seed=s)[0] for s in (11, 12)]
        assert b.reset(seed=11)[0] == first[0]
        assert a.reset(seed=11)[0] == first[0]  # a reset in the used page gives the same page again
        tasks = {a.reset(seed=s)[0][1]["content"].splitlines()[0] for s in range(5)}
        assert len(tasks) == 5
        assert first[0] != first[1]
    finally:
        a.close()
        b.close()


@pytest.mark.browser
def test_reset_after_steps_gives_the_same_page():
    env = turngym.make("turngym/miniwob.enter-text-v0")
    try:
        first, _ = env.reset(seed=4)
        box = bids(first[1]["content"], "textbox")[0]
        env.step(f'<action>fill("{box}", "typed")</action>')
        again, _ = env.reset(seed=4)
        assert again == first
    finally:
        env.close()


@pytest.mark.browser
def test_fork_replays_exactly_and_leaves_the_original_alone():
    env = turngym.make(LOGIN)
    try:
        obs, _ = env.reset(seed=7)
        user, password = re.search(r'username "(.*?)" and the password "(.*?)"', obs[1]["content"]).groups()
        boxes = bids(obs[1]["content"], "textbox")
        login = bids(obs[1]["content"], "button")[0]
        env.step(f'<action>fill("{boxes[0]}", "{user}")</action>')
        fork = env.unwrapped.fork()
        try:
            assert fork.unwrapped.session.tab is not env.unwrapped.session.tab
            before = list(env.unwrapped.state.data["view"]["lines"])
            step = f'<action>fill("{boxes[1]}", "{password}")</action>'
            fork_steps = [fork.step(step), fork.step(f'<action>click("{login}")</action>')]
            assert fork_steps[-1][1] == 1.0 and fork_steps[-1][2]
            assert env.unwrapped.state.data["view"]["lines"] == before  # state untouched
            obs, *_ = env.step("<action>noop(wait_ms=0)</action>")  # and so is the original's page
            assert (
                f"[{boxes[0]}] textbox value='{user}'" in page_of(obs) and "value=" not in page_of(obs).split(f"[{boxes[1]}]")[1]
            )
            second = env.unwrapped.fork()  # the original now continues like its fork did
            try:
                own = [env.step(step), env.step(f'<action>click("{login}")</action>')]
                again = [second.step(step), second.step(f'<action>click("{login}")</action>')]
                for x, y in zip(own, again, strict=True):
                    assert x[:4] == y[:4] and x[4]["reward_parts"] == y[4]["reward_parts"]
                assert [s[:4] for s in own] == [s[:4] for s in fork_steps]
            finally:
                second.close()
        finally:
            fork.close()
    finally:
        env.close()


def _step_tuples(step, n):
    return [(step.obs[i], step.rewards[i], step.terminated[i], step.truncated[i], step.infos[i]) for i in range(n)]


@pytest.mark.browser
def test_vector_env_steps_eight_pages_concurrently_with_the_same_results():
    n = 8
    vec = turngym.make_vec(CHECKBOXES, n)
    try:
        obs, _ = vec.reset(seed=list(range(n)))
        pool = vec.envs[0].unwrapped.pool
        assert all(e.unwrapped.pool is pool for e in vec.envs)
        calls, run = [], pool.run

        def counted(coro, timeout=None):
            calls.append(coro)
            return run(coro, timeout)

        played, steps = [], []
        for turn in range(2):
            actions = {i: f'<action>click("{bids(page_of(obs[i]), "checkbox")[turn]}")</action>' for i in range(n)}
            pool.run = counted
            try:
                step = vec.step(actions)
            finally:
                del pool.run
            assert len(calls) == 1  # one gather on the pool's loop performed all eight actions
            calls.clear()
            assert all(type(e.unwrapped.last_step.prefetched.get("gui")).__name__ == "_Outcome" for e in vec.envs)
            played.append(actions)
            steps.append(_step_tuples(step, n))
            obs = [t[0] for t in steps[-1]]
    finally:
        vec.close()
    alone = turngym.make(CHECKBOXES)  # the same seeds and actions, one env after another
    try:
        for i in range(n):
            first, _ = alone.reset(seed=i)
            for actions, step in zip(played, steps, strict=True):
                want = alone.step(actions[i])
                assert step[i][:4] == want[:4] and step[i][4]["reward_parts"] == want[4]["reward_parts"]
                assert want[4]["error"] is None and "checked" in page_of(want[0])
    finally:
        alone.close()


@pytest.mark.browser
def test_reset_restarts_the_task_in_the_page_fast():
    env = turngym.make(CHECKBOXES)
    try:
        env.reset(seed=0)
        tab = env.unwrapped.session.tab
        times = []
        for seed in range(1, 12):
            start = time.perf_counter()
            env.reset(seed=seed)
            times.append(time.perf_counter() - start)
        assert env.unwrapped.session.tab is tab  # the same page: no browser start, no new context
        assert statistics.median(times) <= 0.100, times
    finally:
        env.close()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


@pytest.mark.browser
def test_observation_waits_for_the_pages_short_timers_but_not_long_ones():
    """A page that focuses a field and shows a suggestion from a timer is read after both ran (as
    MiniWoB's terminal focuses its prompt 200 ms after the start); a 30 s timer is not waited for."""
    import time

    from turngym.envs.gui import driver
    from turngym.envs.gui.browser import BrowserPool

    page = (
        "<html><body><input id='q'><script>"
        "setTimeout(() => document.getElementById('q').focus(), 200);"
        "setTimeout(() => setTimeout(() => { const b = document.createElement('button');"
        " b.textContent = 'late suggestion'; document.body.appendChild(b); }, 150), 150);"
        "const never = setTimeout(() => document.body.appendChild(document.createElement('hr')), 300);"
        "clearTimeout(never);"
        "setTimeout(() => { document.title = 'much later'; }, 30000);"
        "</script></body></html>"
    )

    async def read():
        tab = await pool.open_tab()
        await driver.install(tab)
        await tab.context.route("http://timers.turngym/**", lambda route: route.fulfill(body=page, content_type="text/html"))
        await driver.goto(tab, "http://timers.turngym/page.html")
        started = time.monotonic()
        view = await driver.observe(tab)
        return view, time.monotonic() - started

    pool = BrowserPool(browsers=1)
    try:
        view, seconds = pool.run(read(), timeout=60)
    finally:
        pool.close()
    text = "\n".join(view.lines)
    assert "textbox focused" in text and "button 'late suggestion'" in text, text
    assert "separator" not in text and view.title != "much later"
    assert seconds < driver.SETTLE_MS / 1000, f"observing took {seconds:.2f} s: it waited on the 30 s timer"
