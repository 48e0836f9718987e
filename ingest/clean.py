"""Turn extracted document text into clean blocks: headings, paragraphs, footnotes.

Everything here is pure. Cleaning only deletes page furniture and white space, so every
sentence of a cleaned block still stands verbatim in the source (white space aside).
"""

import re
from collections import Counter
from dataclasses import dataclass

from retrieval.text import CJK

# Zero-width, control and private-use characters (PDF barcode and symbol fonts).
_INVISIBLE = re.compile(r"[\u200b-\u200d\ufeff\u00ad\ue000-\uf8ff\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Running headers and footers of UN documents: symbols, job numbers, page numbers.
_FURNITURE = [
    re.compile(r"^(?:[A-Z]{1,6}/)+[A-Z0-9][A-Z0-9./()\-]*$"),  # CD/PV.1261, A/67/131
    re.compile(r"^\d{0,4}\s*GE\.\d{2}-\d{4,6}(?:\s+\d{1,4})?$"),  # 10 GE.12-63627
    re.compile(r"^\d{2}-\d{4,6}\s*\([A-Z]\)\s*\d{0,4}$"),  # 12-41312 (C)6
    re.compile(r"^[-–—]?\s*\d{1,4}\s*[-–—]?$"),  # bare page numbers
    re.compile(r"^(?:第\s*\d+\s*页|Page \d+( of \d+)?)$", re.I),
]
_RULE = re.compile(r"^\s*(?:_{5,}|-{3,}|\*{3,})\s*$")
_MD_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_TERMINAL = "。！？；：，、,;:!?"
_FOOTNOTE_HINTS = re.compile(
    r"^\s*\d{1,3}\s+\S|https?://|第\s*\d+(?:\s*-\s*\d+)?\s*页|\bpp?\.\s*\d|\bVol\.|年版|出版社"
    r"|载《|^\\?\*\s"
)
# Outside a footnote area only unmistakable references count as notes.
_REFERENCE = re.compile(
    r"https?://|第\s*\d+(?:\s*-\s*\d+)?\s*页|\bpp?\.\s*\d|\bVol\.|(?<!\*)\*[A-Z][^*]+\*(?!\*)"
)
_SPACE_NEAR_CJK = re.compile(
    rf"(?<=[{CJK}，。、；：！？）》”’])[ \t\u3000]+(?=\S)"
    rf"|(?<=\S)[ \t\u3000]+(?=[{CJK}，。、；：！？（《“])"
)


@dataclass(frozen=True, slots=True)
class Block:
    """A cleaned unit of a document."""

    kind: str  # "heading", "para" or "footnote"
    text: str
    level: int = 0


def strip_invisible(text: str) -> str:
    """Normalise line ends and drop control and zero-width characters."""
    return _INVISIBLE.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))


def is_furniture(line: str) -> bool:
    """Return True for a running header, footer or page number line."""
    s = line.strip()
    return bool(s) and any(p.match(s) for p in _FURNITURE)


def running_symbol(raw: str) -> str:
    """Return the document symbol printed in the running headers, if any."""
    found = Counter(
        s for line in raw.split("\n") if _FURNITURE[0].match(s := line.strip()) and "/" in s
    )
    return found.most_common(1)[0][0] if found else ""


# a number cut by a line break in Chinese text: a line ending in digits attached to what
# comes before them ("~8", "东经8"), the next starting with digits a Chinese unit follows ("6度")
_CUT_NUMBER_BEFORE = re.compile(r"[^\s\d][\d.,]*\d$")
_CUT_NUMBER_AFTER = re.compile(rf"\d[\d.,]*[{CJK}]")


def _ends_in_cut_number(text: str) -> bool:
    """Return whether `text` ends as `_CUT_NUMBER_BEFORE` says, looking only at its last
    run of digits, points and commas and the character before it (where any match starts):
    searching the whole text at every line made joining a long paragraph quadratic."""
    start = len(text)
    while start and (text[start - 1].isdecimal() or text[start - 1] in ".,"):
        start -= 1
    return _CUT_NUMBER_BEFORE.search(text, max(start - 1, 0)) is not None


def tidy(text: str) -> str:
    """Collapse white space, dropping it entirely next to Chinese characters."""
    text = re.sub(r"\s+", " ", text).strip()
    return _SPACE_NEAR_CJK.sub("", text)


def join_lines(lines: list[str]) -> str:
    """Join hard-wrapped lines: no space inside Chinese text, one space elsewhere; a
    number cut at the end of a line of Chinese text is joined whole ("东经8" + "6度")."""
    out = ""
    for line in (ln.strip() for ln in lines):
        if not line:
            continue
        glue = (
            ""
            if not out
            or re.match(rf"[{CJK}]", out[-1])
            or re.match(rf"[{CJK}]", line[0])
            or (_ends_in_cut_number(out) and _CUT_NUMBER_AFTER.match(line))
            else " "
        )
        out += glue + line
    return tidy(out)


def looks_like_footnote(text: str) -> bool:
    """Return True for a paragraph shaped like a footnote or reference."""
    return bool(_FOOTNOTE_HINTS.search(text))


def ends_sentence(text: str) -> bool:
    """Return True when the text ends at a sentence or clause boundary."""
    return bool(text) and text.rstrip().rstrip("”’」』）)]\"'")[-1:] in "。！？.!?；;：:"


