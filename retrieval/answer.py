"""Compose an answer from retrieved passages: pick answering sentences, or decline."""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import fmean

from retrieval.baseline import Baseline
from retrieval.question import kind, offers
from retrieval.text import Language, sentence_spans
from retrieval.types import Answer, Citation, Passage, Retrieval, Signals

SIGNAL_DEPTH = 3
# A decline whose confidence reaches this offers its closest passages (not as an answer).
CLOSE = 0.2


@dataclass(frozen=True, slots=True)
class Decision:
    """A logistic model of "the collection answers this question" over `features`.

    Fitted by `bench/calibrate.py` on the seed dev and calibration sets and XQuAD-even (zh, en);
    CMRC 2018 is kept unseen to show how it holds on a collection it was not fitted on.
    """

    bias: float
    weights: tuple[float, ...]
    threshold: float = 0.5

    def probability(self, features: Sequence[float]) -> float:
        """Return the modelled probability that the question is answered by the passages."""
        z = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


# Questions searched with their own tokens (Chinese), and through the dictionary (others).
DECISION = {
    False: Decision(
        -1.146, (0.770, 0.434, -0.561, 0.711, 0.678, -0.324, -0.135, 0.443, 0.792, -3.330, 0.392)
    ),
    True: Decision(
        2.975, (-0.948, 0.527, -1.410, 2.943, 1.278, -1.382, 1.114, 0.690, 0.164, -10.830, -0.609)
    ),
}


# The baseline of a collection with a single document, where none can be measured: the mean
# of the two collections the decision was fitted on (the seed corpus and XQuAD-even).
BASELINED = 9
REFERENCE = Baseline(
    "reference",
    (0.2904, 0.2472, 0.2715, 0.3921, 0.098, 0.1082, 1.4388, 0.3952, 0.0298),
    (0.1482, 0.1334, 0.1028, 0.1004, 0.0573, 0.0627, 0.361, 0.191, 0.1234),
)


def features(s: Signals) -> tuple[float, ...]:
    """Return the decision's inputs, in `Decision.weights` order: the first `BASELINED` are
    read against the collection's baseline, the rest as they are."""
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


def signals(found: Retrieval, translated: bool, baseline: Baseline | None = None) -> Signals:
    """Measure how well the best passages answer the question, against the collection's
    baseline (see `retrieval/baseline.py`; None: the reference collection's)."""
    passages = found.passages
    top = passages[:SIGNAL_DEPTH]
    dense = [p.dense for p in passages if p.dense_rank is not None]
    sentence = [p.sentence_dense for p in passages if p.sentence_dense]
    dense_top = max((p.dense for p in top), default=0.0)
    sentence_top = max((p.sentence_dense for p in top), default=0.0)
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
    )
    standardized = (baseline or REFERENCE).standardize(features(raw))
    confidence = DECISION[translated].probability(standardized)
    return replace(raw, confidence=round(confidence, 4))


def answerable(s: Signals) -> bool:
    """Decide whether the passages answer the question."""
    return s.confidence >= DECISION[s.translated].threshold


def close(s: Signals) -> bool:
    """Decide whether a declined question's best passages came close enough to offer them."""
    return s.confidence >= CLOSE


@dataclass(frozen=True, slots=True)
class Line:
    """How the answer line and the marked sentences are chosen.

    A sentence scores its term coverage, plus `dense` times its similarity to the question,
    plus `kind` when it offers the kind of answer asked for (a person for "who", a date for
    "when", ...); a passage's sentences lose `rank_discount` per rank below the first. The
    line comes from the first `depth` passages; sentences within `marked` of a passage's best
    are marked, at most `marks` of them.
    """

    dense: float = 1.0
    kind: float = 0.3
    rank_discount: float = 0.15
    depth: int = SIGNAL_DEPTH
    marked: float = 0.8
    marks: int = 2


LINE = Line()


def best_sentences(
    passage: Passage,
    similarity: Sequence[float] | None = None,
    question: str = "",
    line: Line = LINE,
) -> list[tuple[tuple[int, int], float]]:
    """Return the passage's sentence spans with how well each answers the question, best first."""
    text = passage.chunk.text
    wanted = kind(question)
    scored = []
    for i, (span, cov) in enumerate(
        zip(sentence_spans(text), passage.sentence_coverage, strict=True)
    ):
        score = cov + (line.dense * similarity[i] if similarity is not None else 0.0)
        if wanted and offers(wanted, text[span[0] : span[1]], question):
            score += line.kind
        scored.append((span, score))
    return sorted(scored, key=lambda x: -x[1])


# A sentence that opens by pointing back ("这些设备...", "He ...") does not stand alone: the
# answer line then starts one sentence earlier, where what it points to is named.
_ANAPHOR = re.compile(
    r"^(?:这|那|该|此|其|他|她|它|上述|(?:this|that|these|those|it|he|she|they)\b)", re.I
)


def _line(text: str, span: tuple[int, int]) -> str:
    """Return the answer line for a sentence span of `text`, with its antecedent if needed."""
    start, end = span
    if _ANAPHOR.match(text[start:end]):
        before = [s for s, e in sentence_spans(text) if e <= start]
        start = before[-1] if before else start
    return text[start:end]


def compose(
    question: str,
    found: Retrieval,
    k: int,
    lang: Language,
    similarity: Mapping[str, Sequence[float]] | None = None,
    baseline: Baseline | None = None,
    line: Line = LINE,
) -> Answer:
    """Return the answer: the best sentence, and the top passages with it highlighted; or a
    decline, with the closest passages when the best of them came close."""
    sig = signals(found, lang != "zh", baseline)
    if not found.passages:
        return Answer(question, "", True, [], signals=sig, language=lang)
    text, citations = cite(question, found, k, similarity, line)
    if not answerable(sig):
        closest = citations if close(sig) else []
        return Answer(question, "", True, [], signals=sig, language=lang, closest=closest)
    return Answer(question, text, False, citations, signals=sig, language=lang)


def cite(
    question: str,
    found: Retrieval,
    k: int,
    similarity: Mapping[str, Sequence[float]] | None = None,
    line: Line = LINE,
) -> tuple[str, list[Citation]]:
    """Return the answer line and the first `k` passages as citations, answering sentences
    marked."""
    citations: list[Citation] = []
    best: tuple[float, str] = (-math.inf, "")
    for n, p in enumerate(found.passages[:k], start=1):
        ranked = best_sentences(p, (similarity or {}).get(p.chunk_id), question, line)
        top_score = ranked[0][1] if ranked else 0.0
        near = (span for span, sc in ranked if sc > 0 and sc >= line.marked * top_score)
        marks = tuple(sorted(near))[: line.marks]
        discounted = top_score - line.rank_discount * (n - 1)
        if ranked and n <= line.depth and discounted > best[0]:
            best = (discounted, _line(p.chunk.text, ranked[0][0]))
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
            )
        )
    return best[1], citations
