"""Follow-up questions: the gate and the resolution on hand-made turns, and `citeqa chat --json`."""

import json

import pytest

from retrieval.conversation import Conversation, Turn, is_followup, resolve, salient
from retrieval.settings import Settings
from retrieval.types import Answer, Citation
from tests.test_cli import _run

FIRST = Turn("无大规模毁灭性武器区会议第一届会议是什么时候举行的？", ("npt.txt", "a.txt"))


@pytest.mark.parametrize(
    "question",
    [
        "第二届呢？",
        "那次会议为什么没有开成？",
        "它的投票结果如何？",
        "该集团认为什么是唯一绝对保证？",
        "Why was it never held?",
        "And the second one?",
        "What about Qatar?",
        "When was the second one held?",
        "Why?",
    ],
)
def test_follow_ups_are_recognised(question: str) -> None:
    assert is_followup(question)


@pytest.mark.parametrize(
    "question",
    [
        "土库曼斯坦批准了哪些国际公约？",
        "菲律宾代表发言那天是菲律宾独立多少周年？",  # 那天 points inside the question
        "其他国家如何看待消极安全保证？",
        "谁是主席？",  # short, but names its own subject
        "What are negative security assurances?",
        "What is NATO?",
        "Which treaty created the Central Asian nuclear-weapon-free zone?",
    ],
)
def test_questions_that_stand_alone_come_back_untouched(question: str) -> None:
    assert not is_followup(question)
    assert resolve(question, [FIRST]).text == question
    assert resolve(question, [FIRST]).prefer == ()


def test_a_follow_up_carries_the_subject_and_favours_the_cited_document() -> None:
    resolved = resolve("第二届呢？", [FIRST])
    assert resolved.text.endswith("，第二届呢？")
    assert "会议" in resolved.text and "武器" in resolved.text
    assert "第一届" not in resolved.text  # 第二届 takes its place
    assert resolved.prefer == ("npt.txt",)


def test_an_english_follow_up_keeps_names_and_drops_what_was_asked() -> None:
    turn = Turn("Which treaty did the Group of 21 welcome in 2019?")
    resolved = resolve("Why was it signed?", [turn])
    assert resolved.text == "Group 21 2019 Why was it signed?"
    assert [w for w, _ in salient("中东会议原定在哪个城市举办？")] == ["中东", "会议"]


def test_rare_words_are_carried_first_and_only_a_few() -> None:
    turn = Turn("古巴 挪威 卡塔尔 巴拿马 西班牙 土库曼斯坦 的立场？")
    rarity = {"古巴": 1.0, "挪威": 5.0, "卡塔尔": 2.0, "巴拿马": 4.0, "西班牙": 3.0}.get
    resolved = resolve("它们呢？", [turn], lambda w: rarity(w, 0.0))
    assert resolved.text == "挪威卡塔尔巴拿马西班牙，它们呢？"


def test_no_history_means_no_context() -> None:
    assert resolve("第二届呢？", []).text == "第二届呢？"


def test_a_conversation_is_bounded_and_forgets_when_idle() -> None:
    conversation = Conversation(size=2, idle=60)
    for n in range(3):
        answer = Answer(f"q{n}", f"a{n}", False, [Citation(1, "d.txt", "D", "", "t", 1.0, 0, 1)])
        conversation.add(answer, now=100.0 + n)
    assert [t.asked_as for t in conversation.history(now=110.0)] == ["q1", "q2"]
    assert conversation.history(now=110.0)[-1] == Turn("q2", ("d.txt",), "a2")
    assert conversation.history(now=200.0) == []


def test_chat_json_keeps_the_conversation_and_new_starts_over(hashed: Settings) -> None:
    lines = [
        "无大规模毁灭性武器区会议第一届会议是什么时候举行的？",
        "第二届呢？",
        "/new",
        "第二届呢？",
        "",
        "x" * 5000,
    ]
    out = _run(hashed, "chat", "--json", stdin="\n".join(lines) + "\n")
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(replies) == 4  # /new and the empty line print nothing
    first, follow, fresh, long = replies
    assert first["asked_as"] == first["question"]
    assert follow["asked_as"] != "第二届呢？" and follow["asked_as"].endswith("第二届呢？")
    assert "会议" in follow["asked_as"]
    assert fresh["asked_as"] == "第二届呢？"
    assert set(first) >= {"question", "answer", "abstained", "citations", "signals"}
    assert "too long" in long["error"]
