"""Hybrid search: dense vectors from Chroma and BM25 over jieba tokens, fused by rank."""

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

import numpy as np
from langchain_core.embeddings import Embeddings

from retrieval.embeddings import embedder_name, settings_embedder, signature
from retrieval.errors import IndexMismatch
from retrieval.lexical import Terms, Weights, open_index, require_passages
from retrieval.settings import Settings
from retrieval.store import LAYOUT, Store
from retrieval.text import Language, language, tokenize
from retrieval.types import Passage, Retrieval

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Rerank:
    """Weights of the rerank: fused rank, plus how much of the question a passage and its best
    sentence hold, plus their cosine similarity to the question."""

    passage_coverage: float
    sentence_coverage: float
    sentence_dense: float
    dense: float
    # Footnotes cite sources; they match a question's names and titles without answering it.
    footnote: float = 0.5

    def score(self, p: Passage, top: float) -> float:
        """Return the passage's rerank score; `top` is the best fused score."""
        return (
            p.score / top
            + self.passage_coverage * p.coverage
            + self.sentence_coverage * max(p.sentence_coverage, default=0.0)
            + self.sentence_dense * p.sentence_dense
            + self.dense * p.dense
            - (self.footnote if p.chunk.footnote else 0.0)
        )


@dataclass(frozen=True, slots=True)
class Ranking:
    """Every constant of the search, in one place."""

    candidates: int  # passages taken from each of dense and BM25 search
    sentence_candidates: int  # sentences of the candidates kept, nearest first
    sentence_weight: float  # the sentence ranking's weight in the fusion
    lexical_weight: Mapping[Language, float]  # BM25's weight in the fusion, by question language
    rrf_k: int  # reciprocal rank fusion's k
    rerank_depth: int  # how many fused passages the rerank reorders
    rerank: Mapping[Language, Rerank]
    # Added in the rerank to passages of the documents a follow-up's previous answer cited.
    prefer: float


# Chosen on ../shared/eval/dev.jsonl and XQuAD-even (bench/public.py). An English question
# reaches Chinese passages through dictionary terms, a noisier match than a Chinese question's
# own words: BM25 counts for less there, and similarity for more.
RANKING = Ranking(
    candidates=40,
    sentence_candidates=60,
    sentence_weight=1.0,
    lexical_weight=MappingProxyType({"zh": 1.0, "en": 0.25}),
    rrf_k=60,
    rerank_depth=30,
    prefer=0.2,
    rerank=MappingProxyType(
        {
            "zh": Rerank(
                passage_coverage=1.0, sentence_coverage=0.5, sentence_dense=0.5, dense=0.5
            ),
            "en": Rerank(
                passage_coverage=0.5, sentence_coverage=0.25, sentence_dense=2.0, dense=1.0
            ),
        }
    ),
)


