"""Time from an admin sending a 30-page Chinese PDF to the bot to a user's answer from it.

The production Application polls the fake Bot API server the tests use (127.0.0.1, getFile and
the download included) over the seed corpus indexed with the default embedder. The PDF is
written here from CMRC 2018 dev paragraphs (CC BY-SA 4.0), 30 pages of about 800 characters;
then one of those paragraphs' questions is asked. Prints what the admin and the user saw.

    .venv/bin/python bench/upload.py [--pages 30]
"""

import json
import shutil
import sys
import tempfile
import textwrap
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.chunking import CHUNKER
from ingest.pipeline import Ingester
from retrieval.qa import QA
from retrieval.settings import Settings
from tests.botapi import message, running, user, visible
from tests.documents import chinese_pdf_pages

ROOT = Path(__file__).resolve().parent.parent
CMRC = ROOT.parent / "shared" / "eval" / "cmrc2018" / "cmrc2018_dev.json"
TOKEN = "123456:bench-token"
LINES = 20  # per page, of 40 characters


def _pages(count: int) -> tuple[list[list[str]], str, str]:
    """Return `count` pages of CMRC paragraphs, one question on them and its answer."""
    paragraphs = [p for a in json.loads(CMRC.read_text("utf-8"))["data"] for p in a["paragraphs"]]
    lines: list[str] = []
    used = []
    for paragraph in paragraphs:
        if len(lines) >= count * LINES:
            break
        lines += textwrap.wrap(paragraph["context"], 40)
        used.append(paragraph)
    qa = used[len(used) // 2]["qas"][0]
    pages = [lines[i : i + LINES] for i in range(0, count * LINES, LINES)]
    return pages, qa["question"], qa["answers"][0]["text"]


@click.command()
@click.option("--pages", default=30, show_default=True)
def main(pages: int) -> None:
    """Send a PDF as an admin, then ask about it as a user; print the times and the texts."""
    content, question, expected = _pages(pages)
    pdf = chinese_pdf_pages(content)
    with tempfile.TemporaryDirectory(prefix="citeqa-upload-bench-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(ROOT / "data", data)
        settings = Settings(data_dir=data, index_dir=Path(tmp) / "index", telegram_rate="1000/60")
        Ingester(settings, progress=False).run()
        qa = QA(settings, chunker=CHUNKER)
        with running(TOKEN, settings, qa, admins="42") as api:
            file_id = api.serve_file(pdf)
            sent = {"file_id": file_id, "file_unique_id": file_id, "file_name": "cmrc-30页.pdf"}
            api.push(message(None, document=sent | {"file_size": len(pdf)}))
            pushed = api.pushed_at
            api.wait_for(
                lambda a: any("已添加" in c.get("text", "") for _, c in a.calls), timeout=600
            )
            status = [(n, c) for n, c in api.calls if n in ("sendMessage", "editMessageText")]
            added_at = status[-1][1]["_at"]
            before = len(api.sent())
            api.push(message(question, chat_id=7, sender=user(7, "carol")))
            asked = api.pushed_at
            api.wait_for(lambda a: len(a.sent()) > before)
            reply = api.sent()[before]
        click.echo(f"PDF: {pages} pages, {len(pdf) / 1024:.0f} KB")
        click.echo("admin saw:")
        for _, call in status:
            click.echo(f"  +{call['_at'] - pushed:6.2f} s  {call['text']}")
        click.echo(f"upload to answerable: {added_at - pushed:.2f} s")
        click.echo(f"user asked: {question}   (expected: {expected})")
        shown = visible(reply["text"]) if reply.get("parse_mode") else reply["text"]
        click.echo(f"  +{reply['_at'] - asked:6.2f} s\n" + textwrap.indent(shown[:600], "  "))
        click.echo(f"answer holds the expected text: {expected in shown}")


if __name__ == "__main__":
    main()
