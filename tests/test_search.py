"""Rank fusion and the rerank, on hand-made rankings and passages."""

import pytest

from retrieval.search import RANKING, Rerank, fuse, rerank
from retrieval.types import Chunk, Passage


def _passage(cid: str, score: float, footnote: bool = False, **scores: float) -> Passage:
    chunk = Chunk(source="d.md", title="D", text=cid, start=0, end=len(cid), footnote=footnote)
    return Passage(chunk=chunk, chunk_id=cid, score=score, **scores)  # type: ignore[arg-type]


def test_fusion_rewards_agreement_between_rankings() -> None:
    dense = ["a", "b", "c"]
    lexical = ["c", "b", "x"]
    fused = dict(fuse([dense, lexical], [1.0, 1.0], k=60))
    assert fused["b"] == pytest.approx(2 / 62)
    assert fused["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert max(fused, key=lambda c: fused[c]) == "c"  # in both lists beats first in one
    assert fused["x"] < fused["a"]


def test_fusion_weights_scale_a_ranking_and_ties_break_by_id() -> None:
    assert [c for c, _ in fuse([["b"], ["a"]], [1.0, 1.0])] == ["a", "b"]
    assert [c for c, _ in fuse([["b"], ["a"]], [1.0, 0.5])] == ["b", "a"]
    assert fuse([[], []], [1.0, 1.0]) == []
    with pytest.raises(ValueError):
        fuse([["a"]], [1.0, 1.0])


def test_rerank_lifts_a_passage_that_holds_the_question() -> None:
    weights = RANKING.rerank["zh"]
    vague = _passage("vague", 0.032, coverage=0.1, dense=0.4)
    exact = _passage("exact", 0.030, coverage=0.9, sentence_coverage=(0.9,), dense=0.4)
    assert [p.chunk_id for p in rerank([vague, exact], 0.032, weights, 30)] == ["exact", "vague"]


def test_rerank_demotes_footnotes_and_leaves_the_tail_alone() -> None:
    weights = Rerank(passage_coverage=1.0, sentence_coverage=0.0, sentence_dense=0.0, dense=0.0)
    note = _passage("note", 0.03, footnote=True, coverage=0.5)
    body = _passage("body", 0.03, coverage=0.4)
    tail = _passage("tail", 0.01, coverage=1.0)
    ranked = rerank([note, body, tail], 0.03, weights, depth=2)
    assert [p.chunk_id for p in ranked] == ["body", "note", "tail"]


def test_english_questions_weigh_similarity_over_dictionary_terms() -> None:
    zh, en = RANKING.rerank["zh"], RANKING.rerank["en"]
    assert en.sentence_dense > zh.sentence_dense and en.passage_coverage < zh.passage_coverage
    assert RANKING.lexical_weight["en"] < RANKING.lexical_weight["zh"]
    with pytest.raises(TypeError):  # one frozen object: constants cannot drift at run time
        RANKING.rerank["zh"] = en  # type: ignore[index]
