"""The answer-or-decline decision and the answer line, on hand-made passages."""

import math
from dataclasses import replace
from unittest.mock import patch

from retrieval.answer import (
    BASELINED,
    DECISION,
    REFERENCE,
    Decision,
    Focus,
    best_sentences,
    cite,
    compose,
    features,
    signals,
)
from retrieval.baseline import Baseline
from retrieval.text import sentence_spans
from retrieval.types import Chunk, Passage, Retrieval


def _passage(text: str, n: int = 0, **scores: object) -> Passage:
    chunk = Chunk(source=f"doc{n}.md", title=f"Doc {n}", text=text, start=0, end=len(text))
    cover = scores.pop("sentence_coverage", (0.0,) * len(sentence_spans(text)))
    return Passage(chunk=chunk, chunk_id=f"c{n}", score=1.0, sentence_coverage=cover, **scores)  # type: ignore[arg-type]


STRONG = _passage(
    "会议原定于2012年举行。芬兰赫尔辛基被选为会议举办地。",
    coverage=0.9,
    sentence_coverage=(0.3, 0.9),
    dense=0.93,
    sentence_dense=0.94,
    dense_rank=0,
    lexical_rank=0,
    lexical=12.0,
    missing=0.0,
)
WEAK = _passage(
    "天气预报说明天有雨。",
    n=1,
    coverage=0.05,
    sentence_coverage=(0.05,),
    dense=0.7,
    sentence_dense=0.72,
    dense_rank=0,
    lexical=0.5,
    missing=0.6,
)
# A collection whose unanswerable questions look like WEAK.
BASELINE = Baseline(
    "g",
    (0.1, 0.1, 0.75, 0.77, 0.05, 0.05, 0.5, 0.3, 0.0),
    (0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.3, 0.2, 0.1),
)


def _text(p: Passage, ranked: list[tuple[tuple[int, int], float]]) -> str:
    (start, end), _ = ranked[0]
    return p.chunk.text[start:end]


def test_decision_is_monotonic_in_each_positive_weight() -> None:
    d = Decision(0.0, (("a", 1.0), ("b", -1.0)))

    def p(a: float, b: float) -> float:
        return d.probability({"a": a, "b": b})

    assert p(2.0, 0.0) > p(1.0, 0.0) > p(0.0, 0.0)
    assert p(0.0, 2.0) < p(0.0, 0.0) == 0.5
    assert 0.0 < p(-1e9, 1e9) < 1e-12  # clipped, no overflow


def test_the_terms_explain_the_confidence() -> None:
    s = signals(Retrieval([STRONG, WEAK]), False, BASELINE)
    names = [name for name, _ in s.terms]
    assert names[0] == "bias" and set(names[1:]) == {n for n, _ in DECISION.weights}
    logit = sum(v for _, v in s.terms)
    assert abs(1 / (1 + math.exp(-logit)) - s.confidence) < 1e-3


def test_a_close_decline_offers_its_passages_and_a_clear_one_nothing() -> None:
    found = Retrieval([STRONG, WEAK])
    s = signals(found, False, BASELINE)
    close_decision = Decision(-sum(v for n, v in s.terms if n != "bias") - 0.5, DECISION.weights)
    clear_decision = Decision(-sum(v for n, v in s.terms if n != "bias") - 9.0, DECISION.weights)
    for decision, offered in ((close_decision, True), (clear_decision, False)):
        with patch("retrieval.answer.DECISION", decision):
            answer = compose("会议在哪里举办？", found, 5, "zh", None, BASELINE)
        assert answer.abstained and answer.citations == [] and answer.answer == ""
        assert bool(answer.closest) is offered
        if offered:
            assert answer.closest[0].source == "doc0.md" and answer.closest[0].highlights


def test_strong_evidence_is_answered_and_weak_declined() -> None:
    strong = compose("会议在哪里举办？", Retrieval([STRONG, WEAK]), 5, "zh", None, BASELINE)
    weak = compose("明天天气怎么样？", Retrieval([WEAK]), 5, "zh", None, BASELINE)
    assert not strong.abstained and strong.citations[0].source == "doc0.md"
    assert weak.abstained and weak.citations == [] and weak.answer == ""
    assert strong.signals and weak.signals
    assert strong.signals.confidence > 0.5 > weak.signals.confidence


def test_nothing_found_is_declined() -> None:
    assert compose("问题", Retrieval([]), 5, "zh").abstained


def test_the_same_scores_weigh_less_in_a_collection_where_they_are_common() -> None:
    found = Retrieval([STRONG])
    lenient = signals(found, False, BASELINE).confidence
    # a collection whose unanswerable questions already score like STRONG
    high = Baseline("g", features(signals(found, False))[:BASELINED], (0.1,) * BASELINED)
    assert signals(found, False, high).confidence < lenient


def test_baseline_reads_only_its_own_features() -> None:
    assert BASELINE.standardize((0.2,) * BASELINED + (0.5, 1.0))[BASELINED:] == (0.5, 1.0)
    assert REFERENCE.standardize((*REFERENCE.mean, 0.3, 0.0)) == (0.0,) * BASELINED + (0.3, 0.0)


def test_answer_line_is_the_sentence_that_covers_the_question() -> None:
    answer = compose("会议在哪里举办？", Retrieval([STRONG]), 5, "zh", None, BASELINE)
    assert answer.answer == "芬兰赫尔辛基被选为会议举办地。"
    ((start, end),) = answer.citations[0].highlights
    assert STRONG.chunk.text[start:end] == answer.answer


