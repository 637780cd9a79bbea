"""``turngym/WebShop-v0``: shopping tasks in a generated web shop, in a real headless Chromium."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import numpy as np

from turngym.envs.core import Task
from turngym.envs.gui.actions import GuiAction, parse_action_string
from turngym.envs.gui.browser import BrowserCrashed, Tab
from turngym.envs.gui.driver import PageView, goto
from turngym.envs.gui.env import BrowserEnv
from turngym.envs.gui.webapp.goals import check_goal, goal_done
from turngym.envs.gui.webapp.oracle import oracle_action
from turngym.envs.gui.webapp.server import ShopServer, ShopServerError, shared_shop_server
from turngym.envs.gui.webapp.state import ShopState, World
from turngym.envs.gui.webapp.tasks import KINDS, SPLITS, Goal, make_goal, make_world

REWARDS = ("binary", "partial")


class ShopEnv(BrowserEnv):
    """Shop in a generated web shop served on a local port: search, filter, pick options, check out.

    Description:
        Each episode draws a shop (about 40 invented products in six categories, a customer
        account, an inbox with coupon emails) and a goal from the seed, and runs it in its own
        session of a shared local HTTP server, in a page of a shared headless Chromium. Goal
        kinds: ``buy`` (a product named by category, colour and a price bound, with a size and a
        quantity, shipped to a given address), ``cheapest`` (the cheapest product of a colour in
        a category), and three that need a detail carried from one page to another: ``coupon``
        (the code from an inbox email, typed at checkout), ``reference`` (name, address and
        customer reference from the account page) and ``return`` (the order number shown after
        buying, typed into the support page's return form). A reset empties the session in
        place (no browser or server start).

    Observation:
        Chat messages. Reset: a system prompt listing the actions, then the goal and the page as a
        BrowserGym-style tree (``[bid] role 'name' props``, indented by depth). Step: the new
        page's tree, after "Last action failed: ..." when the action could not be done. See
        ``MiniWoBEnv`` for ``observation="screenshot"`` and ``set_of_marks``.

    Action:
        One BrowserGym action per turn, e.g. ``<action>click("12")</action>``,
        ``<action>fill("23", "Ada Lovelace")</action>``, ``<action>select_option("31", "M")</action>``;
        or the same actions as tools (``parser="hermes"``/``"openai"``/``"tags"``).

    Rewards:
        ``outcome`` when the episode ends, from the session's state (never from the page):
        ``reward="binary"`` gives 1.0 when the order (and return request) matches the goal
        exactly, else 0.0; ``"partial"`` gives the share of the goal's parts that match (one
        order, product, size, quantity, shipping details, and the kind's coupon, reference or
        return). The parts are in ``info``'s step context as ``extras["gui"]["status"]["parts"]``.

    Episode End:
        Terminated once an order is placed (for ``return`` goals: once a return is requested).
        Truncated at ``max_turns`` (default 30), after ``max_invalid_actions`` malformed or
        impossible actions, or with ``stop_reason="error"`` when the browser or the shop server died.

    Arguments:
        kinds: a goal kind or a sequence of them, drawn uniformly per episode (default all five);
            ``reset(options={"kind": ...})`` picks one.
        split: ``train`` | ``test``: shops whose invented names (brands, customers, streets, shop
            names) come from disjoint pools.
        reward: ``binary`` | ``partial``.
        products_per_category: products in each of the six categories (2..20, default 7).
        server: a ``ShopServer`` (default: the process's shared one).
        observation, set_of_marks, show_boxes, step_timeout_s, pool: see ``BrowserEnv``.
        Plus every ``AgentEnv`` argument (parser, tools, budgets, process_rewards, reward_weights).

    Example:
        >>> import turngym
        >>> env = turngym.make("turngym/WebShop-v0", kinds="coupon")
        >>> obs, info = env.reset(seed=0)
        >>> print(obs[1]["content"].splitlines()[0])
        Task: Buy 1 of the cheapest yellow product in the Mugs category, in size 250 ml. Ship it to ... (see your Inbox).
        >>> env.oracle_action()  # the Inbox link: the coupon code is there
        '<action>click(bid="7")</action>'
        >>> terminated = truncated = False
        >>> while not (terminated or truncated):
        ...     obs, reward, terminated, truncated, info = env.step(env.oracle_action())
        >>> reward, info["turn"], info["stop_reason"]
        (1.0, 10, <StopReason.ANSWERED: 'answered'>)
        >>> env.close()
    """

    instructions: ClassVar[str] = (
        "You shop in a web shop through its pages. Each element in the page tree starts with its id in brackets, e.g. [12]."
    )

    def __init__(
        self,
        kinds: str | Sequence[str] = KINDS,
        *,
        split: str = "train",
        reward: str = "binary",
        products_per_category: int = 7,
        server: ShopServer | None = None,
        max_turns: int = 30,
        **kwargs: Any,
    ):
        kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
        if not kinds or any(k not in KINDS for k in kinds):
            raise ValueError(f"kinds must be one or more of {KINDS}, got {kinds!r}")
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}, got {reward!r}")
        if not isinstance(products_per_category, int) or not 2 <= products_per_category <= 20:
            raise ValueError(f"products_per_category must be an int in 2..20, got {products_per_category!r}")
        if server is not None and not isinstance(server, ShopServer):
            raise TypeError(f"server must be a ShopServer, got {type(server).__name__}")
        super().__init__(max_turns=max_turns, **kwargs)
        self.kinds = kinds
        self.split = split
        self.reward_kind = reward
        self.products_per_category = products_per_category
        self._server = server
        self._shops: dict[str, tuple[World, Goal]] = {}

    # ---- the task --------------------------------------------------------------------------------
    def _make_task(self, options: Mapping[str, Any]) -> Task:
        kind = options.get("kind") or self.kinds[int(self.np_random.integers(len(self.kinds)))]
        if kind not in KINDS:
            raise ValueError(f"options['kind'] must be one of {KINDS}, got {kind!r}")
        shop_seed = int(self.np_random.integers(1 << 31))
        return Task(id=f"webshop/{self.split}/{kind}/{shop_seed}", prompt="", facts={"shop_seed": shop_seed, "kind": kind})

    def _shop(self, task: Task) -> tuple[World, Goal]:
        """The task's shop and goal, made from its seed (the same seed gives the same ones)."""
        if task.id not in self._shops:
            rng = np.random.default_rng(task.facts["shop_seed"])
            world = make_world(rng, self.split, self.products_per_category)
            self._shops = {task.id: (world, make_goal(rng, world, task.facts["kind"]))}
        return self._shops[task.id]

    @property
    def goal(self) -> Goal:
        return self._shop(self._state().task)[1]

    def shop_state(self) -> ShopState:
        """A copy of this episode's shop session (cart, orders, returns, pages visited)."""
        server, session = self._session_of(self.session.tab)
        return server.snapshot(session)

    # ---- the browser side ------------------------------------------------------------------------
    @property
    def server(self) -> ShopServer:
        return self._server if self._server is not None else shared_shop_server()

    def _session_of(self, tab: Tab | None) -> tuple[ShopServer, str]:
        if tab is None or "shop" not in tab.state:
            raise BrowserCrashed("this env's tab has no shop session (its browser failed)")
        return tab.state["shop"]

    def _tab_key(self) -> str:
        return "webshop"

    def _session_for(self, tab: Tab, task: Task) -> tuple[ShopServer, str]:
        """The tab's own shop session (kept with the tab, so a fork's new tab gets another), opened if need be."""
        server = self.server
        if tab.state.get("shop", (None,))[0] is not server:  # a new tab, or the shared server was restarted
            tab.state["shop"] = (server, server.open_session(self._shop(task)[0]))
        return tab.state["shop"]

    async def _open(self, tab: Tab, task: Task) -> None:
        server, session = self._session_for(tab, task)
        await goto(tab, server.session_url(session))

    async def _start(self, tab: Tab, task: Task) -> dict[str, Any]:
        server, session = self._session_for(tab, task)
        try:
            server.reset_session(session, self._shop(task)[0])
        except ShopServerError:
            tab.state["shop"] = (server, server.open_session(self._shop(task)[0]))
            server, session = tab.state["shop"]
        await goto(tab, server.session_url(session))
        return {"instruction": self._shop(task)[1].instruction}

    async def _status(self, tab: Tab, view: PageView) -> dict[str, Any]:
        server, session = self._session_of(tab)
        try:
            state = server.snapshot(session)
        except ShopServerError as exc:
            raise BrowserCrashed(f"the shop server lost this episode's session: {exc}") from exc
        goal = self.goal
        result = check_goal(goal, state)
        reward = result.score if self.reward_kind == "partial" else float(result.success)
        return {"done": goal_done(goal, state), "reward": reward, "success": result.success, "parts": result.parts}

    def _oracle(self, view: PageView) -> GuiAction | None:
        text = oracle_action(self.goal, self.shop_state(), view.elements)
        action, error = parse_action_string(text)
        if action is None:
            raise RuntimeError(f"the shop oracle made an action the parser refuses: {text!r} ({error})")
        return None if action.name == "noop" else action
