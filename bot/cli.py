"""The `citeqa` command line."""

import dataclasses
import getpass
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from pydantic import ValidationError

from bot.render import citation_score, signals_text, written_text
from bot.terminal import Draft, answer_text, closest_text, not_found
from bot.words import say
from retrieval.errors import CiteqaError
from retrieval.settings import Settings, bad_setting
from retrieval.text import clamp
from retrieval.types import Answer, Citation, Written

if TYPE_CHECKING:  # the core loads models: imported when a command needs it
    from retrieval.conversation import Conversation
    from retrieval.qa import QA

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")


def _qa(settings: Settings) -> "QA":
    from ingest.chunking import CHUNKER
    from retrieval.qa import QA

    try:
        return QA(settings, chunker=CHUNKER)
    except CiteqaError as e:
        raise click.ClickException(str(e)) from e


def _citations_json(citations: list[Citation]) -> list[dict[str, Any]]:
    return [
        {k: v for k, v in dataclasses.asdict(c).items() if k not in ("highlights", "chunk_id")}
        for c in citations
    ]


def written_json(written: Written | None) -> dict[str, Any] | None:
    """Return the --json shape of a written answer (None: no chat model writes)."""
    if written is None:
        return None
    shape = dataclasses.asdict(written)
    for sentence in shape["sentences"]:
        sentence["cites"] = list(sentence["cites"])
    return shape | {"corrected": written.corrected}


def answer_json(answer: Answer) -> dict[str, Any]:
    """Return the documented --json shape of an answer."""
    return {
        "question": answer.question,
        "answer": answer.answer,
        "abstained": answer.abstained,
        "reader": answer.reader,
        "citations": _citations_json(answer.citations),
        "closest": _citations_json(answer.closest),
        "signals": dataclasses.asdict(answer.signals) if answer.signals else None,
        "timings_ms": answer.timings_ms,
        "written": written_json(answer.written),
    }


def error_json(question: str, error: CiteqaError) -> dict[str, str]:
    """Return the JSON line for a question that could not be answered."""
    return {"question": clamp(question.strip()), "error": str(error)}


def _emphasis(text: str) -> str:
    return click.style(text, bold=True, underline=True) if sys.stdout.isatty() else f"【{text}】"


def _print_answer(qa: "QA", answer: Answer) -> None:
    if answer.abstained:
        click.echo(not_found(answer.language, sorted(set(qa.sources.values()))))
        if answer.closest:
            click.echo("\n" + closest_text(answer, _emphasis))
    else:
        click.echo(answer_text(answer, _emphasis))


def _write(qa: "QA", answer: Answer, stream: bool) -> Answer:
    """Return the answer with the chat model's checked text, when one writes; on a terminal
    the draft streams in, dimmed, and is wiped before the checked answer is printed."""
    if not (qa.writes(answer) and stream and sys.stdout.isatty()):
        return qa.write(answer)
    draft = Draft(sys.stdout, say("writing", answer.language))
    try:
        return qa.write(answer, draft)
    finally:
        draft.erase()


