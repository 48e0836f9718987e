"""BM25 over jieba tokens, kept beside the vector store and rebuilt when it is stale."""

import dataclasses
import json
import math
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.text import sentence_spans, tokenize
from retrieval.types import Chunk


class LexicalIndex:
    """A BM25 index of chunks, with the chunks themselves for look-ups."""

    def __init__(self, ids: list[str], chunks: list[Chunk], bm25: Any, df: dict[str, int]) -> None:
        self.ids = ids
        self.chunks = chunks
        self.position = {cid: i for i, cid in enumerate(ids)}
        self._bm25 = bm25
        self._df = df
        self._sentence_tokens: dict[str, list[frozenset[str]]] = {}
        self._chunk_tokens: dict[str, frozenset[str]] = {}

    @classmethod
    def build(cls, records: Iterable[tuple[str, Chunk]]) -> "LexicalIndex":
        """Tokenize and index (id, chunk) records."""
        import bm25s

        pairs = sorted(records, key=lambda r: (r[1].source, r[1].start, r[0]))
        ids = [cid for cid, _ in pairs]
        chunks = [chunk for _, chunk in pairs]
        tokens = [tokenize(_searchable(c)) or ["\u2205"] for c in chunks]
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        df = Counter(t for toks in tokens for t in set(toks))
        return cls(ids, chunks, bm25, dict(df))

    def save(self, directory: Path, generation: str) -> None:
        """Write the index atomically under `directory`, stamped with the store generation."""
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=directory.parent, prefix=".lexical-"))
        self._bm25.save(str(tmp), show_progress=False)
        records = {
            "generation": generation,
            "ids": self.ids,
            "chunks": [dataclasses.asdict(c) for c in self.chunks],
            "df": self._df,
        }
        (tmp / "records.json").write_text(json.dumps(records, ensure_ascii=False), "utf-8")
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)

    @classmethod
    def load(cls, directory: Path, generation: str) -> "LexicalIndex | None":
        """Return the saved index if it matches the store generation, else None."""
        import bm25s

        try:
            records = json.loads((directory / "records.json").read_text("utf-8"))
        except (OSError, ValueError):
            return None
        if records.get("generation") != generation:
            return None
        bm25 = bm25s.BM25.load(str(directory), show_progress=False)
        chunks = [Chunk(**c) for c in records["chunks"]]
        return cls(records["ids"], chunks, bm25, records["df"])

    def scores(self, tokens: list[str]) -> np.ndarray:
        """Return the BM25 score of every chunk for the query tokens."""
        if not tokens or not self.ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)

    def sentence_tokens(self, cid: str) -> list[frozenset[str]]:
        """Return the token sets of a chunk's sentences (cached)."""
        if cid not in self._sentence_tokens:
            text = self.chunks[self.position[cid]].text
            self._sentence_tokens[cid] = [
                frozenset(tokenize(text[s:e])) for s, e in sentence_spans(text)
            ]
        return self._sentence_tokens[cid]

    def weights(self, tokens: list[str]) -> dict[str, float]:
        """Return each distinct query token's share of the query's total IDF."""
        idf = {t: self.idf(t) for t in set(tokens)}
        total = sum(idf.values()) or 1.0
        return {t: w / total for t, w in idf.items()}

    def coverage(self, cid: str, weights: dict[str, float]) -> tuple[float, tuple[float, ...]]:
        """Return how much of the query (see `weights`) the chunk and each sentence contain."""
        sentences = self.sentence_tokens(cid)
        whole = self._chunk_tokens.get(cid)
        if whole is None:
            whole = self._chunk_tokens[cid] = frozenset().union(*sentences)

        asked = frozenset(weights)

        def share(found: frozenset[str]) -> float:
            return sum([weights[t] for t in asked.intersection(found)])

        return share(whole), tuple(share(s) for s in sentences)

    def idf(self, token: str) -> float:
        """Return the token's inverse document frequency; unseen tokens count as rarest."""
        n = len(self.ids)
        df = self._df.get(token, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _searchable(chunk: Chunk) -> str:
    """Index the locator with the text, so speakers, states and sections can be found."""
    return " ".join([chunk.section, chunk.speaker, chunk.state, chunk.text])
