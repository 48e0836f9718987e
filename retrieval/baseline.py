"""What an unanswerable question looks like in this collection.

How well the best passage matches a question depends on the collection as much as on the
question: in a large collection of short articles, a question about something absent still
finds passages that share its words and its topic. So the decision to answer does not read
raw scores: it reads them against this collection's own baseline, measured once per index
generation by asking questions whose answer is known to be absent. Each is a clause taken
from a passage, searched with that passage's whole document left out.
"""

import json
import os
import re
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from retrieval.text import sentence_spans
from retrieval.types import Chunk

SAMPLES = 120
CLAUSE_CHARS = 24
CLAUSE_WORDS = 10
# A feature's spread is never taken as narrower than this, so one tight baseline cannot make
# small differences decide.
MIN_SPREAD = 0.02
MIN_DOCUMENTS = 3
# A reading is never taken as further than this many spreads from the baseline, so that one
# signal of a narrow baseline cannot decide alone.
MAX_SPREADS = 8.0
_CLAUSE_END = re.compile(r"[，,；;：:、]")


@dataclass(frozen=True, slots=True)
class Baseline:
    """Mean and spread of each decision feature over questions the collection cannot answer."""

    generation: str
    mean: tuple[float, ...]
    spread: tuple[float, ...]

    def standardize(self, features: Sequence[float]) -> tuple[float, ...]:
        """Return how far each feature stands above the baseline, in spreads; features past
        the baseline's own pass through unchanged."""
        n = len(self.mean)
        head = (
            max(-MAX_SPREADS, min(MAX_SPREADS, (x - m) / s))
            for x, m, s in zip(features[:n], self.mean, self.spread, strict=True)
        )
        return (*head, *features[n:])

    def save(self, path: Path) -> None:
        """Write the baseline atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".baseline-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(asdict(self), f)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path, generation: str) -> "Baseline | None":
        """Return the saved baseline if it was measured on this index generation."""
        try:
            data = json.loads(path.read_text("utf-8"))
            if data["generation"] != generation:
                return None
            return cls(generation, tuple(data["mean"]), tuple(data["spread"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None


def clause(text: str) -> str:
    """Return a question-sized clause of a passage: its middle sentence's longest clause."""
    spans = sentence_spans(text)
    if not spans:
        return ""
    start, end = spans[len(spans) // 2]
    longest = max(_CLAUSE_END.split(text[start:end]), key=len).strip(" 。！？!?.")
    words = longest.split()
    if len(words) > CLAUSE_WORDS:
        return " ".join(words[:CLAUSE_WORDS])
    return longest[:CLAUSE_CHARS] if len(words) <= 1 else longest


def measure(
    chunks: Sequence[Chunk],
    generation: str,
    features_without: Callable[[list[tuple[str, str]]], Sequence[Sequence[float]]],
    size: int,
) -> Baseline | None:
    """Return the baseline of the first `size` features, from clauses of evenly spread chunks,
    each searched without its document: `features_without` takes every (clause, source) probe
    at once (so their questions embed in one batch) and returns their features in order. None
    when there are fewer than three documents (with two, a probe searched without its own
    document finds only the other one, and signals that compare documents say nothing)."""
    if len({c.source for c in chunks}) < MIN_DOCUMENTS:
        return None
    step = max(1, len(chunks) // SAMPLES)
    probes = [(q, c.source) for c in chunks[::step][:SAMPLES] if len(q := clause(c.text)) >= 4]
    if not probes:
        return None
    matrix = np.asarray([row[:size] for row in features_without(probes)], dtype=np.float64)
    return Baseline(
        generation,
        tuple(round(float(x), 5) for x in matrix.mean(axis=0)),
        tuple(round(max(MIN_SPREAD, float(x)), 5) for x in matrix.std(axis=0)),
    )
