"""The Chroma vector store: the one module that imports chromadb."""

import base64
import dataclasses
import functools
import inspect
import shutil
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import urlparse

import httpx
import numpy as np

from retrieval.errors import (
    CiteqaError,
    IndexDamaged,
    IndexMissing,
    StoreUnavailable,
    first_line,
    out_of_space,
)
from retrieval.lexical import Record
from retrieval.settings import Settings
from retrieval.types import Chunk

# Candidates the HNSW search keeps while it walks the graph (Chroma's default is 100): with 60
# sentences asked for, 100 left the nearest set, and so the decision on a borderline question,
# varying from one build of the same collection to the next.
EF_SEARCH = 400
# Before 0.3, sentence vectors had their own collection, named with this suffix; they are now
# kept with their chunk (metadata `sentence_vectors`, float16, base64).
LEGACY_SENTENCES = "-sentences"
VECTORS_KEY = "sentence_vectors"
# How an index is laid out; an index of another layout is rebuilt by the next ingest.
LAYOUT = 2
_CHUNK_FIELDS = [f.name for f in dataclasses.fields(Chunk) if f.name != "text"]


def chunk_metadata(chunk: Chunk, **extra: str | int) -> dict[str, Any]:
    """Return the Chroma metadata recorded for a chunk."""
    meta = {name: getattr(chunk, name) for name in _CHUNK_FIELDS}
    return meta | extra


def encode_vectors(raw: bytes) -> str:
    """Return a chunk's float16 sentence vectors as the metadata string kept with it."""
    return base64.b64encode(raw).decode("ascii")


def decode_vectors(value: object) -> bytes:
    """Return the float16 bytes of a chunk's `sentence_vectors` metadata (empty if none)."""
    return base64.b64decode(value) if isinstance(value, str) else b""


def chunk_from(text: str, meta: dict[str, Any]) -> Chunk:
    """Rebuild a chunk from its stored text and metadata."""
    return Chunk(text=text, **{name: meta[name] for name in _CHUNK_FIELDS if name in meta})


F = TypeVar("F", bound=Callable[..., Any])


def _unreachable(error: BaseException) -> bool:
    """Return True for the errors a Chroma server that is down or unreachable causes."""
    if isinstance(error, httpx.TransportError | ConnectionError | TimeoutError):
        return True
    return isinstance(error, ValueError) and "connect to a Chroma server" in str(error)


# What Chroma's embedded store says when its SQLite file or a segment of it is damaged.
_DAMAGE = (
    "database disk image is malformed",
    "file is not a database",
    "(code: 11)",
    "(code: 26)",
    "error loading hnsw",
    "hnsw segment",
)


def _damaged(error: BaseException) -> bool:
    """Return True for the errors a damaged embedded store causes."""
    text = str(error).lower()
    return any(marker in text for marker in _DAMAGE)


def _failure(store: "Store", error: BaseException) -> CiteqaError | None:
    """Return the one-line error for a dead server or a damaged store, else None."""
    if isinstance(error, CiteqaError):  # from a method this one called: said once
        return None
    if store.settings.chroma_url and _unreachable(error):
        url = store.settings.chroma_url
        return StoreUnavailable(f"cannot reach the Chroma server at {url}: {first_line(error)}")
    if store.settings.chroma_url:
        return None
    full = out_of_space(error, store.settings.index_dir)
    if full is not None:
        return full
    if _damaged(error):
        where = store.settings.index_dir / "chroma"
        if "(code: " in str(error) or "database" in str(error):  # its SQLite file
            where = where / "chroma.sqlite3"
        return IndexDamaged(
            f"the vector store ({where}) is damaged ({first_line(error)}): run "
            f"`citeqa ingest --rebuild` to build it again from {store.settings.data_dir}"
        )
    return None