def _is_heading(text: str, lines: int) -> bool:
    if looks_like_footnote(text) or re.match(r"\d{1,3}[.、．]\s", text):
        return False
    return (
        lines == 1
        and 0 < len(text) <= 40
        and text[-1] not in _TERMINAL
        and text[0] not in "[(（【–-"
    ) or bool(re.match(r"^[一二三四五六七八九十]+[.、．]\s*\S{1,30}$", text))


def _heading_level(text: str) -> int:
    return 1 if re.match(r"^[一二三四五六七八九十]+[.、．]", text) else 2


def _raw_paragraphs(raw: str) -> list[tuple[list[str], bool]]:
    """Group PDF-extracted lines into paragraphs: indentation or a trailing space marks them.

    Each paragraph comes with whether page furniture cut it from the one before.
    """
    paras: list[tuple[list[str], bool]] = []
    prev_closed, cut = True, False
    for line in strip_invisible(raw).split("\n"):
        if not line.strip():
            continue
        if is_furniture(line):
            cut = cut or not prev_closed
            continue
        opens = line[0].isspace() or (bool(re.match(r"\d{1,3}\.\s", line)) and prev_closed)
        if prev_closed or opens or cut or _RULE.match(line) or not paras:
            paras.append(([], cut))
        paras[-1][0].append(line)
        prev_closed = line[-1].isspace() or bool(_RULE.match(line))
        cut = False
    return paras


def _continues(pieces: list[str], text: str) -> bool:
    """Return whether `text` continues the paragraph made of `pieces` across a page break.

    Only the paragraph's end and its last join are read, so that a paragraph running over
    hundreds of pages costs time linear in its length."""
    last = pieces[-1]
    recent = join_lines(pieces[-2:]) if len(pieces) > 1 else last
    return (
        not ends_sentence(last)
        and not (len(pieces) == 1 and re.fullmatch(r"\[[^\]]*\]", last))  # [原件：英文]
        and not looks_like_footnote(recent)
        and not looks_like_footnote(text)
    )


def text_blocks(raw: str) -> list[Block]:
    """Clean plain text extracted from a PDF or typed by hand into blocks."""
    blocks: list[Block] = []
    pieces: list[str] = []  # of the last block, while it is a paragraph that may go on

    def settle() -> None:
        if len(pieces) > 1:
            blocks[-1] = Block("para", join_lines(pieces))
        pieces.clear()

    for lines, cut in _raw_paragraphs(raw):
        if _RULE.match(lines[0]):
            settle()
            blocks.append(Block("rule", ""))
            continue
        text = join_lines(lines)
        if not text:
            continue
        if _is_heading(text, len(lines)):
            settle()
            blocks.append(Block("heading", text, _heading_level(text)))
        elif pieces and not cut and _continues(pieces, text):
            # An indented line inside a sentence: a page break, not a new paragraph.
            pieces.append(text)
        else:
            settle()
            blocks.append(Block("para", text))
            pieces.append(text)
    settle()
    return separate_footnotes(blocks)


def markdown_blocks(raw: str) -> list[Block]:
    """Clean Markdown into blocks; `#` lines are headings, `---` opens footnotes."""
    blocks: list[Block] = []
    for part in re.split(r"\n\s*\n", strip_invisible(raw)):
        lines = [ln for ln in part.split("\n") if ln.strip()]
        if not lines:
            continue
        if len(lines) == 1 and _RULE.match(lines[0]):
            blocks.append(Block("rule", ""))
        elif len(lines) == 1 and (m := _MD_HEADING.match(lines[0].strip())):
            title = re.sub(r"\*\*|__|\\(?=\*)|\*$", "", m.group(2)).strip()
            blocks.append(Block("heading", title, len(m.group(1))))
        else:
            blocks.append(Block("para", join_lines(lines)))
    return separate_footnotes(blocks)


def separate_footnotes(blocks: list[Block]) -> list[Block]:
    """Mark footnote paragraphs; a sentence cut by footnotes continues right after its start.

    The footnotes move behind the continuation, so no text is altered, only reordered.
    """
    out: list[Block] = []
    notes: list[Block] = []
    in_notes = False
    broken = False  # the last body paragraph stopped mid-sentence at a footnote rule
    for i, block in enumerate(blocks):
        if block.kind == "rule":
            in_notes = True
            last = next((b for b in reversed(out) if b.kind == "para"), None)
            broken = broken or (last is not None and not ends_sentence(last.text))
            continue
        is_candidate = block.kind == "para" and (in_notes or _REFERENCE.search(block.text))
        if is_candidate and _note_like(blocks, i):
            (notes if broken else out).append(Block("footnote", block.text))
            continue
        in_notes = False
        out.append(block)
        out.extend(notes)
        notes, broken = [], False
    return out + notes


def _note_like(blocks: list[Block], i: int) -> bool:
    """A footnote looks like a reference, or is a short line introducing one."""
    text = blocks[i].text
    if looks_like_footnote(text) or _REFERENCE.search(text) or text.startswith("\\*"):
        return True
    nxt = blocks[i + 1] if i + 1 < len(blocks) else None
    return len(text) <= 80 and nxt is not None and looks_like_footnote(nxt.text)


def render(blocks: list[Block]) -> str:
    """Return the cleaned document text: blocks separated by blank lines."""
    return "\n\n".join(b.text for b in blocks)
