"""Errors citeqa raises, each with a message a user can act on.

CiteqaError
├── BadQuestion        the question is empty, too long or has no searchable text
├── IndexMissing       no index has been built yet
├── IndexMismatch      the index was built by another embedder or chunker
├── StoreUnavailable   the Chroma server is down or unreachable
├── DataDirError       the data directory is missing or unreadable
├── EmbedderError      the embedding model cannot be loaded
└── UnreadableFile     a document is broken, empty or of an unsupported kind
"""


class CiteqaError(Exception):
    """Base class: the message is meant for the user."""


class BadQuestion(CiteqaError):
    """The question cannot be searched."""


class IndexMissing(CiteqaError):
    """No index exists where the settings point."""


class IndexMismatch(CiteqaError):
    """The index was built with another embedder or chunker."""


class StoreUnavailable(CiteqaError):
    """The Chroma server cannot be reached; the next attempt may succeed."""


class DataDirError(CiteqaError):
    """The data directory is missing or unreadable."""


class EmbedderError(CiteqaError):
    """The embedding model cannot be loaded."""


class UnreadableFile(CiteqaError):
    """A document cannot be read or holds no text."""


def first_line(error: BaseException) -> str:
    """Return the first line of an error's message (its type when it has none): what a
    one-line `Error: ...` shows of a library's multi-line report."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
