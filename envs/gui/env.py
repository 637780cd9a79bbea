"""``BrowserEnv``: the base of the GUI envs. An episode is a page in a real headless Chromium.

A subclass opens and starts its task in the page (``_open``, ``_start``), reads the task's state
from it (``_status``) and may script an oracle (``_oracle``). The base class turns actions into
browser input, observes the page as an accessibility-style tree, steps many envs of a vector env
concurrently on the pool's event loop (``prefetch_batch``), forks by replay and ends an episode
whose browser died with ``stop_reason="error"``.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
from gymnasium import spaces

from turngym.envs.core import AgentEnv, Reply, Task
from turngym.envs.gui import driver
from turngym.envs.gui.actions import BROWSER_TOOLS, BrowserGymParser, GuiAction, parameter_names, validated_action
from turngym.envs.gui.browser import BrowserCrashed, BrowserError, BrowserPool, Tab, default_pool
from turngym.envs.gui.driver import ActionFailed, PageView
from turngym.envs.messages import Action, check_action, copy_messages, tool_message, user_message
from turngym.envs.parsers import ParsedAction
from turngym.envs.spaces import MessagesSpace
from turngym.tools.core import ToolError

OBSERVATIONS = ("text", "screenshot")


@dataclass
class _Session:
    """The env's tab: a resource, not episode state (an episode is its seed and its actions)."""

    tab: Tab | None = None
    picture: bytes | None = None  # the PNG of the page after the last reset or step (screenshot mode)


@dataclass
class _Outcome:
    """What the browser did for one step: per action ("ok" | "failed" | "crashed", text), the view."""

    actions: list[GuiAction]
    results: list[tuple[str, str]]
    view: PageView | None
    status: dict[str, Any]


