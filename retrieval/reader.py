"""The reader: how likely each candidate sentence is to state the answer to the question.

A small network (`reader.npz`, trained by `bench/train_reader.py` on public SQuAD-format
sets) reads each sentence of the first `DEPTH` passages: the element-wise product of the
question's and the sentence's e5 vectors (both already computed: the question's at search, the
sentence's at ingest), plus hand-made features of the pair: how much of the question the
sentence and its neighbours hold, whether it offers the kind of answer asked for (a date for
"when", a number for "how many", ...), whether it holds the question's own numbers (a year
asked about, not another one), and where the passage ranked. No encoder runs: reading costs
well under a millisecond a sentence.

The reader's best sentence becomes the answer line, and its score (`Signals.reader`) is an
input of the decision: a collection that knows the topic but holds no answering sentence is
declined. It reads e5 vectors only: for another embedder `load` returns None, and the answer
line falls back to coverage and similarity.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from retrieval.question import NUMBER, Kind, kind, offers
from retrieval.text import POINTS_BACK, sentence_spans
from retrieval.types import Passage, Retrieval

DEPTH = 5  # passages read
CROSS_DEPTH = 3  # of them, those whose sentences the cross-encoder may read
CROSS_PAIRS = 16  # sentences it reads at most, the best by the features
WEIGHTS = Path(__file__).with_name("reader.npz")
KINDS: tuple[Kind, ...] = ("who", "when", "where", "number", "why")
FEATURES = (
    "similarity",
    "similarity_vs_passage_best",
    "similarity_vs_best",
    "coverage",
    "neighbour_coverage",
    "coverage_vs_best",
    "passage_coverage",
    "passage_dense",
    "passage_lexical",
    "passage_rank",
    "passage_missing",
    *(f"asks_{k}" for k in KINDS),
    "offers",
    "neighbour_offers",
    "has_numbers",
    "numbers_in_sentence",
    "numbers_in_passage",
    "length",
    "translated",
    "points_back",
)


# chunk id -> the reader's score of each of its sentences, for the passages read
Reading = dict[str, list[float]]


@dataclass(frozen=True, slots=True)
class Pairs:
    """What the reader reads for one question: one row per (passage, sentence)."""

    keys: list[tuple[str, int]]  # (chunk id, sentence number)
    hand: np.ndarray  # [n, len(FEATURES)]
    product: np.ndarray  # [n, dimension]: question vector * sentence vector


def pairs(question: str, found: Retrieval, translated: bool, depth: int = DEPTH) -> Pairs:
    """Return the features of every sentence of the first `depth` passages."""
    passages = found.passages[:depth]
    q = found.query if found.query is not None else np.zeros(0, dtype=np.float32)
    wanted = kind(question)
    numbers = set(NUMBER.findall(question))
    both = [_products(p, found, q) for p in passages]
    products, sims = [x for x, _ in both], [s for _, s in both]
    best_sim = max((float(s.max()) for s in sims if len(s)), default=0.0)
    best_cov = max((max(p.sentence_coverage, default=0.0) for p in passages), default=0.0)
    keys: list[tuple[str, int]] = []
    hand: list[list[float]] = []
    for rank, (p, sim) in enumerate(zip(passages, sims, strict=True)):
        text = p.chunk.text
        spans = sentence_spans(text)
        said = [text[a:b] for a, b in spans]
        offered = [bool(wanted) and offers(wanted, s, question) for s in said]
        cov = p.sentence_coverage
        in_passage = _share(numbers, text)
        for i, sentence in enumerate(said):
            near = [j for j in (i - 1, i + 1) if 0 <= j < len(said)]
            hand.append(
                [
                    float(sim[i]),
                    float(sim[i] - sim.max()),
                    float(sim[i]) - best_sim,
                    cov[i],
                    max((cov[j] for j in near), default=0.0),
                    cov[i] - best_cov,
                    p.coverage,
                    p.dense,
                    math.log1p(p.lexical),
                    1.0 / (1 + rank),
                    p.missing,
                    *(float(wanted == k) for k in KINDS),
                    float(offered[i]),
                    float(any(offered[j] for j in near)),
                    float(bool(numbers)),
                    _share(numbers, sentence),
                    in_passage,
                    math.log1p(len(sentence)),
                    float(translated),
                    float(bool(POINTS_BACK.match(sentence))),
                ]
            )
            keys.append((p.chunk_id, i))
    return Pairs(
        keys,
        np.asarray(hand, dtype=np.float32).reshape(-1, len(FEATURES)),
        np.vstack(products) if products else np.zeros((0, len(q)), np.float32),
    )


def _cross(
    question: str, found: Retrieval, read: Pairs, logits: np.ndarray, cross: Any
) -> np.ndarray:
    """Return the logits with the best candidates' replaced by the cross-encoder's."""
    early = {p.chunk_id for p in found.passages[:CROSS_DEPTH]}
    texts = {p.chunk_id: p.chunk.text for p in found.passages[:CROSS_DEPTH]}
    eligible = [j for j, (cid, _) in enumerate(read.keys) if cid in early]
    chosen = sorted(eligible, key=lambda j: -logits[j])[:CROSS_PAIRS]
    if not chosen:
        return logits
    spans = {cid: sentence_spans(text) for cid, text in texts.items()}
    sentences = []
    for j in chosen:
        cid, i = read.keys[j]
        a, b = spans[cid][i]
        sentences.append(texts[cid][a:b])
    scores: np.ndarray = cross.logits(question, sentences)
    out: np.ndarray = np.minimum(logits, float(scores.min()) - 1.0)
    out[chosen] = scores
    return out


def _products(p: Passage, found: Retrieval, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return each sentence's vector times the question's (one row a sentence) and its cosine
    to the question; zeros where no vector is stored."""
    n = len(p.sentence_coverage)
    out = np.zeros((n, len(q)), dtype=np.float32)
    sims = np.zeros(max(n, 1), dtype=np.float32)
    vectors = found.vectors.get(p.chunk_id)
    if vectors is not None and len(q) and vectors.shape[1] == len(q):
        rows = vectors[:n]
        out[: len(rows)] = rows * q
        sims[: len(rows)] = rows @ q
    return out, sims


