"""Questions in, cited answers out: the one object every front end talks to."""

import contextlib
import logging
import re
import threading
import time
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

from langchain_core.embeddings import Embeddings

from retrieval.answer import (
    BASELINED,
    REFERENCE,
    SIGNAL_DEPTH,
    compose,
    decision_for,
    features,
    reader_for,
    signals,
)
from retrieval.baseline import SAMPLES, Baseline, measure
from retrieval.chat import ChatClient, Draft
from retrieval.conversation import Resolved, Turn, resolve
from retrieval.embeddings import embed_queries, embedder_name
from retrieval.errors import BadQuestion, EmbedderError
from retrieval.reader_cross import CrossReader
from retrieval.reader_cross import load as load_cross
from retrieval.rewrite import Rewriter, keeps_subject
from retrieval.search import RANKING, Ranking, Searcher
from retrieval.settings import Settings
from retrieval.text import Language, language
from retrieval.types import Answer, Chunk, Retrieval
from retrieval.write import Writer

logger = logging.getLogger(__name__)
RELOAD_EVERY = 2.0  # seconds between checks for a newer finished index


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


@dataclass(frozen=True, slots=True)
class _Asked:
    """A question as searched: cleaned, resolved, its language, and the generation used."""

    question: str
    text: str
    lang: Language
    searcher: Searcher
    baseline: Baseline | None