def _reachable(method: F) -> F:
    """Turn a dead or unreachable Chroma server into one StoreUnavailable with the URL, and a
    damaged embedded store into one IndexDamaged that says how to rebuild it."""

    if inspect.isgeneratorfunction(method):

        @functools.wraps(method)
        def generator(store: "Store", *args: Any, **kwargs: Any) -> Any:
            try:
                yield from method(store, *args, **kwargs)
            except Exception as e:
                failure = _failure(store, e)
                if failure is not None:
                    raise failure from e
                raise

        return cast(F, generator)

    @functools.wraps(method)
    def call(store: "Store", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(store, *args, **kwargs)
        except Exception as e:
            failure = _failure(store, e)
            if failure is not None:
                raise failure from e
            raise

    return cast(F, call)


def _forget_open(path: str) -> None:
    """Make the next PersistentClient of `path` open it anew.

    Chroma shares one open store per path in a process and never sees vectors another process
    added after it opened (queries fail with "Error finding id"). The open one is left running
    for the searches still using it; it goes when they do.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(path, None)
    SharedSystemClient._identifier_to_refcount.pop(path, None)


def _vectors(col: Any, ids: list[str]) -> dict[str, list[float]]:
    """Return id -> stored vector for those of `ids` this process's store can read."""
    try:
        got = col.get(ids=ids, include=["embeddings"])
    except Exception as e:
        # Chunks another process added after this one opened the store: in its metadata,
        # not yet in the vector segment this process loaded (see `_forget_open`).
        if "finding id" not in str(e):
            raise
        if len(ids) == 1:
            return {}
        return {cid: vec for one in ids for cid, vec in _vectors(col, [one]).items()}
    return dict(zip(got["ids"], np.asarray(got["embeddings"]).tolist(), strict=True))


class Store:
    """A Chroma collection of chunks, embedded or on a Chroma server.

    With a server, every public method turns a dead or unreachable server into
    `StoreUnavailable`; the next call tries again, so a server that comes back is used.
    """

    def __init__(self, settings: Settings, fresh: bool = False) -> None:
        """`fresh` opens the embedded store anew instead of sharing this process's open one:
        only a fresh open sees what another process (an ingest) wrote since."""
        self.settings = settings
        self.fresh = fresh
        self._client: Any = None
        self._collection: Any = None

    @property
    @_reachable
    def client(self) -> Any:
        """Return the Chroma client, connecting on first use."""
        if self._client is None:
            import chromadb
            from chromadb.config import Settings as ChromaSettings

            chroma_settings = ChromaSettings(anonymized_telemetry=False)
            url = self.settings.chroma_url
            if url:
                parts = urlparse(url)
                self._client = chromadb.HttpClient(
                    host=parts.hostname or "localhost",
                    port=parts.port or (443 if parts.scheme == "https" else 8000),
                    ssl=parts.scheme == "https",
                    settings=chroma_settings,
                )
            else:
                path = str(self.settings.index_dir / "chroma")
                if self.fresh:
                    _forget_open(path)
                self._client = chromadb.PersistentClient(path=path, settings=chroma_settings)
        return self._client

    @_reachable
    def exists(self) -> bool:
        """Return True when the collection exists (never creates anything)."""
        if not self.settings.chroma_url and not (self.settings.index_dir / "chroma").exists():
            return False
        names = {getattr(c, "name", c) for c in self.client.list_collections()}
        return self.settings.collection in names

    @_reachable
    def collection(self, create: bool = False) -> Any:
        """Return the chunk collection; create it (cosine space) only when asked."""
        if self._collection is None:
            self._collection = self._open(self.settings.collection, create)
        return self._collection

    def _open(self, name: str, create: bool) -> Any:
        if create:
            return self.client.get_or_create_collection(
                name,
                configuration={"hnsw": {"space": "cosine", "ef_search": EF_SEARCH}},
                embedding_function=None,
            )
        if self.exists():
            return self.client.get_collection(name, embedding_function=None)
        raise IndexMissing(f"no index at {self.settings.index_dir}: run `citeqa ingest` first")

    @_reachable
    def reset(self) -> None:
        """Delete the collection (and the sentence collection of an index before 0.3)."""
        names = {getattr(c, "name", c) for c in self.client.list_collections()}
        for name in (self.settings.collection, self.settings.collection + LEGACY_SENTENCES):
            if name in names:
                self.client.delete_collection(name)
        self._collection = None

    def destroy(self) -> None:
        """Delete everything of the store, damaged or not: the embedded store's folder (a
        damaged one cannot be trusted to delete its own collection), or the server's
        collection."""
        if self.settings.chroma_url:
            self.reset()
            return
        path = self.settings.index_dir / "chroma"
        _forget_open(str(path))
        self._client = self._collection = None
        shutil.rmtree(path, ignore_errors=True)

    @_reachable
    def info(self) -> dict[str, Any]:
        """Return what the index records about itself (embedder, chunker, generation)."""
        return dict(self.collection().metadata or {})

    @_reachable
    def ready(self) -> str:
        """Return the generation of the last finished ingest, read afresh ("" if none)."""
        if not self.exists():
            return ""
        fresh = self.client.get_collection(self.settings.collection, embedding_function=None)
        return str((fresh.metadata or {}).get("ready", ""))

    @_reachable
    def set_info(self, **values: str | int) -> None:
        """Record facts about the index in the collection metadata."""
        col = self.collection(create=True)
        col.modify(metadata=dict(col.metadata or {}) | values)

    @_reachable
    def ids(self) -> Iterator[str]:
        """Yield the id of every stored chunk (ids only: a tenth of a second per 30k)."""
        col = self.collection()
        batch = self.client.get_max_batch_size()
        for offset in range(0, col.count(), batch):
            yield from col.get(include=[], limit=batch, offset=offset)["ids"]

    @_reachable
    def records(self, ids: Sequence[str] | None = None) -> Iterator[Record]:
        """Yield every stored chunk (or those of `ids`) with the file it came from."""
        col = self.collection()
        batch = self.client.get_max_batch_size()
        if ids is None:
            pages = (
                col.get(include=["metadatas", "documents"], limit=batch, offset=offset)
                for offset in range(0, col.count(), batch)
            )
        else:
            pages = (
                col.get(ids=list(ids[i : i + batch]), include=["metadatas", "documents"])
                for i in range(0, len(ids), batch)
            )
        for got in pages:
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield Record(
                    cid,
                    chunk_from(text, meta),
                    str(meta.get("file_hash", "")),
                    int(meta.get("n_chunks", 0)),
                    decode_vectors(meta.get(VECTORS_KEY)),
                )

    @_reachable
    def embeddings(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Return the stored vectors of those chunk ids that exist."""
        col = self.collection()
        found: dict[str, list[float]] = {}
        batch = self.client.get_max_batch_size()
        for i in range(0, len(ids), batch):
            found.update(_vectors(col, list(ids[i : i + batch])))
        return found

    @_reachable
    def upsert(
        self,
        ids: Sequence[str],
        vectors: Sequence[list[float]],
        metadatas: Sequence[dict[str, Any]],
        documents: Sequence[str],
    ) -> None:
        """Write chunks in batches no larger than the client accepts."""
        col = self.collection(create=True)
        batch = self.client.get_max_batch_size()
        for i in range(0, len(ids), batch):
            j = i + batch
            col.upsert(
                ids=list(ids[i:j]),
                embeddings=list(vectors[i:j]),
                metadatas=list(metadatas[i:j]),
                documents=list(documents[i:j]),
            )

    @_reachable
    def delete(self, ids: Sequence[str]) -> None:
        """Delete chunks by id."""
        batch = self.client.get_max_batch_size()
        for i in range(0, len(ids), batch):
            self.collection().delete(ids=list(ids[i : i + batch]))

    @_reachable
    def query(
        self, vector: list[float], n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """Return (id, cosine similarity) of the nearest chunks."""
        # Ids and distances only: the chunks themselves are read from the lexical index,
        # and fetching 40 documents with their metadata triples the cost of a query.
        got = self.collection().query(
            query_embeddings=[vector], n_results=n, where=where, include=["distances"]
        )
        return [
            (cid, 1.0 - float(dist))
            for cid, dist in zip(got["ids"][0], got["distances"][0], strict=True)
        ]
