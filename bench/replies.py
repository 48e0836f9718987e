"""Record the bot's and the CLI's replies to a fixed script, to show a refactor changed none.

Runs the production Telegram Application against the fake Bot API of the tests (127.0.0.1)
and the real `citeqa` command as a subprocess, over one index of the corpus in `data/`, and
writes every reply (timings blanked) as JSON. Compare two runs with `diff`.

    .venv/bin/python bench/replies.py OUT.json
"""

import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.chunking import CHUNKER
from ingest.pipeline import Ingester
from retrieval.qa import QA
from retrieval.settings import Settings
from tests.botapi import FakeBotAPI, message, press, running, user

TOKEN = "123456:replies-token"
QUESTIONS = [
    "2012年中东会议计划在哪里举办？",
    "What are negative security assurances?",
    "Who won the 2018 FIFA World Cup?",
    "谁主张制定关于消极安全保证的法律文书？",
]
COMMANDS = ["/start", "/help", "/sources", "/doc liu", "/why", "/doc", "/nonsense", "/ask"]
_TIMING = re.compile(r"\d+(\.\d+)? ms")


def _blank(value: Any) -> Any:
    if isinstance(value, str):
        return _TIMING.sub("N ms", value)
    if isinstance(value, dict):
        return {k: _blank(v) for k, v in value.items() if k not in ("_at", "timings_ms")}
    if isinstance(value, list):
        return [_blank(v) for v in value]
    return value


def _calls(api: FakeBotAPI, start: int) -> list[Any]:
    return [[name, _blank(params)] for name, params in api.calls[start:]]


def telegram(settings: Settings, qa: QA) -> list[Any]:
    """Return the Bot API calls the bot makes for each step of the script."""
    steps: list[Any] = []
    with running(TOKEN, settings, qa) as api:
        for text in [*QUESTIONS, *COMMANDS]:
            start = len(api.calls)
            sender = user(language="en" if text.isascii() else "zh-hans")
            api.push(message(text, sender=sender))
            api.wait_for(lambda a, n=start: len(a.calls) > n and a.calls[-1][0] == "sendMessage")
            if text == QUESTIONS[0]:
                reply = api.sent()[-1]
                buttons = [b for row in reply["reply_markup"]["inline_keyboard"] for b in row]
                for b in (buttons[0], buttons[-1]):
                    before = len(api.calls)
                    api.push(press(b["callback_data"], reply))
                    api.wait_for(lambda a, n=before: len(a.calls) > n + 1)
            time.sleep(0.5)  # let every reply of the step arrive
            steps.append({"in": text, "out": _calls(api, start)})
    return steps


def cli(settings: Settings) -> list[Any]:
    """Return the CLI's output for each question: text, --why and --json."""
    env = {"CITEQA_INDEX_DIR": str(settings.index_dir), "HF_HUB_OFFLINE": "1", "PATH": ""}
    exe = str(Path(sys.executable).parent / "citeqa")
    out = []
    for flags in ([], ["--why"], ["--json"]):
        run = subprocess.run(
            [exe, "ask", "-", *flags],
            input="\n".join(QUESTIONS) + "\n",
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        text = run.stdout
        if flags == ["--json"]:
            text = [_blank(json.loads(line)) for line in text.splitlines()]
        out.append({"flags": flags, "rc": run.returncode, "stdout": text, "stderr": run.stderr})
    return out


@click.command()
@click.argument("out", type=click.Path(path_type=Path))
def main(out: Path) -> None:
    """Write the replies of the bot and the CLI to OUT."""
    with tempfile.TemporaryDirectory(prefix="citeqa-replies-") as tmp:
        settings = Settings(index_dir=Path(tmp) / "index", telegram_rate="1000/60")  # type: ignore[call-arg]
        Ingester(settings, progress=False).run()
        qa = QA(settings, chunker=CHUNKER)
        record = {"telegram": telegram(settings, qa), "cli": cli(settings)}
    out.write_text(json.dumps(record, ensure_ascii=False, indent=1), encoding="utf-8")
    click.echo(f"wrote {out}")


if __name__ == "__main__":
    main()
