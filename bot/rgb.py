"""RGB (Chen et al., AAAI 2024) rows as a citeqa collection, built as ../shared/eval/README.md
says: the collection knows each question's topic; odd ids lack the answer.

- one Markdown document per question, `# 新闻摘录 {id}`, its passages (white space runs
  collapsed to one space) as paragraphs, shuffled;
- even id: positive and negative passages, answerable; odd id: only its negatives, minus any
  that holds one of its answers; the question should be declined;
- every passage that holds an odd question's answer and 40 % of its character bigrams is left
  out of every document (RGB has near-duplicate questions);
- a cited passage hits when it holds an answer text and one of its sentences stands in the
  question's positive passages.
"""

import json
import random
import re
from pathlib import Path
from typing import Any

from bot.squad import Question
from retrieval.text import squash

SEED = 0
NEAR = 0.4


def _answers(row: dict[str, Any]) -> tuple[str, ...]:
    flat: list[str] = []
    for a in row["answer"]:
        flat += a if isinstance(a, list) else [a]
    return tuple(dict.fromkeys(squash(str(a)) for a in flat if str(a).strip()))


def bigrams(text: str) -> set[str]:
    """Return the text's character bigrams, white space removed."""
    s = squash(text)
    return {s[i : i + 2] for i in range(len(s) - 1)}


def _near_answer(passage: str, answers: tuple[str, ...], query: set[str]) -> bool:
    flat = squash(passage)
    if not any(a in flat for a in answers):
        return False
    return bool(query) and len(query & bigrams(passage)) / len(query) >= NEAR


def build(path: Path, data_dir: Path, limit: int | None = None) -> list[Question]:
    """Write the collection of an RGB file (its first `limit` rows) into `data_dir`; return
    its questions."""
    lines = path.read_text("utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()][:limit]
    odd = [(_answers(r), bigrams(r["query"])) for r in rows if int(r["id"]) % 2]
    data_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)
    questions = []
    for r in rows:
        answerable = int(r["id"]) % 2 == 0
        answers = _answers(r)
        positive = [str(p) for p in r["positive"]] if answerable else []
        negative = [str(p) for p in r["negative"]]
        if not answerable:
            negative = [p for p in negative if not any(a in squash(p) for a in answers)]
        passages = [
            re.sub(r"\s+", " ", p).strip()
            for p in positive + negative
            if not any(_near_answer(p, a, q) for a, q in odd)
        ]
        passages = [p for p in passages if p]
        rng.shuffle(passages)
        body = "\n\n".join(passages)
        (data_dir / f"rgb-{int(r['id']):04d}.md").write_text(
            f"# 新闻摘录 {r['id']}\n\n{body}\n", "utf-8"
        )
        context = "\n".join(squash(p) for p in positive)
        questions.append(Question(str(r["id"]), "zh", r["query"], answers, context, answerable))
    return questions
