"""Telegram HTML for answers: escaped, bold answering sentences, split under the size limit.

Text is kept as styled runs until the last moment; every run renders as its own balanced tag,
so a message can be cut between any two runs, or inside a run at a sentence end, and still
parse. Lengths are counted in UTF-16 code units of the HTML itself, the strictest reading of
Telegram's 4096-character limit.
"""

import html
import re
from dataclasses import dataclass

from retrieval.text import sentence_spans
from retrieval.types import Answer, Chunk, Citation

LIMIT = 4096
EXCERPT_CHARS = 320
_SENTENCE_CUT = re.compile(r"(?<=[。！？；!?;\n])|(?<=\.)(?=\s)")


@dataclass(frozen=True, slots=True)
class Run:
    """A stretch of text in one style: '' (plain), 'b', 'i' or 'code'."""

    text: str
    style: str = ""


Block = list[Run]


def utf16_len(text: str) -> int:
    """Return the length Telegram counts: UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def render(runs: Block) -> str:
    """Return runs as Telegram HTML, every character escaped."""
    return "".join(
        f"<{r.style}>{html.escape(r.text, quote=False)}</{r.style}>"
        if r.style
        else html.escape(r.text, quote=False)
        for r in runs
        if r.text
    )


def _pieces(run: Run, limit: int) -> list[Run]:
    """Cut a run at sentence ends, and a sentence that alone exceeds `limit` anywhere."""
    out: list[Run] = []
    for sentence in (s for s in _SENTENCE_CUT.split(run.text) if s):
        while utf16_len(render([Run(sentence, run.style)])) > limit:
            cut = _fitting_prefix(sentence, run.style, limit)
            out.append(Run(sentence[:cut], run.style))
            sentence = sentence[cut:]
        out.append(Run(sentence, run.style))
    return out


def _fitting_prefix(text: str, style: str, limit: int) -> int:
    lo, hi = 1, len(text)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if utf16_len(render([Run(text[:mid], style)])) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def split(blocks: list[Block], limit: int = LIMIT, separator: str = "\n\n") -> list[str]:
    """Pack blocks into as few messages as fit under `limit`, cutting only between sentences."""
    messages: list[str] = []
    current = ""
    for block in blocks:
        rendered = render(block)
        if utf16_len(rendered) > limit:
            parts = [render([p]) for r in block for p in _pieces(r, limit)]
        else:
            parts = [rendered]
        for i, part in enumerate(parts):
            glue = separator if (i == 0 and current) else ""
            if current and utf16_len(current + glue + part) > limit:
                messages.append(current)
                current, glue = "", ""
            current += glue + part
    if current:
        messages.append(current)
    return messages


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


def citation_head(citation: Citation) -> Block:
    """Return the numbered title line and the locator of a citation."""
    head: Block = [Run(f"[{citation.n}] {citation.title}", "b")]
    if citation.locator:
        head += [Run("\n"), Run(citation.locator, "i")]
    return [*head, Run("\n")]


def answer_blocks(answer: Answer, chinese: bool) -> list[Block]:
    """Return the answer line, then each citation's head and excerpt."""
    label = "答：" if chinese else "Answer: "
    blocks: list[Block] = [[Run(label, "b"), Run(answer.answer)]]
    blocks += [citation_head(c) + excerpt(c) for c in answer.citations]
    return blocks


def passage_blocks(
    chunk: Chunk, chinese: bool, highlights: tuple[tuple[int, int], ...] = ()
) -> list[Block]:
    """Return a whole passage, answering sentences bold, with where it stands in its document."""
    position = (
        f"{chunk.source}，第 {chunk.start}–{chunk.end} 字"
        if chinese
        else f"{chunk.source}, characters {chunk.start}–{chunk.end}"
    )
    head: Block = [Run(chunk.title, "b"), Run("\n")]
    if chunk.locator():
        head += [Run(chunk.locator(), "i"), Run("\n")]
    return [[*head, Run(position, "i")], marked_runs(chunk.text, highlights)]
