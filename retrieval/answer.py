"""Compose an answer from retrieved passages: pick answering sentences, or decline."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import fmean

from retrieval.baseline import Baseline
from retrieval.question import kind, offers
from retrieval.reader import Reader, Reading, best
from retrieval.reader import load as load_reader
from retrieval.text import POINTS_BACK, Language, sentence_spans
from retrieval.types import Answer, Citation, Held, Passage, Retrieval, Signals

SIGNAL_DEPTH = 3
# Answer at this confidence; a decline that reaches `CLOSE` offers its closest passages (not
# as an answer).
THRESHOLD = 0.5
CLOSE = 0.1  # below THRESHOLD: a question that is not close is never answered
# For a question searched through the dictionary (English): its confidence separates less
# sharply, and at 0.1 a third of off-topic English questions reached it (`make calibrate`,
# the "offtopic" rows: public-set questions asked of the seed corpus).
CLOSE_TRANSLATED = 0.2


# The signals a baseline describes, in its order (`features`' first `BASELINED`).
BASELINED_NAMES = (
    "coverage",
    "sentence_coverage",
    "dense_top",
    "sentence_top",
    "dense_gap",
    "sentence_gap",
    "lexical",
    "concentration",
    "margin",
)
BASELINED = len(BASELINED_NAMES)
SIMILARITIES = ("dense_top", "sentence_top", "dense_gap", "sentence_gap", "margin")


@dataclass(frozen=True, slots=True)
class Decision:
    """A logistic model of "the collection answers this question" over a few named inputs
    (`inputs`): a signal as it is (`dense_top`), or read against the collection's baseline, in
    spreads (`lexical_z`), and `english` (1 for a question searched through the dictionary).

    Fitted by `bench/calibrate.py` on the seed corpus, XQuAD-even (zh and en) and CMRC 2018,
    and reported leave-one-collection-out: each collection's figures come from a decision
    fitted without it.
    """

    bias: float
    weights: tuple[tuple[str, float], ...]

    def terms(self, inputs: Mapping[str, float]) -> tuple[tuple[str, float], ...]:
        """Return the bias and each input's contribution to the log-odds, as /why shows them."""
        return (
            ("bias", self.bias),
            *tuple((name, round(w * inputs[name], 4)) for name, w in self.weights),
        )

    def probability(self, inputs: Mapping[str, float]) -> float:
        """Return the modelled probability that the question is answered by the passages."""
        z = self.bias + sum(w * inputs[name] for name, w in self.weights)
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# `make calibrate` (bench/calibrate.py), fitted on the seed corpus, XQuAD-even (zh, en), CMRC
# 2018 and XQuAD-even's English articles with their English questions, with the default
# embedder: the best sentence of the first passages (footnotes aside), by its cosine
# similarity as that model scores it; the best BM25 score and the best document's lead over
# the others' best sentence (both against the collection's baseline); an offset for a
# question whose best passage is of a document in another language (cross-lingual
# similarities run ~0.14 lower) and one for an English question (e5's English similarities
# run lower than its Chinese ones). The best sentence's similarity separates answerable
# questions better than the best passage's on every collection measured (AUC 0.958 against
# 0.930 on CMRC, 0.808 against 0.765 on RGB).
DECISION = Decision(
    -53.208,
    (
        ("sentence_top", 57.604),
        ("lexical_z", 0.92),
        ("margin_z", 0.474),
        ("crosslingual", 4.284),
        ("english", 3.341),
    ),
)
# For any other embedder, whose similarities have another scale: only inputs read against the
# collection's baseline (fitted the same way; it transfers less well to the seed corpus).
GENERIC = Decision(
    -1.206,
    (("dense_top_z", 1.135), ("lexical_z", 0.772), ("missing", -2.407), ("english", 7.207)),
)
FITTED_FOR = "multilingual-e5-small"


def decision_for(embedder: str) -> Decision:
    """Return the decision fitted for an embedder's similarities."""
    return DECISION if embedder == FITTED_FOR else GENERIC


def reader_for(embedder: str) -> Reader | None:
    """Return the reader of an embedder's vectors (None: none was trained on them)."""
    return load_reader() if embedder == FITTED_FOR else None


