"""Answers as plain terminal text, from the runs of `bot/render.py`."""

import math
import shutil
import threading
import unicodedata
from collections.abc import Callable
from typing import TextIO

from bot.render import Block, answer_line, citation_title, decline_head, marked_runs
from bot.words import say
from retrieval.text import Language
from retrieval.types import Answer, Citation

Emphasis = Callable[[str], str]


def plain(runs: Block, emphasis: Emphasis) -> str:
    """Return runs as text, bold runs through `emphasis`."""
    return "".join(emphasis(r.text) if r.style == "b" else r.text for r in runs)


def not_found(lang: Language, titles: list[str]) -> str:
    """Return the reply for a question the documents do not answer."""
    return "\n".join([*decline_head(lang, titles), *(f"  - {t}" for t in titles)])


def answer_text(answer: Answer, emphasis: Emphasis) -> str:
    """Return the answer as terminal text: the answer line, then numbered citations."""
    return "\n".join(
        [plain(answer_line(answer), str), "", citations_text(answer.citations, emphasis)]
    )


def closest_text(answer: Answer, emphasis: Emphasis) -> str:
    """Return a decline's closest passages under their heading: not an answer."""
    heading = say("closest_heading", answer.language)
    return "\n".join([heading, "", citations_text(answer.closest, emphasis)])


def citations_text(citations: list[Citation], emphasis: Emphasis) -> str:
    """Return numbered citations as terminal text."""
    lines = []
    for c in citations:
        where = f"{c.source}, chars {c.start}-{c.end}, score {c.score:.2f}"
        lines.append(citation_title(c).text)
        lines.append(f"    {c.locator or '-'}  ({where})")
        text = plain(marked_runs(c.text, c.highlights), emphasis)
        lines.extend("    " + ln for ln in text.splitlines() if ln.strip())
        lines.append("")
    return "\n".join(lines).rstrip()


def _width(line: str) -> int:
    """Return the columns a line takes on a terminal (wide characters count two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


class Draft:
    """Shows a chat model's draft on a terminal as it streams in, dimmed after `label`, and
    wipes it (`erase`) so that only the checked answer stays on the screen."""

    def __init__(self, out: TextIO, label: str) -> None:
        self.out = out
        self.label = label
        self.shown = ""
        self._lock = threading.Lock()  # the draft grows on the chat client's thread

    def __call__(self, text: str) -> None:
        with self._lock:
            if not text.startswith(self.shown):  # a stream only grows
                return
            if not self.shown:
                self.out.write(f"\x1b[2m{self.label}")
            self.out.write(text[len(self.shown) :])
            self.out.flush()
            self.shown = text

    def erase(self) -> None:
        """Wipe the draft shown so far and leave the cursor where it began."""
        with self._lock:
            if not self.shown:
                return
            columns = max(1, shutil.get_terminal_size().columns)
            lines = (self.label + self.shown).split("\n")
            rows = sum(max(1, math.ceil(_width(line) / columns)) for line in lines)
            up = f"\x1b[{rows - 1}F" if rows > 1 else "\r"
            self.out.write(f"\x1b[0m{up}\x1b[J")
            self.out.flush()
            self.shown = ""
