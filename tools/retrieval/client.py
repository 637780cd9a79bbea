"""``HTTPRetriever``: the ``Retriever`` protocol over HTTP, against any server speaking Search-R1's format.

That is turngym's own server (``turngym serve retriever``) or Search-R1's ``retrieval_server.py``: one
``POST {"queries": [...], "topk": k, "return_scores": true}`` per ``search_batch``, answered by
``{"result": [[{"document": {"id", "contents"}, "score"}, ...], ...]}`` (or bare documents without scores).
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import httpx

from turngym.envs.errors import TurngymError
from turngym.tools.http_retry import RetriesExhausted, post_retrying
from turngym.tools.retrieval.base import Hit
from turngym.tools.retrieval.corpus import Document

RETRYABLE_STATUS = frozenset({408, 429})


class RetrievalClientError(TurngymError, RuntimeError):
    """A retrieval server call that did not give results."""


class RetrievalRequestError(RetrievalClientError):
    """The server rejected the request (HTTP 4xx); ``detail`` holds its message. Retrying will not help."""

    def __init__(self, message: str, *, status_code: int, detail: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.detail = detail


class RetrievalUnavailableError(RetrievalClientError):
    """No answer after every attempt: connection errors, timeouts or HTTP 5xx."""


class RetrievalResponseError(RetrievalClientError):
    """The server answered 2xx with a body that is not Search-R1's response format."""


def retrieve_url(url: str) -> str:
    """``http://host:port`` -> ``http://host:port/retrieve``; a URL with a path is kept as given."""
    parsed = httpx.URL(url)
    if parsed.scheme not in ("http", "https"):
        raise ValueError(f"expected an http(s) URL like http://127.0.0.1:8000/retrieve, got {url!r}")
    if parsed.path in ("", "/"):
        return str(parsed.copy_with(path="/retrieve"))
    return str(parsed)


