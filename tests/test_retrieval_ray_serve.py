"""The retrieval service on real Ray Serve: the local server's JSON, per-replica batching, search envs on it."""

from __future__ import annotations

import concurrent.futures
import re
import signal
import socket
import subprocess
import sys
import threading

import httpx
import pytest

import turngym
from turngym.agents import OraclePolicy
from turngym.engine import play_episodes
from turngym.envs.search import resources
from turngym.tools.retrieval.client import HTTPRetriever
from turngym.tools.retrieval.corpus import write_corpus
from turngym.tools.retrieval.index import build_index, load_index
from turngym.tools.retrieval.server import RetrievalServer

pytestmark = [pytest.mark.slow, pytest.mark.ray]

ray = pytest.importorskip("ray", reason="needs the [ray] extra (ray[serve])")
serve = pytest.importorskip("ray.serve", reason="needs the [ray] extra (ray[serve])")
ray_serve = pytest.importorskip("turngym.tools.retrieval.ray_serve", reason="needs the [ray] extra (ray[serve])")

NAME = "test-retrieval"
QUERIES = ["capital city", "founded by", "river north", "company headquarters", "born in", "mountain", "Zzzz"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    """A stored BM25 index of MultiHopQA's generated world."""
    tmp = tmp_path_factory.mktemp("ray-retrieval")
    write_corpus(list(resources.generated_world(0, 200).documents), tmp / "world.jsonl")
    build_index(tmp / "world.jsonl", "bm25", tmp / "index", progress=False)
    return tmp / "index"


@pytest.fixture(scope="module")
def service(index_dir):
    """One replica of ``index_dir`` on a local Ray with Serve's proxy on a free port; its ``/retrieve`` URL."""
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    url = ray_serve.deploy_retrieval(
        index_dir, name=NAME, num_replicas=1, num_cpus=0.5, max_batch_size=16, batch_wait_timeout_s=0.05, http_port=free_port()
    )
    yield url
    serve.shutdown()
    if started:
        ray.shutdown()


def health(url: str) -> dict:
    response = httpx.get(url.removesuffix("/retrieve") + "/health", timeout=30)
    response.raise_for_status()
    return response.json()


def test_the_service_answers_the_local_servers_json(index_dir, service):
    bodies = [
        {"queries": QUERIES, "topk": 3, "return_scores": True},
        {"queries": QUERIES[:2], "topk": 5},
        {"queries": QUERIES[:1], "topk": None, "return_scores": True, "unknown": 1},
        {"queries": []},
        {"queries": ["x"], "topk": 1000},
        {"queries": "not a list"},
        [1, 2],
    ]
    with RetrievalServer(load_index(index_dir)) as local:
        for body in bodies:
            ours, theirs = httpx.post(service, json=body, timeout=30), httpx.post(local.url + "/retrieve", json=body, timeout=30)
            assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()), body
        ours = httpx.post(service, content=b"{not json", timeout=30)
        theirs = httpx.post(local.url + "/retrieve", content=b"{not json", timeout=30)
        assert (ours.status_code, ours.json()) == (theirs.status_code, theirs.json()) == (400, theirs.json())
    first = httpx.post(service, json=bodies[0], timeout=30).json()["result"]
    assert len(first) == len(QUERIES) and all(len(row) == 3 for row in first[:-1])
    missing = httpx.get(service.removesuffix("/retrieve") + "/nowhere", timeout=30)
    assert missing.status_code == 404 and "expected POST /retrieve" in missing.json()["detail"]