# The baseline of a collection with a single document, where none can be measured: the mean
# of the seed corpus's and XQuAD-even's.
REFERENCE = Baseline(
    "reference",
    (0.2851, 0.2372, 0.8736, 0.8812, 0.0161, 0.0155, 1.4047, 0.3456, 0.0282),
    (0.1331, 0.1257, 0.02, 0.02, 0.02, 0.02, 0.385, 0.1668, 0.1227),
)


def features(s: Signals) -> tuple[float, ...]:
    """Return the signals as numbers: the first `BASELINED` (in `BASELINED_NAMES` order) are
    those a baseline describes, then `missing` and `agreement`."""
    return (
        s.coverage,
        s.sentence_coverage,
        s.dense_top,
        s.sentence_top,
        s.dense_gap,
        s.sentence_gap,
        math.log1p(s.lexical_top),
        s.concentration,
        s.margin,
        s.missing,
        float(s.agreement),
    )


def inputs(s: Signals, baseline: Baseline | None = None) -> dict[str, float]:
    """Return every input a decision may read: each signal as it is and, for those a
    baseline describes, against the collection's (None: the reference collection's)."""
    raw = features(s)
    z = (baseline or REFERENCE).standardize(raw)
    names = (*BASELINED_NAMES, "missing", "agreement")
    return (
        dict(zip(names, raw, strict=True))
        | {f"{n}_z": v for n, v in zip(BASELINED_NAMES, z, strict=False)}
        | {
            "english": float(s.translated),
            "crosslingual": float(s.crosslingual),
            "reader": _log_odds(s.reader),
        }
    )


def _crosslingual(best: Passage | None, translated: bool) -> bool:
    """Return True when the passage with the best sentence is of a document in another
    language than the question's (the question's alone decides when there is none)."""
    if best is None:
        return translated
    return best.language != ("en" if translated else "zh")


def _log_odds(p: float | None) -> float:
    """Return a reader probability as log-odds within +-8 (0 when no reader ran)."""
    if p is None:
        return 0.0
    p = min(max(p, 3e-4), 1 - 3e-4)
    return math.log(p / (1 - p))


def signals(
    found: Retrieval,
    translated: bool,
    baseline: Baseline | None = None,
    decision: Decision | None = None,
    reading: Reading | None = None,
) -> Signals:
    """Measure how well the best passages answer the question, against the collection's
    baseline (see `retrieval/baseline.py`; None: the reference collection's), and how
    confident `decision` (None: the default embedder's) is that they do. `reading` holds the
    reader's score of each sentence read (None: no reader ran)."""
    passages = found.passages
    top = passages[:SIGNAL_DEPTH]
    best_read = best(reading, [p.chunk_id for p in top])[2] if reading is not None else None
    dense = [p.dense for p in passages if p.dense_rank is not None]
    sentence = [p.sentence_dense for p in passages if p.sentence_dense]
    dense_top = max((p.dense for p in top), default=0.0)
    # footnotes cite sources: a title that shares the question's words answers nothing
    body = [p for p in top if not p.chunk.footnote] or top
    best_sentence = max(body, key=lambda p: p.sentence_dense, default=None)
    sentence_top = best_sentence.sentence_dense if best_sentence else 0.0
    agreement = any(
        p.dense_rank is not None
        and p.dense_rank < 5
        and p.lexical_rank is not None
        and p.lexical_rank < 5
        for p in top
    )
    head = passages[:10]
    doc = passages[0].chunk.source if passages else ""
    own = [p.sentence_dense for p in head if p.chunk.source == doc]
    other = [p.sentence_dense for p in head if p.chunk.source != doc]
    raw = Signals(
        concentration=round(len(own) / len(head), 4) if head else 0.0,
        margin=round(max(own, default=0.0) - max(other, default=0.0), 4),
        dense_top=round(dense_top, 4),
        sentence_top=round(sentence_top, 4),
        dense_gap=round(dense_top - fmean(dense), 4) if dense else 0.0,
        sentence_gap=round(sentence_top - fmean(sentence), 4) if sentence else 0.0,
        lexical_top=round(max((p.lexical for p in top), default=0.0), 4),
        coverage=round(max((p.coverage for p in top), default=0.0), 4),
        sentence_coverage=round(
            max((max(p.sentence_coverage, default=0.0) for p in top), default=0.0), 4
        ),
        missing=round(min((p.missing for p in top), default=1.0), 4),
        agreement=agreement,
        translated=translated,
        confidence=0.0,
        reader=best_read,
        crosslingual=_crosslingual(best_sentence, translated),
    )
    decide = decision or DECISION
    given = inputs(raw, baseline)
    if baseline is None and decide is not DECISION:
        # the reference baseline was measured with the default embedder: for another one,
        # with no baseline of its own, its similarities read as neither high nor low
        given |= {f"{n}_z": 0.0 for n in SIMILARITIES}
    return replace(raw, confidence=round(decide.probability(given), 4), terms=decide.terms(given))