class BrowserEnv(AgentEnv):
    """Base class of the GUI envs (not registered itself; see ``MiniWoBEnv``)."""

    default_parser: ClassVar[str] = "browsergym"
    fork_mode: ClassVar[str] = "replay"
    instructions: ClassVar[str] = (
        "You operate a web page. Each element in the page tree starts with its id in brackets, e.g. [12]."
    )
    skip_selectors: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        *,
        observation: str = "text",
        set_of_marks: bool = False,
        show_boxes: bool = False,
        step_timeout_s: float = 30.0,
        pool: BrowserPool | None = None,
        max_turns: int = 10,
        parser: Any = None,
        **kwargs: Any,
    ):
        if observation not in OBSERVATIONS:
            raise ValueError(f"observation must be one of {OBSERVATIONS}, got {observation!r}")
        if not (isinstance(step_timeout_s, int | float) and step_timeout_s > 0):
            raise ValueError(f"step_timeout_s must be a number > 0, got {step_timeout_s!r}")
        if pool is not None and not isinstance(pool, BrowserPool):
            raise TypeError(f"pool must be a BrowserPool, got {type(pool).__name__}")
        super().__init__(
            builtin_tools=BROWSER_TOOLS,
            parser=BrowserGymParser() if parser in (None, "browsergym") else parser,
            max_turns=max_turns,
            max_tool_calls=kwargs.pop("max_tool_calls", 1),
            **kwargs,
        )
        self.observation_mode = observation
        self.set_of_marks = bool(set_of_marks)
        self.show_boxes = bool(show_boxes)
        self.step_timeout_s = float(step_timeout_s)
        self._pool = pool
        self.session = _Session()
        if observation == "screenshot":
            size = (self.pool.viewport["height"], self.pool.viewport["width"], 3)
            self.observation_space = spaces.Dict({"messages": MessagesSpace(), "screenshot": spaces.Box(0, 255, size, np.uint8)})

    # ---- what subclasses provide --------------------------------------------------------------
    @abc.abstractmethod
    async def _open(self, tab: Tab, task: Task) -> None:
        """Load the task's page in a new tab."""

    @abc.abstractmethod
    async def _start(self, tab: Tab, task: Task) -> dict[str, Any]:
        """Start the episode in the loaded page (seeded from ``task.facts``); returns at least
        ``instruction`` (kept in ``state.data["task_info"]`` for the oracle)."""

    status_js: str | None = None
    """A JS function read in the page with each observation (one call): its value is ``view.status``."""

    async def _status(self, tab: Tab, view: PageView) -> dict[str, Any]:
        """What the task says after a step: at least ``done`` (bool) and ``reward`` (float)."""
        return {"done": False, "reward": 0.0}

    def _oracle(self, view: PageView) -> GuiAction | None:
        """The next action of a scripted solution for the current page, or None."""
        return None

    # ---- the browser ----------------------------------------------------------------------------
    @property
    def pool(self) -> BrowserPool:
        if self._pool is None:
            self._pool = default_pool()
        return self._pool

    def _call(self, coro: Any) -> Any:
        return self.pool.run(coro, timeout=self.step_timeout_s)

    async def _fresh_tab(self, task: Task) -> Tab:
        """This env's tab with the task's page loaded: the old one if it still lives, else a new one."""
        tab = self.session.tab
        if tab is None or not tab.alive:
            if tab is not None:
                await self.pool.close_tab(tab)
            tab = await self.pool.open_tab(key=self._tab_key())
            if "loads" not in tab.state:
                await driver.install(tab)
            self.session.tab = tab
            await self._open(tab, task)
            await driver.evaluate(tab, "() => window.__tg.preloadCssImages()")
        return tab

    def _tab_key(self) -> str | None:
        """Envs with the same key may take over each other's released tab (None: never)."""
        return None

    async def _begin(self, task: Task) -> tuple[dict[str, Any], PageView]:
        tab = await self._fresh_tab(task)
        try:
            await driver.evaluate(tab, "() => window.__tg.clearInput()")
            info = await self._start(tab, task)
        except BrowserCrashed:  # the browser died between episodes: start over in a new tab
            self.session.tab = None
            tab = await self._fresh_tab(task)
            info = await self._start(tab, task)
        await tab.page.mouse.move(0, 0)
        view = await driver.observe(tab, skip=self.skip_selectors, boxes=self.show_boxes, reset_bids=True)
        await self._take_picture(tab)
        return info, view

    async def _take_picture(self, tab: Tab) -> None:
        """In screenshot mode, the page's picture, taken with the view (a failure is the browser's)."""
        self.session.picture = None
        if self.observation_mode == "screenshot":
            self.session.picture = await driver.screenshot(tab, marks=self.set_of_marks)

    async def _act(self, actions: Sequence[GuiAction]) -> _Outcome:
        tab = self.session.tab
        results: list[tuple[str, str]] = []
        for i, action in enumerate(actions):
            try:  # the last action's page change is waited for by the observation
                results.append(("ok", await driver.perform(tab, action, settle=i < len(actions) - 1)))
            except ActionFailed as exc:
                results.append(("failed", str(exc)))
            except BrowserCrashed as exc:
                results.append(("crashed", str(exc)))
                return _Outcome(list(actions), results, None, {})
        try:
            view = await driver.observe(tab, skip=self.skip_selectors, boxes=self.show_boxes, status_js=self.status_js)
            status = await self._status(tab, view)
            await self._take_picture(tab)
        except Exception as exc:  # a dead browser, or a page that cannot be read: the episode cannot go on
            results.append(("crashed", str(exc) if isinstance(exc, BrowserCrashed) else f"reading the page failed: {exc}"))
            return _Outcome(list(actions), results, None, {})
        return _Outcome(list(actions), results, view, status)

    # ---- the Gymnasium API ------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, Any]:
        info = self._draw(seed, options)
        return self._finish_reset(*self._call(self._begin(self._state().task)), info)

    @classmethod
    def reset_batch(
        cls, envs: Sequence[AgentEnv], requests: Sequence[tuple[int | None, dict[str, Any] | None]]
    ) -> list[tuple[Any, Any]]:
        """Draw each env's task, then start all their pages in one ``gather`` per pool."""
        infos = [env._draw(seed, options) for env, (seed, options) in zip(envs, requests, strict=True)]
        begun: dict[int, Any] = {}
        by_pool: dict[int, list[int]] = {}
        for i, env in enumerate(envs):
            by_pool.setdefault(id(env.pool), []).append(i)
        for members in by_pool.values():

            async def begin_all(members: list[int] = members) -> list[Any]:
                return await asyncio.gather(*(envs[i]._begin(envs[i]._state().task) for i in members))

            timeout = max(envs[i].step_timeout_s for i in members) * 2
            for i, result in zip(members, envs[members[0]].pool.run(begin_all(), timeout=timeout), strict=True):
                begun[i] = result
        return [env._finish_reset(*begun[i], infos[i]) for i, env in enumerate(envs)]

    def _draw(self, seed: int | None, options: dict[str, Any] | None) -> Any:
        """The browser-free part of a reset: seeding and the task (``AgentEnv.reset``)."""
        return super().reset(seed=seed, options=options)[1]

    def _finish_reset(self, task_info: dict[str, Any], view: PageView, info: Any) -> tuple[Any, Any]:
        state = self._state()
        state.data.update(steps=[], view=_view_data(view), task_info=task_info, messages_to_user=[])
        state.messages[1] = user_message(self._first_prompt(task_info["instruction"], view))
        state.tokens = sum(self.count_tokens(m["content"]) for m in state.messages)
        return self._wrap(copy_messages(state.messages)), info

    def step(self, action: Action) -> tuple[Any, float, bool, bool, Any]:
        obs, reward, terminated, truncated, info = super().step(action)
        return self._wrap(obs), reward, terminated, truncated, info

    def _respond(self, parsed: ParsedAction) -> Reply:
        state = self._state()
        if parsed.answer is not None and not parsed.tool_calls:
            return self._reply_error('this env takes browser actions; send an answer with send_msg_to_user("...")')
        if not parsed.tool_calls:
            return self._reply_error("found no action")
        before = state.data["view"]
        reference = self._reference(before)
        runner = _StepRunner(self, self.last_step.prefetched.get("gui"))
        self.last_step.scratch["runner"] = runner
        reply = self._run_tools(parsed.tool_calls)
        state.data["steps"].append([a.as_dict() for a in runner.performed])
        gui_extras: dict[str, Any] = {
            "action": runner.performed[0].as_dict() if runner.performed else None,
            "elements": before["elements"],
            "error": runner.failure,
            "reference": reference,
            "viewport": dict(self.pool.viewport),
        }
        if reply.fatal is None and runner.crash is None:
            outcome = runner.outcome or self._call(self._act([]))  # an action that was refused: observe anyway
            if outcome.view is None:
                runner.crash = outcome.results[-1][1]
            else:
                state.data["view"] = _view_data(outcome.view)
                status = outcome.status
                gui_extras["status"] = dict(status)
                reply.done = bool(status.get("done"))
                reply.outcome = float(status.get("reward", 0.0)) if reply.done else None
        if runner.crash is not None:  # the next reset opens a new tab (the pool restarts a dead browser)
            tab, self.session.tab = self.session.tab, None
            if tab is not None:
                with contextlib.suppress(BrowserError):
                    self._call(self.pool.close_tab(tab))
            reply.done, reply.fatal = True, reply.fatal or f"the browser failed: {runner.crash}"
            gui_extras["error"] = runner.crash
        reply.extras["gui"] = gui_extras
        reply.error = reply.error or runner.failure  # an impossible action counts as an invalid one
        page = self._page_text(state.data["view"], runner.failure) if runner.crash is None else f"Browser error: {runner.crash}"
        if isinstance(self.parser, BrowserGymParser):
            reply.messages = [user_message(page)]
        elif reply.messages:  # tool messages: the page goes into the last one
            last = reply.messages[-1]
            reply.messages[-1] = tool_message(last["tool_call_id"], last.get("name", ""), f"{last['content']}\n\n{page}".strip())
        return reply

    def _reference(self, view: Mapping[str, Any]) -> dict[str, Any] | None:
        """The oracle's action for the page the agent acts on, with its target's box (for hooks)."""
        action = self._oracle(PageView(view["lines"], view["elements"], view["title"], view["url"]))
        if action is None:
            return None
        bid = action.args.get("bid", action.args.get("to_bid"))
        target = next((e for e in view["elements"] if e["bid"] == str(bid)), None) if bid is not None else None
        return {**action.as_dict(), "box": target["box"] if target else None}

    def _hidden_args(self) -> dict[str, Any]:
        return {**super()._hidden_args(), "browser": self.last_step.scratch["runner"]}

    # ---- observations -------------------------------------------------------------------------
    def system_prompt(self, task: Task) -> str:
        if not isinstance(self.parser, BrowserGymParser):
            return super().system_prompt(task)
        lines = [self.instructions, "Actions:"]
        for t in BROWSER_TOOLS:
            lines.append(f"- {t.name}({', '.join(parameter_names(t))}): {t.description}")
        lines.append(self.parser.format_help())
        return "\n".join(lines)

    def _first_prompt(self, instruction: str, view: PageView) -> str:
        return f"Task: {instruction}\n\n{self._page_text(_view_data(view), None)}"

    def _page_text(self, view: Mapping[str, Any], error: str | None) -> str:
        head = f"# Page: {view['title']}" if view.get("title") else "# Page"
        text = "\n".join([head, *view["lines"]])
        return f"Last action failed: {error}\n\n{text}" if error else text

    def _wrap(self, messages: list[Any]) -> Any:
        if self.observation_mode != "screenshot":
            return messages
        return {"messages": messages, "screenshot": self._screenshot()}

    def _screenshot(self) -> np.ndarray:
        from PIL import Image

        shape = self.observation_space["screenshot"].shape
        png = self.session.picture
        if png is None:  # the browser failed: the step that says so ended the episode with an error
            return np.zeros(shape, np.uint8)
        image = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.uint8)
        return image[: shape[0], : shape[1]]

    # ---- oracle, fork, batch stepping -----------------------------------------------------------
    def oracle_action(self) -> Action | None:
        state = self.state
        if state is None or state.stop_reason is not None:
            return None
        view = state.data["view"]
        action = self._oracle(PageView(view["lines"], view["elements"], view["title"], view["url"]))
        return None if action is None else self.parser.render([(action.name, action.args)])

    def fork(self) -> BrowserEnv:
        """A new tab replaying this episode (same page seed, same actions): exact for seeded tasks."""
        new = super().fork()
        new.session = _Session()
        new._call(new._replay())
        return new

    async def _replay(self) -> None:
        state = self._state()
        await self._begin(state.task)
        for step in state.data["steps"]:
            outcome = await self._act([GuiAction(a["name"], a["args"]) for a in step])
            if outcome.view is None:
                raise BrowserCrashed(f"the browser failed while a fork replayed its episode: {outcome.results[-1][1]}")

    def close(self) -> None:
        tab, self.session.tab = self.session.tab, None
        if tab is not None and self._pool is not None and not self._pool.closed:
            with contextlib.suppress(BrowserError):
                self._pool.run(self._pool.release_tab(tab), timeout=10)
        super().close()

    @classmethod
    def prefetch_batch(cls, envs: Sequence[AgentEnv], actions: Sequence[Action]) -> None:
        """Perform the envs' actions concurrently on the pool's loop (one gather per pool); each
        env's ``step`` then reads its outcome instead of acting itself."""
        by_pool: dict[int, list[tuple[BrowserEnv, list[GuiAction]]]] = {}
        for env, action in zip(envs, actions, strict=True):
            env.pending_prefetch = {}
            gui_actions = env._planned_actions(action)
            tab = env.session.tab
            if gui_actions and tab is not None and tab.alive and env.state is not None and env.state.stop_reason is None:
                by_pool.setdefault(id(env.pool), []).append((env, gui_actions))
        for members in by_pool.values():
            pool = members[0][0].pool

            async def run_all(members: list[tuple[BrowserEnv, list[GuiAction]]] = members) -> list[Any]:
                return await asyncio.gather(*(env._act(acts) for env, acts in members), return_exceptions=True)

            outcomes = pool.run(run_all(), timeout=max(env.step_timeout_s for env, _ in members))
            for (env, _), outcome in zip(members, outcomes, strict=True):
                if isinstance(outcome, _Outcome):
                    env.pending_prefetch = {"gui": outcome}

    def _planned_actions(self, action: Action) -> list[GuiAction]:
        """The browser actions ``action`` asks for, if it is well-formed (else [])."""
        checked = check_action(action, self.max_action_chars)
        if checked.error:
            return []
        parsed = self.parser.parse(action if checked.text is None else checked.text, turn=0)
        if parsed.error or parsed.answer is not None or not parsed.tool_calls or len(parsed.tool_calls) > self.max_tool_calls:
            return []
        planned = []
        for call in parsed.tool_calls:
            gui = validated_action(call)
            if gui is None:
                return []
            planned.append(gui)
        return planned


