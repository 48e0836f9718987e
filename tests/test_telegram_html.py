"""Telegram HTML rendering and splitting, with hostile passages."""

import pytest

from bot.render import Run, answer_blocks, excerpt
from bot.telegram_html import LIMIT, render, split, utf16_len
from retrieval.types import Answer, Citation
from tests.botapi import visible

HOSTILE = "<script>alert('x')</script> & &amp; <b>not bold</b> 1 < 2 > 0 😀👍🏽 "


def citation(text: str, highlights: tuple[tuple[int, int], ...] = (), n: int = 1) -> Citation:
    return Citation(n, "a.txt", "Title <&>", "发言人(国家)", text, 0.5, 0, len(text), highlights)


def test_render_escapes_everything() -> None:
    html_text = render([Run(HOSTILE), Run(HOSTILE, "b")])
    assert "<script>" not in html_text and "&amp;amp;" in html_text
    assert visible(html_text) == HOSTILE * 2


@pytest.mark.parametrize(
    "text",
    [
        "这是一个很长的句子。" * 2000,  # many short sentences
        "没有标点的超长句子" * 1500,  # one sentence far over the limit
        (HOSTILE + ". ") * 600,  # markup characters that grow when escaped
        "😀" * 5000,  # two UTF-16 units each
    ],
)
def test_split_keeps_every_message_under_the_limit_and_loses_nothing(text: str) -> None:
    blocks = [[Run("答：", "b"), Run(text[:100])], [Run(text, "b")], [Run(text)]]
    messages = split(blocks)
    assert len(messages) > 1
    assert all(utf16_len(m) <= LIMIT for m in messages)
    shown = [visible(m) for m in messages]  # each parses on its own: no tag is cut
    assert "".join(shown).replace("\n\n", "") == ("答：" + text[:100] + text + text).replace(
        "\n\n", ""
    )


def test_split_cuts_between_sentences_when_it_can() -> None:
    sentence = "第" + "长" * 300 + "句。"
    messages = split([[Run(sentence * 40)]])
    assert all(visible(m).endswith("。") for m in messages)


def test_small_blocks_share_one_message() -> None:
    assert split([[Run("a")], [Run("b", "i")]]) == ["a\n\n<i>b</i>"]


def test_excerpt_keeps_whole_sentences_and_bolds_the_answer() -> None:
    sentences = [f"第{i}句话有一些内容。" for i in range(60)]
    text = "".join(sentences)
    start = text.index("第30句")
    end = start + len(sentences[30])
    runs = excerpt(citation(text, ((start, end),)))
    bold = [r.text for r in runs if r.style == "b"]
    assert bold == [sentences[30]]
    body = "".join(r.text for r in runs).strip("… ")
    assert body in text and body.startswith("第") and body.endswith("。")
    assert len(body) <= 330


def test_answer_blocks_escape_titles_and_number_citations() -> None:
    text = HOSTILE + "答案在这里。"
    answer = Answer(
        "q", "答案在这里。", False, [citation(text, ((len(HOSTILE), len(text)),))], language="zh"
    )
    messages = split(answer_blocks(answer))
    shown = visible(messages[0])
    assert shown.startswith("答：答案在这里。")
    assert "[1] Title <&>" in shown and "发言人(国家)" in shown
    assert "<b>答案在这里。</b>" in messages[0]


@pytest.mark.parametrize(
    "sentence",
    ["各国代表就消极安全保证发言" * 400 + "。", ("The delegates spoke at length " * 200) + "."],
    ids=["chinese", "english"],
)
def test_an_answer_line_of_one_huge_sentence_starts_in_the_first_message(sentence: str) -> None:
    answer = Answer(
        "q", sentence, False, [citation(sentence, ((0, len(sentence)),))], language="zh"
    )
    messages = split(answer_blocks(answer))
    first = visible(messages[0])
    assert first.startswith("答：" + sentence[:1000])  # not the heading alone
    assert utf16_len(messages[0]) > LIMIT - 300 and all(utf16_len(m) <= LIMIT for m in messages)
    if " " in sentence:  # an English sentence is cut between words
        assert first.endswith(" ")
