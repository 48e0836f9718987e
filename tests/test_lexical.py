"""The keyword index in SQLite: BM25 as bm25s scores it, updated in place, synced to the store."""

import random
from pathlib import Path

import bm25s
import numpy as np
import pytest

from ingest.pipeline import Ingester
from retrieval.lexical import DATABASE, EMPTY, LexicalIndex, Record, open_index
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.text import tokenize
from retrieval.types import Chunk
from tests.conftest import make_settings
from tests.test_ingest import _Dies

WORDS = [
    "会议",
    "条约",
    "核武器",
    "安全",
    "保证",
    "裁军",
    "中东",
    "无核",
    "区域",
    "国家",
    "决议",
    "审议",
    "大会",
    "谈判",
    "核查",
]


def _records(n: int, seed: int, prefix: str = "c") -> list[Record]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text = "".join(rng.choice(WORDS) for _ in range(rng.randint(1, 12))) + "。"
        source = f"{prefix}{i % 4}.md"
        out.append(Record(f"{prefix}{i}", Chunk(source, source.upper(), text, i * 10, i * 10 + 9)))
    return out


def _bm25s_scores(records: list[Record], query: list[str]) -> dict[str, float]:
    """The scores bm25s gives, over the same tokens, for reference."""
    tokens = [tokenize(r.chunk.text) or [EMPTY] for r in records]
    model = bm25s.BM25()
    model.index(tokens, show_progress=False)
    scores = model.get_scores(query)
    return {r.id: float(s) for r, s in zip(records, scores, strict=True) if s > 0}


def _top(index: LexicalIndex, query: list[str]) -> dict[str, float]:
    terms = index.terms(query, translate=False)
    return dict(index.top(terms, query, 1000))


@pytest.mark.parametrize("query", [["会议", "条约"], ["核武器", "核武器", "谈判"], ["不在"]])
def test_scores_are_those_of_bm25s(tmp_path: Path, query: list[str]) -> None:
    records = _records(60, seed=1)
    index = open_index(tmp_path)
    index.apply([], records, "g")
    ours, theirs = _top(index, query), _bm25s_scores(records, query)
    assert ours.keys() == theirs.keys()
    assert np.allclose([ours[k] for k in theirs], list(theirs.values()), rtol=1e-5)


def test_an_update_in_place_scores_like_a_fresh_build(tmp_path: Path) -> None:
    first, more = _records(80, seed=2), _records(30, seed=3, prefix="d")
    index = open_index(tmp_path / "a")
    index.apply([], first, "g1")
    gone = {r.id for r in first[::3]}
    index.apply(gone, more, "g2")
    final = [r for r in first if r.id not in gone] + more
    fresh = open_index(tmp_path / "b")
    fresh.apply([], final, "g2")
    assert len(index) == len(fresh) == len(final) and index.generation == "g2"
    for query in (["会议"], ["中东", "无核", "区域"], ["审议", "大会", "决议", "核查"]):
        updated, built = _top(index, query), _top(fresh, query)
        assert updated.keys() == built.keys() and updated.keys().isdisjoint(gone)
        assert np.allclose([updated[k] for k in built], list(built.values()), rtol=1e-5)
        assert index.idf(query[0]) == pytest.approx(fresh.idf(query[0]))


def test_an_open_reader_sees_a_committed_update(tmp_path: Path) -> None:
    writer = open_index(tmp_path)
    writer.apply([], _records(10, seed=4), "g1")
    reader = LexicalIndex(tmp_path / DATABASE)
    assert len(reader) == 10 and reader.chunk("c3") is not None
    new = Record("n1", Chunk("new.md", "New", "格陵兰冰盖的融化速度。", 0, 11))
    writer.apply(["c3"], [new], "g2")
    assert reader.generation == "g2" and len(reader) == 10
    assert reader.chunk("c3") is None and reader.chunk("n1") == new.chunk
    assert [cid for cid, _ in _top(reader, ["格陵兰"]).items()] == ["n1"]
    assert reader.sources()["new.md"] == "New"