class Context:
    """Settings for every command, built once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings


@click.group()
@click.option("--data-dir", type=click.Path(path_type=Path), help="Override CITEQA_DATA_DIR.")
@click.option("--index-dir", type=click.Path(path_type=Path), help="Override CITEQA_INDEX_DIR.")
@click.pass_context
def cli(ctx: click.Context, data_dir: Path | None, index_dir: Path | None) -> None:
    """Answer questions from your documents with verbatim, cited passages."""
    overrides = {k: v for k, v in {"data_dir": data_dir, "index_dir": index_dir}.items() if v}
    try:
        ctx.obj = Context(Settings(**overrides))  # type: ignore[arg-type]
    except ValidationError as e:
        raise click.ClickException(bad_setting(e)) from None


@cli.command()
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option(
    "--rebuild", is_flag=True, help="Delete the index first and build it anew (a damaged store)."
)
@click.pass_obj
def ingest(obj: Context, path: Path | None, quiet: bool, rebuild: bool) -> None:
    """Index the documents in PATH (default: the data dir); only changes are embedded.

    Progress is a bar on a terminal, and a line every 10 s otherwise (files, chunks, rate, ETA).
    Files that cannot be read are skipped, one line each saying why.
    """
    from ingest.pipeline import Ingester

    settings = obj.settings.model_copy(update={"data_dir": path}) if path else obj.settings
    try:
        terminal = sys.stderr.isatty()
        log = None if quiet or terminal else (lambda line: click.echo(line, err=True))
        report = Ingester(settings, progress=not quiet and terminal, log=log, rebuild=rebuild).run()
    except CiteqaError as e:
        raise click.ClickException(str(e)) from e
    for source, reason in report.failed:
        click.echo(f"skipped {source}: {reason}", err=True)
    for source, warning in report.warnings:
        click.echo(f"warning {source}: {warning}", err=True)
    click.echo(
        f"{len(report.indexed)} indexed, {len(report.unchanged)} unchanged, "
        f"{len(report.removed)} removed, {len(report.failed)} skipped; "
        f"{report.embedded} chunks embedded, {report.reused} reused, "
        f"{report.total_chunks} in the index ({report.seconds:.1f} s)"
        + (" — rebuilt for a new embedder, chunker or index layout" if report.rebuilt else "")
    )


@cli.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.pass_obj
def add(obj: Context, files: tuple[Path, ...]) -> None:
    """Copy FILES into the data dir and index them (only they are embedded).

    Each is checked first: its size (CITEQA_MAX_UPLOAD_MB), that its content is what its name
    says, that it holds text, that it is not in the collection already. A file that fails
    changes nothing; the others are added.
    """
    from ingest.library import BadUpload, Library

    library = Library(obj.settings)
    sent: list[tuple[str, bytes]] = []
    refused = 0
    for path in files:
        try:
            library.check_size(path.name, path.stat().st_size)  # before reading it
            sent.append((path.name, path.read_bytes()))
        except (OSError, BadUpload) as e:
            click.echo(f"not added: {e}", err=True)
            refused += 1
    try:
        results = library.add_many(sent, f"{getpass.getuser()} (command line)")
    except CiteqaError as e:
        raise click.ClickException(str(e)) from e
    for result in results:
        if isinstance(result, BadUpload):
            click.echo(f"not added: {result}", err=True)
            refused += 1
        else:
            for warning in result.warnings:
                click.echo(f"warning {result.name}: {warning}", err=True)
            click.echo(f"added {result.name}: {result.title}, {result.passages} passages")
    if refused:
        sys.exit(1)


@cli.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def remove(obj: Context, name: str, yes: bool) -> None:
    """Delete the document NAME (a file name or title) from the data dir and the index."""
    from ingest.library import Library

    library = Library(obj.settings)
    try:
        source = library.find(name, partial=not yes)  # a part of a name only when asked
        if not yes:
            click.confirm(
                f"remove {source} from {obj.settings.data_dir} and the index?", abort=True
            )
        library.remove(source)
    except CiteqaError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"removed {source}")


@cli.command()
@click.argument("question")
@click.option("-k", "top_k", type=click.IntRange(1, 20), help="How many passages to cite.")
@click.option("--doc", "doc", help="Only search this document (file name or part of it).")
@click.option("--speaker", help="Only passages of this speaker or state (verbatim records).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON; QUESTION '-' reads stdin.")
@click.option("--why", is_flag=True, help="Also print the signals behind answering or declining.")
@click.pass_obj
def ask(
    obj: Context,
    question: str,
    top_k: int | None,
    doc: str | None,
    speaker: str | None,
    as_json: bool,
    why: bool,
) -> None:
    """Answer QUESTION with cited passages (QUESTION '-' reads one question a line)."""
    try:
        qa = _qa(obj.settings)
        source = _source(qa, doc)
        questions = sys.stdin if question == "-" else [question]
        failed = False
        for line in questions:
            if question == "-" and not line.strip():
                continue
            try:
                answer = _write(qa, qa.ask(line, top_k, source, speaker), not as_json)
            except CiteqaError as e:
                if not as_json or question != "-":
                    raise
                click.echo(json.dumps(error_json(line, e), ensure_ascii=False))
                failed = True
                continue
            if as_json:
                click.echo(json.dumps(answer_json(answer), ensure_ascii=False))
            else:
                _print_answer(qa, answer)
                if why and answer.signals:
                    click.echo("\n" + signals_text(answer.signals, answer.abstained, answer.reader))
                    for c in answer.citations or answer.closest:
                        click.echo(f"[{c.n}] {c.source} {c.start}-{c.end} {citation_score(c)}")
                    if answer.written:
                        click.echo("\n" + written_text(answer.written))
    except CiteqaError as e:
        raise click.ClickException(str(e)) from e
    if failed:
        sys.exit(1)


def _source(qa: "QA", doc: str | None) -> str | None:
    if not doc:
        return None
    source = qa.resolve_source(doc)
    if source is None:
        known = ", ".join(qa.documents)
        raise click.ClickException(f"no single document matches {doc!r}; known: {known}")
    return source


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Read questions from stdin, print JSON.")
@click.pass_obj
def chat(obj: Context, as_json: bool) -> None:
    """Ask questions that may follow up on earlier ones; /new starts over.

    Interactive by default (empty line or Ctrl-D quits). With --json: one question a line
    from stdin, one JSON line per question: the `ask --json` shape plus "asked_as", the
    text searched (the question with the conversation's context when it was a follow-up).
    """
    from retrieval.conversation import Conversation

    qa = _qa(obj.settings)
    conversation = Conversation()
    if as_json:
        for line in sys.stdin:
            if line.strip() == "/new":
                conversation.clear()
            elif line.strip():
                click.echo(json.dumps(_chat_turn(qa, conversation, line), ensure_ascii=False))
        return
    click.echo(
        f"citeqa: {len(qa.sources)} documents. Ask in Chinese or English; follow-up questions "
        "keep the conversation's subject, /new starts over; empty line quits."
    )
    while True:
        try:
            question = input("? ")
        except (EOFError, KeyboardInterrupt):
            click.echo()
            return
        if not question.strip():
            return
        if question.strip() == "/new":
            conversation.clear()
            click.echo("New conversation.\n")
            continue
        try:
            answer = _write(qa, qa.ask(question, history=conversation.history()), True)
        except CiteqaError as e:
            click.echo(f"{e}\n")
            continue
        conversation.add(answer)
        if answer.asked_as != answer.question:
            click.echo(f"(searched as: {answer.asked_as})")
        _print_answer(qa, answer)
        click.echo()


def _chat_turn(qa: "QA", conversation: "Conversation", line: str) -> dict[str, Any]:
    """Answer one line of `chat --json` and remember it; an error is reported in the line."""
    try:
        answer = qa.write(qa.ask(line, history=conversation.history()))
    except CiteqaError as e:
        return error_json(line, e)
    conversation.add(answer)
    return answer_json(answer) | {"asked_as": answer.asked_as}


@cli.command(name="bot")
@click.pass_obj
def bot_(obj: Context) -> None:
    """Run the Telegram bot (long polling) until Ctrl-C."""
    import asyncio

    from telegram.error import InvalidToken, NetworkError

    from bot.telegram_app import build_application, run
    from bot.telegram_logging import check_token, configure_logging

    settings = obj.settings
    token = settings.telegram_token.get_secret_value()
    if not token:
        raise click.ClickException(
            "CITEQA_TELEGRAM_TOKEN is not set: create a bot with @BotFather and put its token "
            "in .env (see README)"
        )
    configure_logging(settings)
    try:
        username = asyncio.run(check_token(settings))
    except InvalidToken:
        raise click.ClickException(
            "Telegram rejected the bot token (CITEQA_TELEGRAM_TOKEN): it is wrong or revoked; "
            "get the current one from @BotFather"
        ) from None
    except NetworkError as e:
        reason = str(e).replace(token, "[token]")
        raise click.ClickException(
            f"cannot reach the Bot API at {settings.telegram_base_url}: {reason}"
        ) from None
    application = build_application(settings, _qa(settings))
    click.echo(f"@{username} is answering from {settings.data_dir}; Ctrl-C stops it.", err=True)
    run(application)


@cli.command()
@click.pass_context
def start(ctx: click.Context) -> None:
    """Start the Telegram bot if CITEQA_TELEGRAM_TOKEN is set, else the question prompt."""
    settings: Settings = ctx.obj.settings
    ctx.invoke(bot_ if settings.telegram_token.get_secret_value() else chat)


@cli.command()
@click.pass_obj
def sources(obj: Context) -> None:
    """List the indexed documents with their chunk counts."""
    from ingest.library import Library

    qa = _qa(obj.settings)
    titles = qa.sources
    added = Library(obj.settings).provenance()
    for source, count in sorted(qa.chunk_counts().items()):
        by = f"\tadded by {added[source].by}, {added[source].at}" if source in added else ""
        click.echo(f"{source}\t{count} chunks\t{titles[source]}{by}")


@cli.command(name="eval")
@click.argument("file", type=click.File("r", encoding="utf-8"))
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@click.option("-v", "verbose", is_flag=True, help="Show each question's outcome.")
@click.pass_obj
def eval_(obj: Context, file: IO[str], as_json: bool, verbose: bool) -> None:
    """Measure retrieval and declines on a labelled JSONL question set."""
    from bot.evaluation import evaluate, load_items, summary

    try:
        items = load_items(file)
        qa = _qa(obj.settings)
        metrics, rows = evaluate(qa, items)
    except (CiteqaError, ValueError) as e:
        raise click.ClickException(str(e)) from e
    if verbose:
        for row in rows:
            click.echo(row, err=True)
    click.echo(json.dumps(metrics, ensure_ascii=False) if as_json else summary(metrics))


def main() -> None:
    """Run the command line."""
    started = time.perf_counter()
    try:
        cli(standalone_mode=True)
    finally:
        if os.environ.get("CITEQA_DEBUG_TIMING"):
            click.echo(f"[{(time.perf_counter() - started) * 1000:.0f} ms]", err=True)
