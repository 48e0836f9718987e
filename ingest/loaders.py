"""Read documents of each supported kind into cleaned blocks."""

import re
from collections.abc import Callable
from pathlib import Path

from ingest.chunking import Document
from ingest.clean import Block, markdown_blocks, running_symbol, text_blocks
from retrieval.errors import UnreadableFile


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableFile("not UTF-8 or GB18030 text")


def _pdf(path: Path) -> tuple[str, list[Block]]:
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        raw = "\n".join(page.extract_text() or "" for page in reader.pages)
    except (PyPdfError, ValueError, KeyError, OSError) as e:
        raise UnreadableFile(f"broken PDF ({e})") from e
    return raw, text_blocks(raw)


def _docx(path: Path) -> tuple[str, list[Block]]:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    try:
        paragraphs = docx.Document(str(path)).paragraphs
    except (PackageNotFoundError, KeyError, ValueError, OSError) as e:
        raise UnreadableFile(f"broken DOCX ({e})") from e
    parts = []
    for p in paragraphs:
        level = re.match(r"Heading (\d)", p.style.name if p.style is not None else "")
        parts.append(("#" * int(level.group(1)) + " " if level else "") + p.text)
    raw = "\n\n".join(parts)
    return raw, markdown_blocks(raw)


def _html(path: Path) -> tuple[str, list[Block]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(_decode(path.read_bytes()), "html.parser")
    for tag in soup(["script", "style", "nav", "header", "footer", "noscript"]):
        tag.decompose()
    parts = []
    for el in soup.find_all(["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "blockquote", "pre"]):
        text = el.get_text(" ", strip=True)
        if text:
            parts.append("#" * int(el.name[1]) + " " + text if el.name[0] == "h" else text)
    raw = "\n\n".join(parts)
    return raw, markdown_blocks(raw)


def _plain(path: Path) -> tuple[str, list[Block]]:
    raw = _decode(path.read_bytes())
    return raw, text_blocks(raw)


def _markdown(path: Path) -> tuple[str, list[Block]]:
    raw = _decode(path.read_bytes())
    return raw, markdown_blocks(raw)


READERS: dict[str, Callable[[Path], tuple[str, list[Block]]]] = {
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
    return path.stem


def load(path: Path, source: str, title: str = "") -> Document:
    """Read one file into a cleaned Document; raise UnreadableFile when that fails."""
    reader = READERS.get(path.suffix.lower())
    if reader is None:
        raise UnreadableFile(f"unsupported file type {path.suffix or '(none)'}")
    try:
        raw, blocks = reader(path)
    except OSError as e:
        raise UnreadableFile(f"cannot read ({e.strerror})") from e
    if not any(b.kind == "para" for b in blocks):
        raise UnreadableFile("no text found (a scanned PDF needs OCR first)")
    return Document(source, title or _fallback_title(blocks, path), blocks, running_symbol(raw))
