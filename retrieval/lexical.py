"""BM25 over jieba tokens, in SQLite beside the vector store: updated in place, synced to it.

One database (`lexical.sqlite` in the index dir) holds every chunk (text and locator, the file
it came from, its distinct tokens) and one posting list per token: the chunks that hold it and
how often, as two arrays in one row. Adding or removing chunks rewrites only the posting lists
of their tokens, in one transaction; a reader sees the index before it or after it (WAL). Opening
reads no chunk text: a question reads only its own tokens' posting lists and its candidates.

It is a derived index. `sync` brings it in line with the store's chunk ids (ids are derived
from the text, so equal ids mean equal chunks), fetching only the chunks it lacks; a deleted
or damaged database is rebuilt from the store.
"""

import contextlib
import dataclasses
import json
import math
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from retrieval.bilingual import build_lexicon, query_terms, stem
from retrieval.errors import IndexMissing
from retrieval.text import sentence_spans, tokenize
from retrieval.types import Chunk

# A question's terms: for each word, the index tokens that stand for it (one for a Chinese
# question; the dictionary's translations for an English question against Chinese text).
Terms = list[frozenset[str]]
DATABASE = "lexical.sqlite"
K1, B = 1.5, 0.75  # BM25, Lucene variant: the scores bm25s gave before this index
EMPTY = "\u2205"  # the one token of a chunk without words
_SEP = "\x1f"  # between tokens
_VERSION = 3  # of the schema: a database of another version is started afresh
_CACHED = 20_000  # chunks kept decoded; the cache starts afresh beyond that
# Chunks added per transaction by a large sync or ingest: bounds memory (each carries its
# sentence vectors) while rewriting the common posting lists only a few times.
APPLY_BATCH = 20_000
_BATCH = 500  # ids per IN (...) list
_SCHEMA = """
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


@dataclass(frozen=True, slots=True)
class Weights:
    """Each term's alternatives with their share of the question's weight (see `weights`)."""

    terms: list[dict[str, float]]
    # token -> (term index, weight) of every term it is an alternative of
    by_token: dict[str, tuple[tuple[int, float], ...]]

    def share(self, found: frozenset[str]) -> float:
        """Return the share of the question that a set of tokens holds."""
        best: dict[int, float] = {}
        for token in found.intersection(self.by_token):
            for term, w in self.by_token[token]:
                if w > best.get(term, 0.0):
                    best[term] = w
        return sum(best.values())


class LexicalIndex:
    """A BM25 index of chunks on disk, with the chunks themselves for look-ups."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the database at `path`; a damaged one is started afresh."""
        self.path = path
        self._lock = threading.RLock()
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
            self._db = self._connect()
        self._stamp = ""
        self._lengths = np.zeros(0, dtype=np.float32)
        self._n = 0
        self._avg = 1.0
        self._df: dict[str, int] = {}
        self._chunks: dict[str, Chunk] = {}
        self._sentence_tokens: dict[str, list[frozenset[str]]] = {}
        self._chunk_tokens: dict[str, frozenset[str]] = {}

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=60)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        if db.execute("PRAGMA user_version").fetchone()[0] != _VERSION:
            db.execute("BEGIN IMMEDIATE")
            if db.execute("PRAGMA user_version").fetchone()[0] != _VERSION:  # not by another
                for table in ("meta", "chunks", "postings", "lexicon"):
                    db.execute(f"DROP TABLE IF EXISTS {table}")
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {_VERSION}")
            db.execute("COMMIT")
        # Covering indexes: opening reads every chunk's length, and an ingest every chunk's
        # file, without reading the wide rows (a tenth of the time at 90k chunks).
        db.execute("CREATE INDEX IF NOT EXISTS chunks_lengths ON chunks (doc, length)")
        db.execute(
            "CREATE INDEX IF NOT EXISTS chunks_files ON chunks (source, id, file_hash, n_chunks)"
        )
        return db

    def close(self) -> None:
        """Close the database."""
        with self._lock:
            self._db.close()

    # ---- reading -------------------------------------------------------------------------

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """One consistent snapshot; the cached lengths follow the index when it changed."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                stamp = self._meta("stamp")
                if stamp != self._stamp:
                    self._reload(stamp)
                yield self._db
            finally:
                self._db.execute("COMMIT")

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
            return {r[0] for r in _select_in(db, "SELECT id FROM chunks WHERE id IN ({})", wanted)}

    def chunks(self, ids: Iterable[str]) -> dict[str, Chunk]:
        """Return id -> chunk of those of `ids` the index holds."""
        order = list(dict.fromkeys(ids))
        wanted = [cid for cid in order if cid not in self._chunks]
        if len(self._chunks) + len(wanted) > _CACHED:
            self._forget()
            wanted = order
        if wanted:
            with self._read() as db:
                for cid, data, sentences in _select_in(
                    db, "SELECT id, chunk, sentences FROM chunks WHERE id IN ({})", wanted
                ):
                    self._chunks[cid] = Chunk(**json.loads(data))
                    self._sentence_tokens[cid] = [frozenset(t) for t in json.loads(sentences)]
        return {cid: self._chunks[cid] for cid in order if cid in self._chunks}

    def _forget(self) -> None:
        for cache in (self._chunks, self._sentence_tokens, self._chunk_tokens):
            cache.clear()

    def vectors(self, ids: Iterable[str], dimension: int) -> dict[str, np.ndarray]:
        """Return id -> the chunk's sentence vectors (float32, one row per sentence)."""
        wanted = list(dict.fromkeys(ids))
        found: dict[str, np.ndarray] = {}
        with self._read() as db:
            for cid, blob in _select_in(
                db, "SELECT id, vectors FROM chunks WHERE id IN ({})", wanted
            ):
                rows = np.frombuffer(blob, dtype=np.float16).reshape(-1, dimension)
                found[cid] = rows.astype(np.float32)
        return found

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
        hashes: dict[str, set[str]] = {}
        expected: dict[str, int] = {}
        ids: dict[str, list[str]] = {}
        with self._read() as db:
            for source, cid, file_hash, n in db.execute(
                "SELECT source, id, file_hash, n_chunks FROM chunks"
            ):
                hashes.setdefault(source, set()).add(file_hash)
                ids.setdefault(source, []).append(cid)
                expected[source] = n
        return {s: FileChunks(frozenset(hashes[s]), expected[s], tuple(ids[s])) for s in ids}

    def evenly(self, count: int) -> list[Chunk]:
        """Return `count` chunks spread evenly over the collection in document order."""
        with self._read() as db:
            step = max(1, self._n // count)
            rows = db.execute(
                "SELECT chunk FROM (SELECT chunk, row_number() OVER "
                "(ORDER BY source, start, id) - 1 AS r FROM chunks) "
                "WHERE r % ? = 0 ORDER BY r LIMIT ?",
                (step, count),
            )
            return [Chunk(**json.loads(data)) for (data,) in rows]

    def terms(self, tokens: list[str], translate: bool) -> Terms:
        """Return the question's terms; `translate` looks English words up in the lexicon."""
        if not translate or not tokens:
            return [frozenset([t]) for t in dict.fromkeys(tokens)]
        with self._read() as db:
            words = {}
            for word, heads in db.execute(
                f"SELECT word, heads FROM lexicon WHERE word IN ({','.join('?' * len(tokens))})",
                [stem(t) for t in tokens],
            ):
                words[word] = heads.split(_SEP)
            vocabulary = {t for t in tokens if self._doc_frequency(db, t)}
        return query_terms(tokens, words, vocabulary)

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
            hits = np.flatnonzero(scores > 0)
            if len(hits) > n:
                hits = hits[np.argpartition(-scores[hits], n - 1)[:n]]
            hits = hits[np.lexsort((hits, -scores[hits]))]  # ties in document order
            ids = self._ids(db, hits.tolist())
            return [(ids[d], float(scores[d])) for d in hits.tolist() if d in ids]

    def _scores(self, db: sqlite3.Connection, token: str) -> tuple[np.ndarray, np.ndarray]:
        row = db.execute("SELECT docs, tfs FROM postings WHERE term = ?", (token,)).fetchone()
        if row is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        docs = np.frombuffer(row[0], dtype=np.int32)
        tfs = np.frombuffer(row[1], dtype=np.float32)
        idf = np.float32(_idf(len(docs), self._n))
        norm = np.float32(K1) * (
            1 - np.float32(B) + np.float32(B) * self._lengths[docs] / np.float32(self._avg)
        )
        return docs, idf * tfs / (norm + tfs)

    def _mask(
        self, db: sqlite3.Connection, source: str | None, speaker: str | None, exclude: str | None
    ) -> np.ndarray:
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
        mask = np.zeros(len(self._lengths), dtype=np.float32)
        docs = [
            r[0] for r in db.execute(f"SELECT doc FROM chunks WHERE {' AND '.join(clauses)}", args)
        ]
        mask[[d for d in docs if d < len(mask)]] = 1.0
        return mask

    def _ids(self, db: sqlite3.Connection, docs: list[int]) -> dict[int, str]:
        return dict(_select_in(db, "SELECT doc, id FROM chunks WHERE doc IN ({})", docs))

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
            idf = [
                {alt: _idf(self._doc_frequency(db, alt), self._n) for alt in term} for term in terms
            ]
        total = sum(max(alts.values()) for alts in idf) or 1.0
        shares = [{alt: w / total for alt, w in alts.items()} for alts in idf]
        by_token: dict[str, list[tuple[int, float]]] = {}
        for i, alts in enumerate(shares):
            for alt, w in alts.items():
                by_token.setdefault(alt, []).append((i, w))
        return Weights(shares, {t: tuple(v) for t, v in by_token.items()})

    def coverage(self, cid: str, weights: Weights) -> tuple[float, tuple[float, ...]]:
        """Return how much of the question (see `weights`) the chunk and each sentence hold."""
        sentences = self.sentence_tokens(cid)
        whole = self.chunk_tokens(cid)
        return weights.share(whole), tuple(weights.share(s) for s in sentences)

    def chunk_tokens(self, cid: str) -> frozenset[str]:
        """Return the token set of a whole chunk (cached)."""
        whole = self._chunk_tokens.get(cid)
        if whole is None:
            whole = self._chunk_tokens[cid] = frozenset().union(*self.sentence_tokens(cid))
        return whole

    def missing(self, cid: str, weights: Weights) -> float:
        """Return the largest share of the question held by a term the chunk lacks."""
        whole = self.chunk_tokens(cid)
        return max(
            (max(alts.values()) for alts in weights.terms if whole.isdisjoint(alts)), default=0.0
        )

    def idf(self, token: str) -> float:
        """Return the token's inverse document frequency; unseen tokens count as rarest."""
        with self._read() as db:
            return _idf(self._doc_frequency(db, token), self._n)

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

    def apply(self, remove: Iterable[str], add: Iterable[Record], generation: str) -> None:
        """Remove chunks by id and add (or replace) others, in one transaction."""
        added = sorted(add, key=lambda r: (r.chunk.source, r.chunk.start, r.id))
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                gone = set(remove) | {r.id for r in added}
                removed_docs, touched = self._delete(db, gone)
                postings = self._insert(db, added)
                vocabulary_changed = self._merge(db, removed_docs, touched, postings)
                if vocabulary_changed:
                    self._relexicon(db)
                stamp = str(int(self._meta("stamp") or 0) + 1)
                db.executemany(
                    "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                    [("generation", generation), ("stamp", stamp)],
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _delete(self, db: sqlite3.Connection, ids: set[str]) -> tuple[np.ndarray, set[str]]:
        docs: list[int] = []
        touched: set[str] = set()
        for part in _parts(sorted(ids)):
            marks = ",".join("?" * len(part))
            for doc, tokens in db.execute(
                f"SELECT doc, tokens FROM chunks WHERE id IN ({marks})", part
            ):
                docs.append(doc)
                touched.update(tokens.split(_SEP))
            db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)
        return np.asarray(docs, dtype=np.int32), touched

    def _insert(self, db: sqlite3.Connection, records: list[Record]) -> dict[str, tuple[Any, Any]]:
        """Store the chunks; return token -> (docs, term frequencies) of their postings."""
        from array import array

        vocab: dict[str, int] = {}
        term_of, doc_of, tf_of = array("i"), array("i"), array("f")
        for r in records:
            c = r.chunk
            tokens = tokenize(_searchable(c)) or [EMPTY]
            counts = Counter(tokens)
            sentences = json.dumps(
                [list(dict.fromkeys(tokenize(c.text[s:e]))) for s, e in sentence_spans(c.text)],
                ensure_ascii=False,
            )
            doc = db.execute(
                "INSERT INTO chunks (id, source, title, start, speaker, state, file_hash, "
                "n_chunks, length, tokens, sentences, vectors, chunk) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    r.id,
                    c.source,
                    c.title,
                    c.start,
                    c.speaker,
                    c.state,
                    r.file_hash,
                    r.n_chunks,
                    len(tokens),
                    _SEP.join(counts),
                    sentences,
                    r.vectors,
                    json.dumps(dataclasses.asdict(c), ensure_ascii=False),
                ),
            ).lastrowid
            for token, tf in counts.items():
                term_of.append(vocab.setdefault(token, len(vocab)))
                doc_of.append(int(doc))  # type: ignore[arg-type]
                tf_of.append(tf)
        terms = np.frombuffer(term_of, dtype=np.int32)
        docs = np.frombuffer(doc_of, dtype=np.int32)
        tfs = np.frombuffer(tf_of, dtype=np.float32)
        order = np.argsort(terms, kind="stable")
        bounds = np.searchsorted(terms[order], np.arange(len(vocab) + 1))
        names = list(vocab)
        return {
            names[t]: (
                docs[order[bounds[t] : bounds[t + 1]]],
                tfs[order[bounds[t] : bounds[t + 1]]],
            )
            for t in range(len(vocab))
        }

    def _merge(
        self,
        db: sqlite3.Connection,
        removed: np.ndarray,
        touched: set[str],
        added: dict[str, tuple[Any, Any]],
    ) -> bool:
        """Rewrite the posting lists of the touched tokens; return whether a token came or went."""
        changed = False
        for part in _parts(sorted(touched | set(added))):
            marks = ",".join("?" * len(part))
            old = {
                term: (np.frombuffer(d, dtype=np.int32), np.frombuffer(t, dtype=np.float32))
                for term, d, t in db.execute(
                    f"SELECT term, docs, tfs FROM postings WHERE term IN ({marks})", part
                )
            }
            for term in part:
                docs, tfs = old.get(term, (np.zeros(0, np.int32), np.zeros(0, np.float32)))
                if len(removed) and len(docs):
                    keep = ~np.isin(docs, removed)
                    docs, tfs = docs[keep], tfs[keep]
                if term in added:
                    docs = np.concatenate([docs, added[term][0]])
                    tfs = np.concatenate([tfs, added[term][1]])
                if len(docs):
                    changed |= term not in old
                    db.execute(
                        "INSERT OR REPLACE INTO postings VALUES (?, ?, ?, ?)",
                        (
                            term,
                            len(docs),
                            docs.astype(np.int32).tobytes(),
                            tfs.astype(np.float32).tobytes(),
                        ),
                    )
                elif term in old:
                    changed = True
                    db.execute("DELETE FROM postings WHERE term = ?", (term,))
        return changed

    def _relexicon(self, db: sqlite3.Connection) -> None:
        """Cut the dictionary down to the collection's words again."""
        frequency = dict(db.execute("SELECT term, df FROM postings").fetchall())
        lexicon = build_lexicon(frequency, frequency)
        db.execute("DELETE FROM lexicon")
        db.executemany(
            "INSERT INTO lexicon VALUES (?, ?)", ((w, _SEP.join(h)) for w, h in lexicon.items())
        )


def open_index(index_dir: Path) -> LexicalIndex:
    """Open the lexical index of an index dir."""
    return LexicalIndex(index_dir / DATABASE)


def require_passages(index: LexicalIndex) -> None:
    """Refuse an index without passages, with what to do."""
    if not len(index):
        raise IndexMissing(
            "the index holds no passages: put documents in the data dir and run `citeqa ingest`"
        )


def _idf(df: int, n: int) -> float:
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _select_in(db: sqlite3.Connection, sql: str, items: list[Any]) -> Iterator[Any]:
    """Yield the rows of `sql`, whose `IN ({})` takes `items`, _BATCH items at a time."""
    for part in _parts(items):
        yield from db.execute(sql.format(",".join("?" * len(part))), part)


def _parts(items: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(items), _BATCH):
        yield items[i : i + _BATCH]


def _searchable(chunk: Chunk) -> str:
    """Index the locator with the text, so speakers, states and sections can be found."""
    return " ".join([chunk.section, chunk.speaker, chunk.state, chunk.text])
