"""Questions in, cited answers out: the one object every front end talks to."""

import re
import time
import unicodedata
from collections.abc import Callable

import numpy as np
from langchain_core.embeddings import Embeddings

from retrieval.answer import compose
from retrieval.errors import BadQuestion
from retrieval.search import Searcher
from retrieval.settings import Settings
from retrieval.text import is_cjk_text
from retrieval.types import Answer, Chunk, Passage


def clean_question(text: str, max_chars: int) -> str:
    """Return the question with control characters removed; raise BadQuestion if unusable."""
    text = "".join(" " if unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") else c for c in text)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise BadQuestion("The question is empty: type a question about the documents.")
    if len(text) > max_chars:
        raise BadQuestion(
            f"The question is too long ({len(text)} characters; the limit is {max_chars})."
        )
    if not any(c.isalnum() for c in text):
        raise BadQuestion("The question has no words to search for.")
    return text


class QA:
    """Answers questions from one index; safe to share between threads."""

    def __init__(
        self, settings: Settings, embedder: Embeddings | None = None, chunker: str | None = None
    ) -> None:
        self.settings = settings
        self.searcher = Searcher(settings, embedder, chunker)
        # Sentence vectors for highlighting answers to non-Chinese questions, where word
        # overlap with the Chinese text says nothing; bounded by the size of the collection.
        self._sentence_vectors: dict[str, list[float]] = {}

    @property
    def sources(self) -> dict[str, str]:
        """Return source -> title of every indexed document."""
        return {c.source: c.title for c in self.searcher.lexical.chunks}

    def chunk(self, chunk_id: str) -> Chunk | None:
        """Return an indexed chunk by id, or None if the index no longer holds it."""
        lexical = self.searcher.lexical
        at = lexical.position.get(chunk_id)
        return None if at is None else lexical.chunks[at]

    def chunk_counts(self) -> dict[str, int]:
        """Return source -> number of chunks."""
        counts: dict[str, int] = {}
        for c in self.searcher.lexical.chunks:
            counts[c.source] = counts.get(c.source, 0) + 1
        return counts

    def retrieve(
        self, question: str, source: str | None = None, speaker: str | None = None
    ) -> tuple[list[Passage], list[str], list[float]]:
        """Return ranked passages for a question without composing an answer."""
        return self.searcher.search(
            clean_question(question, self.settings.max_question_chars), source, speaker
        )

    def ask(
        self,
        question: str,
        k: int | None = None,
        source: str | None = None,
        speaker: str | None = None,
    ) -> Answer:
        """Answer a question with cited passages, or decline."""
        started = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        timings: dict[str, float] = {}
        passages, tokens, vector = self.searcher.search(question, source, speaker, timings)
        retrieved = time.perf_counter()
        cjk = is_cjk_text(question) or not tokens
        similarity = None if cjk else self._similarity(vector)
        answer = compose(question, passages, k or self.settings.top_k, cjk, similarity)
        done = time.perf_counter()
        answer.timings_ms.update(
            {name: round(v * 1000, 2) for name, v in timings.items()}
            | {
                "retrieve": round((retrieved - started) * 1000, 2),
                "total": round((done - started) * 1000, 2),
            }
        )
        return answer

    def _similarity(self, vector: list[float]) -> Callable[[list[str]], list[float]]:
        query = np.asarray(vector, dtype=np.float32)

        def similarity(sentences: list[str]) -> list[float]:
            missing = [s for s in dict.fromkeys(sentences) if s not in self._sentence_vectors]
            if missing:
                vectors = self.searcher.embedder.embed_documents(missing)
                self._sentence_vectors.update(zip(missing, vectors, strict=True))
            if not sentences:
                return []
            matrix = np.asarray([self._sentence_vectors[s] for s in sentences], dtype=np.float32)
            return (matrix @ query).tolist()  # type: ignore[no-any-return]

        return similarity