class _StepRunner:
    """The tools' hidden ``browser`` for one step: performs each action (or takes the prefetched
    outcome) and remembers what happened."""

    def __init__(self, env: BrowserEnv, prefetched: _Outcome | None):
        self.env = env
        self.prefetched = prefetched
        self.performed: list[GuiAction] = []
        self.failure: str | None = None
        self.crash: str | None = None
        self.outcome: _Outcome | None = None

    def __call__(self, action: GuiAction) -> str:
        if self.crash is not None:
            raise ToolError(self.crash, "raised", fatal=True)
        self.performed.append(action)
        if action.name == "send_msg_to_user":
            self.env._state().data["messages_to_user"].append(action.args["text"])
        i = len(self.performed) - 1
        if self.prefetched is not None and self.prefetched.actions[: i + 1] == self.performed:
            self.outcome = self.prefetched if i == len(self.prefetched.actions) - 1 else None
            kind, text = self.prefetched.results[i] if i < len(self.prefetched.results) else ("crashed", "no result")
        else:
            self.prefetched = None
            tab = self.env.session.tab
            if tab is None or not tab.alive:
                kind, text = "crashed", "the tab is gone (its browser crashed or was closed)"
            else:
                self.outcome = self.env._call(self.env._act([action]))
                kind, text = self.outcome.results[-1]
        if kind == "crashed":
            self.crash = text
            raise ToolError(f"the browser failed: {text}", "raised", fatal=True)
        if kind == "failed":
            self.failure = text
            raise ToolError(text, "raised")
        return text or f"{action.to_string()} done"


def _view_data(view: PageView) -> dict[str, Any]:
    return {"lines": view.lines, "elements": view.elements, "title": view.title, "url": view.url}
