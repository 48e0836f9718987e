"""SQuAD-format question sets (XQuAD, CMRC 2018, ...) as citeqa collections, and their scoring.

The rules are ../shared/eval/README.md's: one Markdown document per article (`# Title`, then
its paragraphs separated by blank lines); every sixth article (0-based index 5, 11, 17, ...)
left out, so that its questions have no answer; a cited passage is right when, white space
removed, it holds one of the answer texts and one of its sentences (10+ characters) stands in
the question's own paragraph.
"""

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrieval.text import sentence_spans, squash

HOLD_OUT_EVERY = 6


@dataclass(frozen=True, slots=True)
class Question:
    """One benchmark question with what scores it."""

    id: str
    lang: str
    text: str
    answers: tuple[str, ...]
    context: str  # the question's own paragraph, white space removed
    answerable: bool


def held_out(index: int) -> bool:
    """Return True for the articles left out of the collection (every sixth)."""
    return index % HOLD_OUT_EVERY == HOLD_OUT_EVERY - 1


def write_collection(articles: list[dict[str, Any]], directory: Path) -> int:
    """Write one Markdown file per kept article; return how many were written."""
    directory.mkdir(parents=True, exist_ok=True)
    kept = 0
    for i, article in enumerate(articles):
        if held_out(i):
            continue
        title = str(article.get("title") or f"Article {i}").replace("_", " ")
        body = "\n\n".join(p["context"].strip() for p in article["paragraphs"])
        slug = re.sub(r"[^\w-]+", "-", title)[:40].strip("-")
        (directory / f"{i:04d}-{slug}.md").write_text(f"# {title}\n\n{body}\n", "utf-8")
        kept += 1
    return kept


def load_questions(
    articles: list[dict[str, Any]], lang: str, parallel: dict[str, str] | None = None
) -> list[Question]:
    """Return the questions of a set; `parallel` maps ids to the same question in another
    language, which is then asked instead (scored against this set's answers)."""
    out = []
    for i, article in enumerate(articles):
        for paragraph in article["paragraphs"]:
            context = squash(paragraph["context"])
            for qa in paragraph["qas"]:
                text = parallel.get(qa["id"]) if parallel is not None else qa["question"]
                answers = tuple(dict.fromkeys(squash(a["text"]) for a in qa["answers"]))
                if text and answers:
                    out.append(Question(qa["id"], lang, text, answers, context, not held_out(i)))
    return out


def is_hit(text: str, q: Question) -> bool:
    """Return True when a passage holds an answer and one of its sentences is in q's paragraph."""
    flat = squash(text)
    if not any(a in flat for a in q.answers):
        return False
    sentences = (squash(text[s:e]) for s, e in sentence_spans(text))
    return any(len(s) >= 10 and s in q.context for s in sentences)


def first_right(texts: list[str], q: Question) -> int | None:
    """Return the 1-based rank of the first right passage."""
    return next((r for r, t in enumerate(texts, start=1) if is_hit(t, q)), None)


def read_set(main: Path, parallel: Path | None) -> tuple[list[dict[str, Any]], list[Question]]:
    """Return a set's articles and its questions (then the parallel ones, if given)."""
    articles = json.loads(main.read_text("utf-8"))["data"]
    questions = load_questions(articles, "zh")
    if parallel is not None:
        other = json.loads(parallel.read_text("utf-8"))["data"]
        texts = {q["id"]: q["question"] for a in other for p in a["paragraphs"] for q in p["qas"]}
        questions += load_questions(articles, "en", texts)
    return articles, questions
