"""Answers as styled runs: the one renderer core that the terminal and Telegram share.

A run is a stretch of text in one style; the terminal prints runs with emphasis for bold
(`bot/terminal.py`) and Telegram sends them as HTML (`bot/telegram_html.py`). What an answer
says, its label, which sentences are marked and how a citation is headed live here only.
"""

from dataclasses import dataclass

from bot.words import SENTENCE_GAP, say
from retrieval.text import Language, sentence_spans
from retrieval.types import Answer, Chunk, Citation, Signals, Written

EXCERPT_CHARS = 320


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of text in one style: '' (plain), 'b', 'i' or 'code'."""

    text: str
    style: str = ""


Block = list[Run]


def marked_runs(
    text: str, highlights: tuple[tuple[int, int], ...], start: int = 0, end: int | None = None
) -> Block:
    """Return text[start:end] verbatim as runs, the highlighted spans bold."""
    end = len(text) if end is None else end
    runs: Block = []
    pos = start
    for s, e in highlights:
        if s >= pos and e <= end:
            runs += [Run(text[pos:s]), Run(text[s:e], "b")]
            pos = e
    return [*runs, Run(text[pos:end])]


def excerpt(citation: Citation, budget: int = EXCERPT_CHARS) -> Block:
    """Return the answering sentences with whole neighbouring sentences, up to `budget`."""
    spans = sentence_spans(citation.text)
    marked = [i for i, span in enumerate(spans) if span in citation.highlights] or [0]
    lo, hi = marked[0], marked[-1]
    size = sum(e - s for s, e in spans[lo : hi + 1])
    while True:
        grown = False
        for i in (hi + 1, lo - 1):
            if 0 <= i < len(spans) and size + spans[i][1] - spans[i][0] <= budget:
                size += spans[i][1] - spans[i][0]
                lo, hi = min(lo, i), max(hi, i)
                grown = True
        if not grown:
            break
    start, end = spans[lo][0], spans[hi][1]
    runs: Block = [Run("… ")] if lo > 0 else []
    runs += marked_runs(citation.text, citation.highlights, start, end)
    return runs + ([Run(" …")] if hi < len(spans) - 1 else [])


def answer_line(answer: Answer) -> Block:
    """Return the labelled answer line: the chat model's checked answer when one was
    written, else the extractive answer line."""
    written = answer.written
    shown = written.text if written and written.text else answer.answer
    return [Run(say("answer", answer.language), "b"), Run(shown)]


def written_text(written: Written) -> str:
    """Return, for /why, what the chat model wrote: each sentence kept (✓) or dropped (✗),
    with why, and the time it took."""
    lines = [f"written by {written.model or 'the chat model'} in {written.ms:.0f} ms"]
    if written.note:
        lines.append(written.note)
    for s in written.sentences:
        mark = "✓" if s.verified else "✗"
        lines.append(f"{mark} {s.text}" + (f" ({s.why})" if s.why else ""))
    return "\n".join(lines)


def citation_title(citation: Citation) -> Run:
    """Return the numbered title of a citation."""
    return Run(f"[{citation.n}] {citation.title}", "b")


def citation_head(citation: Citation) -> Block:
    """Return the numbered title line and the locator of a citation."""
    head: Block = [citation_title(citation)]
    if citation.locator:
        head += [Run("\n"), Run(citation.locator, "i")]
    return [*head, Run("\n")]


def answer_blocks(answer: Answer) -> list[Block]:
    """Return the answer line, then each citation's head and excerpt."""
    return [answer_line(answer)] + [citation_head(c) + excerpt(c) for c in answer.citations]


def decline_head(lang: Language, titles: list[str]) -> list[str]:
    """Return the decline and, when there are documents, the line that lists them."""
    return [say("not_found", lang)] + ([say("covers", lang)] if titles else [])


def decline_block(lang: Language, titles: list[str]) -> Block:
    """Return the reply to a question the documents do not answer, with their titles."""
    head = say("not_found", lang) + SENTENCE_GAP[lang] + say("covers", lang)
    return [Run(head), *(Run(f"\n• {t}") for t in titles)]


def passage_blocks(
    chunk: Chunk, lang: Language, highlights: tuple[tuple[int, int], ...] = ()
) -> list[Block]:
    """Return a whole passage, answering sentences bold, with where it stands in its document."""
    position = (
        f"{chunk.source}，第 {chunk.start}–{chunk.end} 字"
        if lang == "zh"
        else f"{chunk.source}, characters {chunk.start}–{chunk.end}"
    )
    head: Block = [Run(chunk.title, "b"), Run("\n")]
    if chunk.locator():
        head += [Run(chunk.locator(), "i"), Run("\n")]
    return [[*head, Run(position, "i")], marked_runs(chunk.text, highlights)]


def citation_score(c: Citation) -> str:
    """Return a cited passage's scores for /why: retrieval, and the reader's best sentence."""
    return f"score {c.score:.3f}" + (f" · reader {c.reader:.3f}" if c.reader is not None else "")


def signals_text(s: Signals, abstained: bool, line: float | None = None) -> str:
    """Return the evidence behind an answer or decline (`line`: the reader's score of the
    answer line's sentence), for /why and the terminal."""
    outcome = "declined" if abstained else "answered"
    terms = "dictionary terms" if s.translated else "question words"
    return (
        f"confidence {s.confidence:.3f} ({outcome})\n"
        f"{terms} covered: passage {s.coverage:.3f} · sentence {s.sentence_coverage:.3f} · "
        f"largest missing {s.missing:.3f}\n"
        f"similarity: passage {s.dense_top:.3f} (+{s.dense_gap:.3f} over the rest) · "
        f"sentence {s.sentence_top:.3f} (+{s.sentence_gap:.3f})\n"
        f"best document: {s.concentration:.0%} of the first ten, sentence margin {s.margin:+.3f}\n"
        f"BM25 top {s.lexical_top:.2f} · dense and BM25 agree: {'yes' if s.agreement else 'no'}\n"
        + (
            f"reader: best sentence {s.reader:.3f}"
            + (f" · answer line {line:.3f}" if line is not None else "")
            if s.reader is not None
            else "reader: not run (it reads the default embedder's vectors only)"
        )
        + (
            "\ndecision (log-odds): " + " · ".join(f"{name} {v:+.2f}" for name, v in s.terms)
            if s.terms
            else ""
        )
    )
