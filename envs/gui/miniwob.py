"""``turngym/miniwob.<task>-v0``: every MiniWoB++ task in a real headless Chromium."""

from __future__ import annotations

import importlib.util
import mimetypes
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from turngym.envs.core import Task
from turngym.envs.gui.actions import GuiAction
from turngym.envs.gui.browser import Tab
from turngym.envs.gui.driver import PageView, evaluate, goto
from turngym.envs.gui.env import BrowserEnv
from turngym.envs.gui.miniwob_oracles import ORACLES
from turngym.envs.gui.miniwob_tasks import MINIWOB_TASKS

ORIGIN = "http://miniwob.turngym"
REWARDS = ("raw", "binary", "decayed")
SPLITS = ("train", "test")
SPLIT_SEEDS = {"train": 0, "test": 1 << 30}  # page seeds: train in [0, 2^30), test in [2^30, 2^31)
NO_TIME_LIMIT_MS = 10**9

_START = """(o) => {
  core.EPISODE_MAX_TIME = o.max_ms;
  Math.seedrandom(o.seed);
  core.setDataMode(o.mode);
  core.startEpisodeReal();
  const u = core.getUtterance();
  const ready = WOB_TASK_READY;
  return typeof u === "string" ? {utterance: u, fields: null, ready} : {utterance: u.utterance, fields: u.fields || null, ready};
}"""
_STATUS = """() => typeof WOB_DONE_GLOBAL === "undefined"
  ? {done: true, raw: -1, decayed: -1, reason: "the page left the task"}
  : {done: WOB_DONE_GLOBAL, raw: WOB_RAW_REWARD_GLOBAL, decayed: WOB_REWARD_GLOBAL, reason: WOB_REWARD_REASON}"""


def miniwob_html_dir() -> Path:
    """The ``html`` folder of the ``miniwob`` package (found without importing it)."""
    spec = importlib.util.find_spec("miniwob")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("MiniWoB envs need the miniwob package: pip install 'turngym[gui]'")
    return Path(next(iter(spec.submodule_search_locations))) / "html"


def task_url(task: str, html_dir: Path) -> str:
    """The page of ``task``: a file, or for the flight tasks (an iframe, which ``file://`` forbids)
    a URL under turngym's own origin, served from the package by a route (no server)."""
    if task.startswith("flight."):
        return f"{ORIGIN}/{task.replace('.', '/')}/wrapper.html"
    return (html_dir / "miniwob" / f"{task}.html").as_uri()


