"""Telegram HTML from styled runs: escaped, split under the size limit.

Text is kept as styled runs until the last moment; every run renders as its own balanced tag,
so a message can be cut between any two runs, or inside a run at a sentence end, and still
parse. Lengths are counted in UTF-16 code units of the HTML itself, the strictest reading of
Telegram's 4096-character limit.
"""

import html
import re

from bot.render import Block, Run

LIMIT = 4096
_SENTENCE_CUT = re.compile(r"(?<=[。！？；!?;\n])|(?<=\.)(?=\s)")


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
