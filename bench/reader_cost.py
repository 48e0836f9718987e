"""What the reader adds to a warm answer: p50/p95 of `QA.ask` with and without it.

Asks every seed question (../shared/eval/dev.jsonl, tests/data/calibration.jsonl and
tests/data/seed_questions.jsonl) against an index of `data/`, three ways, after one warm-up
question each: with the cross-encoder when its weights are there, with the feature reader (the
default), and with no reader.

    .venv/bin/python bench/reader_cost.py --index /tmp/citeqa-reader-cost
"""

import json
import time
from pathlib import Path
from unittest.mock import patch

import click
from calibrate import ROOT, SEED
from public import index_settings

from bench import percentiles  # bench/bench.py, beside this script
from ingest.pipeline import Ingester
from retrieval.qa import QA


def timed(qa: QA, questions: list[str]) -> dict[str, float]:
    """Return p50/p95 of the whole answer and of its reading step, in ms."""
    qa.ask(questions[0])
    totals, reads = [], []
    for q in questions:
        started = time.perf_counter()
        answer = qa.ask(q)
        totals.append((time.perf_counter() - started) * 1000)
        reads.append(answer.timings_ms.get("read", 0.0))
    return {f"total_{k}": v for k, v in percentiles(totals).items()} | {
        f"read_{k}": v for k, v in percentiles(reads).items()
    }


@click.command()
@click.option("--index", type=click.Path(path_type=Path), default=Path("/tmp/citeqa-reader-cost"))
def main(index: Path) -> None:
    """Report the reader's share of a warm answer on the seed corpus."""
    settings = index_settings(ROOT / "data", index)
    Ingester(settings, progress=False).run()
    questions = [json.loads(line)["q"] for path in SEED if path.exists() for line in path.open()]
    qa = QA(settings)
    rows = {}
    if qa.cross is not None:  # retrieval/reader-cross.npz is there (`make train-reader`)
        rows["reader (features + cross-encoder)"] = timed(qa, questions)
        qa.cross = None
    rows["features only"] = timed(qa, questions)
    with patch("retrieval.qa.reader_for", lambda name: None):
        rows["no reader"] = timed(qa, questions)
    click.echo(f"{len(questions)} questions, warm, ms")
    for name, row in rows.items():
        click.echo(f"{name}: " + ", ".join(f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    main()