def answerable(s: Signals) -> bool:
    """Decide whether the passages answer the question."""
    return s.confidence >= THRESHOLD


def close_floor(translated: bool) -> float:
    """Return the confidence from which a declined question is offered its closest passages."""
    return CLOSE_TRANSLATED if translated else CLOSE


def close(s: Signals) -> bool:
    """Decide whether a declined question's best passages came close enough to offer them."""
    return s.confidence >= close_floor(s.translated)


@dataclass(frozen=True, slots=True)
class Line:
    """How the answer line and the marked sentences are chosen.

    A sentence scores its term coverage, plus `focus` times its coverage of the question's
    terms weighed by how few of the candidate sentences hold them (see `Focus`), plus `dense`
    times its similarity to the question, plus `kind` when it offers the kind of answer asked
    for (a person for "who", a date for "when", ...); a passage's sentences lose
    `rank_discount` per rank below the first. The line comes from the first `depth` passages;
    sentences within `marked` of a passage's best are marked, at most `marks` of them.
    """

    dense: float = 1.0
    focus: float = 1.0
    kind: float = 0.3
    rank_discount: float = 0.15
    depth: int = SIGNAL_DEPTH
    marked: float = 0.8
    marks: int = 2


LINE = Line()
LEAD_IN_CHARS = 40  # a sentence shorter than this leads in to the next (see `_line`)
LINE_CHARS = 220  # an answer line runs on to the next sentence only within this length


@dataclass(frozen=True, slots=True)
class Focus:
    """How many of the candidate sentences (those of the first passages) hold each of the
    question's terms.

    The terms that many of them hold name the question's subject ("嘉兴南站" in
    "嘉兴南站有几条线？", where every passage is about that station); the rare ones ("线") what
    is asked about it.
    The sentence that holds what is asked answers, not the one that names the subject best.
    """

    holding: Mapping[int, int]
    sentences: int

    @classmethod
    def of(cls, passages: Sequence[Passage]) -> "Focus":
        holding: dict[int, int] = {}
        for p in passages:
            for held in p.sentence_terms:
                for term, _ in held:
                    holding[term] = holding.get(term, 0) + 1
        return cls(holding, sum(len(p.sentence_terms) for p in passages))

    def share(self, held: Held) -> float:
        """Return a sentence's share of the question, each term weighed by its rarity among
        the candidates (1 for a term only this sentence holds, 0 for one they all hold)."""
        scale = math.log(self.sentences + 1)
        return sum(
            w * math.log((self.sentences + 1) / self.holding.get(t, 1)) / scale for t, w in held
        )


def best_sentences(
    passage: Passage,
    similarity: Sequence[float] | None = None,
    question: str = "",
    line: Line = LINE,
    focus: Focus | None = None,
) -> list[tuple[tuple[int, int], float]]:
    """Return the passage's sentence spans with how well each answers the question, best first
    (`focus`: the candidates' term counts; None: the passage's own)."""
    text = passage.chunk.text
    wanted = kind(question)
    focus = focus or Focus.of([passage])
    terms = passage.sentence_terms or ((),) * len(passage.sentence_coverage)
    scored = []
    for i, (span, cov, held) in enumerate(
        zip(sentence_spans(text), passage.sentence_coverage, terms, strict=True)
    ):
        score = cov + line.focus * focus.share(held)
        score += line.dense * similarity[i] if similarity is not None else 0.0
        if wanted and offers(wanted, text[span[0] : span[1]], question):
            score += line.kind
        scored.append((span, score))
    return sorted(scored, key=lambda x: -x[1])


