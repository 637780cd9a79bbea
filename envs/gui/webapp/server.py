"""The shop served over HTTP: one ASGI app for many sessions, each under ``/s/<session>/``.

Envs open, reset, read and close their session in-process (``ShopServer.open_session``,
``reset_session``, ``snapshot``, ``close_session``); only the browser speaks HTTP. Requests and
those calls take one lock, so a snapshot never sees half a request.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote

from turngym.envs.errors import TurngymError
from turngym.envs.gui.webapp import pages
from turngym.envs.gui.webapp.state import FormError, NotFound, ShopState, World
from turngym.tools.background_server import BackgroundServer

Response = tuple[int, str, str]  # status, body, redirect location ("" for none)


class ShopServerError(TurngymError):
    """The shop server could not start, or a session id that was never opened or is closed."""


class ShopApp:
    """The ASGI app: routes ``/s/<session>/<page>`` to the page functions over that session's ``ShopState``."""

    def __init__(self) -> None:
        self.sessions: dict[str, ShopState] = {}
        self.lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Callable, send: Callable) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        form = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        with self.lock:
            status, html, location = self.handle(scope["method"], scope["path"], query, form)
        headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        if location:
            headers.append((b"location", location.encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": html.encode("utf-8")})

    def handle(self, method: str, path: str, query: dict[str, str], form: dict[str, str]) -> Response:
        """Serve one request (the caller holds ``lock``)."""
        parts = path.split("/", 3)  # "", "s", session, page
        if len(parts) < 3 or parts[1] != "s" or parts[2] not in self.sessions:
            session = parts[2] if len(parts) >= 3 and parts[1] == "s" else ""
            why = f"No shop session {session!r}: it was closed or never opened." if session else f"No page {path!r}."
            return 404, pages.not_found(why), ""
        session, page = parts[2], unquote(parts[3] if len(parts) > 3 else "")
        base = f"/s/{session}/"
        state = self.sessions[session]
        try:
            if method == "GET":
                return self._get(state, base, page, query)
            if method == "POST":
                return self._post(state, base, page, form)
            return 405, pages.not_found(f"Method {method} is not allowed here; use GET or POST.", base), ""
        except NotFound as exc:
            return 404, pages.not_found(str(exc), base), ""

    def _get(self, state: ShopState, base: str, page: str, query: dict[str, str]) -> Response:
        head, _, rest = page.partition("/")
        if (head, rest) == ("", ""):
            html = pages.home(state, base)
        elif head == "search" and not rest:
            html = pages.search(state, base, query.get("q", ""))
        elif head == "category" and rest:
            name = next((c for c in state.world.categories if pages.slug(c) == rest), None)
            if name is None:
                raise NotFound(f"No category {rest!r}; the shop has {', '.join(state.world.categories)}.")
            sort = query.get("sort", "featured")
            html, error = pages.category(
                state,
                base,
                name,
                query.get("colour", "Any"),
                query.get("max_price", ""),
                sort if sort in pages.SORTS else "featured",
            )
            if error:
                return 400, html, ""
        elif head == "product" and rest:
            html = pages.product(state, base, state.world.product(rest))
        elif head == "order" and rest:
            html = pages.order(state, base, rest)
        elif head in ("cart", "checkout", "support") and not rest:
            html = pages.cart(state, base) if head == "cart" else getattr(pages, head)(state, base, {})
        elif head in ("account", "inbox") and not rest:
            html = getattr(pages, head)(state, base)
        else:
            raise NotFound(f"No page {page!r} in this shop.")
        state.visited.append(head or "home")
        return 200, html, ""

    def _post(self, state: ShopState, base: str, page: str, form: dict[str, str]) -> Response:
        try:
            if page == "cart/add":
                product = state.world.product(form.get("product", ""))
                try:
                    state.add_to_cart(product.id, form.get("size", ""), form.get("quantity", ""))
                except FormError as exc:
                    return 400, pages.product(state, base, product, error=str(exc)), ""
                return 303, "", base + "cart"
            if page in ("cart/update", "cart/remove"):
                if page == "cart/update":
                    state.update_line(form.get("line", ""), form.get("quantity", ""))
                else:
                    state.remove_line(form.get("line", ""))
                return 303, "", base + "cart"
            if page == "checkout":
                try:
                    order = state.place_order(form)
                except FormError as exc:
                    return 400, pages.checkout(state, base, form, error=str(exc)), ""
                return 303, "", base + "order/" + quote(order.number)
            if page == "support":
                try:
                    state.request_return(form)
                except FormError as exc:
                    return 400, pages.support(state, base, form, error=str(exc)), ""
                return 303, "", base + "support"
        except FormError as exc:  # cart/update with a bad quantity
            return 400, pages.cart(state, base, error=str(exc)), ""
        raise NotFound(f"No form posts to {page!r} in this shop.")


class ShopServer(BackgroundServer):
    """The shop app on a local port; ``shared_shop_server()`` gives the one a process shares."""

    error = ShopServerError
    label = "shop server"

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.shop = ShopApp()
        self._ids = itertools.count(1)
        super().__init__(self.shop, host, port, graceful_timeout_s=2.0)

    def open_session(self, world: World) -> str:
        """A new session over ``world`` with an empty cart; returns its id."""
        with self.shop.lock:
            session = f"{next(self._ids)}"
            self.shop.sessions[session] = ShopState(world)
        return session

    def reset_session(self, session: str, world: World) -> None:
        """Start ``session`` over on ``world``: empty cart, no orders, no returns, nothing visited."""
        with self.shop.lock:
            self._check(session)
            self.shop.sessions[session] = ShopState(world)

    def snapshot(self, session: str) -> ShopState:
        """A copy of the session's state, safe to read while the browser goes on (the world and the records are immutable)."""
        with self.shop.lock:
            state = self._check(session)
            return ShopState(state.world, list(state.cart), list(state.orders), list(state.returns), list(state.visited))

    def close_session(self, session: str) -> None:
        with self.shop.lock:
            self.shop.sessions.pop(session, None)

    def session_url(self, session: str, page: str = "") -> str:
        return f"{self.url}/s/{session}/{page}"

    def _check(self, session: str) -> ShopState:
        if session not in self.shop.sessions:
            raise ShopServerError(f"no shop session {session!r}: open one with open_session(world) first")
        return self.shop.sessions[session]


_shared: ShopServer | None = None
_shared_lock = threading.Lock()


def shared_shop_server() -> ShopServer:
    """The process's shop server, started on first use (and again if it stopped)."""
    global _shared
    with _shared_lock:
        if _shared is None or not _shared.running:
            _shared = ShopServer()
            _shared.start()
        return _shared