def fuse(
    rankings: Sequence[Sequence[str]], weights: Sequence[float], k: int = RANKING.rrf_k
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
        self,
        settings: Settings,
        embedder: Embeddings | None = None,
        chunker: str | None = None,
        ranking: Ranking = RANKING,
        fresh: bool = False,
    ) -> None:
        """`fresh` reopens the store (see `Store`): to see another process's ingest."""
        self.settings = settings
        self.ranking = ranking
        self.embedder = embedder or settings_embedder(settings)
        warming = threading.Thread(target=_warm, args=(self.embedder,), daemon=True)
        warming.start()  # the model and dictionary load while Chroma starts: half a cold start
        self.store = Store(settings, fresh)
        try:
            info = self.store.info()
            self._check(info, chunker)
            # the last finished ingest (an index written before `ready` existed: its generation)
            self.generation = str(info.get("ready") or info.get("generation", ""))
            self.lexical = open_index(settings.index_dir)
            self.titles = self.repairing(lambda: self._lexical(self.generation))
        finally:
            warming.join()
        self.sources = sorted(self.titles)

    def _check(self, info: dict[str, object], chunker: str | None) -> None:
        wanted = embedder_name(self.embedder)
        if info.get("embedder") != wanted:
            raise IndexMismatch(
                f"the index was built with embedder {info.get('embedder')!r}, not {wanted!r}: "
                "run `citeqa ingest` to rebuild it"
            )
        if info.get("embedding") != signature(self.embedder):
            raise IndexMismatch(
                f"the index was built with other embedding settings ({info.get('embedding')}) "
                f"than now ({signature(self.embedder)}): run `citeqa ingest` to rebuild it"
            )
        if info.get("layout") != LAYOUT:
            raise IndexMismatch(
                "the index was built by an earlier citeqa: run `citeqa ingest` to rebuild it"
            )
        if chunker and info.get("chunker") != chunker:
            raise IndexMismatch(
                f"the index was built with chunker {info.get('chunker')!r}, not {chunker!r}: "
                "run `citeqa ingest` to rebuild it"
            )

    def _lexical(self, generation: str) -> dict[str, str]:
        """Bring the keyword index in line with the store if it lags behind it (a replica's
        first start, an index dir restored from elsewhere, a damaged file rebuilt); return
        its documents' titles."""
        if self.lexical.generation != generation:
            self.lexical.sync(self.store, generation)
        require_passages(self.lexical)
        return self.lexical.sources()

    def terms_of(self, text: str) -> Terms:
        """Return a text's words as the keyword index's tokens, as a search looks them up (an
        English word against Chinese passages by its translations)."""
        return self.lexical.terms(tokenize(text), translate=language(text) != "zh")

    def repairing(self, work: Callable[[], T]) -> T:
        """Run `work`, again after rebuilding the keyword index if it met damage there."""
        return self.lexical.repairing(self.store, self.generation, work)

    def sentence_similarity(
        self, passages: Sequence[Passage], found: Retrieval
    ) -> dict[str, list[float]]:
        """Return chunk id -> the cosine similarity of each of its sentences to the question.

        Sentences beyond the nearest ones searched count as the farthest of those.
        """
        floor = min(found.sentences.values(), default=0.0)
        return {
            p.chunk_id: [
                found.sentences.get(f"{p.chunk_id}:{n}", floor)
                for n in range(len(p.sentence_coverage))
            ]
            for p in passages
        }

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
        exclude: str | None = None,
        lang: Language | None = None,
        prefer: Sequence[str] = (),
        vector: list[float] | None = None,
    ) -> Retrieval:
        """Return fused candidate passages, best first, with what the question was searched as.

        `source` and `speaker` keep only passages of that document or speaker; `exclude`
        leaves one document out; `lang` is the question's language (decided here if None);
        passages of the documents in `prefer` gain `Ranking.prefer` in the rerank; `vector`
        is the question's embedding where the caller has it already.
        """
        r = self.ranking
        lang = lang or language(question)
        t0 = time.perf_counter()
        vector = self.embedder.embed_query(question) if vector is None else vector
        t1 = time.perf_counter()
        where = _where(source, speaker, exclude)
        dense = self.store.query(vector, r.candidates, where)
        t2 = time.perf_counter()
        tokens = tokenize(question)
        cjk = lang == "zh"
        terms = self.lexical.terms(tokens, translate=not cjk)
        lexical = self._lexical_hits(terms, tokens if cjk else None, source, speaker, exclude)
        t3 = time.perf_counter()
        # the keyword index holds them all, unless an ingest runs concurrently
        known = self.lexical.known(cid for cid, _ in dense)
        dense = [hit for hit in dense if hit[0] in known]
        query = np.asarray(vector, dtype=np.float32)
        vectors = self.lexical.vectors([cid for cid, _ in dense + lexical], len(query))
        sentence_hits = self._sentence_hits(query, vectors)
        sentences: dict[str, tuple[float, int]] = {}
        for sid, sim in sentence_hits.items():
            cid, _, n = sid.rpartition(":")
            if cid not in sentences:
                sentences[cid] = (sim, int(n))
        fused = fuse(
            [[cid for cid, _ in dense], list(sentences), [cid for cid, _ in lexical]],
            [1.0, r.sentence_weight, r.lexical_weight[lang]],
            r.rrf_k,
        )
        weights = self.lexical.weights(terms)
        head = fused[: r.candidates]
        # a passage that BM25 or its sentences found but dense search did not is still scored
        # by its own vector's similarity, not as if it had none
        similar = dict(dense)
        similar |= self._similarity(query, [cid for cid, _ in head if cid not in similar])
        passages = self._passages(head, dense, similar, sentences, lexical, weights)
        top = fused[0][1] if fused else 1.0
        bonus = {s: r.prefer for s in prefer}
        passages = rerank(passages, top, r.rerank[lang], r.rerank_depth, bonus)
        if timings is not None:
            timings |= {"embed": t1 - t0, "dense": t2 - t1, "lexical": t3 - t2}
        return Retrieval(passages, sentence_hits, query, vectors)

    def _sentence_hits(self, query: np.ndarray, found: dict[str, np.ndarray]) -> dict[str, float]:
        """Return the `Ranking.sentence_candidates` sentences (`CHUNK:N`) of the candidate
        passages (`found`: their sentence vectors) nearest to the question, nearest first."""
        sims = [
            (f"{cid}:{n}", float(sim))
            for cid, rows in found.items()
            for n, sim in enumerate(rows @ query)
        ]
        sims.sort(key=lambda hit: -hit[1])
        return dict(sims[: self.ranking.sentence_candidates])

    def _similarity(self, query: np.ndarray, ids: list[str]) -> dict[str, float]:
        """Return id -> the cosine similarity of the chunk's stored vector to the question
        (every embedder's vectors are unit length, as in `_sentence_hits`)."""
        found = self.store.embeddings(ids) if ids else {}
        return {cid: float(np.asarray(v, dtype=np.float32) @ query) for cid, v in found.items()}

    def _lexical_hits(
        self,
        terms: Terms,
        tokens: list[str] | None,
        source: str | None,
        speaker: str | None,
        exclude: str | None,
    ) -> list[tuple[str, float]]:
        return self.lexical.top(terms, tokens, self.ranking.candidates, source, speaker, exclude)

    def _passages(
        self,
        fused: list[tuple[str, float]],
        dense: list[tuple[str, float]],
        similar: dict[str, float],
        sentences: dict[str, tuple[float, int]],
        lexical: list[tuple[str, float]],
        weights: Weights,
    ) -> list[Passage]:
        """`dense` is dense search's ranking; `similar` the cosine similarity of every
        passage whose vector could be read."""
        dense_at = {cid: rank for rank, (cid, _) in enumerate(dense)}
        lexical_at = {cid: (rank, score) for rank, (cid, score) in enumerate(lexical)}
        chunks = self.lexical.chunks(cid for cid, _ in fused)
        out: list[Passage] = []
        for cid, score in fused:
            if cid not in chunks:  # removed by an ingest since it was found
                continue
            d = dense_at.get(cid)
            lx = lexical_at.get(cid)
            passage_coverage, sentence_terms = self.lexical.coverage(cid, weights)
            out.append(
                Passage(
                    chunk=chunks[cid],
                    chunk_id=cid,
                    score=score,
                    dense=similar.get(cid, 0.0),
                    lexical=lx[1] if lx else 0.0,
                    dense_rank=d,
                    sentence_dense=sentences[cid][0] if cid in sentences else 0.0,
                    lexical_rank=lx[0] if lx else None,
                    coverage=passage_coverage,
                    sentence_coverage=tuple(sum(w for _, w in h) for h in sentence_terms),
                    sentence_terms=sentence_terms,
                    missing=self.lexical.missing(cid, weights),
                    language=self.lexical.language(chunks[cid].source),
                )
            )
        return out


def rerank(
    passages: list[Passage],
    top: float,
    weights: Rerank,
    depth: int,
    bonus: Mapping[str, float] | None = None,
) -> list[Passage]:
    """Reorder the first `depth` passages by fused score, question coverage and similarity,
    plus a `bonus` by document."""
    extra = bonus or {}
    head = sorted(
        passages[:depth], key=lambda p: -(weights.score(p, top) + extra.get(p.chunk.source, 0.0))
    )
    return head + passages[depth:]


def _warm(embedder: Embeddings) -> None:
    tokenize("预热")
    warm = getattr(embedder, "warm", None)
    if warm is not None:
        warm()


def _where(
    source: str | None, speaker: str | None, exclude: str | None = None
) -> dict[str, object] | None:
    clauses: list[dict[str, object]] = []
    if source:
        clauses.append({"source": source})
    if exclude:
        clauses.append({"source": {"$ne": exclude}})
    if speaker:
        clauses.append({"$or": [{"speaker": speaker}, {"state": speaker}]})
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$and": clauses}
