"""English words to a collection's Chinese words, through the bundled CC-CEDICT."""

from pathlib import Path

from retrieval.bilingual import build_lexicon, query_terms, stem
from retrieval.lexical import Record, open_index
from retrieval.question import kind, offers
from retrieval.types import Chunk


def test_stem_joins_inflections() -> None:
    assert stem("conferences") == stem("conference") == "conference"
    assert stem("held") == "held" and stem("treaties") == "treaty"
    assert stem("signed") == stem("signing") == stem("signs") == "sign"


def test_lexicon_keeps_only_the_collections_words() -> None:
    vocabulary = {"会议": 9, "举办": 3, "城市": 2, "赫尔辛基": 1, "条约": 4}
    lexicon = build_lexicon(vocabulary, vocabulary)
    assert "会议" in lexicon["conference"] and "城市" in lexicon["city"]
    assert "条约" in lexicon["treaty"]
    assert all(word in vocabulary for words in lexicon.values() for word in words)


def test_query_terms_group_translations_and_keep_numbers() -> None:
    vocabulary = {"会议": 9, "城市": 2, "2012": 1}
    lexicon = build_lexicon(vocabulary, vocabulary)
    terms = query_terms(["conference", "city", "2012", "1999", "zzyzx"], lexicon, vocabulary)
    assert terms[0] >= {"会议"} and terms[1] >= {"城市"}
    # a number the collection lacks stays a term no passage can hold; an unknown word goes
    assert frozenset({"2012"}) in terms and frozenset({"1999"}) in terms and len(terms) == 4


def test_question_kinds_in_both_languages() -> None:
    assert kind("会议是什么时候举行的？") == kind("When was it held?") == "when"
    assert kind("谁在超级碗上演唱了国歌？") == kind("Who sang the anthem?") == "who"
    assert kind("中东会议原定在哪个城市举办？") == kind("Where was it held?") == "where"
    assert kind("开了几次会？") == kind("How many sessions were held?") == "number"
    assert kind("会议为什么没有开成？") == kind("Why was it not held?") == "why"
    assert kind("介绍一下消极安全保证") == ""


def test_a_sentence_offers_only_what_the_question_lacks() -> None:
    assert offers("number", "黑豹队的防守只丢了308分。", "第50届超级碗黑豹队丢了多少分？")
    assert not offers("number", "第50届超级碗在圣克拉拉举行。", "第50届超级碗黑豹队丢了多少分？")
    assert offers("who", "女神卡卡献唱了国歌。", "谁演唱了国歌？")
    assert offers("why", "会议没有召开，因为各方未能商定议程。", "为什么没有召开？")
    assert not offers("", "任何句子。", "问题")


def test_english_words_find_chinese_passages_through_the_lexicon(tmp_path: Path) -> None:
    chunks = [
        Chunk(source="a.md", title="A", text="会议在赫尔辛基举行。", start=0, end=10),
        Chunk(source="b.md", title="B", text="天气预报说明天下雨。", start=0, end=10),
    ]
    index = open_index(tmp_path)
    index.apply([], [Record("a", chunks[0]), Record("b", chunks[1])], "g1")
    terms = index.terms(["conference"], translate=True)
    assert terms and all(len(t) >= 1 for t in terms)
    assert [cid for cid, _ in index.top(terms, None, 10)] == ["a"]
    assert index.weights(terms).share(frozenset({"会议"})) == 1.0
