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


def _fitting_prefix(text: str, style: str, limit: int) -> int:
    """Return the longest prefix of `text` that renders within `limit`, cut after a space
    or a comma where one is near its end (not inside an English word)."""
    lo, hi = 1, len(text)  # one character at least: the cut always moves on
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if utf16_len(render([Run(text[:mid], style)])) <= limit:
            lo = mid
        else:
            hi = mid - 1
    near = max(text.rfind(c, 0, lo) for c in " ，,、")
    return near + 1 if near >= lo * 0.9 else lo


class _Messages:
    """Messages filled in order; a sentence that fits in no message is cut to fill one."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # less room than this left in a message, a long sentence starts the next one
        self.min_room = min(200, limit // 4)
        self.done: list[str] = []
        self.current = ""

    def flush(self) -> None:
        if self.current:
            self.done.append(self.current)
        self.current = ""

    def add(self, part: str, glue: str) -> None:
        """Add rendered HTML that fits in one message: here, or at the start of the next."""
        glue = glue if self.current else ""
        if utf16_len(self.current + glue + part) > self.limit:
            self.flush()
            glue = ""
        self.current += glue + part

    def add_text(self, run: Run, glue: str) -> None:
        """Add one sentence of a run: whole where it fits (here or in the next message), else
        cut to fill this message and go on in the next."""
        text = run.text
        while text:
            glue = glue if self.current else ""
            part = render([Run(text, run.style)])
            room = self.limit - utf16_len(self.current + glue)
            if utf16_len(part) <= room:
                self.current += glue + part
                return
            if self.current and (utf16_len(part) <= self.limit or room < self.min_room):
                self.flush()
                continue
            cut = _fitting_prefix(text, run.style, room)
            self.current += glue + render([Run(text[:cut], run.style)])
            self.flush()
            text, glue = text[cut:], ""


def split(blocks: list[Block], limit: int = LIMIT, separator: str = "\n\n") -> list[str]:
    """Pack blocks into as few messages as fit under `limit`, cutting between sentences, and
    inside a sentence only where it is longer than a message (filling the one it starts in)."""
    messages = _Messages(limit)
    for block in blocks:
        rendered = render(block)
        if utf16_len(rendered) <= limit:
            messages.add(rendered, separator)
            continue
        glue = separator
        for run in block:
            for sentence in (t for t in _SENTENCE_CUT.split(run.text) if t):
                messages.add_text(Run(sentence, run.style), glue)
                glue = ""
    messages.flush()
    return messages.done