def _share(numbers: set[str], text: str) -> float:
    """Return the share of the question's numbers that the text holds."""
    if not numbers:
        return 0.0
    held = set(NUMBER.findall(text))
    return sum(n in held for n in numbers) / len(numbers)


@dataclass(frozen=True, slots=True)
class Reader:
    """A one-hidden-layer network over a pair's standardized hand features and vector product."""

    mean: np.ndarray
    scale: np.ndarray
    hand: np.ndarray  # [len(FEATURES), hidden]
    product: np.ndarray  # [dimension, hidden]
    bias: np.ndarray  # [hidden]
    out: np.ndarray  # [hidden]
    out_bias: float
    dimension: int

    def logits(self, read: Pairs) -> np.ndarray:
        """Return each pair's log-odds that its sentence states the answer."""
        if not read.keys:
            return np.zeros(0, dtype=np.float32)
        x = (read.hand - self.mean) / self.scale
        product = read.product if read.product.shape[1] == self.dimension else 0.0
        h = np.maximum(x @ self.hand + product @ self.product + self.bias, 0.0)
        return h @ self.out + self.out_bias  # type: ignore[no-any-return]

    def read(self, question: str, found: Retrieval, translated: bool, cross: Any = None) -> Reading:
        """Return chunk id -> the probability of each of its sentences, for the passages read.

        With a `cross` encoder (`retrieval.reader_cross.CrossReader`), the `CROSS_PAIRS`
        sentences of the first `CROSS_DEPTH` passages that the features score best are read
        again with the question, and their scores are the cross-encoder's; the others' stay
        below the lowest of those."""
        read = pairs(question, found, translated)
        logits = self.logits(read)
        if cross is not None and read.keys:
            logits = _cross(question, found, read, logits, cross)
        probs = 1.0 / (1.0 + np.exp(-np.clip(logits, -30, 30)))
        out: Reading = {}
        for (cid, _), prob in zip(read.keys, probs, strict=True):
            out.setdefault(cid, []).append(round(float(prob), 4))
        return out

    def save(self, path: Path) -> None:
        """Write the weights as float32 arrays."""
        np.savez_compressed(
            path,
            names=np.array(FEATURES),
            mean=self.mean,
            scale=self.scale,
            hand=self.hand,
            product=self.product,
            bias=self.bias,
            out=self.out,
            out_bias=np.array([self.out_bias], np.float32),
        )


@cache
def load(path: Path = WEIGHTS) -> Reader | None:
    """Return the reader saved at `path`, or None if it is missing or reads other features."""
    try:
        with np.load(path) as z:
            if tuple(str(n) for n in z["names"]) != FEATURES:
                return None
            arrays = {k: z[k].astype(np.float32) for k in z.files if k != "names"}
    except (OSError, KeyError, ValueError):
        return None
    return Reader(
        arrays["mean"],
        arrays["scale"],
        arrays["hand"],
        arrays["product"],
        arrays["bias"],
        arrays["out"],
        float(arrays["out_bias"][0]),
        arrays["product"].shape[0],
    )


def best(reading: Reading, order: Sequence[str]) -> tuple[str, int, float]:
    """Return the chunk id, sentence number and probability of the best sentence read
    (the earlier passage of `order` on a tie); ("", -1, 0.0) when nothing was read."""
    found = ("", -1, 0.0)
    for cid in order:
        for i, prob in enumerate(reading.get(cid, ())):
            if prob > found[2]:
                found = (cid, i, prob)
    return found
