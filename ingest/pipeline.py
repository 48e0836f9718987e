"""Ingest the data directory into the store: only what changed is embedded again."""

import fcntl
import hashlib
import shutil
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings

from ingest.chunking import CHUNKER, chunk
from ingest.files import Found, discover
from ingest.loaders import READERS, load, read_catalog
from ingest.progress import Progress
from retrieval.baseline import Baseline
from retrieval.embeddings import embedder_name, settings_embedder, signature
from retrieval.errors import DataDirError, UnreadableFile, out_of_space
from retrieval.lexical import APPLY_BATCH, DATABASE, FileChunks, Record, open_index
from retrieval.lexical_db import remove_files
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.store import LAYOUT, VECTORS_KEY, Store, chunk_metadata, encode_vectors
from retrieval.text import sentence_spans
from retrieval.types import Chunk

# Files are embedded and written together once this many chunks wait.
# Share of chunks changed by an ingest under which the collection's baseline is kept.
BASELINE_KEPT_UNDER = 0.05
LOG_EVERY = 10.0  # seconds between progress lines in a log
FLUSH_CHUNKS = 512
EMBED_SLICE = 512  # texts a call to the embedder: big enough to batch by length, short for a log


@dataclass
class Report:
    """What an ingest run did."""

    indexed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    embedded: int = 0
    reused: int = 0
    total_chunks: int = 0
    rebuilt: bool = False
    seconds: float = 0.0


@dataclass
class _Pending:
    """A file's chunks waiting to be embedded and written."""

    source: str
    chunks: list[Chunk]
    ids: list[str]
    metas: list[dict[str, Any]]
    stale: list[str]  # ids of the file's chunks that the new version no longer has
    file_hash: str


def _complete(held: FileChunks | None, file_hash: str) -> bool:
    """Return whether the index holds every chunk of this version of a file."""
    return held is not None and held.hashes == {file_hash} and len(held.ids) == held.expected


def chunk_ids(chunks: list[Chunk]) -> list[str]:
    """Return content-derived ids; repeated identical passages get distinct ones."""
    seen: Counter[str] = Counter()
    ids = []
    for c in chunks:
        ids.append(c.chunk_id(seen[c.text]))
        seen[c.text] += 1
    return ids


