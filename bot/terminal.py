"""Answers as plain terminal text, from the runs of `bot/render.py`."""

from collections.abc import Callable

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
