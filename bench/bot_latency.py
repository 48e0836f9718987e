"""Time from a Telegram update to the bot's reply, and the replies themselves.

The production Application polls the fake Bot API server the tests use (127.0.0.1, no
internet); each question is pushed as a real update and timed until its sendMessage arrives.
Then the same questions are sent from twenty chats at once.

    .venv/bin/python bench/bot_latency.py [--questions ../shared/eval/dev.jsonl] [--show 3]
"""

import json
import statistics
import sys
import tempfile
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import questions_option  # bench/bench.py, beside this script
from bot.evaluation import load_items
from ingest.chunking import CHUNKER
from ingest.pipeline import Ingester
from retrieval.qa import QA
from retrieval.settings import Settings
from tests.botapi import message, running

TOKEN = "123456:bench-token"


@click.command()
@questions_option
@click.option("--show", default=3, show_default=True, help="Print this many replies in full.")
def main(questions: Path, show: int) -> None:
    """Measure update-to-reply time of the Telegram bot."""
    items = load_items(questions.open(encoding="utf-8"))
    with tempfile.TemporaryDirectory(prefix="citeqa-bot-bench-") as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", telegram_rate="1000/60")
        Ingester(settings, progress=False).run()
        qa = QA(settings, chunker=CHUNKER)
        qa.ask(items[0].q)
        with running(TOKEN, settings, qa) as api:
            seconds = []
            for n, item in enumerate(items, start=1):
                api.push(message(item.q))
                pushed = api.pushed_at
                api.wait_for(lambda a, n=n: len(a.sent()) >= n)
                seconds.append(api.sent()[n - 1]["_at"] - pushed)
            for item, reply in list(zip(items, api.sent(), strict=True))[:show]:
                click.echo(f"--- {item.id}: {item.q}\n{reply['text']}\n")
            base = len(api.sent())
            api.push(*(message(items[0].q, chat_id=5000 + c) for c in range(20)))
            burst_start = api.pushed_at
            api.wait_for(lambda a: len(a.sent()) >= base + 20)
            burst = max(m["_at"] for m in api.sent()[base:]) - burst_start
    ms = sorted(s * 1000 for s in seconds)
    result = {
        "questions": len(ms),
        "update_to_reply_ms_p50": round(statistics.median(ms), 1),
        "update_to_reply_ms_max": round(ms[-1], 1),
        "twenty_chats_all_replied_ms": round(burst * 1000, 1),
    }
    click.echo(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
