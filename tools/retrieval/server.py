"""An HTTP retrieval server that speaks Search-R1's ``/retrieve`` format, so Search-R1 setups can point at it.

Wire format (the one of Search-R1's ``search_r1/search/retrieval_server.py``)::

    POST /retrieve  {"queries": ["q1", "q2"], "topk": 3, "return_scores": true}
    200             {"result": [[{"document": {"id": "12", "contents": "\\"Title\\"\\ntext"}, "score": 7.1}, ...], ...]}

``result`` holds one list per query, best hit first. With ``"return_scores": false`` (the default) each
entry is the bare document ``{"id", "contents"}``. ``topk`` null, 0 or absent means the server's default
(Search-R1 treats a falsy ``topk`` the same way); unknown fields are ignored, as Search-R1's pydantic model
does. Errors are JSON ``{"error": <code>, "detail": <message>}``: 400 malformed JSON, 413 body too large,
422 a body of the wrong shape or out of the limits, 500 the retriever failed, 503 shutting down.

Concurrency: every ``search_batch`` call runs in one worker thread (so the retriever is never called
concurrently), fed by a micro-batcher: the requests that queued while the previous batch ran (and, with
``batch_wait_s`` > 0, those arriving within that long of the first) go into one ``search_batch`` call per distinct
``topk``. The default ``batch_wait_s=0`` adds no latency to a lone request and still merges under load; a wait of
a few ms only pays off for retrievers with a large fixed cost per call (a GPU encoder).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import json
import math
import os
import queue
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from turngym.envs.errors import TurngymError
from turngym.tools.background_server import BackgroundServer
from turngym.tools.retrieval.base import Hit, Retriever

EXPECTED_BODY = '{"queries": ["..."], "topk": 3, "return_scores": false}'
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


class RetrievalServerError(TurngymError, RuntimeError):
    """The retrieval server could not start, or stopped unexpectedly."""


class ApiError(Exception):
    """A request the server answers with a JSON error instead of results."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Limits:
    """What a ``/retrieve`` request may ask: most queries, largest ``topk``, the ``topk`` when it sends none, body size."""

    max_queries: int = 512
    max_topk: int = 100
    default_topk: int = 3
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES

    def __post_init__(self) -> None:
        if not 1 <= self.default_topk <= self.max_topk:
            raise ValueError(f"default_topk must be between 1 and max_topk={self.max_topk}, got {self.default_topk}")
        if self.max_queries < 1:
            raise ValueError(f"max_queries must be >= 1, got {self.max_queries}")
        if self.max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be >= 1, got {self.max_body_bytes}")


class GroupedSearch:
    """Answers many requests with one ``search_batch`` call per distinct ``k``, counting the calls.

    Each request gets exactly what ``search_batch(its_queries, its_k)`` returns for a retriever whose rows are
    independent. Shared by the micro-batcher here and the Ray Serve replicas (``ray_serve.py``).
    """

    def __init__(self, retriever: Retriever) -> None:
        self.retriever = retriever
        self.batches = 0
        """``search_batch`` calls made so far."""
        self.batched_queries = 0
        """Queries sent through ``search_batch`` so far."""

    def run(self, requests: Sequence[tuple[list[str], int]]) -> list[list[list[Hit]] | Exception]:
        """One outcome per ``(queries, k)`` request: its hits, or the exception its group's call raised."""
        groups: dict[int, list[int]] = {}
        for i, (_, k) in enumerate(requests):
            groups.setdefault(k, []).append(i)
        outcomes: list[list[list[Hit]] | Exception] = [[] for _ in requests]
        for k, members in groups.items():
            flat = [q for i in members for q in requests[i][0]]
            try:
                results = self.retriever.search_batch(flat, k)
                if len(results) != len(flat):
                    raise RuntimeError(f"search_batch returned {len(results)} result lists for {len(flat)} queries")
            except Exception as exc:
                for i in members:
                    outcomes[i] = exc
                continue
            self.batches += 1
            self.batched_queries += len(flat)
            start = 0
            for i in members:
                n = len(requests[i][0])
                outcomes[i] = list(results[start : start + n])
                start += n
        return outcomes


@dataclass(slots=True)
class _Job:
    queries: list[str]
    k: int
    future: concurrent.futures.Future[list[list[Hit]]] = field(default_factory=concurrent.futures.Future)


