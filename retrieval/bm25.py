"""BM25 scores and the question's term weights: pure functions over arrays and token sets."""

import math
from dataclasses import dataclass

import numpy as np

K1, B = 1.5, 0.75  # BM25, Lucene variant: the scores bm25s gave before this index


def idf(df: int, n: int) -> float:
    """Return a token's inverse document frequency (Lucene's, never negative)."""
    return math.log(1 + (n - df + 0.5) / (df + 0.5))


def bm25(tfs: np.ndarray, lengths: np.ndarray, n: int, avg: float) -> np.ndarray:
    """Return one token's BM25 score in each chunk of its posting list."""
    weight = np.float32(idf(len(tfs), n))
    norm = np.float32(K1) * (1 - np.float32(B) + np.float32(B) * lengths / np.float32(avg))
    return np.asarray(weight * tfs / (norm + tfs), dtype=np.float32)


def best_docs(scores: np.ndarray, n: int) -> list[int]:
    """Return the rows of the `n` best scores above 0, best first, ties in document order."""
    hits = np.flatnonzero(scores > 0)
    if len(hits) > n:
        hits = hits[np.argpartition(-scores[hits], n - 1)[:n]]
    return [int(d) for d in hits[np.lexsort((hits, -scores[hits]))]]


@dataclass(frozen=True, slots=True)
class Weights:
    """Each term's alternatives with their share of the question's weight (see `weights`)."""

    terms: list[dict[str, float]]
    # token -> (term index, weight) of every term it is an alternative of
    by_token: dict[str, tuple[tuple[int, float], ...]]

    def share(self, found: frozenset[str]) -> float:
        """Return the share of the question that a set of tokens holds."""
        return sum(self.held(found).values())

    def held(self, found: frozenset[str]) -> dict[int, float]:
        """Return the question's terms that a set of tokens holds: term index -> the share
        its best alternative found earns."""
        best: dict[int, float] = {}
        for token in found.intersection(self.by_token):
            for term, w in self.by_token[token]:
                if w > best.get(term, 0.0):
                    best[term] = w
        return best

    def missing(self, whole: frozenset[str]) -> float:
        """Return the largest share of the question held by a term `whole` lacks."""
        return max(
            (max(alts.values()) for alts in self.terms if whole.isdisjoint(alts)), default=0.0
        )


def weigh(idf_by_term: list[dict[str, float]]) -> Weights:
    """Return each term's alternatives weighted by IDF, as shares of the question's total.

    A term weighs as much as its rarest alternative; finding a commoner one earns less.
    """
    total = sum(max(alts.values()) for alts in idf_by_term) or 1.0
    shares = [{alt: w / total for alt, w in alts.items()} for alts in idf_by_term]
    by_token: dict[str, list[tuple[int, float]]] = {}
    for i, alts in enumerate(shares):
        for alt, w in alts.items():
            by_token.setdefault(alt, []).append((i, w))
    return Weights(shares, {t: tuple(v) for t, v in by_token.items()})
