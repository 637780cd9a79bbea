"""The retrieval service on Ray Serve: the local server's ``/retrieve`` (Search-R1's format) on every replica.

>>> url = deploy_retrieval("IDX", name="turngym-retrieval", num_replicas=4)  # doctest: +SKIP
>>> HTTPRetriever(url).search_batch(["who wrote hamlet"], 3)  # doctest: +SKIP
>>> turngym.make("turngym/SearchQA-v0", retriever="ray-serve:turngym-retrieval")  # doctest: +SKIP

Every replica loads the index from ``index_dir`` (a path each node can read) once, and answers with the
local server's own pieces (``answer_retrieve``, ``GroupedSearch``, ``Limits``), so the JSON is the same
byte for byte. Requests that reach a replica together are merged by ``@serve.batch`` (up to
``max_batch_size`` requests, waiting at most ``batch_wait_timeout_s`` for more) into one ``search_batch``
per ``k``, run in a worker thread so the replica keeps taking requests meanwhile. ``max_ongoing_requests``
is set to ``2 * max_batch_size``: Ray's default (5) would cap every batch at 5 requests.

The envs find the service by URL (``retriever="http://host:8000/turngym-retrieval/retrieve"``) or by
name (``retriever="ray-serve:NAME"``: ``service_url(NAME)`` asks Ray Serve for the URL); both go
through ``HTTPRetriever.search_batch``, one POST per vector step.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import ray
from ray import serve
from ray.serve.exceptions import RayServeException
from starlette.requests import Request
from starlette.responses import JSONResponse

from turngym.envs.errors import TurngymError
from turngym.tools.background_server import stop_on_signal
from turngym.tools.retrieval.base import Hit
from turngym.tools.retrieval.server import (
    ApiError,
    GroupedSearch,
    Limits,
    ServerStats,
    answer_retrieve,
    error_response,
    health_body,
    num_docs_of,
)

DEFAULT_NAME = "turngym-retrieval"
DEFAULT_MAX_BATCH_SIZE = 64
DEFAULT_BATCH_WAIT_S = 0.002


class RetrievalServiceError(TurngymError, RuntimeError):
    """The Ray Serve retrieval service could not be deployed or found."""


def rss_bytes() -> int | None:
    """This process' resident memory (Linux ``/proc``), None elsewhere."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


@serve.deployment
class RetrievalReplica:
    """One replica: the index in ``index_dir`` behind ``POST /retrieve`` and ``GET /health``."""

    def __init__(self, index_dir: str, limits: Limits, max_batch_size: int, batch_wait_timeout_s: float, device: str) -> None:
        from turngym.tools.retrieval.index import load_index, read_manifest

        self.retriever = load_index(index_dir, device=device)
        self.num_docs = num_docs_of(self.retriever) or read_manifest(index_dir).get("num_docs")
        self.limits = limits
        self.stats = ServerStats()
        self.search = GroupedSearch(self.retriever)
        self.batch_calls = 0
        """``@serve.batch`` calls: each merges the requests that arrived together."""
        self._search_requests.set_max_batch_size(max_batch_size)
        self._search_requests.set_batch_wait_timeout_s(batch_wait_timeout_s)

    async def __call__(self, request: Request) -> JSONResponse:
        root = request.scope.get("root_path", "")
        path = request.scope["path"].removeprefix(root).rstrip("/") or "/"
        if path == "/retrieve" and request.method == "POST":
            return await answer_retrieve(request, self.limits, self.stats, self._search_one)
        if path == "/health" and request.method == "GET":
            return JSONResponse(self.health())
        return error_response(ApiError(404, "not_found", f"expected POST /retrieve or GET /health, got {request.method} {path}"))

    def health(self) -> dict[str, Any]:
        """The local server's ``/health`` plus this replica's id, batch calls and resident memory."""
        return {
            **health_body(self.retriever, self.num_docs, self.stats, self.search, self.limits),
            "replica": serve.get_replica_context().replica_id.unique_id,
            "batch_calls": self.batch_calls,
            "rss_bytes": rss_bytes(),
        }

    async def _search_one(self, queries: list[str], k: int) -> list[list[Hit]]:
        outcome = await self._search_requests((queries, k))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    @serve.batch(max_batch_size=DEFAULT_MAX_BATCH_SIZE, batch_wait_timeout_s=DEFAULT_BATCH_WAIT_S)
    async def _search_requests(self, requests: list[tuple[list[str], int]]) -> list[list[list[Hit]] | Exception]:
        self.batch_calls += 1
        return await asyncio.to_thread(self.search.run, requests)


