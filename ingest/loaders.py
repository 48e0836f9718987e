"""Read documents of each supported kind into cleaned blocks.

Each reader takes the file's bytes (read once, by the caller, who also hashes them) and
returns the raw text, its blocks, and warnings for the user (bytes replaced, a PDF repaired).
"""

import io
import logging
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunking import Document
from ingest.clean import Block, markdown_blocks, running_symbol, text_blocks
from ingest.encoding import decode
from ingest.files import readable_name
from retrieval.errors import UnreadableFile

# A DOCX whose XML unpacks to more than this is not opened: a zip bomb would fill memory,
# and parsing takes some ten times its size (a 1,000-page text is some 20 MB of XML).
MAX_UNPACKED = 64 * 2**20


@dataclass
class Read:
    """What a reader got from a file."""

    raw: str
    blocks: list[Block]
    warnings: list[str] = field(default_factory=list)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@contextmanager
def _warnings_of(logger: str) -> Iterator[list[str]]:
    """Collect a library's logged warnings (pypdf's "EOF marker not found"), so that they
    reach the user beside the file's name instead of as a stray line on stderr."""
    log = logging.getLogger(logger)
    handler, propagate = _Collect(), log.propagate
    log.addHandler(handler)
    log.propagate = False
    try:
        yield handler.messages
    finally:
        log.removeHandler(handler)
        log.propagate = propagate


def _pdf(data: bytes) -> Read:
    from pypdf import PdfReader

    with _warnings_of("pypdf") as warned:
        try:
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted and not reader.decrypt(""):
                raise UnreadableFile("an encrypted PDF: it needs a password; save it without one")
            raw = "\n".join(page.extract_text() or "" for page in reader.pages)
        except UnreadableFile:
            raise
        except Exception as e:  # pypdf raises many kinds on a broken file; the file is skipped
            raise UnreadableFile(f"broken PDF ({type(e).__name__}: {e})") from e
    notes = list(dict.fromkeys(warned))
    return Read(raw, text_blocks(raw), [f"PDF read despite: {'; '.join(notes)}"] if notes else [])


def _docx_parts(data: bytes) -> Iterator[str]:
    import docx
    from docx.table import Table

    document = docx.Document(io.BytesIO(data))
    # style names looked up once: `Paragraph.style` searches the styles part on every call
    names = {s.style_id: s.name or "" for s in document.styles}
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            for row in item.rows:
                cells = list(dict.fromkeys(c.text.strip() for c in row.cells))
                yield " | ".join(c for c in cells if c)
            continue
        level = re.fullmatch(r"heading (\d)", names.get(item._p.style or "", "").lower())
        yield ("#" * int(level.group(1)) + " " if level else "") + item.text


def _unpacked(data: bytes) -> int:
    """Return how many bytes a zip's XML parts unpack to (as their headers say, which
    zipfile holds them to); pictures do not count."""
    try:
        members = zipfile.ZipFile(io.BytesIO(data)).infolist()
        return sum(i.file_size for i in members if i.filename.endswith((".xml", ".rels")))
    except (zipfile.BadZipFile, OSError, ValueError):
        return 0  # python-docx says what is wrong with it


def _docx(data: bytes) -> Read:
    unpacked = _unpacked(data)
    if unpacked > MAX_UNPACKED:
        raise UnreadableFile(
            f"a DOCX that unpacks to {unpacked / 2**20:,.0f} MB (over {MAX_UNPACKED // 2**20} "
            "MB): not read, in case it is a zip bomb"
        )
    try:
        raw = "\n\n".join(_docx_parts(data))
    except Exception as e:  # zip, XML and python-docx errors alike: the file is skipped
        raise UnreadableFile(f"broken DOCX ({type(e).__name__}: {e})") from e
    return Read(raw, markdown_blocks(raw))


def _text(data: bytes) -> tuple[str, list[str]]:
    decoded = decode(data)
    return decoded.text, [decoded.warning] if decoded.warning else []


def _html(data: bytes) -> Read:
    from bs4 import BeautifulSoup

    text, warnings = _text(data)
    soup = BeautifulSoup(text, "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript"]):
        tag.decompose()
    parts = []
    for el in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre"]):
        text = el.get_text(" ", strip=True)
        if text:
            parts.append("#" * int(el.name[1]) + " " + text if el.name[0] == "h" else text)
    raw = "\n\n".join(parts)
    return Read(raw, markdown_blocks(raw), warnings)


def _plain(data: bytes) -> Read:
    raw, warnings = _text(data)
    return Read(raw, text_blocks(raw), warnings)


def _markdown(data: bytes) -> Read:
    raw, warnings = _text(data)
    return Read(raw, markdown_blocks(raw), warnings)


READERS: dict[str, Callable[[bytes], Read]] = {
    ".txt": _plain,
    ".md": _markdown,
    ".markdown": _markdown,
    ".pdf": _pdf,
    ".docx": _docx,
    ".html": _html,
    ".htm": _html,
}


def read_catalog(data_dir: Path) -> dict[str, str]:
    """Return file -> title from Markdown tables in the data dir's README.md, if any."""
    readme = data_dir / "README.md"
    if not readme.is_file():
        return {}
    titles: dict[str, str] = {}
    for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and "." in cells[0] and (data_dir / cells[0]).exists():
            titles[cells[0]] = cells[1]
    return titles


def _fallback_title(blocks: list[Block], path: Path) -> str:
    for block in blocks[:8]:
        if block.kind == "heading" and len(block.text) >= 2:
            return block.text
    return readable_name(path.stem)


def reader_for(path: Path) -> Callable[[bytes], Read]:
    """Return the reader of a file's kind; raise UnreadableFile for a kind citeqa cannot read."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        kinds = ", ".join(sorted(READERS))
        kind = path.suffix.lower() or "no extension"
        raise UnreadableFile(f"unsupported file type {kind} (citeqa reads {kinds})")
    return reader


def load(
    path: Path, source: str, title: str = "", data: bytes | None = None
) -> tuple[Document, list[str]]:
    """Read one file into a cleaned Document and its warnings; raise UnreadableFile when
    that fails. `data` is the file's bytes where the caller has read them already."""
    reader = reader_for(path)
    if data is None:
        try:
            data = path.read_bytes()
        except OSError as e:
            raise UnreadableFile(f"cannot read it ({e.strerror})") from e
    read = reader(data)
    if not any(b.kind == "para" for b in read.blocks):
        raise UnreadableFile(
            "no text found (a scanned PDF needs OCR first)"
            if path.suffix.lower() == ".pdf"
            else "empty: no text found"
        )
    document = Document(
        source, title or _fallback_title(read.blocks, path), read.blocks, running_symbol(read.raw)
    )
    return document, read.warnings
