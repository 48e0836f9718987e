"""BM25 over jieba tokens, in SQLite beside the vector store: updated in place, synced to it.

The database (`retrieval/lexical_db.py`) holds every chunk and one posting list per token;
`retrieval/postings.py` writes it. Opening reads no chunk text: a question reads only its own
tokens' posting lists and its candidates.

It is a derived index. `sync` brings it in line with the store's chunk ids (ids are derived
from the text, so equal ids mean equal chunks), fetching only the chunks it lacks. A damaged
database is deleted as soon as a read or write meets the damage (`IndexDamaged`); the index is
then empty, and the next `sync` rebuilds it from the store.

Scores are computed here rather than by SQLite's FTS5: a term of an English question against
Chinese text scores by the best of its translations, which FTS5's `bm25()` cannot express,
and the decision was fitted on these BM25 (k1 1.5) scores.
"""

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from retrieval.bilingual import query_terms, stem
from retrieval.bm25 import Weights, best_docs, bm25, idf, weigh
from retrieval.errors import IndexDamaged, IndexMissing, out_of_space
from retrieval.lexical_db import (
    DATABASE,
    EMPTY,
    SEP,
    Database,
    FileChunks,
    Record,
    damaged,
    filter_sql,
    held_files,
    select_in,
    spread,
)
from retrieval.postings import write
from retrieval.text import Language, language
from retrieval.types import Chunk, Held

__all__ = [
    "DATABASE",
    "EMPTY",
    "FileChunks",
    "LexicalIndex",
    "Record",
    "Weights",
    "open_index",
]

# A question's terms: for each word, the index tokens that stand for it (one for a Chinese
# question; the dictionary's translations for an English question against Chinese text).
Terms = list[frozenset[str]]
T = TypeVar("T")
_LANGUAGE_SAMPLE = 40  # a document's first chunks, read to tell its language
_CACHED = 20_000  # chunks kept decoded; the cache starts afresh beyond that
# Chunks added per transaction by a large sync or ingest: bounds memory (each carries its
# sentence vectors) while rewriting the common posting lists only a few times.
APPLY_BATCH = 20_000