def deploy_retrieval(
    index_dir: str | os.PathLike[str],
    *,
    name: str = DEFAULT_NAME,
    route_prefix: str | None = None,
    num_replicas: int = 1,
    num_cpus: float = 1.0,
    num_gpus: float = 0.0,
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE,
    batch_wait_timeout_s: float = DEFAULT_BATCH_WAIT_S,
    limits: Limits | None = None,
    http_host: str = "127.0.0.1",
    http_port: int = 8000,
) -> str:
    """Deploy the index in ``index_dir`` as Ray Serve application ``name``; returns its ``/retrieve`` URL.

    Connects to Ray (``RAY_ADDRESS`` or a running local cluster) unless ``ray.init`` ran already. Each
    replica takes ``num_cpus`` and ``num_gpus`` (a GPU replica embeds queries on ``cuda``). The route is
    ``/<name>`` unless ``route_prefix`` is given; ``http_host`` and ``http_port`` set Serve's proxy
    when this call starts Serve (a running Serve keeps its own). Redeploying a name replaces it.
    """
    from turngym.tools.retrieval.index import read_manifest

    if num_replicas < 1 or max_batch_size < 1 or batch_wait_timeout_s < 0 or num_cpus < 0 or num_gpus < 0:
        raise ValueError(
            "expected num_replicas >= 1, max_batch_size >= 1 and batch_wait_timeout_s, num_cpus, num_gpus >= 0; got "
            f"{num_replicas}, {max_batch_size}, {batch_wait_timeout_s}, {num_cpus}, {num_gpus}"
        )
    index_dir = str(Path(index_dir).resolve())
    read_manifest(index_dir)  # a missing or bad index fails here, not in every replica
    _connect()
    serve.start(http_options={"host": http_host, "port": http_port})
    deployment = RetrievalReplica.options(
        num_replicas=num_replicas,
        ray_actor_options={"num_cpus": num_cpus, "num_gpus": num_gpus},
        max_ongoing_requests=2 * max_batch_size,
    )
    app = deployment.bind(index_dir, limits or Limits(), max_batch_size, batch_wait_timeout_s, "cuda" if num_gpus > 0 else "cpu")
    serve.run(
        app,
        name=name,
        route_prefix=route_prefix or f"/{name}",
        logging_config={"enable_access_log": False, "log_level": "WARNING"},
    )
    return service_url(name)


def service_url(name: str = DEFAULT_NAME) -> str:
    """The ``/retrieve`` URL of the running retrieval application ``name``, asked of Ray Serve."""
    _connect()
    try:
        client = serve.context._get_global_client()  # the controller's instance details, as `serve status` reads them
        details = client.get_serve_details()
    except RayServeException as exc:
        raise RetrievalServiceError(
            f"no Ray Serve instance on this Ray cluster, so no retrieval service {name!r}: {exc}"
        ) from None
    apps = details.get("applications", {})
    if name not in apps:
        raise RetrievalServiceError(f"no Ray Serve application {name!r}; running: {sorted(apps) or 'none'}")
    prefix = apps[name].get("route_prefix")
    if not prefix:
        raise RetrievalServiceError(f"Ray Serve application {name!r} has no HTTP route (route_prefix is None)")
    http = details.get("http_options") or {}
    host = http.get("host", "127.0.0.1")
    if host in ("0.0.0.0", "::", ""):
        host = ray.util.get_node_ip_address()  # proxies run on every node by default: use this node's
    return f"http://{host}:{http.get('port', 8000)}{prefix.rstrip('/')}/retrieve"


def serve_on_ray(index_dir: str | os.PathLike[str], address: str, **options: Any) -> None:
    """``turngym serve retriever --ray ADDRESS``: deploy, print the URL, wait for SIGINT/SIGTERM, delete the app."""
    _connect(address)
    name = options.get("name", DEFAULT_NAME)
    with stop_on_signal() as stop:
        url = deploy_retrieval(index_dir, **options)
        try:
            print(
                f"turngym retrieval service: {name!r} on Ray Serve at {url} "
                f"(envs: retriever='ray-serve:{name}' or the URL; Ctrl+C to stop)",
                flush=True,
            )
            while not stop.wait(0.5):
                pass
            print("turngym retrieval service: shutting down", flush=True)
        finally:
            serve.delete(name)


def _connect(address: str | None = None) -> None:
    if ray.is_initialized():
        return
    address = address or os.environ.get("RAY_ADDRESS") or "auto"
    try:
        ray.init(address=address, log_to_driver=False)
    except ConnectionError as exc:
        raise RetrievalServiceError(
            f"expected a running Ray cluster at {address!r} (start one with `ray start --head`, or set RAY_ADDRESS): {exc}"
        ) from None