@contextmanager
def ingest_lock(index_dir: Path, waiting: Callable[[], None] = lambda: None) -> Iterator[None]:
    """Hold the index's ingest lock (a file lock, across processes): one ingest at a time,
    whether `citeqa ingest`, `citeqa add` or the bot started it. `waiting` is called once
    when another holds it."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / "ingest.lock", "a+b") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            waiting()
            fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


class Ingester:
    """Brings the store in line with the data directory."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embeddings | None = None,
        progress: bool = True,
        flush_chunks: int = FLUSH_CHUNKS,
        log: Callable[[str], None] | None = None,
        log_every: float = LOG_EVERY,
        rebuild: bool = False,
        allow_empty: bool = False,
        locked: bool = False,
        fresh: bool = False,
    ):
        """`progress` shows a bar (on a terminal); `log`, when given, receives a progress
        line every `log_every` seconds instead (files, chunks, rate, ETA), for logs.
        `rebuild` deletes the index first (a damaged vector store), to build it anew.
        `allow_empty`: a data dir without documents empties the index (its last document
        was removed) instead of being refused. `locked`: the caller holds `ingest_lock`.
        `fresh` opens the store anew, not this process's open one, which does not see what
        other processes wrote since (a bot ingesting what a chat sent)."""
        self.settings = settings
        self.allow_empty = allow_empty
        self.locked = locked
        self.log = log
        self.log_every = log_every
        self.progress = progress  # before the rebuild, which may be `_waiting`
        self.store = Store(settings, fresh=fresh)
        if rebuild:  # not under an ingest that is running
            with self._lock():
                self.store.destroy()
                remove_files(settings.index_dir / DATABASE)
                (settings.index_dir / "baseline.json").unlink(missing_ok=True)
        self.embedder = embedder or settings_embedder(settings)
        self.flush_chunks = flush_chunks
        self.report = Report()
        self._generation_bumped = False
        self._removed_chunks = 0
        self._pending: list[_Pending] = []
        self.lexical = open_index(settings.index_dir)
        # what this run changed, for the keyword index: applied at the end, in one go
        self._unindexed: list[str] = []
        self._indexed: list[Record] = []
        self._progress = Progress([], False, None, log_every)

    def run(self) -> Report:
        """Ingest every document; remove the chunks of deleted ones. On a full disk, raise
        DiskFull: the index of the last finished ingest is kept, and the next run goes on."""
        try:
            with self._lock():
                return self._run()
        except (OSError, sqlite3.OperationalError) as e:
            full = out_of_space(e, self.settings.index_dir)
            if full is None:
                raise
            raise full from e

    def _run(self) -> Report:
        started = time.perf_counter()
        data_dir = self.settings.data_dir
        listing = discover(data_dir, self.settings.ignore)
        self.report.failed += listing.skipped
        files = listing.documents
        if not files and not self.allow_empty:
            raise DataDirError(
                f"no documents in {data_dir}: add {', '.join(supported_suffixes())} files"
            )
        self._prepare()
        # The keyword index says what the store holds of each file. After an interrupted
        # ingest, or on a replica, it first catches up with the store.
        states = self._caught_up(str(self.store.info().get("generation", "")))
        catalog = read_catalog(data_dir)
        seen: set[str] = set()
        self._progress = Progress(files, self.progress, self.log, self.log_every)
        for found in files:
            seen.add(found.source)
            self._file(found, catalog.get(found.source, ""), states.get(found.source))
        self._flush()
        self._progress.close()
        for source in sorted(set(states) - seen):
            self._touch()
            self.store.delete(states[source].ids)
            self._unindexed += states[source].ids
            self._removed_chunks += len(states[source].ids)
            self.report.removed.append(source)
        self._finish()
        self.report.seconds = time.perf_counter() - started
        return self.report

    def _lock(self) -> AbstractContextManager[None]:
        """Return the ingest lock to hold, or nothing where the caller holds it."""
        return nullcontext() if self.locked else ingest_lock(self.settings.index_dir, self._waiting)

    def _waiting(self) -> None:
        message = "waiting for another ingest of this index to finish"
        if self.log:
            self.log(message)
        elif self.progress:
            print(message, file=sys.stderr)

    def _caught_up(self, generation: str) -> dict[str, FileChunks]:
        """Bring the keyword index in line with the store (rebuilt from it where it was
        damaged); return what it holds of each file."""

        def caught_up() -> dict[str, FileChunks]:
            if self.lexical.generation != generation:
                self.lexical.sync(self.store, generation)
            return self.lexical.files()

        return self.lexical.repairing(self.store, generation, caught_up)

    def _carry_baseline(self, previous: str, generation: str, total: int) -> None:
        """Keep the previous generation's baseline when few chunks changed.

        The baseline describes how unanswerable questions score in the collection; a small
        change does not move it, and measuring it again (120 filtered searches) is most of a
        one-file re-ingest of a large collection.
        """
        changed = self.report.embedded + self.report.reused + self._removed_chunks
        path = self.settings.index_dir / "baseline.json"
        old = Baseline.load(path, previous) if previous else None
        if old is not None and total and changed / total <= BASELINE_KEPT_UNDER:
            replace(old, generation=generation).save(path)

    def _prepare(self) -> None:
        name = embedder_name(self.embedder)
        embedding = signature(self.embedder)
        if self.store.exists():
            info = self.store.info()
            if (
                info.get("embedder") == name
                and info.get("embedding") == embedding
                and info.get("chunker") == CHUNKER
                and info.get("layout") == LAYOUT
            ):
                return
            self.store.reset()
            self.report.rebuilt = True
        self.store.collection(create=True)
        self.store.set_info(
            embedder=name, embedding=embedding, chunker=CHUNKER, layout=LAYOUT, generation="new"
        )

    def _touch(self) -> None:
        """Mark the index as changing: a new generation, ready for readers when `_finish` ends."""
        if not self._generation_bumped:
            self.store.set_info(generation=uuid.uuid4().hex)
            self._generation_bumped = True

    def _changed(
        self, found: Found, title: str, held: FileChunks | None
    ) -> tuple[list[Chunk], str] | None:
        """Return the chunks of a file that changed and its hash; None (reported) for a file
        that is unchanged, unreadable or broken."""
        source = found.source
        try:
            data = found.path.read_bytes()
        except OSError as e:
            self.report.failed.append((source, _unreadable(e)))
            return None
        file_hash = hashlib.sha256(data).hexdigest()
        if _complete(held, file_hash):
            self.report.unchanged.append(source)
            return None
        try:
            document, warnings = load(found.path, source, title, data)
        except UnreadableFile as e:
            self.report.failed.append((source, str(e)))
            return None
        self.report.warnings += [(source, w) for w in warnings]
        return chunk(document), file_hash

    def _file(self, found: Found, title: str, held: FileChunks | None) -> None:
        changed = self._changed(found, title, held)
        self._progress.file_read(found, len(changed[0]) if changed else 0)
        if changed is None:
            return
        chunks, file_hash = changed
        source = found.source
        self._touch()
        ids = chunk_ids(chunks)
        metas = [chunk_metadata(c, file_hash=file_hash, n_chunks=len(chunks)) for c in chunks]
        self._pending.append(
            _Pending(
                source,
                chunks,
                ids,
                metas,
                sorted(set(held.ids if held else ()) - set(ids)),
                file_hash,
            )
        )
        if sum(len(p.ids) for p in self._pending) >= self.flush_chunks:
            self._flush()

    def _flush(self) -> None:
        """Embed and write the pending files, in pieces of `flush_chunks` (one big file too):
        a Chroma write costs the same for one chunk as for hundreds, and a piece written
        survives an interruption. Each chunk carries its sentences' vectors."""
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        rows = [
            (p, cid, c, m)
            for p in pending
            for cid, c, m in zip(p.ids, p.chunks, p.metas, strict=True)
        ]
        for start in range(0, len(rows), self.flush_chunks):
            self._write(rows[start : start + self.flush_chunks])
        self.store.delete([cid for p in pending for cid in p.stale])
        self.report.indexed += [p.source for p in pending]
        self._unindexed += [cid for p in pending for cid in p.stale]
        if len(self._indexed) >= APPLY_BATCH:
            # keeps the generation it had: a run interrupted after this is synced next time
            self.lexical.apply(self._unindexed, self._indexed, self.lexical.generation)
            self._unindexed, self._indexed = [], []

    def _write(self, rows: list[tuple[_Pending, str, Chunk, dict[str, Any]]]) -> None:
        """Embed (what the store does not hold yet) and write one piece of chunks."""
        ids = [cid for _, cid, _, _ in rows]
        chunks = [c for _, _, c, _ in rows]
        vectors = self.store.embeddings(ids)
        self.report.reused += len(vectors)
        todo = [i for i, cid in enumerate(ids) if cid not in vectors]
        new = self._embed([chunks[i].text for i in todo])
        vectors.update(zip((ids[i] for i in todo), new, strict=True))
        self.report.embedded += len(todo)
        sentence_vectors = self._sentences(chunks, ids, vectors)
        # float16, as both the store's metadata and the keyword index keep them
        raw = {cid: m.astype(np.float16).tobytes() for cid, m in sentence_vectors.items()}
        metas = [m | {VECTORS_KEY: encode_vectors(raw[cid])} for _, cid, _, m in rows]
        self.store.upsert(ids, [vectors[cid] for cid in ids], metas, [c.text for c in chunks])
        self._indexed += [
            Record(cid, c, p.file_hash, len(p.chunks), raw[cid]) for p, cid, c, _ in rows
        ]
        self._progress.wrote(len(rows))

    def _embed(self, texts: list[str]) -> list[list[float]]:
        """Embed texts in slices of `EMBED_SLICE`: each embedder batches a slice by itself (by
        length, with the setting's batch size), and the progress line moves between slices."""
        out: list[list[float]] = []
        for start in range(0, len(texts), EMBED_SLICE):
            piece = texts[start : start + EMBED_SLICE]
            out += self.embedder.embed_documents(piece)
            self._progress.embedded(len(piece))
        return out

    def _sentences(
        self, chunks: list[Chunk], ids: list[str], chunk_vectors: dict[str, list[float]]
    ) -> dict[str, np.ndarray]:
        """Return chunk id -> a vector for each of its sentences: those the index holds for an
        unchanged chunk, a one-sentence chunk's own vector, or new ones."""
        dimension = len(next(iter(chunk_vectors.values())))
        held = self.lexical.vectors(ids, dimension)
        texts = {
            cid: [c.text[s:e] for s, e in sentence_spans(c.text)]
            for c, cid in zip(chunks, ids, strict=True)
        }
        whole = {c.text: chunk_vectors[cid] for c, cid in zip(chunks, ids, strict=True)}
        todo = list(
            dict.fromkeys(
                t
                for cid, sentences in texts.items()
                if cid not in held
                for t in sentences
                if t not in whole
            )
        )
        by_text = whole | dict(zip(todo, self._embed(todo), strict=True))
        out: dict[str, np.ndarray] = {}
        for cid, sentences in texts.items():
            if cid in held and len(held[cid]) == len(sentences):
                out[cid] = held[cid]
            else:
                out[cid] = np.asarray([by_text[t] for t in sentences], dtype=np.float32).reshape(
                    len(sentences), dimension
                )
        return out

    def _finish(self) -> None:
        info = self.store.info()
        generation = str(info.get("generation", ""))
        if self._generation_bumped:
            self.lexical.apply(self._unindexed, self._indexed, generation)
            self._unindexed, self._indexed = [], []
            self.lexical.sync(self.store, generation)  # nothing left to do, unless raced
        shutil.rmtree(self.settings.index_dir / "lexical", ignore_errors=True)  # before 0.3
        if info.get("ready") != generation:
            self._carry_baseline(str(info.get("ready", "")), generation, len(self.lexical))
            self.store.set_info(ready=generation)  # running bots and replicas switch to it now
            # Measure the collection's baseline now (if not carried), not on the first question;
            # an emptied collection (its last document removed) has none
            if len(self.lexical):
                QA(self.settings, self.embedder)
        self.report.total_chunks = len(self.lexical)  # in line with the store by now


def _unreadable(error: OSError) -> str:
    """Return why a file could not be read, in words a user can act on."""
    if isinstance(error, PermissionError):
        return "cannot read it (permission denied): check the file's permissions"
    return f"cannot read it ({error.strerror or error})"


def supported_suffixes() -> list[str]:
    """Return the file extensions ingest can read."""
    return sorted(READERS)
