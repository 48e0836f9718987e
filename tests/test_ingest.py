"""Ingest into a real Chroma store in a temp dir: upserts, deletions, resumption."""

import json
from pathlib import Path

import numpy as np
import pytest
from langchain_core.embeddings import Embeddings

from ingest.pipeline import Ingester
from retrieval.embeddings import HashingEmbeddings
from retrieval.errors import DataDirError, IndexMismatch, IndexMissing
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.text import sentence_spans
from tests.conftest import make_settings


def test_reingest_of_an_unchanged_collection_embeds_nothing(hashed: Settings) -> None:
    report = Ingester(hashed, progress=False).run()
    assert report.embedded == 0 and not report.indexed and len(report.unchanged) == 5


def test_changed_file_replaces_its_chunks_and_deleted_file_goes(hashed: Settings) -> None:
    data = hashed.data_dir
    before = Store(hashed).collection().count()
    path = data / "cd-2018-g21-negative-security-assurances.txt"
    path.write_text(path.read_text("utf-8") + "\n 17. 本集团新增一段关于南极的声明。 \n", "utf-8")
    (data / "npt-2022-russia-middle-east-wmd-free-zone.txt").unlink()
    report = Ingester(hashed, progress=False).run()
    assert report.indexed == ["cd-2018-g21-negative-security-assurances.txt"]
    assert report.removed == ["npt-2022-russia-middle-east-wmd-free-zone.txt"]
    assert 0 < report.embedded <= 2  # only the new passage and the one it now overlaps
    sources = QA(hashed).sources
    assert "npt-2022-russia-middle-east-wmd-free-zone.txt" not in sources
    assert Store(hashed).collection().count() < before
    # The new passage is indexed (BM25 ranks it first). Not asserted on the fused ranking: with
    # the hashing embedder Chroma's HNSW sometimes misses a vector that replaced a deleted one
    # (seen in 1 run of 4), which is recorded in the scale issue's note for a follow-up.
    passages = QA(hashed).retrieve("本集团关于南极的声明").passages
    found = [p for p in passages if "南极" in p.chunk.text]
    assert found and found[0].lexical_rank == 0


class _Dies(HashingEmbeddings):
    """Fails when asked to embed a text holding `trigger`, like a Ctrl-C half-way."""

    def __init__(self, trigger: str) -> None:
        super().__init__()
        self.trigger = trigger

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if any(self.trigger in t for t in texts):
            raise KeyboardInterrupt
        return super().embed_documents(texts)


def test_interrupted_ingest_is_completed_by_the_next_run(tmp_path: Path, corpus_copy: Path) -> None:
    settings = make_settings(tmp_path, corpus_copy)
    with pytest.raises(KeyboardInterrupt):
        # dies on the third file (files go in name order), in its first passage; each file
        # is written as soon as it is embedded
        dies = _Dies("1261次全体会议")
        Ingester(settings, embedder=dies, progress=False, flush_chunks=1).run()
    report = Ingester(settings, progress=False).run()
    # the two files finished before the interruption are not embedded again
    assert report.unchanged == [
        "a-67-131-multilateralism-disarmament.txt",
        "cd-2018-g21-negative-security-assurances.txt",
    ]
    assert len(report.indexed) == 3 and report.embedded < report.total_chunks
    fresh = make_settings(tmp_path / "fresh", corpus_copy)
    assert Ingester(fresh, progress=False).run().total_chunks == report.total_chunks
    assert len(QA(settings).sources) == 5


def test_interrupted_batched_ingest_loses_only_its_batch(tmp_path: Path, corpus_copy: Path) -> None:
    settings = make_settings(tmp_path, corpus_copy)
    with pytest.raises(KeyboardInterrupt):
        Ingester(settings, embedder=_Dies("1261次全体会议"), progress=False).run()
    report = Ingester(settings, progress=False).run()
    assert len(report.indexed) == 5 and report.embedded == report.total_chunks
    fresh = make_settings(tmp_path / "fresh", corpus_copy)
    assert Ingester(fresh, progress=False).run().total_chunks == report.total_chunks


