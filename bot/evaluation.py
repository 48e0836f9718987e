"""Retrieval and decline metrics on a labelled question set (../shared/eval format)."""

import json
import time
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from retrieval.conversation import Turn
from retrieval.text import squash

if TYPE_CHECKING:
    from retrieval.qa import QA


@dataclass(frozen=True, slots=True)
class Item:
    """One labelled question."""

    id: str
    q: str
    gold: tuple[str, ...]
    answerable: bool


def load_items(stream: IO[str]) -> list[Item]:
    """Read labelled questions, one JSON object a line."""
    items = []
    for n, line in enumerate(stream, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            items.append(
                Item(str(obj["id"]), obj["q"], tuple(obj["gold"]), bool(obj["answerable"]))
            )
        except (ValueError, KeyError, TypeError) as e:
            raise ValueError(f"line {n}: not a labelled question ({e})") from e
    return items


def first_hit(texts: list[str], gold: tuple[str, ...]) -> int | None:
    """Return the 1-based rank of the first text containing a gold answer."""
    wanted = [squash(g) for g in gold]
    for rank, text in enumerate(texts, start=1):
        if any(g in squash(text) for g in wanted):
            return rank
    return None


def evaluate(qa: "QA", items: list[Item]) -> tuple[dict[str, Any], list[str]]:
    """Run every question; return the metrics and one line per question."""
    ranks: list[int | None] = []
    english: list[int | None] = []
    answered, declined, latencies, rows = 0, 0, [], []
    for item in items:
        started = time.perf_counter()
        answer = qa.ask(item.q)
        latencies.append((time.perf_counter() - started) * 1000)
        passages = qa.retrieve(item.q).passages
        rank = first_hit([p.chunk.text for p in passages[:10]], item.gold)
        if item.answerable:
            ranks.append(rank)
            answered += not answer.abstained
            if answer.language != "zh":
                english.append(rank)
        else:
            declined += answer.abstained
        outcome = "declined" if answer.abstained else "answered"
        conf = answer.signals.confidence if answer.signals else 0.0
        rows.append(f"{item.id}\trank={rank}\t{outcome}\tconf={conf:.3f}\t{item.q}")
    n = len(ranks)
    unanswerable = sum(not i.answerable for i in items)

    def hit(k: int, rs: list[int | None]) -> int:
        return sum(1 for r in rs if r is not None and r <= k)

    metrics = {
        "answerable": n,
        "hit@1": hit(1, ranks),
        "hit@3": hit(3, ranks),
        "hit@5": hit(5, ranks),
        "mrr@10": round(sum(1 / r for r in ranks if r) / n, 4) if n else 0.0,
        "english": len(english),
        "english_hit@5": hit(5, english),
        "answered": answered,
        "unanswerable": unanswerable,
        "declined": declined,
        "declined_share": round(declined / unanswerable, 4) if unanswerable else None,
        "latency_ms_p50": round(float(np.percentile(latencies, 50)), 2) if latencies else 0.0,
        "latency_ms_p95": round(float(np.percentile(latencies, 95)), 2) if latencies else 0.0,
    }
    return metrics, rows


def summary(m: dict[str, Any]) -> str:
    """Return the metrics as a short human-readable report."""
    n = m["answerable"]
    return "\n".join(
        [
            f"answerable questions: {n}",
            f"hit@1 {m['hit@1']}/{n}   hit@3 {m['hit@3']}/{n}   hit@5 {m['hit@5']}/{n}   "
            f"MRR@10 {m['mrr@10']:.3f}",
            f"English hit@5 {m['english_hit@5']}/{m['english']}",
            f"answered {m['answered']}/{n} answerable; "
            f"declined {m['declined']}/{m['unanswerable']} unanswerable",
            f"latency p50 {m['latency_ms_p50']:.1f} ms   p95 {m['latency_ms_p95']:.1f} ms",
        ]
    )


def outcome(qa: "QA", question: str, gold: list[str], history: list[Turn]) -> dict[str, Any]:
    """Return ranks and the decision for one question asked after `history`."""
    answer = qa.ask(question, history=history)
    ranked = qa.retrieve(question, history=history).passages
    return {
        "rank": first_hit([p.chunk.text for p in ranked[:10]], tuple(gold)) if gold else None,
        "cited": first_hit([c.text for c in answer.citations], tuple(gold)) if gold else None,
        "answered": not answer.abstained,
        "asked_as": answer.asked_as,
        "answer": answer,
    }


def run_conversations(qa: "QA", conversations: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Ask every conversation; return one row per later turn."""
    rows = []
    for conv in conversations:
        history: list[Turn] = []
        for i, turn in enumerate(conv["turns"]):
            got = outcome(qa, turn["q"], turn["gold"], history)
            if i:
                row = {"id": conv["id"], "kind": turn["kind"], "q": turn["q"], "context": got}
                row["alone"] = outcome(qa, turn["q"], turn["gold"], [])
                if turn.get("full"):
                    row["full"] = outcome(qa, turn["full"], turn["gold"], [])
                rows.append(row)
            history.append(Turn.of(got["answer"]))
    return rows


def conversation_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the table: per kind of turn and way of asking."""
    out: dict[str, Any] = {}
    for kind in ("followup", "switch", "unanswerable"):
        part = [r for r in rows if r["kind"] == kind]
        for way in ("context", "alone", "full"):
            got = [r[way] for r in part if way in r]
            if not got:
                continue
            n = len(got)
            out[f"{kind}/{way}"] = {
                "n": n,
                "hit@1": round(sum(g["rank"] == 1 for g in got) / n, 3),
                "hit@5": round(sum(bool(g["rank"]) and g["rank"] <= 5 for g in got) / n, 3),
                "cited@5": round(sum(bool(g["cited"]) for g in got) / n, 3),
                "answered": round(sum(g["answered"] for g in got) / n, 3),
            }
    return out
