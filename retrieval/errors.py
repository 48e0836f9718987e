"""Errors citeqa raises, each with a message a user can act on.

CiteqaError
├── BadQuestion        the question is empty, too long or has no searchable text
├── IndexMissing       no index has been built yet
├── IndexMismatch      the index was built by another embedder or chunker
├── IndexDamaged       a file of the index is damaged (the keyword index rebuilds itself)
├── StoreUnavailable   the Chroma server is down or unreachable
├── DiskFull           no space left where the index is written
├── DataDirError       the data directory is missing or unreadable
├── EmbedderError      the embedding model cannot be loaded
└── UnreadableFile     a document is broken, empty or of an unsupported kind
"""

import errno
import shutil
from pathlib import Path


class CiteqaError(Exception):
    """Base class: the message is meant for the user."""


class BadQuestion(CiteqaError):
    """The question cannot be searched."""


class IndexMissing(CiteqaError):
    """No index exists where the settings point."""


class IndexMismatch(CiteqaError):
    """The index was built with another embedder or chunker."""


class IndexDamaged(CiteqaError):
    """A file of the index is damaged: the message says what happens or what to do."""


class StoreUnavailable(CiteqaError):
    """The Chroma server cannot be reached; the next attempt may succeed."""


class DiskFull(CiteqaError):
    """The disk holding the index is full: the previous index is kept."""


class DataDirError(CiteqaError):
    """The data directory is missing or unreadable."""


class EmbedderError(CiteqaError):
    """The embedding model cannot be loaded."""


class UnreadableFile(CiteqaError):
    """A document cannot be read or holds no text."""


# Free space under which a failed write is put down to a full disk (a library's error on a
# full disk does not always say so: Chroma's says it "failed to apply logs").
LOW_SPACE = 16 * 1024 * 1024


def out_of_space(error: BaseException, where: Path) -> DiskFull | None:
    """Return the one-line error for a write that failed on a full disk, else None."""
    said = isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)
    said = said or "disk is full" in str(error) or "no space left" in str(error).lower()
    try:
        free = shutil.disk_usage(where if where.exists() else where.parent).free
    except OSError:
        free = -1
    if not said and not 0 <= free < LOW_SPACE:
        return None
    left = f" ({free / 1e6:.1f} MB free)" if free >= 0 else ""
    return DiskFull(
        f"no space left on the disk of {where}{left}: free some space and run `citeqa ingest` "
        "again; the index of the last finished ingest is kept"
    )


def first_line(error: BaseException) -> str:
    """Return the first line of an error's message (its type when it has none): what a
    one-line `Error: ...` shows of a library's multi-line report."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