def error_detail(response: httpx.Response) -> str:
    """The server's error message: ``detail`` of a JSON body (ours, or FastAPI's validation list), else the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:500] or response.reason_phrase
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):  # FastAPI/pydantic: [{"loc": [...], "msg": ..., "type": ...}, ...]
        parts = []
        for item in detail:
            if isinstance(item, dict) and "msg" in item:
                loc = ".".join(str(x) for x in item.get("loc", ()))
                parts.append(f"{loc}: {item['msg']}" if loc else str(item["msg"]))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return detail if isinstance(detail, str) else str(detail)


def parse_document(record: Any, where: str) -> Document:
    """A ``Document`` from a response's document dict: ``{"id", "contents"}`` or ``{"id", "title", "text"}``.

    Search-R1's pyserini BM25 answers documents without ``id``; their id is then ``sha1:`` and the first 16
    hex digits of the SHA-1 of their contents, stable across calls.
    """
    if not isinstance(record, dict):
        raise RetrievalResponseError(f"{where}: expected a document object, got {type(record).__name__}")
    if isinstance(record.get("contents"), str):
        contents = record["contents"]
        doc_id = record.get("id")
        if doc_id is None:
            doc_id = "sha1:" + hashlib.sha1(contents.encode("utf-8")).hexdigest()[:16]
        return Document.from_contents(str(doc_id), contents)
    if isinstance(record.get("title"), str) and isinstance(record.get("text"), str):
        doc = Document(str(record.get("id", "")), record["title"], record["text"])
        if "id" not in record:
            doc = Document("sha1:" + hashlib.sha1(doc.contents.encode("utf-8")).hexdigest()[:16], doc.title, doc.text)
        return doc
    raise RetrievalResponseError(
        f"{where}: expected a document with 'contents' (or 'title' and 'text'), got keys {sorted(record)}"
    )


def parse_response(body: Any, n_queries: int, k: int) -> list[list[Hit]]:
    """``{"result": [...]}`` -> one list of at most ``k`` hits per query; either result shape.

    Bare documents (a server asked without ``return_scores``) get the score NaN.
    """
    if not isinstance(body, dict) or "result" not in body:
        got = f"keys {sorted(body)}" if isinstance(body, dict) else type(body).__name__
        raise RetrievalResponseError(f'expected a JSON object {{"result": [...]}}, got {got}')
    result = body["result"]
    if not isinstance(result, list) or len(result) != n_queries:
        got = f"{len(result)} entries" if isinstance(result, list) else type(result).__name__
        raise RetrievalResponseError(f"expected 'result' to hold one list per query ({n_queries}), got {got}")
    hits: list[list[Hit]] = []
    for i, entry in enumerate(result):
        if not isinstance(entry, list):
            raise RetrievalResponseError(f"result[{i}]: expected a list of documents, got {type(entry).__name__}")
        row = []
        for j, item in enumerate(entry[:k]):
            where = f"result[{i}][{j}]"
            if isinstance(item, dict) and isinstance(item.get("document"), dict):
                score = item.get("score")
                try:
                    value = math.nan if score is None else float(score)
                except (TypeError, ValueError):
                    raise RetrievalResponseError(f"{where}: expected a numeric 'score', got {score!r}") from None
                row.append(Hit(parse_document(item["document"], where), value))
            else:
                row.append(Hit(parse_document(item, where), math.nan))
        hits.append(row)
    return hits


class HTTPRetriever:
    """A ``Retriever`` backed by a retrieval server (turngym's or Search-R1's ``retrieval_server.py``).

    Args:
        url: the server, ``http://host:port`` (``/retrieve`` is added) or the full endpoint URL.
        timeout: seconds per HTTP attempt.
        retries: further attempts after a connection error, timeout, HTTP 5xx, 408 or 429.
        topk_param: the request field that carries ``k`` (``"topk"`` for Search-R1).
        backoff_s: sleep before retry ``n`` is ``backoff_s * 2 ** (n - 1)``.
        return_scores: ask for scores (Search-R1's own client always does).
        latency_window: how many call latencies ``latencies`` keeps.

    Each ``search_batch`` is one POST (none for an empty batch). The wall time of each successful call,
    retries included, is appended to ``latencies`` and stored in ``last_latency_s``; envs report it in
    their metrics. HTTP 4xx raises ``RetrievalRequestError`` with the server's message; exhausted retries
    raise ``RetrievalUnavailableError``. Safe to share between threads.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 30.0,
        retries: int = 2,
        topk_param: str = "topk",
        backoff_s: float = 0.25,
        return_scores: bool = True,
        latency_window: int = 10_000,
    ) -> None:
        if retries < 0:
            raise ValueError(f"retries must be >= 0, got {retries}")
        if timeout <= 0:
            raise ValueError(f"timeout must be > 0, got {timeout}")
        self.url = retrieve_url(url)
        self.timeout = timeout
        self.retries = retries
        self.topk_param = topk_param
        self.backoff_s = backoff_s
        self.return_scores = return_scores
        self.latencies: deque[float] = deque(maxlen=latency_window)
        """Seconds per successful ``search_batch`` call, retries included (the last ``latency_window``)."""
        self.last_latency_s: float | None = None
        self.calls = 0
        """Successful ``search_batch`` calls that sent a request."""
        self.failed_calls = 0
        self.retries_used = 0
        self._stats_lock = threading.Lock()
        # a plain-http URL never uses TLS: skip loading the CA bundle (~70 ms per client)
        parsed = httpx.URL(self.url)
        verify = parsed.scheme == "https"
        # proxies from the environment never apply to a server on this machine
        loopback = parsed.host in ("127.0.0.1", "localhost", "::1") or parsed.host.startswith("127.")
        self._client = httpx.Client(timeout=timeout, verify=verify, trust_env=not loopback)

    def search_batch(self, queries: Sequence[str], k: int) -> list[list[Hit]]:
        """The top ``k`` hits of each query, best first, in one POST."""
        if isinstance(queries, str):
            raise TypeError("expected a sequence of query strings, got a single str; wrap it in a list")
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        queries = list(queries)
        if not queries:
            return []
        payload = {"queries": queries, self.topk_param: k, "return_scores": self.return_scores}
        start = time.perf_counter()
        try:
            body = self._post(payload)
            hits = parse_response(body, len(queries), k)
        except Exception:
            with self._stats_lock:
                self.failed_calls += 1
            raise
        elapsed = time.perf_counter() - start
        with self._stats_lock:
            self.latencies.append(elapsed)
            self.last_latency_s = elapsed
            self.calls += 1
        return hits

    def _post(self, payload: dict[str, Any]) -> Any:
        try:
            response = post_retrying(
                self._client,
                self.url,
                payload,
                retries=self.retries,
                backoff_s=self.backoff_s,
                retry=lambda status: status >= 500 or status in RETRYABLE_STATUS,
                describe=error_detail,
                on_retry=self._count_retry,
            )
        except RetriesExhausted as exc:
            raise RetrievalUnavailableError(f"retrieval server {self.url} gave no results after {exc}") from None
        status = response.status_code
        if status >= 400:
            detail = error_detail(response)
            raise RetrievalRequestError(
                f"retrieval server {self.url} rejected the request (HTTP {status}): {detail}", status_code=status, detail=detail
            )
        try:
            return response.json()
        except ValueError:
            raise RetrievalResponseError(
                f"retrieval server {self.url} answered HTTP {status} with a body that is not JSON: {response.text[:200]!r}"
            ) from None

    def _count_retry(self) -> None:
        with self._stats_lock:
            self.retries_used += 1

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> HTTPRetriever:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"HTTPRetriever({self.url!r})"
