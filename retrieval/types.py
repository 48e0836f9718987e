"""Value types shared by ingest, retrieval and the front ends."""

import hashlib
from dataclasses import dataclass, field

import numpy as np

from retrieval.text import Language


@dataclass(frozen=True, slots=True)
class Chunk:
    """A passage of a cleaned document, with where it stands and who said it."""

    source: str
    title: str
    text: str
    start: int
    end: int
    section: str = ""
    speaker: str = ""
    state: str = ""
    paragraph: str = ""
    symbol: str = ""
    footnote: bool = False

    def chunk_id(self, occurrence: int = 0) -> str:
        """Return an id derived from the source and the text, stable across re-ingests."""
        digest = hashlib.sha256(f"{self.source}\0{occurrence}\0{self.text}".encode())
        return digest.hexdigest()[:32]

    def locator(self) -> str:
        """Return the human locator: speaker and state, section, or paragraph."""
        parts: list[str] = []
        if self.speaker:
            parts.append(f"{self.speaker}({self.state})" if self.state else self.speaker)
        elif self.section:
            parts.append(self.section)
        if self.paragraph:
            parts.append(f"第{self.paragraph}段")
        if self.footnote:
            parts.append("脚注")
        return " · ".join(parts)


# the question's terms a sentence holds: (term index, the share of the question it earns)
Held = tuple[tuple[int, float], ...]


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrieved chunk with the scores that ranked it."""

    chunk: Chunk
    chunk_id: str
    score: float
    dense: float = 0.0
    lexical: float = 0.0
    dense_rank: int | None = None
    lexical_rank: int | None = None
    # Cosine similarity of the question to the chunk's best sentence, when among the nearest.
    sentence_dense: float = 0.0
    # IDF-weighted share of the question's tokens in the passage, and in each of its
    # sentences (in `sentence_spans` order).
    coverage: float = 0.0
    sentence_coverage: tuple[float, ...] = ()
    # which of the question's terms each sentence holds (`sentence_coverage` is their sum)
    sentence_terms: tuple[Held, ...] = ()
    # The largest share of the question held by a term the passage lacks.
    missing: float = 0.0
    # The language of the passage's document (not of the passage: an English footnote of a
    # Chinese document is in a Chinese document).
    language: Language = "zh"


@dataclass(frozen=True, slots=True)
class Retrieval:
    """What a search found: passages best first, and the sentences nearest the question."""

    passages: list[Passage]
    # sentence id (`CHUNK:N`) -> cosine similarity, for the sentences nearest the question
    sentences: dict[str, float] = field(default_factory=dict)
    # the question's vector, and chunk id -> its sentence vectors, for the candidates searched
    query: np.ndarray | None = field(default=None, compare=False)
    vectors: dict[str, np.ndarray] = field(default_factory=dict, compare=False)


@dataclass(frozen=True, slots=True)
class Citation:
    """One numbered cited passage of an answer."""

    n: int
    source: str
    title: str
    locator: str
    text: str
    score: float
    start: int
    end: int
    highlights: tuple[tuple[int, int], ...] = ()
    chunk_id: str = ""
    reader: float | None = None  # the reader's score of its best sentence (None: not read)


@dataclass(frozen=True, slots=True)
class Signals:
    """The evidence behind the decision to answer or decline."""

    dense_top: float  # best cosine similarity of a top passage to the question
    sentence_top: float  # best cosine similarity of one of their sentences
    dense_gap: float  # dense_top minus the mean over all dense candidates
    sentence_gap: float  # sentence_top minus the mean over all sentence candidates
    lexical_top: float  # best BM25 score
    concentration: float  # share of the first ten passages from the best passage's document
    margin: float  # its best sentence similarity minus that of any other document
    coverage: float  # IDF-weighted share of the question's terms in the best passage
    sentence_coverage: float  # ... in its best sentence
    missing: float  # the largest share of a question term that the best passage lacks
    agreement: bool  # a top passage is among the first five of both dense and BM25
    translated: bool  # the question's terms came through the bilingual dictionary
    confidence: float  # probability that the collection answers the question
    # the best sentence (`sentence_top`'s) is in a document in another language than the
    # question's: cross-lingual similarities run lower
    crosslingual: bool = False
    # the reader's score of the best sentence of the top passages (None: no reader ran)
    reader: float | None = None
    # each decision input's contribution to the log-odds of `confidence`
    terms: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True, slots=True)
class WrittenSentence:
    """One sentence a chat model wrote, as checked against the passages it cites."""

    text: str  # as shown: its citations corrected when they were
    cites: tuple[int, ...]
    verified: bool
    why: str = ""  # why it was dropped, or what was corrected
    # the model's citations (maybe none), when another passage held the sentence instead
    corrected_from: tuple[int, ...] | None = None


@dataclass(frozen=True, slots=True)
class Written:
    """An answer a chat model wrote from the cited passages, its every sentence checked.

    `text` holds the verified sentences only; empty when none survived or the call failed
    (`note` says which), and the extractive answer stands alone then. `declined`: the model
    said the passages do not answer."""

    text: str
    sentences: tuple[WrittenSentence, ...]
    model: str
    ms: float
    declined: bool = False
    note: str = ""

    @property
    def corrected(self) -> int:
        """Return how many shown sentences had their citations corrected."""
        return sum(1 for s in self.sentences if s.verified and s.corrected_from is not None)


@dataclass(frozen=True, slots=True)
class Answer:
    """The reply to a question: answering sentences and the passages they come from."""

    question: str
    answer: str
    abstained: bool
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    signals: Signals | None = None
    language: Language = "en"  # the question's, decided once by `retrieval.text.language`
    asked_as: str = ""  # what was searched: the question, or with a follow-up's context
    # A decline whose best passages came close: them, shown as such, never as an answer.
    closest: list[Citation] = field(default_factory=list)
    reader: float | None = None  # the reader's score of the answer line's sentence
    written: Written | None = None  # a chat model's checked answer, when one is configured