def test_filters_keep_only_the_asked_documents(tmp_path: Path) -> None:
    index = open_index(tmp_path)
    index.apply([], _records(40, seed=5), "g")
    terms = index.terms(["会议"], translate=False)
    only = index.top(terms, ["会议"], 100, source="c1.md")
    without = index.top(terms, ["会议"], 100, exclude="c1.md")
    assert only and all(index.chunk(cid).source == "c1.md" for cid, _ in only)  # type: ignore[union-attr]
    assert without and all(index.chunk(cid).source != "c1.md" for cid, _ in without)  # type: ignore[union-attr]


def test_reingest_of_one_changed_file_leaves_the_other_files_rows(hashed: Settings) -> None:
    path = hashed.index_dir / DATABASE
    index = LexicalIndex(path)
    before = dict(index._db.execute("SELECT id, doc FROM chunks").fetchall())
    doc = hashed.data_dir / "cd-2018-g21-negative-security-assurances.txt"
    doc.write_text(doc.read_text("utf-8") + "\n 19. 本集团关注格陵兰冰盖。 \n", "utf-8")
    Ingester(hashed, progress=False).run()
    rows = index._db.execute("SELECT id, doc, source FROM chunks").fetchall()
    others = {cid: d for cid, d, source in rows if source != doc.name}
    assert others and all(before[cid] == d for cid, d in others.items())  # not rebuilt
    assert any(cid not in before for cid, _, source in rows if source == doc.name)
    passages = QA(hashed).retrieve("格陵兰冰盖").passages
    assert passages and "格陵兰" in passages[0].chunk.text


@pytest.mark.parametrize("damage", ["delete", "garbage"])
def test_a_lost_or_damaged_keyword_index_is_rebuilt_from_the_store(
    hashed: Settings, damage: str
) -> None:
    question = "消极安全保证的国际公约"
    before = QA(hashed).ask(question)
    path = hashed.index_dir / DATABASE
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)
    if damage == "garbage":
        path.write_bytes(b"not a database" * 100)
    after = QA(hashed).ask(question)
    assert after.citations == before.citations and after.answer == before.answer
    assert len(open_index(hashed.index_dir)) > 0


def _ids(settings: Settings) -> set[str]:
    index = open_index(settings.index_dir)
    return {cid for held in index.files().values() for cid in held.ids}


def test_a_large_ingest_applied_in_batches_gives_the_same_index(
    tmp_path: Path, corpus_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = make_settings(tmp_path / "whole", corpus_copy)
    Ingester(whole, progress=False).run()
    monkeypatch.setattr("ingest.pipeline.APPLY_BATCH", 7)
    batched = make_settings(tmp_path / "batched", corpus_copy)
    Ingester(batched, progress=False, flush_chunks=5).run()
    assert _ids(batched) == _ids(whole) == set(Store(batched).ids())
    query = ["消极", "安全", "保证"]
    one, other = open_index(whole.index_dir), open_index(batched.index_dir)
    assert _top(one, query) == pytest.approx(_top(other, query))


def test_an_ingest_interrupted_after_a_batch_is_synced_by_the_next(
    tmp_path: Path, corpus_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = make_settings(tmp_path, corpus_copy)
    monkeypatch.setattr("ingest.pipeline.APPLY_BATCH", 7)
    with pytest.raises(KeyboardInterrupt):
        Ingester(settings, embedder=_Dies("1261次全体会议"), progress=False, flush_chunks=5).run()
    partial = open_index(settings.index_dir)
    assert 0 < len(partial) < len(set(Store(settings).ids())) + 1
    assert partial.generation != Store(settings).info()["generation"]  # not in line
    Ingester(settings, progress=False).run()
    assert _ids(settings) == set(Store(settings).ids())


def test_a_replica_syncs_in_batches(hashed: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    before = QA(hashed).ask("消极安全保证的国际公约")
    for suffix in ("", "-wal", "-shm"):
        (hashed.index_dir / (DATABASE + suffix)).unlink(missing_ok=True)
    monkeypatch.setattr("retrieval.lexical.APPLY_BATCH", 7)
    after = QA(hashed).ask("消极安全保证的国际公约")
    assert after.citations == before.citations
    assert _ids(hashed) == set(Store(hashed).ids())