class MicroBatcher:
    """Runs ``retriever.search_batch`` in one worker thread, merging jobs that arrive close together.

    A batch is the first queued job plus every job that queued while the previous batch ran, plus those arriving
    within ``max_wait_s`` of taking the first, stopping early once ``max_batch_queries`` queries are collected.
    A batch goes through ``GroupedSearch``: one ``search_batch`` call per distinct ``k``.
    """

    def __init__(self, retriever: Retriever, *, max_wait_s: float = 0.0, max_batch_queries: int = 512) -> None:
        if max_wait_s < 0:
            raise ValueError(f"max_wait_s must be >= 0, got {max_wait_s}")
        if max_batch_queries < 1:
            raise ValueError(f"max_batch_queries must be >= 1, got {max_batch_queries}")
        self.retriever = retriever
        self.search = GroupedSearch(retriever)
        self.max_wait_s = max_wait_s
        self.max_batch_queries = max_batch_queries
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    @property
    def batches(self) -> int:
        """``search_batch`` calls made so far."""
        return self.search.batches

    @property
    def batched_queries(self) -> int:
        """Queries sent through ``search_batch`` so far."""
        return self.search.batched_queries

    @property
    def pending(self) -> int:
        """Requests queued and not yet taken into a batch."""
        return self._queue.qsize()

    def submit(self, queries: list[str], k: int) -> concurrent.futures.Future[list[list[Hit]]]:
        """Queue one request; the future resolves to its hits (or the retriever's exception)."""
        job = _Job(queries, k)
        with self._lock:
            if self._closed:
                raise RuntimeError("the micro-batcher is closed")
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="turngym-retrieval-batcher", daemon=True)
                self._thread.start()
            self._queue.put(job)
        return job.future

    def close(self, timeout: float | None = None) -> None:
        """Finish the jobs already queued, then stop the worker thread. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            thread = self._thread
            if thread is not None:
                self._queue.put(None)
        if thread is not None:
            thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            jobs = [first]
            n = len(first.queries)
            deadline = time.monotonic() + self.max_wait_s
            while n < self.max_batch_queries:
                remaining = deadline - time.monotonic()
                try:
                    job = self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is None:
                    stop = True
                    break
                jobs.append(job)
                n += len(job.queries)
            self._execute(jobs)

    def _execute(self, jobs: list[_Job]) -> None:
        live = [job for job in jobs if job.future.set_running_or_notify_cancel()]  # False: the caller gave up
        for job, outcome in zip(live, self.search.run([(job.queries, job.k) for job in live]), strict=True):
            if isinstance(outcome, Exception):
                job.future.set_exception(outcome)
            else:
                job.future.set_result(outcome)


@dataclass(slots=True)
class ServerStats:
    """Counters shown by ``GET /health``."""

    started_at: float = field(default_factory=time.monotonic)
    requests_served: int = 0
    queries_served: int = 0
    requests_rejected: int = 0
    requests_failed: int = 0


def num_docs_of(retriever: Retriever) -> int | None:
    """The retriever's corpus size (``num_docs`` or ``len()``), None when it cannot tell."""
    n = getattr(retriever, "num_docs", None)
    if isinstance(n, int):
        return n
    try:
        return len(retriever)  # type: ignore[arg-type]
    except TypeError:
        return None


def _type_name(value: object) -> str:
    return "null" if value is None else type(value).__name__


