"""Split a cleaned document into sentence-aligned chunks that carry their locators."""

import re
from dataclasses import dataclass

from ingest.clean import Block, render
from retrieval.text import sentence_spans
from retrieval.types import Chunk

TARGET_CHARS = 280
MAX_CHARS = 450
# Also names the index layout: chunk vectors plus one vector per sentence.
CHUNKER = f"sentences-v2:{TARGET_CHARS}/{MAX_CHARS}/overlap1+sentence-vectors"

_SPEAKER = re.compile(
    r"^(?P<name>[^\s：:()（），。、]{1,20}?(?:先生|女士|夫人|大使|阁下))"
    r"[(（](?P<state>[^()（）]{1,40})[)）](?:[(（][^()（）]*发言[)）])?[：:]?"
)
_CHAIR = re.compile(r"^(?P<name>(?:代理|临时)?主席)[：:]")
_PARA_NO = re.compile(r"^(\d{1,3})[.．]\s*(?!\d)")


@dataclass(frozen=True, slots=True)
class Document:
    """A cleaned document ready for chunking."""

    source: str
    title: str
    blocks: list[Block]
    symbol: str = ""


@dataclass(frozen=True, slots=True)
class _Unit:
    start: int
    end: int
    context: tuple[str, str, str, str, bool]  # section, speaker, state, paragraph, footnote
    block: int  # index of the paragraph (block) the sentence stands in


def speaker_of(text: str) -> tuple[str, str] | None:
    """Return (speaker, state) when a paragraph opens a turn in a verbatim record."""
    if m := _SPEAKER.match(text):
        return m.group("name"), m.group("state")
    if m := _CHAIR.match(text):
        return m.group("name"), ""
    return None


def _units(doc: Document) -> list[_Unit]:
    verbatim = sum(1 for b in doc.blocks if b.kind == "para" and speaker_of(b.text)) >= 3
    units: list[_Unit] = []
    section, speaker, state = "", "", ""
    offset = 0
    for index, block in enumerate(doc.blocks):
        if block.kind == "heading":
            section = block.text
        elif verbatim and block.kind == "para" and (turn := speaker_of(block.text)):
            speaker, state = turn
        if block.kind != "heading":
            number = m.group(1) if (m := _PARA_NO.match(block.text)) else ""
            context = (section, speaker, state, number, block.kind == "footnote")
            units.extend(
                _Unit(offset + s, offset + e, context, index) for s, e in sentence_spans(block.text)
            )
        offset += len(block.text) + 2
    return units


def _groups(units: list[_Unit]) -> list[list[_Unit]]:
    groups: list[list[_Unit]] = []
    for unit in units:
        if groups and groups[-1][-1].context == unit.context:
            groups[-1].append(unit)
        else:
            groups.append([unit])
    return groups


def _pack(group: list[_Unit]) -> list[list[_Unit]]:
    """Pack sentences into chunks that keep paragraphs whole where they fit.

    A chunk grows to TARGET_CHARS; it runs on to the end of its paragraph when the whole
    paragraph fits in MAX_CHARS, and takes in a following paragraph only when it began at a
    paragraph's start and that paragraph fits whole too. A paragraph too long for one chunk
    is cut at sentences, neighbours sharing one short sentence; no sentence is shared
    across paragraphs.
    """
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for unit in group:
        starts.setdefault(unit.block, unit.start)
        ends[unit.block] = unit.end
    chunks: list[list[_Unit]] = []
    i = 0
    while i < len(group):
        head = group[i]
        current = [head]
        j = i + 1
        while j < len(group) and group[j].end - head.start <= MAX_CHARS:
            nxt = group[j]
            full = current[-1].end - head.start >= TARGET_CHARS
            fits = ends[nxt.block] - head.start <= MAX_CHARS
            if nxt.block != current[-1].block:
                if full or not fits or starts[head.block] != head.start:
                    break
            elif full and not fits:
                break
            current.append(nxt)
            j += 1
        chunks.append(current)
        if j >= len(group):
            break
        overlap = current[-1]
        shared = (
            group[j].block == overlap.block
            and len(current) > 1
            and overlap.end - overlap.start < TARGET_CHARS // 2
        )
        i = j - 1 if shared else j
    return chunks


def chunk(doc: Document) -> list[Chunk]:
    """Return the chunks of a document; sentences are never cut."""
    text = render(doc.blocks)
    out: list[Chunk] = []
    for group in _groups(_units(doc)):
        for piece in _pack(group):
            start, end = piece[0].start, piece[-1].end
            section, speaker, state, number, footnote = piece[0].context
            out.append(
                Chunk(
                    source=doc.source,
                    title=doc.title,
                    text=text[start:end],
                    start=start,
                    end=end,
                    section=section,
                    speaker=speaker,
                    state=state,
                    paragraph=number,
                    symbol=doc.symbol,
                    footnote=footnote,
                )
            )
    return out