class MiniWoBEnv(BrowserEnv):
    """A MiniWoB++ task (``turngym/miniwob.<task>-v0``) in a real headless Chromium.

    Description:
        One of the 128 MiniWoB++ web tasks of Farama's ``miniwob`` package (click a button, fill a
        form, pick a date, book a flight ...), loaded in a page of a shared headless Chromium and
        seeded through the page's own ``Math.seedrandom``. A reset restarts the task in the same
        page (no browser start, no reload). MiniWoB's wall-clock time limit is off unless asked
        for (a model's thinking time should not fail a turn-based episode).

    Observation:
        Chat messages. Reset: a system prompt listing the actions, then the task's instruction and
        the page as a BrowserGym-style tree: one element a line, ``[bid] role 'name' props``,
        indented by depth (``show_boxes=True`` adds each element's box). Step: the new page tree,
        after "Last action failed: ..." when the action could not be done. With
        ``observation="screenshot"`` the observation is a Dict of ``messages`` and ``screenshot``
        (an RGB array of the viewport; ``set_of_marks=True`` draws each element's box and bid).

    Action:
        One BrowserGym action per turn: ``<action>click("12")</action>`` (default parser), or the
        same actions as tools (``parser="hermes"``/``"openai"``/``"tags"``): click, dblclick, hover,
        fill, clear, select_option, press, focus, drag_and_drop, scroll, mouse_move, mouse_click,
        mouse_dblclick, mouse_down, mouse_up, mouse_drag_and_drop, keyboard_type, keyboard_press,
        go_back, go_forward, noop, send_msg_to_user.

    Rewards:
        ``outcome`` when the task ends: MiniWoB's raw reward in [-1, 1] (``reward="raw"``), 1/0
        for success (``"binary"``), or the time-decayed reward (``"decayed"``, with a 10 s limit).
        No process rewards by default; ``turngym.envs.gui.rewards`` has rule hooks.

    Episode End:
        Terminated when the task says it is done (success or failure). Truncated at ``max_turns``
        (default 10), after ``max_invalid_actions`` malformed actions, or with ``stop_reason="error"``
        when the browser died (the pool starts a new one for the next reset).

    Arguments:
        task: the MiniWoB task name, e.g. ``click-test-2`` (set by the registered ID).
        reward: ``raw`` | ``binary`` | ``decayed``.
        split: ``train`` | ``test``: disjoint page seeds (and MiniWoB's test data mode).
        time_limit_s: MiniWoB's own episode clock (None: off, except 10 s for ``decayed``).
        reload: load the page afresh at every reset (default: only with screenshots). Some pages
            keep widget state across episodes, which can move a picture by an anti-aliased pixel;
            a reload makes pictures exact at about 0.2 s a reset.
        observation, set_of_marks, show_boxes, step_timeout_s, pool: see ``BrowserEnv``.
        Plus every ``AgentEnv`` argument (parser, tools, budgets, process_rewards, reward_weights).

    Example:
        >>> import turngym
        >>> env = turngym.make("turngym/miniwob.click-test-v0")
        >>> obs, info = env.reset(seed=0)
        >>> print(obs[1]["content"].expandtabs(2))
        Task: Click the button.
        <BLANKLINE>
        # Page: Click Test Task
        [1] RootWebArea
          [4] button 'Click Me!'
        >>> obs, reward, terminated, truncated, info = env.step('<action>click("4")</action>')
        >>> reward, terminated
        (1.0, True)
        >>> env.close()
    """

    skip_selectors: ClassVar[tuple[str, ...]] = (
        "#reward-display",
        "#sync-task-cover",
        "#query",
        "#click-canvas",
        "#attention-canvas",
    )

    def __init__(
        self,
        task: str = "click-test",
        *,
        reward: str = "raw",
        split: str = "train",
        time_limit_s: float | None = None,
        reload: bool | None = None,
        **kwargs: Any,
    ):
        if task not in MINIWOB_TASKS:
            raise ValueError(f"task must be a MiniWoB task such as 'click-test-2', got {task!r}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if time_limit_s is not None and not (isinstance(time_limit_s, int | float) and time_limit_s > 0):
            raise ValueError(f"time_limit_s must be None or a number > 0, got {time_limit_s!r}")
        super().__init__(**kwargs)
        self.task_name = task
        self.reward_kind = reward
        self.split = split
        self.time_limit_s = 10.0 if time_limit_s is None and reward == "decayed" else time_limit_s
        self.html_dir = miniwob_html_dir()
        self.reload = self.observation_mode == "screenshot" if reload is None else bool(reload)

    def _make_task(self, options: Mapping[str, Any]) -> Task:
        page_seed = SPLIT_SEEDS[self.split] + int(self.np_random.integers(1 << 30))
        return Task(id=f"{self.task_name}/{page_seed}", prompt="", facts={"page_seed": page_seed, "task": self.task_name})

    async def _open(self, tab: Tab, task: Task) -> None:
        root = self.html_dir.resolve()

        async def serve(route: Any) -> None:
            path = (root / route.request.url[len(ORIGIN) + 1 :].split("?")[0].split("#")[0]).resolve()
            if root not in path.parents or not path.is_file():
                await route.fulfill(status=404, body="not found")
                return
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            kind += "; charset=utf-8" if kind.startswith("text/") or kind.endswith("javascript") else ""
            await route.fulfill(status=200, body=path.read_bytes(), content_type=kind)

        if self.task_name.startswith("flight.") and "miniwob" not in tab.state:
            await tab.context.route(f"{ORIGIN}/**", serve)
            tab.state["miniwob"] = True
        if tab.page.url != task_url(self.task_name, self.html_dir):
            await self._load(tab)

    async def _load(self, tab: Tab) -> None:
        await goto(tab, task_url(self.task_name, self.html_dir))
        # MiniWoB's own reward panel counts down in wall-clock seconds: hidden, so pages are seeded pictures
        await tab.page.add_style_tag(content="#reward-display { display: none !important; }")

    def _tab_key(self) -> str:
        return f"miniwob/{self.task_name}"

    async def _start(self, tab: Tab, task: Task) -> dict[str, Any]:
        if tab.page.url != task_url(self.task_name, self.html_dir) or (self.reload and tab.state.get("started")):
            await self._load(tab)  # the last episode left the page, or each episode gets a fresh page
        tab.state["started"] = True
        limit = NO_TIME_LIMIT_MS if self.time_limit_s is None else int(self.time_limit_s * 1000)
        mode = "test" if self.split == "test" else "train"
        started = await evaluate(tab, _START, {"seed": task.facts["page_seed"], "max_ms": limit, "mode": mode})
        if not started["ready"]:  # a task that loads data first says when it is ready
            await tab.page.wait_for_function("() => WOB_TASK_READY", timeout=10_000)
        return {"instruction": started["utterance"], "fields": started["fields"]}

    status_js = _STATUS

    async def _status(self, tab: Tab, view: PageView) -> dict[str, Any]:
        status = view.status
        return {**status, "done": bool(status["done"]), "reward": self._reward(status)}

    def _reward(self, status: Mapping[str, Any]) -> float:
        raw = float(status.get("raw") or 0.0)
        if self.reward_kind == "binary":
            return 1.0 if raw > 0 else 0.0
        return float(status.get("decayed") or 0.0) if self.reward_kind == "decayed" else raw

    def _oracle(self, view: PageView) -> GuiAction | None:
        oracle = ORACLES.get(self.task_name)
        data = self._state().data
        info, done = data["task_info"], [GuiAction(a["name"], a["args"]) for step in data["steps"] for a in step]
        return None if oracle is None else oracle(info["instruction"], info.get("fields") or {}, view, done)