class LexicalIndex:
    """A BM25 index of chunks on disk, with the chunks themselves for look-ups."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the database at `path`; a damaged one is started afresh."""
        self.path = path
        self._lock = threading.RLock()
        self._open()

    def _open(self) -> None:
        """Connect (see `Database`); forget what was cached."""
        self._file = Database(self.path)
        self._stamp = ""
        self._lengths = np.zeros(0, dtype=np.float32)
        self._n = 0
        self._avg = 1.0
        self._df: dict[str, int] = {}
        self._chunks: dict[str, Chunk] = {}
        self._sentence_tokens: dict[str, list[frozenset[str]]] = {}
        self._chunk_tokens: dict[str, frozenset[str]] = {}
        self._languages: dict[str, Language] = {}

    @property
    def _db(self) -> sqlite3.Connection:
        return self._file.db

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn damage met while reading or writing into `IndexDamaged`, with an empty index
        in place of the damaged one (see `Database.discard`): `sync` rebuilds it."""
        try:
            yield
        except sqlite3.DatabaseError as e:
            if not damaged(e):
                if getattr(e, "sqlite_errorcode", 0) & 0xFF == sqlite3.SQLITE_FULL:
                    raise out_of_space(e, self.path.parent) or e from e
                raise
            self._file.discard()
            self._open()
            raise IndexDamaged(
                f"the keyword index {self.path} was damaged ({e}); it is being rebuilt "
                "from the vector store"
            ) from e

    # ---- reading -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot; the cached lengths follow the index when it changed."""
        with self._lock, self._guard():
            db = self._db
            db.execute("BEGIN")
            try:
                stamp = self._meta("stamp")
                if stamp != self._stamp:
                    self._reload(stamp)
                yield db
            finally:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("COMMIT")

    def _meta(self, key: str) -> str:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else ""

    def _reload(self, stamp: str) -> None:
        rows = self._db.execute("SELECT doc, length FROM chunks").fetchall()
        table = np.asarray(rows, dtype=np.int64).reshape(-1, 2)
        self._lengths = np.zeros(int(table[:, 0].max(initial=-1)) + 1, dtype=np.float32)
        self._lengths[table[:, 0]] = table[:, 1]
        self._n = len(table)
        self._avg = float(table[:, 1].mean()) if len(table) else 1.0
        self._df.clear()
        self._forget()
        self._stamp = stamp

    @property
    def generation(self) -> str:
        """Return the store generation the index was last brought in line with."""
        with self._read():
            return self._meta("generation")

    def __len__(self) -> int:
        with self._read():
            return self._n

    def known(self, ids: Iterable[str]) -> set[str]:
        """Return those of `ids` the index holds."""
        wanted = list(dict.fromkeys(ids))
        with self._read() as db:
            return {r[0] for r in select_in(db, "SELECT id FROM chunks WHERE id IN ({})", wanted)}

    def chunks(self, ids: Iterable[str]) -> dict[str, Chunk]:
        """Return id -> chunk of those of `ids` the index holds."""
        order = list(dict.fromkeys(ids))
        wanted = [cid for cid in order if cid not in self._chunks]
        if len(self._chunks) + len(wanted) > _CACHED:
            self._forget()
            wanted = order
        if wanted:
            with self._read() as db:
                for cid, data, sentences in select_in(
                    db, "SELECT id, chunk, sentences FROM chunks WHERE id IN ({})", wanted
                ):
                    self._chunks[cid] = Chunk(**json.loads(data))
                    self._sentence_tokens[cid] = [frozenset(t) for t in json.loads(sentences)]
        return {cid: self._chunks[cid] for cid in order if cid in self._chunks}

    def _forget(self) -> None:
        for cache in (self._chunks, self._sentence_tokens, self._chunk_tokens, self._languages):
            cache.clear()

    def vectors(self, ids: Iterable[str], dimension: int) -> dict[str, np.ndarray]:
        """Return id -> the chunk's sentence vectors (float32, one row per sentence)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, np.ndarray] = {}
        with self._read() as db:
            for cid, blob in select_in(
                db, "SELECT id, vectors FROM chunks WHERE id IN ({})", wanted
            ):
                rows = np.frombuffer(blob, dtype=np.float16).reshape(-1, dimension)
                found[cid] = rows.astype(np.float32)
        return found

    def language(self, source: str) -> Language:
        """Return the language of a document, that of its first chunks' text."""
        if source not in self._languages:
            with self._read() as db:
                rows = db.execute(
                    "SELECT chunk FROM chunks WHERE source = ? ORDER BY start LIMIT ?",
                    (source, _LANGUAGE_SAMPLE),
                ).fetchall()
            self._languages[source] = language(" ".join(json.loads(r[0])["text"] for r in rows))
        return self._languages[source]

    def chunk(self, cid: str) -> Chunk | None:
        """Return one chunk by id, or None."""
        return self.chunks([cid]).get(cid)

    def sources(self) -> dict[str, str]:
        """Return source -> title of every indexed document, sorted by source."""
        with self._read() as db:
            rows = db.execute(
                "SELECT source, min(title) FROM chunks GROUP BY source ORDER BY source"
            )
            return dict(rows.fetchall())

    def counts(self) -> dict[str, int]:
        """Return source -> number of chunks."""
        with self._read() as db:
            return dict(
                db.execute("SELECT source, count(*) FROM chunks GROUP BY source").fetchall()
            )

    def files(self) -> dict[str, FileChunks]:
        """Return source -> what the index holds of that file."""
        with self._read() as db:
            return held_files(db)

    def evenly(self, count: int) -> list[Chunk]:
        """Return `count` chunks spread evenly over the collection in document order."""
        with self._read() as db:
            return [Chunk(**json.loads(data)) for data in spread(db, count, self._n)]

    def terms(self, tokens: list[str], translate: bool) -> Terms:
        """Return the question's terms; `translate` looks English words up in the lexicon."""
        if not translate or not tokens:
            return [frozenset([t]) for t in dict.fromkeys(tokens)]
        with self._read() as db:  # one snapshot
            words = _translations(db, tokens)
            vocabulary = {t for t in tokens if self._doc_frequency(db, t)}
        return query_terms(tokens, words, vocabulary)

    def translations(self, words: Sequence[str]) -> dict[str, list[str]]:
        """Return stemmed English word -> the collection's Chinese words that translate it,
        for those of `words` the bilingual lexicon holds."""
        if not words:
            return {}
        with self._read() as db:
            return _translations(db, words)

    def top(
        self,
        terms: Terms,
        tokens: list[str] | None,
        n: int,
        source: str | None = None,
        speaker: str | None = None,
        exclude: str | None = None,
    ) -> list[tuple[str, float]]:
        """Return the `n` best (id, BM25 score) with a score above 0: a term scores by its best
        alternative, or, given the question's own `tokens`, plain BM25 over them. `source`,
        `speaker` and `exclude` keep only passages of that document or speaker, or not of it."""
        if not terms:
            return []
        with self._read() as db:
            scores = np.zeros(len(self._lengths), dtype=np.float32)
            if tokens is not None:
                for token in tokens:  # a repeated word counts each time, as in bm25s
                    docs, values = self._scores(db, token)
                    scores[docs] += values
            else:
                for term in terms:
                    best = np.zeros_like(scores)
                    for alt in sorted(term):
                        docs, values = self._scores(db, alt)
                        best[docs] = np.maximum(best[docs], values)
                    scores += best
            if source or speaker or exclude:
                scores *= self._mask(db, source, speaker, exclude)
            hits = best_docs(scores, n)
            ids = dict(select_in(db, "SELECT doc, id FROM chunks WHERE doc IN ({})", hits))
            return [(ids[d], float(scores[d])) for d in hits if d in ids]

    def _scores(self, db: sqlite3.Connection, token: str) -> tuple[np.ndarray, np.ndarray]:
        row = db.execute("SELECT docs, tfs FROM postings WHERE term = ?", (token,)).fetchone()
        if row is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        docs = np.frombuffer(row[0], dtype=np.int32)
        tfs = np.frombuffer(row[1], dtype=np.float32)
        return docs, bm25(tfs, self._lengths[docs], self._n, self._avg)

    def _mask(
        self, db: sqlite3.Connection, source: str | None, speaker: str | None, exclude: str | None
    ) -> np.ndarray:
        mask = np.zeros(len(self._lengths), dtype=np.float32)
        docs = [r[0] for r in db.execute(*filter_sql(source, speaker, exclude))]
        mask[[d for d in docs if d < len(mask)]] = 1.0
        return mask

    def _doc_frequency(self, db: sqlite3.Connection, token: str) -> int:
        if token not in self._df:
            row = db.execute("SELECT df FROM postings WHERE term = ?", (token,)).fetchone()
            self._df[token] = int(row[0]) if row else 0
        return self._df[token]

    def sentence_tokens(self, cid: str) -> list[frozenset[str]]:
        """Return the token sets of a chunk's sentences (tokenized at ingest)."""
        if cid not in self._sentence_tokens:
            self.chunks([cid])
        return self._sentence_tokens.get(cid, [])

    def weights(self, terms: Terms) -> Weights:
        """Return each term's alternatives weighted by IDF, as shares of the question's total.

        A term weighs as much as its rarest alternative; finding a commoner one earns less.
        """
        with self._read() as db:  # one snapshot, not one per alternative
            return weigh(
                [{alt: idf(self._doc_frequency(db, alt), self._n) for alt in t} for t in terms]
            )

    def coverage(self, cid: str, weights: Weights) -> tuple[float, tuple[Held, ...]]:
        """Return how much of the question (see `weights`) the chunk holds, and which of its
        terms each sentence holds (term index, share), in term order."""
        sentences = self.sentence_tokens(cid)
        whole = self.chunk_tokens(cid)
        return weights.share(whole), tuple(
            tuple(sorted(weights.held(s).items())) for s in sentences
        )

    def chunk_tokens(self, cid: str) -> frozenset[str]:
        """Return the token set of a whole chunk (cached)."""
        whole = self._chunk_tokens.get(cid)
        if whole is None:
            whole = self._chunk_tokens[cid] = frozenset().union(*self.sentence_tokens(cid))
        return whole

    def missing(self, cid: str, weights: Weights) -> float:
        """Return the largest share of the question held by a term the chunk lacks."""
        return weights.missing(self.chunk_tokens(cid))

    def idf(self, token: str) -> float:
        """Return the token's inverse document frequency; unseen tokens count as rarest."""
        with self._read() as db:
            return idf(self._doc_frequency(db, token), self._n)

    # ---- writing -------------------------------------------------------------------------

    def sync(self, store: Any, generation: str) -> bool:
        """Bring the index in line with the store's chunks, stamped `generation`; return
        whether anything changed. Only the chunks the index lacks are read from the store,
        `APPLY_BATCH` at a time."""
        ids = set(store.ids())
        with self._read() as db:
            have = {r[0] for r in db.execute("SELECT id FROM chunks")}
            current = self._meta("generation")
        if ids == have and current == generation:
            return False
        missing = sorted(ids - have)
        batch: list[Record] = []
        for record in store.records(missing):
            batch.append(record)
            if len(batch) >= APPLY_BATCH:  # stamped as before: not in line until the end
                self.apply([], batch, current)
                batch = []
        self.apply(have - ids, batch, generation)
        return True

    def repairing(self, store: Any, generation: str, work: Callable[[], T]) -> T:
        """Run `work`; where it meets damage here, say so, fill the index again from the
        store (stamped `generation`) and run it again."""
        try:
            return work()
        except IndexDamaged:
            logging.getLogger("citeqa").warning(
                "citeqa: the keyword index %s was damaged; rebuilding it from the vector store",
                self.path,
            )
            self.sync(store, generation)
            return work()

    def apply(self, remove: Iterable[str], add: Iterable[Record], generation: str) -> None:
        """Remove chunks by id and add (or replace) others, in one transaction."""
        with self._lock, self._guard():
            write(self._db, remove, add, generation)


def _translations(db: sqlite3.Connection, words: Sequence[str]) -> dict[str, list[str]]:
    """Return stemmed English word -> its translations, for the `words` the lexicon holds."""
    stems = list(dict.fromkeys(stem(w) for w in words))
    rows = db.execute(
        f"SELECT word, heads FROM lexicon WHERE word IN ({','.join('?' * len(stems))})", stems
    )
    return {word: heads.split(SEP) for word, heads in rows}


def open_index(index_dir: Path) -> LexicalIndex:
    """Open the lexical index of an index dir."""
    return LexicalIndex(index_dir / DATABASE)


def require_passages(index: LexicalIndex) -> None:
    """Refuse an index without passages, with what to do."""
    if not len(index):
        raise IndexMissing(
            "the index holds no passages: put documents in the data dir and run `citeqa ingest`"
        )