def _line(text: str, span: tuple[int, int]) -> str:
    """Return the answer line for a sentence span of `text`, with its antecedent and its
    sequel where needed.

    A sentence that points back does not stand alone, so the line starts one sentence earlier,
    where what it points to is named. A sentence that leads in (short, or ending in a colon)
    or that the next sentence points back to is continued there: the answer is often in the
    sentence after the one that names the question's subject ("X 是通过两步反应制备的。第一步，…").
    The sequel joins only within the paragraph and `LINE_CHARS`.
    """
    start, end = span
    spans = sentence_spans(text)
    if POINTS_BACK.match(text[start:end]):
        before = [s for s, e in spans if e <= start]
        start = before[-1] if before else start
    after = next(((s, e) for s, e in spans if s >= end), None)
    if after is None or "\n\n" in text[end : after[0]] or after[1] - start > LINE_CHARS:
        return text[start:end]
    sentence = text[span[0] : span[1]].rstrip()
    leads_in = len(sentence) < LEAD_IN_CHARS or sentence.endswith(("：", ":"))
    if leads_in or POINTS_BACK.match(text[after[0] : after[1]]):
        end = after[1]
    return text[start:end]


def compose(
    question: str,
    found: Retrieval,
    k: int,
    lang: Language,
    similarity: Mapping[str, Sequence[float]] | None = None,
    baseline: Baseline | None = None,
    line: Line = LINE,
    decision: Decision | None = None,
    reading: Reading | None = None,
) -> Answer:
    """Return the answer: the best sentence, and the top passages with it highlighted; or a
    decline, with the closest passages when the best of them came close. `reading`: the
    reader's score of each sentence read (shown with the answer line and each citation)."""
    sig = signals(found, lang != "zh", baseline, decision, reading)
    if not found.passages or not close(sig):
        return Answer(question, "", True, [], signals=sig, language=lang)
    text, citations, read = cite(question, found, k, similarity, line, reading)
    if not answerable(sig):
        return Answer(question, "", True, [], signals=sig, language=lang, closest=citations)
    return Answer(question, text, False, citations, signals=sig, language=lang, reader=read)


def cite(
    question: str,
    found: Retrieval,
    k: int,
    similarity: Mapping[str, Sequence[float]] | None = None,
    line: Line = LINE,
    reading: Reading | None = None,
) -> tuple[str, list[Citation], float | None]:
    """Return the answer line, the first `k` passages as citations (answering sentences
    marked, and the reader's score of each one's best sentence when `reading` holds it) and
    the reader's score of the answer line's sentence (None: not read)."""
    citations: list[Citation] = []
    chosen: tuple[float, str, float | None] = (-math.inf, "", None)
    focus = Focus.of(found.passages[: line.depth])
    for n, p in enumerate(found.passages[:k], start=1):
        ranked = best_sentences(p, (similarity or {}).get(p.chunk_id), question, line, focus)
        top_score = ranked[0][1] if ranked else 0.0
        near = (span for span, sc in ranked if sc > 0 and sc >= line.marked * top_score)
        marks = tuple(sorted(near))[: line.marks]
        read = (reading or {}).get(p.chunk_id)
        discounted = top_score - line.rank_discount * (n - 1)
        if ranked and n <= line.depth and discounted > chosen[0]:
            span = ranked[0][0]
            at = sentence_spans(p.chunk.text).index(span)
            chosen = (discounted, _line(p.chunk.text, span), read[at] if read else None)
        citations.append(
            Citation(
                n=n,
                source=p.chunk.source,
                title=p.chunk.title,
                locator=p.chunk.locator(),
                text=p.chunk.text,
                score=round(0.6 * p.coverage + 0.4 * p.dense, 3),
                start=p.chunk.start,
                end=p.chunk.end,
                highlights=marks,
                chunk_id=p.chunk_id,
                reader=max(read) if read else None,
            )
        )
    return chosen[1], citations, chosen[2]
