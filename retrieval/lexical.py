"""BM25 over jieba tokens, kept beside the vector store and rebuilt when it is stale."""

import dataclasses
import json
import math
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.bilingual import build_lexicon, query_terms
from retrieval.errors import IndexMissing
from retrieval.text import sentence_spans, tokenize
from retrieval.types import Chunk

# A question's terms: for each word, the index tokens that stand for it (one for a Chinese
# question; the dictionary's translations for an English question against Chinese text).
Terms = list[frozenset[str]]


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
    """A BM25 index of chunks, with the chunks themselves for look-ups."""

    def __init__(
        self,
        ids: list[str],
        chunks: list[Chunk],
        bm25: Any,
        df: dict[str, int],
        lexicon: dict[str, list[str]],
    ) -> None:
        self.ids = ids
        self.chunks = chunks
        self.position = {cid: i for i, cid in enumerate(ids)}
        self._bm25 = bm25
        self._df = df
        self._lexicon = lexicon
        self._sentence_tokens: dict[str, list[frozenset[str]]] = {}
        self._chunk_tokens: dict[str, frozenset[str]] = {}

    @classmethod
    def build(cls, records: Iterable[tuple[str, Chunk]]) -> "LexicalIndex":
        """Tokenize and index (id, chunk) records."""
        import bm25s

        pairs = sorted(records, key=lambda r: (r[1].source, r[1].start, r[0]))
        if not pairs:
            raise IndexMissing(
                "the index holds no passages: put documents in the data dir and run `citeqa ingest`"
            )
        ids = [cid for cid, _ in pairs]
        chunks = [chunk for _, chunk in pairs]
        tokens = [tokenize(_searchable(c)) or ["\u2205"] for c in chunks]
        bm25 = bm25s.BM25()
        bm25.index(tokens, show_progress=False)
        df = dict(Counter(t for toks in tokens for t in set(toks)))
        return cls(ids, chunks, bm25, df, build_lexicon(df, df))

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
            "lexicon": self._lexicon,
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
        return cls(records["ids"], chunks, bm25, records["df"], records.get("lexicon", {}))

    def terms(self, tokens: list[str], translate: bool) -> Terms:
        """Return the question's terms; `translate` looks English words up in the lexicon."""
        if translate:
            return query_terms(tokens, self._lexicon, self._df)
        return [frozenset([t]) for t in dict.fromkeys(tokens)]

    def scores(self, terms: Terms, tokens: list[str] | None = None) -> np.ndarray:
        """Return the BM25 score of every chunk: a term scores by its best alternative, or,
        given the question's own `tokens`, plain BM25 over them."""
        if not terms or not self.ids:
            return np.zeros(len(self.ids), dtype=np.float32)
        if tokens is not None:
            return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)
        total = np.zeros(len(self.ids), dtype=np.float32)
        for term in terms:
            best = np.max([self._bm25.get_scores([alt]) for alt in sorted(term)], axis=0)
            total += np.asarray(best, dtype=np.float32)
        return total

    def sentence_tokens(self, cid: str) -> list[frozenset[str]]:
        """Return the token sets of a chunk's sentences (cached)."""
        if cid not in self._sentence_tokens:
            text = self.chunks[self.position[cid]].text
            self._sentence_tokens[cid] = [
                frozenset(tokenize(text[s:e])) for s, e in sentence_spans(text)
            ]
        return self._sentence_tokens[cid]

    def weights(self, terms: Terms) -> Weights:
        """Return each term's alternatives weighted by IDF, as shares of the question's total.

        A term weighs as much as its rarest alternative; finding a commoner one earns less.
        """
        idf = [{alt: self.idf(alt) for alt in term} for term in terms]
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
        n = len(self.ids)
        df = self._df.get(token, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))


def _searchable(chunk: Chunk) -> str:
    """Index the locator with the text, so speakers, states and sections can be found."""
    return " ".join([chunk.section, chunk.speaker, chunk.state, chunk.text])
