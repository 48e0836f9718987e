"""The written-answer verifier on hand-made sentences: what stands in its passages passes."""

from retrieval.verify import check, cites, facts, normalise

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


def test_a_swapped_name_or_a_quote_from_elsewhere_fails() -> None:
    verdict = check("会议由埃及常驻代表主持[1]。", PASSAGES)
    assert not verdict.verified and "埃及" in verdict.why
    assert not check("会议通过了“无核武器区条约”[1]。", PASSAGES).verified


def test_a_wrong_or_missing_citation_fails() -> None:
    assert not check("会议由科威特常驻代表主持[2]。", PASSAGES).verified  # [2] does not say it
    assert "does not have" in check("会议由科威特常驻代表主持[3]。", PASSAGES).why
    assert check("会议由科威特常驻代表主持。", PASSAGES).why == "cites no passage"


def test_facts_are_what_a_reader_could_check() -> None:
    kinds = {(f.kind, f.text) for f in facts("王毅在“无核武器区”会议上发言，共有3个国家[1]。")}
    assert {("quote", "无核武器区"), ("number", "3"), ("name", "王毅")} <= kinds
    assert ("number", "1") not in kinds  # the citation is not a fact
