"""The keyword index's database: its schema, its rows, and what damage to it looks like.

One SQLite file (`lexical.sqlite` in the index dir) holds every chunk (text and locator, the
file it came from, its distinct tokens, its sentences' vectors) and one posting list per
token: the chunks that hold it and how often, as two arrays in one row.
"""

import contextlib
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from retrieval.types import Chunk

DATABASE = "lexical.sqlite"
EMPTY = "\u2205"  # the one token of a chunk without words
SEP = "\x1f"  # between tokens
VERSION = 3  # of the schema: a database of another version is started afresh
BATCH = 500  # ids per IN (...) list
# SQLite's result codes for a damaged file and for a file that is not a database
DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS chunks (
    doc INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    source TEXT NOT NULL,
    title TEXT NOT NULL,
    start INTEGER NOT NULL,
    speaker TEXT NOT NULL,
    state TEXT NOT NULL,
    file_hash TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    length INTEGER NOT NULL,
    tokens TEXT NOT NULL,
    sentences TEXT NOT NULL,
    vectors BLOB NOT NULL,
    chunk TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_in_order ON chunks (source, start, id);
CREATE TABLE IF NOT EXISTS postings (
    term TEXT PRIMARY KEY, df INTEGER NOT NULL, docs BLOB NOT NULL, tfs BLOB NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lexicon (word TEXT PRIMARY KEY, heads TEXT NOT NULL) WITHOUT ROWID;
"""


class Record(NamedTuple):
    """A stored chunk with the file it came from: what the index is built from."""

    id: str
    chunk: Chunk
    file_hash: str = ""
    n_chunks: int = 0
    vectors: bytes = b""  # one float16 vector per sentence, in order


@dataclass(frozen=True, slots=True)
class FileChunks:
    """What the index holds of one file: its hash(es), expected chunk count and chunk ids."""

    hashes: frozenset[str]
    expected: int
    ids: tuple[str, ...]


def damaged(error: sqlite3.Error) -> bool:
    """Return whether an SQLite error says the file is damaged (not busy, not locked)."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in DAMAGED
    return "malformed" in str(error) or "not a database" in str(error)


def connect(path: Path) -> sqlite3.Connection:
    """Open (or create) the database, started afresh when it has another schema version."""
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=60)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    if db.execute("PRAGMA user_version").fetchone()[0] != VERSION:
        db.execute("BEGIN IMMEDIATE")
        if db.execute("PRAGMA user_version").fetchone()[0] != VERSION:  # not by another
            for table in ("meta", "chunks", "postings", "lexicon"):
                db.execute(f"DROP TABLE IF EXISTS {table}")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.execute(f"PRAGMA user_version = {VERSION}")
        db.execute("COMMIT")
    # Covering indexes: opening reads every chunk's length, and an ingest every chunk's
    # file, without reading the wide rows (a tenth of the time at 90k chunks).
    db.execute("CREATE INDEX IF NOT EXISTS chunks_lengths ON chunks (doc, length)")
    db.execute(
        "CREATE INDEX IF NOT EXISTS chunks_files ON chunks (source, id, file_hash, n_chunks)"
    )
    return db


def filter_sql(
    source: str | None, speaker: str | None, exclude: str | None
) -> tuple[str, list[str]]:
    """Return the query (and its arguments) of the chunks of one document or speaker, or of
    every document but one."""
    clauses, args = ["1"], []
    if source:
        clauses.append("source = ?")
        args.append(source)
    if exclude:
        clauses.append("source != ?")
        args.append(exclude)
    if speaker:
        clauses.append("(speaker = ? OR state = ?)")
        args += [speaker, speaker]
    return f"SELECT doc FROM chunks WHERE {' AND '.join(clauses)}", args


def remove_files(path: Path) -> None:
    """Delete the database file and its write-ahead log."""
    for suffix in ("", "-wal", "-shm"):
        path.with_name(path.name + suffix).unlink(missing_ok=True)


class Database:
    """The connection to the file, started afresh where the file is damaged."""

    def __init__(self, path: Path) -> None:
        """Connect to `path`; a file that is damaged or no database is replaced by an empty
        one (the index is derived: `sync` fills it again)."""
        self.path = path
        try:
            self.db = connect(path)
        except sqlite3.DatabaseError as e:
            if not damaged(e):
                raise
            self._remove()
            self.db = connect(path)
        self.inode = os.stat(path).st_ino

    def _remove(self) -> None:
        remove_files(self.path)

    def discard(self) -> None:
        """Close and delete the damaged file, unless another process has replaced it."""
        with contextlib.suppress(sqlite3.Error):
            self.db.close()
        with contextlib.suppress(OSError):
            if os.stat(self.path).st_ino == self.inode:
                self._remove()


def held_files(db: sqlite3.Connection) -> dict[str, FileChunks]:
    """Return source -> what the index holds of that file."""
    hashes: dict[str, set[str]] = {}
    expected: dict[str, int] = {}
    ids: dict[str, list[str]] = {}
    for source, cid, file_hash, n in db.execute(
        "SELECT source, id, file_hash, n_chunks FROM chunks"
    ):
        hashes.setdefault(source, set()).add(file_hash)
        ids.setdefault(source, []).append(cid)
        expected[source] = n
    return {s: FileChunks(frozenset(hashes[s]), expected[s], tuple(ids[s])) for s in ids}


def spread(db: sqlite3.Connection, count: int, total: int) -> list[str]:
    """Return the JSON of `count` chunks spread evenly over `total` in document order."""
    rows = db.execute(
        "SELECT chunk FROM (SELECT chunk, row_number() OVER "
        "(ORDER BY source, start, id) - 1 AS r FROM chunks) "
        "WHERE r % ? = 0 ORDER BY r LIMIT ?",
        (max(1, total // count), count),
    )
    return [data for (data,) in rows]


def select_in(db: sqlite3.Connection, sql: str, items: list[Any]) -> Iterator[Any]:
    """Yield the rows of `sql`, whose `IN ({})` takes `items`, BATCH items at a time."""
    for part in parts(items):
        yield from db.execute(sql.format(",".join("?" * len(part))), part)


def parts(items: list[Any]) -> Iterator[list[Any]]:
    """Yield `items` BATCH at a time."""
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]


def searchable(chunk: Chunk) -> str:
    """Index the locator with the text, so speakers, states and sections can be found."""
    return " ".join([chunk.section, chunk.speaker, chunk.state, chunk.text])
