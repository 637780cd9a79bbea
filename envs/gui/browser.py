"""A pool of headless Chromium browsers driven through Playwright's async API on one event loop.

The loop runs in a daemon thread; envs call ``BrowserPool.run(coro)`` from any thread and wait.
Each env gets its own ``Tab`` (a browser context and its page). A crashed browser is noticed by
its ``disconnected`` event or by a failing health check; its tabs answer ``BrowserCrashed`` and the
next ``open_tab`` starts a fresh browser. ``close()`` (also at interpreter exit) ends every browser
the pool started, so no Chromium outlives its pool.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import shutil
import threading
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from turngym.envs.errors import TurngymError

T = TypeVar("T")

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-renderer-backgrounding",
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-partial-raster",  # a partly re-rastered frame differs by a pixel: same seed, same picture
)
DEFAULT_VIEWPORT = {"width": 500, "height": 400}


class BrowserError(TurngymError):
    """The browser could not be started or used (a missing Chromium, a crash, a timeout)."""


class BrowserCrashed(BrowserError):
    """The browser or page of a tab died; its episode cannot go on."""


def chromium_path() -> str:
    """The Chromium executable: ``TURNGYM_CHROMIUM``, else ``chromium`` or ``chromium-browser`` on PATH."""
    path = os.environ.get("TURNGYM_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        raise BrowserError(
            "no Chromium found: expected TURNGYM_CHROMIUM or `chromium` on PATH (Debian: apt-get install chromium)"
        )
    return path


@dataclass(eq=False)
class Tab:
    """One env's browser context and page, in browser ``browser_id`` of the pool."""

    pool: BrowserPool
    browser_id: int
    context: Any
    page: Any
    closed: bool = False
    key: str | None = None
    crashed: str | None = None
    state: dict[str, Any] = field(default_factory=dict)  # page-load count and setup flags

    @property
    def alive(self) -> bool:
        return not self.closed and self.crashed is None and self.pool._alive(self.browser_id)

    def check(self) -> None:
        """Raise ``BrowserCrashed`` if this tab's page or browser is gone."""
        if self.crashed is not None:
            raise BrowserCrashed(self.crashed)
        if not self.pool._alive(self.browser_id):
            raise BrowserCrashed(f"browser {self.browser_id} of the pool is gone (crashed or killed)")


class BrowserPool:
    """``browsers`` Chromium processes (started on first use); tabs are spread over them, and a
    released tab is kept (``max_idle``) for the next env of the same task."""

    def __init__(
        self, browsers: int = 1, *, viewport: dict[str, int] | None = None, launch_timeout_s: float = 30.0, max_idle: int = 32
    ):
        if not isinstance(browsers, int) or browsers < 1:
            raise ValueError(f"browsers must be an int >= 1, got {browsers!r}")
        self.size = browsers
        self.viewport = dict(viewport or DEFAULT_VIEWPORT)
        self.launch_timeout_s = launch_timeout_s
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="turngym-browser-pool", daemon=True)
        self._thread.start()
        self._playwright: Any = None
        self._browsers: list[Any] = [None] * browsers
        self._dead: set[int] = set()
        self._tabs = 0
        self._idle: list[Tab] = []
        self.max_idle = max_idle
        self._lock = threading.Lock()
        self._launching = asyncio.Lock()  # tabs opened at once on a fresh pool share one Playwright and browser
        self.restarts = 0
        self.closed = False
        atexit.register(self.close)

    # ---- calling into the loop ----------------------------------------------------------------
    def run(self, coro: Awaitable[T], timeout: float | None = None) -> T:
        """Run ``coro`` on the pool's loop and wait for its result (from any thread but the loop's)."""
        if self.closed:
            raise BrowserError("the browser pool is closed")
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)  # type: ignore[arg-type]
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            raise BrowserError(f"a browser call took longer than {timeout} s") from exc

    # ---- tabs ---------------------------------------------------------------------------------
    async def open_tab(self, key: str | None = None) -> Tab:
        """A context and page: an idle one released under the same ``key`` (its page still loaded,
        so a new env of the same task skips the page load), else a new one in the next browser, round
        robin (started, or restarted if it died)."""
        for i, idle in enumerate(self._idle):
            if idle.key == key and idle.alive:
                del self._idle[i]
                return idle
        browser_id = self._tabs % self.size
        self._tabs += 1
        browser = await self._browser(browser_id)
        context = await browser.new_context(viewport=self.viewport)
        page = await context.new_page()
        tab = Tab(self, browser_id, context, page, key=key)

        def on_crash(_page: Any) -> None:
            tab.crashed = "the page crashed"

        page.on("crash", on_crash)
        return tab

    async def release_tab(self, tab: Tab) -> None:
        """Keep a live tab for the next ``open_tab`` with its key (up to ``max_idle``), else close it."""
        self._idle = [t for t in self._idle if t.alive]
        if tab.alive and tab.key is not None and len(self._idle) < self.max_idle:
            self._idle.append(tab)
        else:
            await self.close_tab(tab)

    async def close_tab(self, tab: Tab) -> None:
        if tab.closed:
            return
        tab.closed = True
        if self._alive(tab.browser_id):
            with contextlib.suppress(Exception):  # the browser went away meanwhile: nothing left to close
                await tab.context.close()

    async def _browser(self, browser_id: int) -> Any:
        if self._browsers[browser_id] is not None and self._alive(browser_id):
            return self._browsers[browser_id]
        async with self._launching:
            if self._browsers[browser_id] is not None and self._alive(browser_id):
                return self._browsers[browser_id]  # another tab's call started it meanwhile
            return await self._launch(browser_id)

    async def _launch(self, browser_id: int) -> Any:
        browser = self._browsers[browser_id]
        if browser is not None:  # it died: start a new one in its place
            self.restarts += 1
            with contextlib.suppress(Exception):
                await browser.close()
        if self._playwright is None:
            try:
                from playwright.async_api import async_playwright
            except ImportError as exc:
                raise BrowserError("GUI envs need playwright: pip install 'turngym[gui]'") from exc
            self._playwright = await async_playwright().start()
        try:
            browser = await self._playwright.chromium.launch(
                executable_path=chromium_path(), args=list(CHROMIUM_ARGS), timeout=self.launch_timeout_s * 1000
            )
        except BrowserError:
            raise
        except Exception as exc:
            raise BrowserError(f"Chromium did not start: {type(exc).__name__}: {exc}") from exc
        self._dead.discard(browser_id)
        browser.on("disconnected", lambda _b: self._dead.add(browser_id))
        self._browsers[browser_id] = browser
        return browser

    def _alive(self, browser_id: int) -> bool:
        browser = self._browsers[browser_id]
        return browser is not None and browser_id not in self._dead and browser.is_connected()

    # ---- shutdown -----------------------------------------------------------------------------
    def close(self) -> None:
        """Close every browser and stop the loop; idempotent."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
        atexit.unregister(self.close)
        if self._thread.is_alive():
            future = asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop)
            with contextlib.suppress(Exception):
                future.result(30)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _shutdown(self) -> None:
        for browser in self._browsers:
            if browser is not None:
                with contextlib.suppress(Exception):
                    await browser.close()
        if self._playwright is not None:
            await self._playwright.stop()
            self._playwright = None


_default_pool: BrowserPool | None = None
_default_lock = threading.Lock()


def default_pool() -> BrowserPool:
    """The process's shared pool (one browser), made on first use; a closed one is replaced."""
    global _default_pool
    with _default_lock:
        if _default_pool is None or _default_pool.closed:
            _default_pool = BrowserPool()
        return _default_pool
