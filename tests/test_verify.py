"""The written-answer verifier on hand-made sentences: what stands in its passages passes."""

from collections import Counter

from retrieval.bilingual import build_lexicon, stem
from retrieval.text import tokenize
from retrieval.transliterate import spelled
from retrieval.verify import Translations, check, cites, facts, normalise, sentences, verify_reply

PASSAGES = [
    "第二届会议于2021年11月29日至12月3日在纽约联合国总部举行，由科威特常驻代表主持。",
    "大会第73/546号决定请秘书长召开一次会议，拟订一项具有法律约束力的文书。",
]


def test_citations_are_read_in_every_form_a_model_writes_them() -> None:
    assert cites("会议在纽约举行[1]。") == (1,)
    assert cites("It met in New York [1][2].") == (1, 2)
    assert cites("It met in New York [2, 1] and again [1].") == (2, 1)
    assert cites("会议在纽约举行【2】。") == (2,)
    assert cites("No citation here.") == ()


def test_forms_of_the_same_fact_compare_equal() -> None:
    assert normalise("２０２１年") == normalise("2021年")  # full width
    assert normalise("二〇二一年") == "2021年"
    assert normalise("1,234 states") == "1234 states"
    assert normalise("一个会议") == "一个会议"  # not a year: left alone


def test_a_sentence_whose_facts_stand_in_its_passage_passes() -> None:
    assert check("第二届会议于2021年11月29日至12月3日举行[1]。", PASSAGES).verified
    assert check("会议由科威特常驻代表主持[1]。", PASSAGES).verified
    assert check("第二届会议于二〇二一年在纽约举行[1]。", PASSAGES).verified
    # an English sentence over the Chinese passage: its numbers and months stand there
    assert check(
        "The second session met from 29 November to 3 December 2021 [1].", PASSAGES
    ).verified


def test_a_changed_number_or_date_fails() -> None:
    verdict = check("第二届会议于2022年11月29日举行[1]。", PASSAGES)
    assert not verdict.verified and "2022" in verdict.why
    assert not check("第二届会议于2021年11月9日举行[1]。", PASSAGES).verified  # 9 is not 29
    assert not check("The session ended on 3 January 2021 [1].", PASSAGES).verified


def test_a_number_must_stand_where_the_passage_states_it_not_only_somewhere() -> None:
    history = "该公司创立于1993年，首任院长为王明。1995年，获准招收本科学生。"
    assert check("该公司创立于1993年[1]。", [history]).verified
    assert check("1995年，该公司获准招收本科学生[1]。", [history]).verified
    # 1995 stands in the passage, but for another event
    verdict = check("该公司创立于1995年，首任院长为王明[1]。", [history])
    assert not verdict.verified and "1995" in verdict.why
    assert not check(
        "It was founded in 1995 by Wang Ming [1].",
        ["It was founded in 1993 by Wang Ming. In 1995 it admitted its first students."],
    ).verified


def test_a_swapped_name_or_a_quote_from_elsewhere_fails() -> None:
    verdict = check("会议由埃及常驻代表主持[1]。", PASSAGES)
    assert not verdict.verified and "埃及" in verdict.why
    assert not check("会议通过了“无核武器区条约”[1]。", PASSAGES).verified
    # an English name that opens a Chinese sentence is a name all the same
    assert not check("Cessna公司于2021年11月29日举行会议[1]。", PASSAGES).verified
    # an empty bracket is not the passage's form of a name
    assert not check("The second session was chaired by Cessna (，) [1].", PASSAGES).verified


def test_a_wrong_or_missing_citation_fails() -> None:
    assert not check("会议由科威特常驻代表主持[2]。", PASSAGES).verified  # [2] does not say it
    assert "does not have" in check("会议由科威特常驻代表主持[3]。", PASSAGES).why
    assert check("会议由科威特常驻代表主持。", PASSAGES).why == "cites no passage"


def test_facts_are_what_a_reader_could_check() -> None:
    kinds = {(f.kind, f.text) for f in facts("王毅在“无核武器区”会议上发言，共有3个国家[1]。")}
    assert {("quote", "无核武器区"), ("number", "3个"), ("name", "王毅")} <= kinds
    assert ("number", "1") not in kinds  # the citation is not a fact
    # a number counts what its unit says: 12 of something else does not hold 12国
    assert not check("共有12国参加[1]。", ["共有12人参加，来自5国。"]).verified


