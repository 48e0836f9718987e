"""Follow-up questions over the seed corpus: with context, alone, and asked in full.

Each conversation of tests/data/followups.jsonl is asked turn by turn, the way `citeqa chat`
does; every later turn is also asked without context and, where the set gives one, in full.
Reports hit@1/hit@5 over the ranked passages, cited hit@5 and answered/declined.

    .venv/bin/python bench/followups.py [--set tests/data/followups.jsonl] [-v]
"""

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.evaluation import first_hit
from ingest.chunking import CHUNKER
from ingest.pipeline import Ingester
from retrieval.conversation import Turn
from retrieval.qa import QA
from retrieval.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def outcome(qa: QA, question: str, gold: list[str], history: list[Turn]) -> dict[str, Any]:
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


def run(qa: QA, conversations: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
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


@click.command()
@click.option(
    "--set",
    "path",
    type=click.Path(path_type=Path, exists=True),
    default=ROOT / "tests" / "data" / "followups.jsonl",
    show_default=True,
)
@click.option("-v", "verbose", is_flag=True, help="Print each turn.")
def main(path: Path, verbose: bool) -> None:
    """Measure follow-up questions with context against alone and in full."""
    conversations = [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]
    with tempfile.TemporaryDirectory(prefix="citeqa-followups-") as tmp:
        settings = Settings(_env_file=None, index_dir=Path(tmp) / "index")  # type: ignore[call-arg]
        Ingester(settings, progress=False).run()
        rows = run(QA(settings, chunker=CHUNKER), conversations)
    if verbose:
        for r in rows:
            c, a = r["context"], r["alone"]
            click.echo(
                f"{r['id']} {r['kind']:12} ctx rank={c['rank']} ans={c['answered']:d} "
                f"alone rank={a['rank']} ans={a['answered']:d}  {r['q']}  => {c['asked_as']}"
            )
    for name, m in summary(rows).items():
        click.echo(f"{name:24} " + "  ".join(f"{k} {v}" for k, v in m.items()))


if __name__ == "__main__":
    main()