def parse_request(body: bytes, limits: Limits) -> tuple[list[str], int, bool]:
    """``(queries, topk, return_scores)`` from a request body, or an ``ApiError`` saying what was expected."""
    max_queries, max_topk, default_topk = limits.max_queries, limits.max_topk, limits.default_topk
    if not body.strip():
        raise ApiError(400, "malformed_json", f"empty request body; expected a JSON object like {EXPECTED_BODY}")
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, "malformed_json", f"request body is not valid JSON ({exc}); expected {EXPECTED_BODY}") from None
    if not isinstance(payload, dict):
        raise ApiError(422, "invalid_request", f"expected a JSON object like {EXPECTED_BODY}, got a JSON {_type_name(payload)}")
    if "queries" not in payload:
        raise ApiError(422, "invalid_request", f"missing field 'queries' (a list of strings); expected {EXPECTED_BODY}")
    queries = payload["queries"]
    if not isinstance(queries, list):
        raise ApiError(422, "invalid_request", f"field 'queries' must be a list of strings, got {_type_name(queries)}")
    for i, q in enumerate(queries):
        if not isinstance(q, str):
            raise ApiError(422, "invalid_request", f"queries[{i}] must be a string, got {_type_name(q)}")
    if len(queries) > max_queries:
        raise ApiError(
            422,
            "too_many_queries",
            f"too many queries: got {len(queries)}, this server accepts at most {max_queries} per request",
        )
    topk = payload.get("topk")
    if topk is None or topk == 0:  # Search-R1 falls back to its default topk for any falsy value
        topk = default_topk
    elif isinstance(topk, bool) or not isinstance(topk, int):
        raise ApiError(422, "invalid_request", f"field 'topk' must be an integer or null, got {_type_name(topk)}")
    elif not 1 <= topk <= max_topk:
        raise ApiError(422, "topk_out_of_range", f"topk must be between 1 and {max_topk} (or null/0 for the default), got {topk}")
    return_scores = payload.get("return_scores", False)
    if not isinstance(return_scores, bool):
        raise ApiError(422, "invalid_request", f"field 'return_scores' must be true or false, got {_type_name(return_scores)}")
    return queries, topk, return_scores


async def read_body(request: Request, max_body_bytes: int) -> bytes:
    """The request's body, or ``ApiError`` 413 past ``max_body_bytes`` (checked while it streams in)."""
    too_large = f"request body larger than {max_body_bytes} bytes; send fewer or shorter queries"
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_body_bytes:
        raise ApiError(413, "body_too_large", too_large)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_body_bytes:
            raise ApiError(413, "body_too_large", too_large)
        chunks.append(chunk)
    return b"".join(chunks)


def _score(value: float) -> float | None:
    score = float(value)
    return score if math.isfinite(score) else None  # JSON has no NaN/inf


def format_result(hits: Sequence[Sequence[Hit]], return_scores: bool) -> list[list[dict[str, Any]]]:
    """The ``result`` field: one list per query, scored ``{"document", "score"}`` entries or bare documents."""
    if return_scores:
        return [
            [{"document": {"id": h.document.id, "contents": h.document.contents}, "score": _score(h.score)} for h in row]
            for row in hits
        ]
    return [[{"id": h.document.id, "contents": h.document.contents} for h in row] for row in hits]


def error_response(exc: ApiError) -> JSONResponse:
    """``{"error": <code>, "detail": <message>}`` with the error's HTTP status."""
    return JSONResponse({"error": exc.error, "detail": exc.detail}, status_code=exc.status)


async def answer_retrieve(
    request: Request, limits: Limits, stats: ServerStats, search: Callable[[list[str], int], Awaitable[list[list[Hit]]]]
) -> JSONResponse:
    """``POST /retrieve``: parse the body, ``await search(queries, topk)``, answer Search-R1's JSON; counts in ``stats``.

    ``search`` may raise ``ApiError`` (its status is answered); any other exception is a 500 ``retriever_failed``.
    """
    try:
        body = await read_body(request, limits.max_body_bytes)
        queries, topk, return_scores = parse_request(body, limits)
    except ApiError as exc:
        stats.requests_rejected += 1
        return error_response(exc)
    hits: list[list[Hit]] = []
    if queries:
        try:
            hits = await search(queries, topk)
        except ApiError as exc:
            stats.requests_failed += 1
            return error_response(exc)
        except Exception as exc:
            stats.requests_failed += 1
            return error_response(ApiError(500, "retriever_failed", f"retriever failed: {type(exc).__name__}: {exc}"))
    stats.requests_served += 1
    stats.queries_served += len(queries)
    return JSONResponse({"result": format_result(hits, return_scores)})


def health_body(
    retriever: Retriever, num_docs: int | None, stats: ServerStats, search: GroupedSearch, limits: Limits
) -> dict[str, Any]:
    """``GET /health``: liveness and counters."""
    batches = search.batches
    return {
        "status": "ok",
        "retriever": type(retriever).__name__,
        "num_docs": num_docs,
        "uptime_s": round(time.monotonic() - stats.started_at, 3),
        "requests_served": stats.requests_served,
        "queries_served": stats.queries_served,
        "requests_rejected": stats.requests_rejected,
        "requests_failed": stats.requests_failed,
        "search_batch_calls": batches,
        "mean_batch_queries": round(search.batched_queries / batches, 2) if batches else None,
        "limits": dataclasses.asdict(limits),
    }


