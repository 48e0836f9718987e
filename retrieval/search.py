"""Hybrid search: dense vectors from Chroma and BM25 over jieba tokens, fused by rank."""

import threading
import time
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from langchain_core.embeddings import Embeddings

from retrieval.embeddings import embedder_name, load_embedder
from retrieval.errors import IndexMismatch
from retrieval.lexical import LexicalIndex
from retrieval.settings import Settings
from retrieval.store import Store
from retrieval.text import is_cjk_text, tokenize
from retrieval.types import Chunk, Passage

CANDIDATES = 40
RRF_K = 60
# Rerank of Chinese questions: fused rank + how much of the question a passage (and its best
# sentence) covers. Tuned on ../shared/eval/dev.jsonl + tests/data/calibration.jsonl.
RERANK_DEPTH = 30
PASSAGE_COVERAGE = 1.0
SENTENCE_COVERAGE = 0.5


def fuse(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int = RRF_K
) -> list[tuple[str, float]]:
    """Reciprocal rank fusion: (id, weighted sum of 1 / (k + rank)), best first."""
    scores: dict[str, float] = defaultdict(float)
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, cid in enumerate(ranking):
            scores[cid] += weight / (k + rank + 1)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


class Searcher:
    """Opens the index once and answers many searches against it."""

    def __init__(
        self, settings: Settings, embedder: Embeddings | None = None, chunker: str | None = None
    ) -> None:
        self.settings = settings
        self.embedder = embedder or load_embedder(settings.embedder)
        warming = threading.Thread(target=_warm, args=(self.embedder,), daemon=True)
        warming.start()  # the model and dictionary load while Chroma starts: half a cold start
        self.store = Store(settings)
        try:
            info = self.store.info()
        finally:
            warming.join()
        wanted = embedder_name(self.embedder)
        if info.get("embedder") != wanted:
            raise IndexMismatch(
                f"the index was built with embedder {info.get('embedder')!r}, not {wanted!r}: "
                "run `citeqa ingest` to rebuild it"
            )
        if chunker and info.get("chunker") != chunker:
            raise IndexMismatch(
                f"the index was built with chunker {info.get('chunker')!r}, not {chunker!r}: "
                "run `citeqa ingest` to rebuild it"
            )
        self.lexical = self._lexical(str(info.get("generation", "")))
        self.sources = sorted({c.source for c in self.lexical.chunks})

    def _lexical(self, generation: str) -> LexicalIndex:
        directory = self.settings.index_dir / "lexical"
        index = LexicalIndex.load(directory, generation)
        if index is None:
            index = LexicalIndex.build(self.store.records())
            index.save(directory, generation)
        return index

    def resolve_source(self, name: str) -> str | None:
        """Return the one source a user's document name refers to, if exactly one."""
        if name in self.sources:
            return name
        hits = [s for s in self.sources if name.lower() in s.lower()]
        return hits[0] if len(hits) == 1 else None

    def search(
        self,
        question: str,
        source: str | None = None,
        speaker: str | None = None,
        timings: dict[str, float] | None = None,
    ) -> tuple[list[Passage], list[str], list[float]]:
        """Return fused candidate passages, best first, the question's tokens and vector."""
        t0 = time.perf_counter()
        vector = self.embedder.embed_query(question)
        t1 = time.perf_counter()
        position = self.lexical.position
        dense = [
            hit
            for hit in self.store.query(vector, CANDIDATES, _where(source, speaker))
            if hit[0] in position  # always, unless an ingest runs concurrently
        ]
        t2 = time.perf_counter()
        tokens = tokenize(question)
        lexical = self._lexical_hits(tokens, source, speaker)
        t3 = time.perf_counter()
        cjk = is_cjk_text(question)
        fused = fuse(
            [[cid for cid, _ in dense], [cid for cid, _ in lexical]],
            [1.0, 1.0] if cjk else [1.0, 0.3],
        )
        passages = self._passages(fused[:CANDIDATES], dense, lexical, tokens)
        if cjk:
            passages = _rerank(passages, fused[0][1] if fused else 1.0)
        if timings is not None:
            timings |= {"embed": t1 - t0, "dense": t2 - t1, "lexical": t3 - t2}
        return passages, tokens, vector

    def _lexical_hits(
        self, tokens: list[str], source: str | None, speaker: str | None
    ) -> list[tuple[str, float]]:
        scores = self.lexical.scores(tokens)
        chunks = self.lexical.chunks
        if source or speaker:
            keep = np.array([_matches(c, source, speaker) for c in chunks], dtype=bool)
            scores = np.where(keep, scores, 0.0)
        top = np.argsort(-scores, kind="stable")[:CANDIDATES]
        return [(self.lexical.ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def _passages(
        self,
        fused: list[tuple[str, float]],
        dense: list[tuple[str, float]],
        lexical: list[tuple[str, float]],
        tokens: list[str],
    ) -> list[Passage]:
        dense_at = {cid: (rank, sim) for rank, (cid, sim) in enumerate(dense)}
        lexical_at = {cid: (rank, score) for rank, (cid, score) in enumerate(lexical)}
        weights = self.lexical.weights(tokens)
        out: list[Passage] = []
        for cid, score in fused:
            d = dense_at.get(cid)
            lx = lexical_at.get(cid)
            passage_coverage, sentence_coverage = self.lexical.coverage(cid, weights)
            out.append(
                Passage(
                    chunk=self.lexical.chunks[self.lexical.position[cid]],
                    chunk_id=cid,
                    score=score,
                    dense=d[1] if d else 0.0,
                    lexical=lx[1] if lx else 0.0,
                    dense_rank=d[0] if d else None,
                    lexical_rank=lx[0] if lx else None,
                    coverage=passage_coverage,
                    sentence_coverage=sentence_coverage,
                )
            )
        return out


def _rerank(passages: list[Passage], top: float) -> list[Passage]:
    """Reorder the head by fused score plus how much of the question each passage covers."""

    def score(p: Passage) -> float:
        best_sentence = max(p.sentence_coverage, default=0.0)
        return p.score / top + PASSAGE_COVERAGE * p.coverage + SENTENCE_COVERAGE * best_sentence

    head = sorted(passages[:RERANK_DEPTH], key=lambda p: -score(p))
    return head + passages[RERANK_DEPTH:]


def _warm(embedder: Embeddings) -> None:
    tokenize("预热")
    warm = getattr(embedder, "warm", None)
    if warm is not None:
        warm()


def _where(source: str | None, speaker: str | None) -> dict[str, object] | None:
    clauses: list[dict[str, object]] = []
    if source:
        clauses.append({"source": source})
    if speaker:
        clauses.append({"$or": [{"speaker": speaker}, {"state": speaker}]})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}


def _matches(chunk: Chunk, source: str | None, speaker: str | None) -> bool:
    return (not source or chunk.source == source) and (
        not speaker or speaker in (chunk.speaker, chunk.state)
    )