def test_sentence_similarity_counts_when_words_cannot_match() -> None:
    # an English question over Chinese text: no word in common, the vectors decide
    p = _passage(
        "会议原定于2012年举行。芬兰赫尔辛基被选为会议举办地。", sentence_coverage=(0.0, 0.0)
    )
    ranked = best_sentences(p, [0.2, 0.6], "Where was the conference to be held?")
    assert _text(p, ranked) == "芬兰赫尔辛基被选为会议举办地。"


def test_answer_line_prefers_a_sentence_offering_what_was_asked() -> None:
    p = _passage("会议讨论了核裁军问题。会议于2019年11月举行。", sentence_coverage=(0.5, 0.5))
    assert _text(p, best_sentences(p, None, "会议是什么时候举行的？")) == "会议于2019年11月举行。"
    p = _passage(
        "The treaty was signed by many states. It was signed in 2006.", sentence_coverage=(0.5, 0.5)
    )
    assert (
        _text(p, best_sentences(p, None, "When was the treaty signed?")) == "It was signed in 2006."
    )
    p = _passage("会议讨论了核裁军问题。会议有三十个国家参加。", sentence_coverage=(0.5, 0.5))
    assert (
        _text(p, best_sentences(p, None, "谁主持了会议？")) == "会议讨论了核裁军问题。"
    )  # no name: a tie


def test_the_line_holds_what_is_asked_not_the_subject_every_passage_names() -> None:
    # term 0 ("嘉兴南站") is the subject: every candidate names it; term 1 ("设施") only one.
    # Each sentence holds half the question, so coverage alone cannot choose.
    station = _passage(
        "嘉兴南站是沪昆客运专线的中间站。站内设施包括站房、雨棚和地下通道。",
        sentence_coverage=(0.5, 0.5),
        sentence_terms=(((0, 0.5),), ((1, 0.5),)),
    )
    others = [
        _passage(text, n, sentence_coverage=(0.5,), sentence_terms=(((0, 0.5),),))
        for n, text in enumerate(("嘉兴南站位于嘉兴市南湖区。", "嘉兴南站于2010年启用。"), 1)
    ]
    question = "嘉兴南站的站内设施"
    line, _, _ = cite(question, Retrieval([station, *others]), 5)
    assert line == "站内设施包括站房、雨棚和地下通道。"
    alone = Focus.of([station])  # one passage: each term is held by one of its two sentences
    assert alone.share(((0, 0.5),)) == alone.share(((1, 0.5),)) > 0.0
    focus = Focus.of([station, *others])
    assert focus.share(((1, 0.5),)) == 0.5  # held by one candidate alone: its full share
    assert focus.share(((0, 0.5),)) < 0.25  # held by three of four


def test_a_sentence_pointing_back_brings_its_antecedent() -> None:
    text = "特别室用于高压氧治疗。这些设备有时被用来治疗一氧化碳中毒。"
    p = _passage(text, sentence_coverage=(0.0, 0.8), coverage=0.8)
    line, _, _ = cite("什么设备用于治疗一氧化碳中毒？", Retrieval([p]), 5)
    assert line == text


def test_a_sentence_that_leads_in_runs_on_into_the_next() -> None:
    steps = "第一步，烯丙基氯与次氯酸发生氢氯化反应，得到两个混合的醇，第二步，将混合醇与碱反应生成环氧化物。"
    lead = "环氧氯丙烷是通过两步反应制备的。"
    p = _passage(lead + steps, sentence_coverage=(0.9, 0.1), coverage=0.9)
    assert cite("环氧氯丙烷是怎样制备的？", Retrieval([p]), 5)[0] == lead + steps  # short
    told = "The zone was proposed by Egypt and Iran in 1974 at the General Assembly."
    it = " It was extended in 1990 to all weapons of mass destruction."
    p = _passage(told + it, sentence_coverage=(0.9, 0.1), coverage=0.9)
    assert cite("Who proposed the zone?", Retrieval([p]), 5)[0] == told + it  # points back
    other = " The Conference on Disarmament meets in Geneva every year."
    p = _passage(told + other, sentence_coverage=(0.9, 0.1), coverage=0.9)
    assert cite("Who proposed the zone?", Retrieval([p]), 5)[0] == told  # stands alone
    p = _passage(lead + "\n\n" + steps, sentence_coverage=(0.9, 0.1), coverage=0.9)
    assert cite("环氧氯丙烷是怎样制备的？", Retrieval([p]), 5)[0] == lead  # another paragraph


def test_a_question_is_crosslingual_by_its_best_passage_s_document() -> None:
    zh = _passage("会议原定于2012年举行。", 0, sentence_dense=0.80)
    en = _passage("The conference was planned for 2012.", 1, sentence_dense=0.85, language="en")
    # English over an English document: the similarity needs no cross-lingual allowance
    assert not signals(Retrieval([zh, en]), True).crosslingual
    assert signals(Retrieval([zh]), True).crosslingual
    assert signals(Retrieval([en]), False).crosslingual
    assert not signals(Retrieval([zh]), False).crosslingual


def test_a_footnote_s_similarity_does_not_count_as_evidence() -> None:
    body = _passage("会议原定于2012年举行。", 0, sentence_dense=0.80)
    note = replace(
        _passage("Kaye, A Reset for Regional Arms Control?", 1, sentence_dense=0.95),
        chunk=Chunk("doc1.md", "Doc 1", "Kaye, A Reset?", 0, 14, footnote=True),
    )
    assert signals(Retrieval([note, body]), True).sentence_top == 0.80
    assert signals(Retrieval([note]), True).sentence_top == 0.95  # nothing else to read