def create_app(
    retriever: Retriever,
    *,
    max_queries: int = 512,
    max_topk: int = 100,
    default_topk: int = 3,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    batch_wait_s: float = 0.0,
    num_docs: int | None = None,
) -> FastAPI:
    """A FastAPI app serving ``retriever`` at ``POST /retrieve`` (Search-R1's format) and ``GET /health``.

    Args:
        retriever: any ``Retriever``; it is only ever called from one worker thread.
        max_queries: most queries in one request (422 beyond).
        max_topk: largest ``topk`` accepted (422 beyond).
        default_topk: ``topk`` used when a request sends null, 0 or none.
        max_body_bytes: largest request body (413 beyond).
        batch_wait_s: how long the micro-batcher waits for more requests to merge into one ``search_batch``
            (0: merge only what queued while the previous call ran).
        num_docs: corpus size for ``/health`` when the retriever has neither ``num_docs`` nor ``len()``.
    """
    limits = Limits(max_queries, max_topk, default_topk, max_body_bytes)

    batcher = MicroBatcher(retriever, max_wait_s=batch_wait_s, max_batch_queries=max_queries)
    stats = ServerStats()
    if num_docs is None:
        num_docs = num_docs_of(retriever)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # uvicorn runs this after in-flight requests finished
        await asyncio.get_running_loop().run_in_executor(None, batcher.close)

    app = FastAPI(title="turngym retrieval server", summary="Search-R1-compatible /retrieve endpoint", lifespan=lifespan)
    app.state.batcher = batcher
    app.state.stats = stats

    async def search(queries: list[str], k: int) -> list[list[Hit]]:
        try:
            future = batcher.submit(queries, k)
        except RuntimeError:
            raise ApiError(503, "shutting_down", "the retrieval server is shutting down") from None
        return await asyncio.wrap_future(future)

    @app.post("/retrieve")
    async def retrieve(request: Request) -> JSONResponse:
        """Search-R1's endpoint: ``{"queries", "topk", "return_scores"}`` -> ``{"result": [...]}``."""
        return await answer_retrieve(request, limits, stats, search)

    @app.get("/health")
    async def health() -> dict[str, Any]:
        """Liveness and counters."""
        return {**health_body(retriever, num_docs, stats, batcher.search, limits), "queued_requests": batcher.pending}

    return app


class RetrievalServer(BackgroundServer):
    """``create_app(retriever)`` served by uvicorn in a background thread.

    >>> with RetrievalServer(retriever) as server:  # doctest: +SKIP
    ...     HTTPRetriever(server.url).search_batch(["who wrote hamlet"], k=3)

    ``start()`` binds the socket (port 0 picks a free one) and returns the port once the server accepts
    connections; ``stop()`` stops accepting, lets in-flight requests finish (up to ``graceful_timeout_s``),
    then releases the port. Extra keyword arguments go to ``create_app``.
    """

    error = RetrievalServerError
    label = "retrieval server"

    def __init__(
        self,
        retriever: Retriever,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        log_level: str = "warning",
        graceful_timeout_s: float = 30.0,
        **app_options: Any,
    ) -> None:
        self.retriever = retriever
        super().__init__(
            create_app(retriever, **app_options), host, port, log_level=log_level, graceful_timeout_s=graceful_timeout_s
        )


def serve(
    index_dir: str | os.PathLike[str],
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    max_queries: int = 512,
    max_topk: int = 100,
    default_topk: int = 3,
) -> None:
    """Load the index in ``index_dir`` and serve it until SIGINT/SIGTERM, then shut down cleanly.

    Prints one line once the server accepts connections (with its URL: ``port=0`` picks a free port) and one
    when it shuts down. Index errors (``IndexNotFoundError``, ``IndexFormatError``) propagate before serving.
    """
    from turngym.tools.retrieval.index import load_index, read_manifest

    retriever = load_index(index_dir)
    num_docs = num_docs_of(retriever)
    if num_docs is None:
        num_docs = read_manifest(index_dir).get("num_docs")
    server = RetrievalServer(
        retriever, host, port, max_queries=max_queries, max_topk=max_topk, default_topk=default_topk, num_docs=num_docs
    )
    docs = f"{num_docs} documents" if num_docs is not None else "index"
    server.run_until_signal(
        lambda: f"turngym retrieval server: {docs} from {index_dir} at {server.url}/retrieve (Ctrl+C to stop)"
    )