def test_concurrent_requests_are_merged_into_fewer_batches(index_dir, service):
    before = health(service)
    expected = load_index(index_dir).search_batch(QUERIES, 3)
    jobs = [QUERIES[i % len(QUERIES)] for i in range(48)]
    clients = [httpx.Client(timeout=60) for _ in jobs]
    clients[0].get(service.removesuffix("/retrieve") + "/health")  # warm: the first connection is slow
    ready = threading.Barrier(len(jobs))

    def ask(client: httpx.Client, q: str) -> dict:
        ready.wait()
        return client.post(service, json={"queries": [q], "topk": 3}).json()

    with concurrent.futures.ThreadPoolExecutor(len(jobs)) as pool:
        answers = list(pool.map(ask, clients, jobs))
    for client in clients:
        client.close()
    after = health(service)
    for q, answer in zip(jobs, answers, strict=True):
        ids = [doc["id"] for doc in answer["result"][0]]
        assert ids == [hit.doc_id for hit in expected[QUERIES.index(q)]]
    assert after["requests_served"] - before["requests_served"] == 48
    batches = after["batch_calls"] - before["batch_calls"]
    assert after["search_batch_calls"] - before["search_batch_calls"] == batches  # one k: one search_batch per batch
    # at most 16 requests per batch; measured 3 to 10 on a loaded machine; one request per batch would be 48
    assert 3 <= batches <= 16, batches  # three or more requests per batch on average
    deployment = serve.context._get_global_client().get_serve_details()["applications"][NAME]["deployments"]
    assert deployment["RetrievalReplica"]["deployment_config"]["max_ongoing_requests"] == 2 * 16
    assert after["rss_bytes"] > 50e6 and after["replica"] == before["replica"]


def test_search_envs_play_the_same_episodes_through_the_service_by_name_and_url(index_dir, service):
    def play(retriever, **vector):
        vec = turngym.make_vec("turngym/MultiHopQA-v0", 4, hops=(1, 3), retriever=retriever, **vector)
        try:
            episodes = play_episodes(vec, OraclePolicy(), episodes=12)
        finally:
            vec.close()
        return [(e.task_id, e.rewards, e.reward_parts, e.stop_reason, e.trajectory.messages) for e in episodes]

    local = play(str(index_dir))
    assert sum(rewards[-1] > 0 for _, rewards, *_ in local) >= 10
    by_url = play(service)
    by_name = play(resources.RAY_SERVE_PREFIX + NAME)
    on_ray = play(resources.RAY_SERVE_PREFIX + NAME, mode="ray", ray={"num_actors": 2})  # each actor resolves the name
    assert by_url == local and by_name == local and on_ray == local
    client = resources.make_retriever(resources.RAY_SERVE_PREFIX + NAME, [])
    assert client.url == service and client.calls > 0  # the envs' batched path: HTTPRetriever.search_batch


def test_replicas_and_placement(index_dir, service):
    url = ray_serve.deploy_retrieval(index_dir, name="test-two", num_replicas=2, num_cpus=0.25)
    try:
        status = serve.status().applications["test-two"].deployments["RetrievalReplica"]
        assert status.replica_states.get("RUNNING") == 2
        replicas = {health(url)["replica"] for _ in range(30)}
        assert len(replicas) == 2
        assert (
            httpx.post(url, json={"queries": QUERIES}, timeout=30).json()
            == httpx.post(service, json={"queries": QUERIES}, timeout=30).json()
        )
    finally:
        serve.delete("test-two")


def test_a_missing_service_or_index_says_what_was_expected(tmp_path, service):
    with pytest.raises(ray_serve.RetrievalServiceError, match=f"no Ray Serve application 'nowhere'; running: .*{NAME}"):
        ray_serve.service_url("nowhere")
    with pytest.raises(FileNotFoundError, match="no such index directory"):
        ray_serve.deploy_retrieval(tmp_path / "none", name="never")
    with pytest.raises(ValueError, match="num_replicas >= 1"):
        ray_serve.deploy_retrieval(tmp_path, name="never", num_replicas=0)


def test_cli_deploys_on_a_running_cluster_until_a_signal(index_dir, service):
    address = ray.get_runtime_context().gcs_address
    command = [sys.executable, "-m", "turngym", "serve", "retriever", "--index", str(index_dir), "--ray", address]
    command += ["--name", "test-cli", "--num-cpus", "0.25", "--max-batch-size", "8"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(120, proc.kill)  # a deploy that never prints its banner must not hang the suite
    watchdog.start()
    try:
        banner = proc.stdout.readline()
        match = re.search(r"'test-cli' on Ray Serve at (\S+/test-cli/retrieve) .*retriever='ray-serve:test-cli'", banner)
        assert match, (banner, proc.stderr.read() if proc.poll() is not None else "")
        with HTTPRetriever(match.group(1)) as remote:
            assert remote.search_batch(QUERIES, 3) == load_index(index_dir).search_batch(QUERIES, 3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        watchdog.cancel()
        proc.kill()
    assert proc.returncode == 0, err
    assert "shutting down" in out
    assert "test-cli" not in serve.status().applications and NAME in serve.status().applications
