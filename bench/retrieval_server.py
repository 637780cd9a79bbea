"""A turngym ``RetrievalServer`` for benches: in a forked process (sharing the parent's index) or a thread."""

from __future__ import annotations

import contextlib
import multiprocessing
from typing import Any


def _serve_forever(retriever: Any, conn: Any) -> None:
    """Child process: serve ``retriever`` until the parent sends anything or goes away."""
    from turngym.tools.retrieval.server import RetrievalServer

    server = RetrievalServer(retriever, "127.0.0.1", 0)
    conn.send(server.start())
    with contextlib.suppress(EOFError):  # EOF: the parent went away
        conn.recv()
    server.stop(timeout=5.0)


class ServerHandle:
    """A ``RetrievalServer`` over ``retriever`` in a forked process (or in a thread of this one)."""

    def __init__(self, retriever: Any, mode: str) -> None:
        import httpx

        self.mode = mode
        self._process = self._conn = self._server = None
        if mode == "process":
            ctx = multiprocessing.get_context("fork")  # the child shares the index built here
            self._conn, child = ctx.Pipe()
            self._process = ctx.Process(target=_serve_forever, args=(retriever, child), daemon=True)
            self._process.start()
            if not self._conn.poll(60):
                raise RuntimeError("the retrieval server process did not start within 60 s")
            port = self._conn.recv()
        else:
            from turngym.tools.retrieval.server import RetrievalServer

            self._server = RetrievalServer(retriever, "127.0.0.1", 0)
            port = self._server.start()
        self.url = f"http://127.0.0.1:{port}"
        self._health = httpx.Client(timeout=10.0, trust_env=False)

    def counters(self) -> dict[str, Any]:
        return self._health.get(self.url + "/health").json()

    def stop(self) -> None:
        self._health.close()
        if self._server is not None:
            self._server.stop(timeout=5.0)
        if self._process is not None:
            self._conn.send("stop")
            self._process.join(15)
            if self._process.is_alive():
                self._process.terminate()
                self._process.join(5)

    def requests(self) -> int:
        """Requests the server has answered so far."""
        return int(self.counters()["requests_served"])
