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

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.evaluation import conversation_summary, run_conversations
from ingest.chunking import CHUNKER
from ingest.pipeline import Ingester
from retrieval.qa import QA
from retrieval.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


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
        rows = run_conversations(QA(settings, chunker=CHUNKER), conversations)
    if verbose:
        for r in rows:
            c, a = r["context"], r["alone"]
            click.echo(
                f"{r['id']} {r['kind']:12} ctx rank={c['rank']} ans={c['answered']:d} "
                f"alone rank={a['rank']} ans={a['answered']:d}  {r['q']}  => {c['asked_as']}"
            )
    for name, m in conversation_summary(rows).items():
        click.echo(f"{name:24} " + "  ".join(f"{k} {v}" for k, v in m.items()))


if __name__ == "__main__":
    main()
