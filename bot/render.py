"""Plain-text rendering of answers for the terminal."""

from collections.abc import Callable

from retrieval.types import Answer, Citation, Signals

Emphasis = Callable[[str], str]


def mark(citation: Citation, emphasis: Emphasis) -> str:
    """Return the passage text with its answering sentences emphasised."""
    text, out, pos = citation.text, [], 0
    for start, end in citation.highlights:
        out += [text[pos:start], emphasis(text[start:end])]
        pos = end
    out.append(text[pos:])
    return "".join(out)


def not_found(question_is_chinese: bool, titles: list[str]) -> str:
    """Return the reply for a question the documents do not answer."""
    if question_is_chinese:
        head = "文档中没有找到这个问题的答案。"
        tail = "本资料库包含：" if titles else ""
    else:
        head = "The documents do not answer this question."
        tail = "The collection covers:" if titles else ""
    return "\n".join([head, tail, *(f"  - {t}" for t in titles)]).rstrip()


def answer_text(answer: Answer, emphasis: Emphasis, chinese: bool) -> str:
    """Return the answer as terminal text: the answer line, then numbered citations."""
    lines = [("答：" if chinese else "Answer: ") + answer.answer, ""]
    for c in answer.citations:
        where = f"{c.source}, chars {c.start}-{c.end}, score {c.score:.2f}"
        lines.append(f"[{c.n}] {c.title}")
        lines.append(f"    {c.locator or '-'}  ({where})")
        lines.extend("    " + ln for ln in mark(c, emphasis).splitlines() if ln.strip())
        lines.append("")
    return "\n".join(lines).rstrip()


def signals_text(s: Signals, abstained: bool) -> str:
    """Return the evidence behind an answer or decline, for /why and the terminal."""
    outcome = "declined" if abstained else "answered"
    terms = "dictionary terms" if s.translated else "question words"
    return (
        f"confidence {s.confidence:.3f} ({outcome})\n"
        f"{terms} covered: passage {s.coverage:.3f} · sentence {s.sentence_coverage:.3f} · "
        f"largest missing {s.missing:.3f}\n"
        f"similarity: passage {s.dense_top:.3f} (+{s.dense_gap:.3f} over the rest) · "
        f"sentence {s.sentence_top:.3f} (+{s.sentence_gap:.3f})\n"
        f"best document: {s.concentration:.0%} of the first ten, sentence margin {s.margin:+.3f}\n"
        f"BM25 top {s.lexical_top:.2f} · dense and BM25 agree: {'yes' if s.agreement else 'no'}"
    )
