"""Properties that must hold for any input: cleaning, chunking, questions, Telegram splitting."""

import re

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bot.render import Block, Run
from bot.telegram_html import LIMIT, split, utf16_len
from ingest.chunking import Document, chunk
from ingest.clean import is_furniture, render, text_blocks
from retrieval.errors import BadQuestion
from retrieval.qa import clean_question
from retrieval.text import sentence_spans, squash
from tests.botapi import visible

# Chinese and English words, sentence ends, white space and characters that break naive code.
PIECES = st.sampled_from(
    ["会议", "中东", "无核武器区", "的", "立场", "2012年", "Treaty", "zone", "of", "the", "A/67",
     "。", "，", "！", "？", "；", ". ", ", ", "? ", " ", "  ", "\t", "“", "”", "（", "）",
     "😀", "e\u0301", "\u200b", "<b>", "&amp;", "x&y", "1.5", "\u3000"]
)  # fmt: skip
LINES = st.lists(st.lists(PIECES, min_size=1, max_size=30).map("".join), max_size=12)
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _raw(lines: list[str], blank_every: int) -> str:
    out = []
    for i, line in enumerate(lines):
        out.append(line)
        if blank_every and i % blank_every == blank_every - 1:
            out.append("")
    return "\n".join(out)


@PROPERTY
@given(LINES, st.integers(0, 4))
def test_cleaning_keeps_every_block_verbatim_in_the_source(lines: list[str], blank: int) -> None:
    assume(not any(is_furniture(line) for line in lines))
    raw = _raw(lines, blank)
    blocks = text_blocks(raw)
    source = squash(raw.replace("\u200b", ""))
    for b in blocks:
        assert b.text and b.text == b.text.strip() and "\n\n" not in b.text
        assert squash(b.text) in source


@PROPERTY
@given(LINES, st.integers(0, 4))
def test_chunks_point_at_their_text_and_never_cut_a_sentence(lines: list[str], blank: int) -> None:
    assume(not any(is_furniture(line) for line in lines))
    blocks = text_blocks(_raw(lines, blank))
    text = render(blocks)
    chunks = chunk(Document("doc.txt", "Doc", blocks))
    starts, ends, sentences = set(), set(), []
    offset = 0
    for b in blocks:
        for s, e in sentence_spans(b.text) if b.kind != "heading" else []:  # headings are locators
            starts.add(offset + s)
            ends.add(offset + e)
            sentences.append((offset + s, offset + e))
        offset += len(b.text) + 2
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert c.start in starts and c.end in ends
    for s, e in sentences:  # every sentence is whole inside some chunk
        assert any(c.start <= s and e <= c.end for c in chunks)


@PROPERTY
@given(st.text(max_size=300), st.integers(10, 200))
def test_a_question_is_cleaned_or_refused_with_a_message(text: str, limit: int) -> None:
    try:
        cleaned = clean_question(text, limit)
    except BadQuestion as e:
        assert str(e)
        return
    assert cleaned == cleaned.strip() and "  " not in cleaned and len(cleaned) <= limit
    assert not re.search(r"[\x00-\x1f\x7f\u200b\u2028\u2029]", cleaned)
    assert any(c.isalnum() for c in cleaned)


RUNS = st.lists(
    st.builds(
        Run,
        st.lists(PIECES | st.text(max_size=40), max_size=60).map("".join),
        st.sampled_from(["", "b", "i", "code"]),
    ),
    min_size=1,
    max_size=6,
)


@PROPERTY
@given(st.lists(RUNS, min_size=1, max_size=8), st.sampled_from([64, 300, LIMIT]))
def test_telegram_messages_fit_parse_and_lose_no_text(blocks: list[Block], limit: int) -> None:
    messages = split(blocks, limit)
    for m in messages:
        assert utf16_len(m) <= limit
    shown = "".join(visible(m) for m in messages)
    sent = "".join(r.text for b in blocks for r in b)
    assert re.sub(r"\s", "", shown) == re.sub(r"\s", "", sent)


def test_a_long_answer_splits_under_telegram_s_limit() -> None:
    long = [[Run("无核武器区会议。" * 800, "b")], [Run("<&> " * 3000)]]
    messages = split(long)
    assert len(messages) > 2 and all(utf16_len(m) <= LIMIT for m in messages)
    assert "".join(visible(m) for m in messages).count("无核武器区会议。") == 800


@pytest.mark.parametrize("question", ["\u202e\u0000", "？？？", " " * 50])
def test_questions_without_words_are_refused(question: str) -> None:
    with pytest.raises(BadQuestion):
        clean_question(question, 100)