def test_broken_file_is_reported_and_the_rest_ingested(tmp_path: Path, corpus_copy: Path) -> None:
    (corpus_copy / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    report = Ingester(make_settings(tmp_path, corpus_copy), progress=False).run()
    assert [s for s, _ in report.failed] == ["broken.pdf"]
    assert len(report.indexed) == 5


def test_querying_with_another_embedder_is_refused(hashed: Settings) -> None:
    other: Embeddings = HashingEmbeddings(dims=64)
    other.name = "hashing-64"  # type: ignore[attr-defined]
    with pytest.raises(IndexMismatch, match="citeqa ingest"):
        QA(hashed, embedder=other)
    with pytest.raises(IndexMismatch, match="chunker"):
        QA(hashed, chunker="another-chunker")


def test_missing_index_and_data_dir_are_clear(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, tmp_path / "nowhere")
    with pytest.raises(IndexMissing, match="citeqa ingest"):
        QA(settings)
    with pytest.raises(DataDirError, match="does not exist"):
        Ingester(settings, progress=False).run()
    (tmp_path / "empty").mkdir()
    empty = make_settings(tmp_path, tmp_path / "empty")
    with pytest.raises(DataDirError, match="no documents"):
        Ingester(empty, progress=False).run()


def test_filters_by_document_and_speaker(hashed: Settings) -> None:
    qa = QA(hashed)
    source = qa.resolve_source("g21")
    assert source == "cd-2018-g21-negative-security-assurances.txt"
    found = qa.retrieve("消极安全保证", source=source).passages
    assert found and {p.chunk.source for p in found} == {source}
    passages = qa.retrieve("消极安全保证", speaker="日本").passages
    assert passages and all(p.chunk.state == "日本" for p in passages)


def test_progress_goes_to_the_log_when_there_is_no_terminal(
    tmp_path: Path, corpus_copy: Path
) -> None:
    lines: list[str] = []
    settings = make_settings(tmp_path, corpus_copy)
    report = Ingester(settings, progress=False, log=lines.append, log_every=0.0).run()
    files = len([p for p in corpus_copy.iterdir() if p.name != "README.md"])
    assert len(lines) > files  # a line as each file is read, and as its chunks are written
    read = f"ingest: {files}/{files} files, {report.total_chunks} changed chunks read"
    assert lines[-1].startswith(read)
    assert f"{report.total_chunks} written" in lines[-1]
    assert "chunks/s, ETA 0 s" in lines[-1]


def test_one_big_file_shows_progress_while_its_chunks_are_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    paragraph = "各国代表就消极安全保证发言，主席宣布会议继续进行第{}项议程。"
    text = "\n\n".join(paragraph.format(i) * 3 for i in range(3000))
    (data / "big.txt").write_text(text, "utf-8")
    lines: list[str] = []
    settings = make_settings(tmp_path, data)
    ingester = Ingester(settings, progress=False, log=lines.append, log_every=0.0, flush_chunks=64)
    report = ingester.run()
    inside = [x for x in lines if x.startswith("ingest: 1/1 files") and " 0 written" not in x]
    written = [int(x.split(" written")[0].rsplit(" ", 1)[1]) for x in inside]
    assert len(set(written)) > 3 and max(written) == report.total_chunks  # moved while writing
    assert any(" ETA " in x and "ETA 0 s" not in x for x in inside)


def test_a_small_change_keeps_the_collection_baseline(
    hashed: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = hashed.index_dir / "baseline.json"
    before = json.loads(path.read_text("utf-8"))
    monkeypatch.setattr("ingest.pipeline.BASELINE_KEPT_UNDER", 1.0)
    doc = hashed.data_dir / "cd-2018-g21-negative-security-assurances.txt"
    doc.write_text(doc.read_text("utf-8") + "\n 18. 本集团再补充一句。 \n", "utf-8")
    Ingester(hashed, progress=False).run()
    after = json.loads(path.read_text("utf-8"))
    assert after["generation"] == Store(hashed).info()["generation"] != before["generation"]
    assert after["mean"] == before["mean"] and after["spread"] == before["spread"]
    assert QA(hashed).baseline is not None


class _Counting(HashingEmbeddings):
    """Counts the passages it embeds (not the questions, such as the baseline's)."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.texts += texts
        return super().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return super().embed_documents([text])[0]


def test_each_chunk_keeps_its_sentence_vectors_in_the_store_and_the_keyword_index(
    hashed: Settings,
) -> None:
    qa = QA(hashed)
    chunk_id, chunk = next(
        (cid, c)
        for cid, c in ((r.id, r.chunk) for r in Store(hashed).records())
        if len(sentence_spans(c.text)) >= 3
    )
    sentences = [chunk.text[s:e] for s, e in sentence_spans(chunk.text)]
    expected = np.asarray(HashingEmbeddings().embed_documents(sentences))
    kept = qa.searcher.lexical.vectors([chunk_id], expected.shape[1])[chunk_id]
    assert kept.shape == expected.shape and np.allclose(kept, expected, atol=1e-3)
    stored = next(r for r in Store(hashed).records([chunk_id]))
    assert (
        np.frombuffer(stored.vectors, dtype=np.float16).tobytes()
        == kept.astype(np.float16).tobytes()
    )


def test_a_changed_file_embeds_only_its_new_passages_and_their_sentences(
    hashed: Settings,
) -> None:
    doc = hashed.data_dir / "cd-2018-g21-negative-security-assurances.txt"
    doc.write_text(doc.read_text("utf-8") + "\n 20. 本集团关注北极理事会。 \n", "utf-8")
    counting = _Counting()
    report = Ingester(hashed, embedder=counting, progress=False).run()
    assert report.indexed == [doc.name] and report.reused > 10
    # the new chunk(s) and the sentences they hold that are not a whole chunk
    assert 0 < len(counting.texts) <= 3 * report.embedded
    assert any("北极理事会" in t for t in counting.texts)


def test_an_index_of_an_earlier_layout_is_refused_then_rebuilt(hashed: Settings) -> None:
    Store(hashed).set_info(layout=1)
    with pytest.raises(IndexMismatch, match=r"earlier citeqa.*citeqa ingest"):
        QA(hashed)
    report = Ingester(hashed, progress=False).run()
    assert report.rebuilt and report.embedded == report.total_chunks
    assert QA(hashed).retrieve("消极安全保证").passages


def test_each_document_has_its_language(hashed: Settings) -> None:
    text = "The Antarctic Treaty consultative meeting discussed glaciers. Penguins are protected."
    (hashed.data_dir / "antarctica.md").write_text(f"# Antarctica\n\n{text}\n", "utf-8")
    Ingester(hashed, progress=False).run()
    qa = QA(hashed)
    assert qa.searcher.lexical.language("antarctica.md") == "en"
    assert {qa.searcher.lexical.language(s) for s in qa.sources if s != "antarctica.md"} == {"zh"}
    found = qa.retrieve("What did the Antarctic Treaty meeting discuss about penguins?")
    assert {p.language for p in found.passages if p.chunk.source == "antarctica.md"} == {"en"}
    assert {p.language for p in found.passages if p.chunk.source != "antarctica.md"} <= {"zh"}