class QA:
    """Answers questions from one index; safe to share between threads.

    A long-running QA (the bot, `ask --json -`) picks up a finished ingest, from this process
    or another replica, within `RELOAD_EVERY` seconds: the new index is opened beside the old
    one and swapped in whole, so every answer comes from one index generation.
    """

    def __init__(
        self,
        settings: Settings,
        embedder: Embeddings | None = None,
        chunker: str | None = None,
        ranking: Ranking = RANKING,
    ) -> None:
        self.settings = settings
        self.chunker = chunker
        self.ranking = ranking
        searcher = Searcher(settings, embedder, chunker, ranking)
        self._current = (searcher, _baseline(settings, searcher))
        self._lock = threading.Lock()
        self._checked = time.monotonic()
        self.chat = ChatClient(settings) if settings.llm_url else None
        self.rewriter = Rewriter(settings, self.chat) if self.chat else None
        self.writer = (
            Writer(self.chat, settings.write_timeout) if self.chat and settings.write else None
        )

    @cached_property
    def cross(self) -> CrossReader | None:
        """Return the cross-encoder reader of the default embedder (None for another one, when
        its weights are not there, or when it cannot be loaded: the feature reader's scores
        are then shown alone)."""
        try:
            return load_cross(self.searcher.embedder)
        except EmbedderError as e:
            logger.warning("reading without the cross-encoder: %s", e)
            return None

    @property
    def searcher(self) -> Searcher:
        """Return the searcher of the index generation in use."""
        return self._current[0]

    @property
    def baseline(self) -> Baseline | None:
        """Return the baseline of the index generation in use."""
        return self._current[1]

    def refresh(self, force: bool = False) -> bool:
        """Switch to a newer finished index generation, if any; return True when switched.

        Checks at most every `RELOAD_EVERY` seconds unless `force`d.
        """
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_EVERY:
            return False
        with self._lock:
            self._checked = now
            current = self.searcher
            if current.store.ready() in ("", current.generation):
                return False
            searcher = Searcher(
                self.settings, current.embedder, self.chunker, self.ranking, fresh=True
            )
            self._current = (searcher, _baseline(self.settings, searcher))
            return True

    def stop(self) -> None:
        """Give up on chat-model calls in flight (a bot shutting down): questions still
        being answered fall back to the built-in rules at once."""
        if self.chat is not None:
            self.chat.stop()

    @property
    def sources(self) -> dict[str, str]:
        """Return source -> title of every indexed document."""
        return dict(self.searcher.titles)

    @property
    def documents(self) -> list[str]:
        """Return the indexed sources, sorted."""
        return self.searcher.sources

    def resolve_source(self, name: str) -> str | None:
        """Return the one source a user's document name refers to, if exactly one."""
        return self.searcher.resolve_source(name)

    def chunk(self, chunk_id: str) -> Chunk | None:
        """Return an indexed chunk by id, or None if the index no longer holds it."""
        return self.searcher.lexical.chunk(chunk_id)

    def chunk_counts(self) -> dict[str, int]:
        """Return source -> number of chunks."""
        return self.searcher.lexical.counts()

    def retrieve(
        self,
        question: str,
        source: str | None = None,
        speaker: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Retrieval:
        """Return ranked passages for a question without composing an answer."""
        return self.searcher.repairing(lambda: self._search(question, source, speaker, history)[1])

    def writes(self, answer: Answer) -> bool:
        """Return whether `write` would ask the chat model about this answer."""
        return self.writer is not None and not answer.abstained and bool(answer.citations)

    def write(self, answer: Answer, on_draft: Draft | None = None) -> Answer:
        """Return the answer with the chat model's checked written answer (`written`), when a
        writer is configured and citeqa answered; `on_draft` sees the reply as it streams.
        The model saying the passages do not answer turns the answer into a decline that
        offers them as the closest passages."""
        if not self.writes(answer) or self.writer is None:  # None: only for the type checker
            return answer
        written = self.writer.write(
            answer.question,
            answer.citations,
            answer.language,
            self.searcher.lexical.translations,
            on_draft,
        )
        answer.timings_ms["write"] = written.ms
        if written.declined:
            return replace(
                answer, abstained=True, citations=[], closest=answer.citations, written=written
            )
        return replace(answer, written=written)

    def _resolve(self, question: str, history: Sequence[Turn], searcher: Searcher) -> Resolved:
        """Return what to search for a (clean) question after the conversation's earlier
        turns: the chat model's rewrite when one is configured and answers, else the rules."""
        if history and self.rewriter is not None:
            rewritten = self.rewriter.rewrite(question, history)
            if rewritten is not None and not keeps_subject(
                rewritten, question, history, searcher.terms_of, searcher.lexical.idf
            ):
                logger.warning("the rewrite left the conversation's subject; using the rules")
                rewritten = None
            if rewritten is not None:
                prefer = history[-1].sources[:1] if rewritten != question else ()
                return Resolved(rewritten, prefer)
        return resolve(question, history, searcher.lexical.idf)

    def _search(
        self,
        question: str,
        source: str | None,
        speaker: str | None,
        history: Sequence[Turn],
        timings: dict[str, float] | None = None,
    ) -> tuple[_Asked, Retrieval]:
        """Clean, resolve and search a question, all against one index generation."""
        self.refresh()
        searcher, baseline = self._current
        question = clean_question(question, self.settings.max_question_chars)
        resolved = self._resolve(question, history, searcher)
        lang = language(question)  # the user's: a follow-up may carry words of another language
        found = searcher.search(
            resolved.text, source, speaker, timings, lang=lang, prefer=resolved.prefer
        )
        return _Asked(question, resolved.text, lang, searcher, baseline), found

    def ask(
        self,
        question: str,
        k: int | None = None,
        source: str | None = None,
        speaker: str | None = None,
        history: Sequence[Turn] = (),
    ) -> Answer:
        """Answer a question with cited passages, or decline; `history` holds the
        conversation's earlier turns, oldest first, for follow-up questions. A keyword index
        found damaged on the way is rebuilt from the store, and the question asked again."""
        return self.searcher.repairing(lambda: self._answer(question, k, source, speaker, history))

    def _answer(
        self,
        question: str,
        k: int | None,
        source: str | None,
        speaker: str | None,
        history: Sequence[Turn],
    ) -> Answer:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        asked, found = self._search(question, source, speaker, history, timings)
        retrieved = time.perf_counter()
        similarity = asked.searcher.sentence_similarity(found.passages[:SIGNAL_DEPTH], found)
        k = k or self.settings.top_k
        name = embedder_name(asked.searcher.embedder)
        reader = reader_for(name)
        translated = asked.lang != "zh"
        cross = self.cross if reader else None
        reading = reader.read(asked.question, found, translated, cross) if reader else None
        read = time.perf_counter()
        answer = compose(
            asked.question,
            found,
            k,
            asked.lang,
            similarity,
            asked.baseline,
            decision=decision_for(name),
            reading=reading,
        )
        answer = replace(answer, asked_as=asked.text)
        done = time.perf_counter()
        answer.timings_ms.update(
            {name: round(v * 1000, 2) for name, v in timings.items()}
            | {
                "retrieve": round((retrieved - started) * 1000, 2),
                "read": round((read - retrieved) * 1000, 2),
                "total": round((done - started) * 1000, 2),
            }
        )
        return answer


def _baseline(settings: Settings, searcher: Searcher) -> Baseline | None:
    """Load this index generation's baseline, or measure and save it (about a second)."""
    path = settings.index_dir / "baseline.json"
    generation = searcher.generation
    found = Baseline.load(path, generation)
    if found is None or len(found.mean) != len(REFERENCE.mean):  # measured by another version

        def features_without(probes: list[tuple[str, str]]) -> list[tuple[float, ...]]:
            vectors = embed_queries(searcher.embedder, [q for q, _ in probes])
            return [
                features(signals(searcher.search(q, exclude=s, vector=v), translated=False))
                for (q, s), v in zip(probes, vectors, strict=True)
            ]

        sample = searcher.lexical.evenly(SAMPLES)
        found = measure(sample, generation, features_without, BASELINED)
        if found is not None:
            with contextlib.suppress(OSError):  # a read-only index: measured again next time
                found.save(path)
    return found