def _lexicon(*texts: str) -> Translations:
    """Return the lookup an index builds: English words to these texts' Chinese words."""
    words = Counter(t for text in texts for t in tokenize(text))
    lexicon = build_lexicon(words, words)
    return lambda english: {stem(w): lexicon[stem(w)] for w in english if stem(w) in lexicon}


def test_an_english_sentence_is_checked_against_chinese_passages_through_the_lexicon() -> None:
    lexicon = _lexicon(*PASSAGES)
    assert check(
        "The session was chaired by the representative of Kuwait [1].", PASSAGES, lexicon
    ).verified
    assert check("Kuwait (科威特) chaired the second session [1].", PASSAGES).verified
    egypt = check("The session was chaired by the representative of Egypt [1].", PASSAGES, lexicon)
    assert not egypt.verified and "Egypt" in egypt.why
    # no figure in it, and its words are not those of the passage
    vague = check("The weather was pleasant and the food delicious [1].", PASSAGES, lexicon)
    assert not vague.verified


def test_a_claim_without_figures_needs_its_words_in_the_passage() -> None:
    assert check("会议由常驻代表主持[1]。", PASSAGES).verified
    assert not check("与会者讨论了气候变化和海洋保护问题[1]。", PASSAGES).verified
    swapped = check("会议在火星举行[1]。", PASSAGES)  # one noun that the passage lacks
    assert not swapped.verified and "火星" in swapped.why


def test_a_reply_is_read_sentence_by_sentence_with_its_citations() -> None:
    reply = "会议在纽约举行[1]。它由科威特主持【1】。\n- It met in New York. [1]\n1. U.S. officials came [2]."
    assert sentences(reply) == [
        "会议在纽约举行[1]。",
        "它由科威特主持【1】。",
        "It met in New York. [1]",
        "U.S. officials came [2].",
    ]
    assert sentences("第一句[1][2]。第二句 [2]") == ["第一句[1][2]。", "第二句 [2]"]


def test_a_wrong_citation_is_corrected_only_when_another_passage_holds_the_sentence() -> None:
    kept = verify_reply("大会第73/546号决定请秘书长召开会议[1]。会议在火星举行[2]。", PASSAGES)
    assert kept[0].verified and kept[0].text == "大会第73/546号决定请秘书长召开会议[2]。"
    assert kept[0].corrected_from == (1,) and kept[0].cites == (2,)
    assert not kept[1].verified and kept[1].corrected_from is None


def test_an_english_name_no_dictionary_holds_is_found_by_its_sound() -> None:
    passage = (
        "林迪斯法恩是一支民谣摇滚乐队，与泰恩赛德有着密切的联系。奥斯卡奖得主玛莉·麦特琳出席。"
    )
    assert spelled(passage, "Tyneside") and spelled(passage, "Matlin")
    assert not spelled(passage, "Dewar") and not spelled(passage, "Kennedy")
    lexicon = _lexicon(passage)
    assert check("Marlee Matlin attended [1].", [passage], lexicon).verified
    james = check("James Dewar attended [1].", [passage], lexicon)
    assert not james.verified and "Dewar" in james.why


def test_a_name_is_looked_up_whole_and_a_decade_or_a_modal_read_as_written() -> None:
    passage = "美国广播公司在70年代初完成了向彩色电视的转变，总部不在巴黎。"
    lexicon = _lexicon(passage)
    assert "美国" in lexicon(["united states"])["unit state"]  # CC-CEDICT: /United States/
    assert "巴黎" in lexicon(["Paris"])["paris"]  # /Paris, capital of France/
    paris = check("The broadcaster of the United States is not in Paris [1].", [passage], lexicon)
    assert paris.verified, paris.why
    decade = check(
        "The change to colour television was completed in the 1970s [1].", [passage], lexicon
    )
    assert decade.verified
    assert not check(
        "The change to colour television came in the 1980s [1].", [passage], lexicon
    ).verified
    # an amount in another scale: 1.5 million as 150万, £30m as 3000万
    people = ["该市人口约150万，预算为3000万英镑。"]
    assert check("The city has about 1.5 million people [1].", people, _lexicon(*people)).verified
    assert not check(
        "The city has about 1.5 billion people [1].", people, _lexicon(*people)
    ).verified
    assert facts("a budget of £30m [1]")[0].forms[-1] == "3000万"
    assert [f.forms for f in facts("a tower 300 m tall [1]")] == [("300",)]  # metres
    assert not [f for f in facts("It may have been the plague [1].") if f.kind == "month"]
    assert [f.forms for f in facts("It met on 3 May [1].") if f.kind == "month"] == [("may", "5月")]
