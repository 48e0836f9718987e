"""Find the documents under the data directory, and say why each other entry is left out.

Only regular files inside the data directory are read: a link is followed when it stays
inside, hidden entries (a leading dot) are skipped, and FIFOs, sockets and devices are never
opened (a FIFO would block the ingest forever). Names that are not valid UTF-8 (a zip made on
a Chinese Windows holds GBK bytes) or hold control characters get a safe, stable name.
"""

import os
import stat
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from retrieval.errors import DataDirError

# Who added which document (ingest/library.py): beside the documents, never read as one.
ADDED = ".citeqa-added.json"
# citeqa's own files in the data dir (that record, a file being written): passed over quietly
OWN = ".citeqa-"


@dataclass(frozen=True, slots=True)
class Found:
    """A document to read: where it is, and the name the index knows it by."""

    path: Path
    source: str


@dataclass(frozen=True, slots=True)
class Listing:
    """The documents under a data directory, and the entries left out with the reason."""

    documents: list[Found]
    skipped: list[tuple[str, str]]


def _controls_escaped(text: str) -> str:
    return "".join(
        c.encode("unicode_escape").decode("ascii") if unicodedata.category(c) == "Cc" else c
        for c in text
    )


def safe_name(name: str) -> str:
    """Return `name` with bytes that are not UTF-8 shown as `\\xNN` and control characters
    escaped: printable on one line, storable, and the same on every run."""
    return _controls_escaped(os.fsencode(name).decode("utf-8", "backslashreplace"))


def readable_name(name: str) -> str:
    """Return a file name for titles: undecodable bytes read as GB18030 where they are."""
    for encoding in ("utf-8", "gb18030"):
        try:
            return _controls_escaped(os.fsencode(name).decode(encoding))
        except UnicodeDecodeError:
            continue
    return safe_name(name)


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device"


def _check_link(path: Path, root: Path) -> str | None:
    """Return why a link is not followed, or None when it points at a file inside."""
    try:
        target = path.resolve(strict=True)
    except FileNotFoundError:
        return "a link to nothing (its target is gone)"
    except RuntimeError:
        return "a link loop"
    except OSError as e:
        return f"a link that cannot be followed ({e.strerror})"
    if not target.is_relative_to(root):
        return "a link to a file outside the data directory (not followed)"
    if target.is_dir():
        return "a link to a folder (not followed)"
    return None


def _entry(path: Path, root: Path) -> str | None:
    """Return why one directory entry is not a document to read, or None when it is."""
    if path.is_symlink():
        why = _check_link(path, root)
        if why:
            return why
    try:
        mode = path.stat().st_mode
    except OSError as e:
        return f"cannot look at it ({e.strerror})"
    if not stat.S_ISREG(mode):
        return _kind(mode)
    return None


def discover(data_dir: Path, ignored: frozenset[str]) -> Listing:
    """Return the documents under the data dir, in name order, and what was left out."""
    if data_dir.is_file():
        raise DataDirError(f"data directory {safe_name(str(data_dir))} is a file, not a folder")
    if not data_dir.is_dir():
        raise DataDirError(f"data directory {safe_name(str(data_dir))} does not exist")
    root = data_dir.resolve()
    documents: list[Found] = []
    skipped: list[tuple[str, str]] = []

    def unreadable(error: OSError) -> None:
        name = Path(error.filename).relative_to(data_dir).as_posix() if error.filename else "."
        if name == ".":
            raise DataDirError(f"cannot read data directory {data_dir}: {error.strerror}")
        skipped.append((safe_name(name) + "/", f"cannot open the folder ({error.strerror})"))

    for folder, dirs, files in os.walk(data_dir, onerror=unreadable):
        base = Path(folder)
        kept = []
        for name in sorted(dirs):
            relative = (base / name).relative_to(data_dir).as_posix()
            if name.startswith("."):
                skipped.append((safe_name(relative) + "/", "a hidden folder (not read)"))
            elif (base / name).is_symlink():
                why = _check_link(base / name, root) or "a link to a folder (not followed)"
                skipped.append((safe_name(relative), why))
            else:
                kept.append(name)
        dirs[:] = kept  # os.walk goes into these only
        for name in sorted(files):
            path = base / name
            relative = path.relative_to(data_dir).as_posix()
            if relative in ignored or name.startswith(OWN):
                continue
            if name.startswith("."):
                skipped.append((safe_name(relative), "a hidden file (not read)"))
                continue
            reason = _entry(path, root)
            if reason:
                skipped.append((safe_name(relative), reason))
            else:
                documents.append(Found(path, safe_name(relative)))
    documents.sort(key=lambda f: f.source)
    return Listing(documents, skipped)
