"""The Chroma vector store: the one module that imports chromadb."""

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlparse

from retrieval.errors import IndexMissing
from retrieval.settings import Settings
from retrieval.types import Chunk

_CHUNK_FIELDS = [f.name for f in dataclasses.fields(Chunk) if f.name != "text"]


def chunk_metadata(chunk: Chunk, **extra: str | int) -> dict[str, Any]:
    """Return the Chroma metadata recorded for a chunk."""
    meta = {name: getattr(chunk, name) for name in _CHUNK_FIELDS}
    return meta | extra


def chunk_from(text: str, meta: dict[str, Any]) -> Chunk:
    """Rebuild a chunk from its stored text and metadata."""
    return Chunk(text=text, **{name: meta[name] for name in _CHUNK_FIELDS if name in meta})


class Store:
    """A Chroma collection of chunks, embedded or on a Chroma server."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._client: Any = None
        self._collection: Any = None

    @property
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
                path = self.settings.index_dir / "chroma"
                self._client = chromadb.PersistentClient(path=str(path), settings=chroma_settings)
        return self._client

    def exists(self) -> bool:
        """Return True when the collection exists (never creates anything)."""
        if not self.settings.chroma_url and not (self.settings.index_dir / "chroma").exists():
            return False
        names = {getattr(c, "name", c) for c in self.client.list_collections()}
        return self.settings.collection in names

    def collection(self, create: bool = False) -> Any:
        """Return the collection; create it (cosine space) only when asked."""
        if self._collection is None:
            if create:
                self._collection = self.client.get_or_create_collection(
                    self.settings.collection,
                    configuration={"hnsw": {"space": "cosine"}},
                    embedding_function=None,
                )
            elif self.exists():
                self._collection = self.client.get_collection(
                    self.settings.collection, embedding_function=None
                )
            else:
                raise IndexMissing(
                    f"no index at {self.settings.index_dir}: run `citeqa ingest` first"
                )
        return self._collection

    def info(self) -> dict[str, Any]:
        """Return what the index records about itself (embedder, chunker, generation)."""
        return dict(self.collection().metadata or {})

    def set_info(self, **values: str | int) -> None:
        """Record facts about the index in the collection metadata."""
        col = self.collection(create=True)
        col.modify(metadata=dict(col.metadata or {}) | values)

    def metadatas(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Yield (id, metadata) of every stored chunk, without documents or vectors."""
        col = self.collection()
        batch = self.client.get_max_batch_size()
        for offset in range(0, col.count(), batch):
            got = col.get(include=["metadatas"], limit=batch, offset=offset)
            yield from zip(got["ids"], got["metadatas"], strict=True)

    def records(self) -> Iterator[tuple[str, Chunk]]:
        """Yield (id, chunk) of every stored chunk."""
        col = self.collection()
        batch = self.client.get_max_batch_size()
        for offset in range(0, col.count(), batch):
            got = col.get(include=["metadatas", "documents"], limit=batch, offset=offset)
            for cid, text, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=True):
                yield cid, chunk_from(text, meta)

    def embeddings(self, ids: Sequence[str]) -> dict[str, list[float]]:
        """Return the stored vectors of those ids that exist."""
        found: dict[str, list[float]] = {}
        batch = self.client.get_max_batch_size()
        for i in range(0, len(ids), batch):
            got = self.collection().get(ids=list(ids[i : i + batch]), include=["embeddings"])
            found.update(
                zip(got["ids"], (list(map(float, e)) for e in got["embeddings"]), strict=True)
            )
        return found

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

    def delete(self, ids: Sequence[str]) -> None:
        """Delete chunks by id."""
        batch = self.client.get_max_batch_size()
        for i in range(0, len(ids), batch):
            self.collection().delete(ids=list(ids[i : i + batch]))

    def query(
        self, vector: list[float], n: int, where: dict[str, Any] | None = None
    ) -> list[tuple[str, float]]:
        """Return (id, cosine similarity) of the nearest chunks."""
        # Ids and distances only: the chunks themselves are in memory with the lexical index,
        # and fetching 40 documents with their metadata triples the cost of a query.
        got = self.collection().query(
            query_embeddings=[vector], n_results=n, where=where, include=["distances"]
        )
        return [
            (cid, 1.0 - float(dist))
            for cid, dist in zip(got["ids"][0], got["distances"][0], strict=True)
        ]
