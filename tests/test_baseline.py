"""A collection's baseline: measured from clauses searched without their own document."""

from pathlib import Path

import pytest

from retrieval.baseline import MAX_SPREADS, MIN_SPREAD, Baseline, clause, measure
from retrieval.types import Chunk


def _chunk(source: str, text: str) -> Chunk:
    return Chunk(source=source, title=source, text=text, start=0, end=len(text))


def test_clause_is_question_sized() -> None:
    text = "第一句话。会议讨论了很多问题，包括无核武器区的建立和消极安全保证的法律形式。最后一句。"
    assert clause(text) == "包括无核武器区的建立和消极安全保证的法律形式"[:24]
    words = "The conference, which many states attended, discussed a long list of items again and again."
    assert len(clause(words).split()) <= 10


def test_measure_searches_each_clause_without_its_document() -> None:
    chunks = [
        _chunk(f"d{i % 3}.md", f"文档{i}的第一句。这是第{i}段，内容各不相同，长短也不一样。")
        for i in range(9)
    ]
    asked: list[tuple[str, str]] = []

    def features_without(probes: list[tuple[str, str]]) -> list[tuple[float, ...]]:
        asked.extend(probes)
        return [(float(n), 0.5, 9.0) for n in range(1, len(probes) + 1)]

    baseline = measure(chunks, "g1", features_without, size=2)
    assert baseline is not None and len(asked) == 9
    assert all(question in c.text for (question, _), c in zip(asked, chunks, strict=True))
    assert [s for _, s in asked] == [c.source for c in chunks]
    assert baseline.mean == (5.0, 0.5) and baseline.spread[1] == MIN_SPREAD


def test_one_or_two_documents_have_no_baseline() -> None:
    chunks = [_chunk("only.md", "一句话。另一句话，稍长一些。")] * 3
    assert measure(chunks, "g", lambda probes: [(1.0,)] * len(probes), size=1) is None
    two = [*chunks, _chunk("other.md", "别的文档。另一句话，稍长一些。")]
    assert measure(two, "g", lambda probes: [(1.0,)] * len(probes), size=1) is None


def test_a_reading_far_off_a_narrow_baseline_counts_a_bounded_amount() -> None:
    narrow = Baseline("g", (0.75,), (0.02,))
    assert narrow.standardize((0.0, 0.3)) == (-MAX_SPREADS, 0.3)
    assert narrow.standardize((0.79, 0.3)) == (pytest.approx(2.0), 0.3)


def test_saved_baseline_is_read_back_only_for_its_generation(tmp_path: Path) -> None:
    path = tmp_path / "index" / "baseline.json"
    Baseline("g1", (0.1, 0.2), (0.3, 0.4)).save(path)
    assert Baseline.load(path, "g1") == Baseline("g1", (0.1, 0.2), (0.3, 0.4))
    assert Baseline.load(path, "g2") is None
    path.write_text("{broken", "utf-8")
    assert Baseline.load(path, "g1") is None
