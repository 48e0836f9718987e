"""Admins add documents by sending them to the bot and remove them with /remove.

A file sent in a private chat, or in a group with /add as its caption, is downloaded through
the Bot API (`getFile`), checked and ingested by `ingest.library.Library` in a worker thread
while the bot keeps answering; one status message is edited as it goes. Questions asked
meanwhile are answered from the index as it was, and the next ones from the new index
(`QA.refresh`). Everyone who is not an admin (`CITEQA_TELEGRAM_ADMINS`) gets one line saying so.
"""

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update, User
from telegram.error import TelegramError

from bot.telegram_state import Context, lang_of, match_of, message_of, query_of
from bot.words import KIND_WORDS, say
from ingest.library import BadUpload
from retrieval.errors import CiteqaError
from retrieval.text import Language

logger = logging.getLogger(__name__)
# /add as a document's caption, the way to add one in a group
ADD_CAPTION = re.compile(r"^/add(?:@\w+)?(?:\s|$)")
# Changes to the collection wait here, one at a time, for the ingest lock: not in the pool
# that answers questions, which a few uploads waiting on a long ingest would otherwise fill.
CHANGES = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citeqa-library")
T = TypeVar("T")


async def _changing(work: Callable[[], T]) -> T:
    """Run a change to the collection on its own thread, off the event loop."""
    return await asyncio.get_running_loop().run_in_executor(CHANGES, work)


async def _refreshed(context: Context) -> None:
    """Make the next question see the changed index (off the event loop: it reopens it)."""
    try:
        await asyncio.to_thread(context.bot_data.qa.refresh, True)
    except CiteqaError as e:  # the next question tries again
        logger.warning("could not reload the index after a change: %s", e)


@dataclass(frozen=True, slots=True)
class RemoveButton:
    """Remove (or keep) the document whose source hashes to `key`: a source may be longer
    than callback data's 64 bytes."""

    key: str
    confirm: bool

    PATTERN = re.compile(r"^r([yn]):([0-9a-f]{16})$")

    @staticmethod
    def key_of(source: str) -> str:
        """Return the key of a document's source."""
        return hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]

    def data(self) -> str:
        """Return the callback data."""
        return f"r{'y' if self.confirm else 'n'}:{self.key}"

    @classmethod
    def parse(cls, match: re.Match[str]) -> "RemoveButton":
        """Return the button a `PATTERN` match describes."""
        return cls(match[2], match[1] == "y")


def reason(error: Exception, lang: Language) -> str:
    """Return why a file was not added (or a name not found, or a document not removed), in
    the user's language; anything but citeqa's own errors reads as the general error line."""
    if not isinstance(error, CiteqaError):
        return say("error", lang)
    if not isinstance(error, BadUpload):
        return str(error)
    words = KIND_WORDS[lang]
    values = {k: words.get(v, v) if isinstance(v, str) else v for k, v in error.values.items()}
    return say(f"refused_{error.key}", lang, **values)


def is_admin(context: Context, user: User | None) -> bool:
    """Return whether the user may add and remove documents."""
    admins = context.bot_data.library.settings.telegram_admins
    return user is not None and admins.includes(user.id, user.username)


def sender(user: User) -> str:
    """Return how a provenance record names a Telegram user."""
    return f"@{user.username} ({user.id})" if user.username else f"{user.full_name} ({user.id})"


async def add_document(update: Update, context: Context) -> None:
    """Download a document an admin sent, check it and add it to the collection."""
    message = message_of(update)
    lang = lang_of(update)
    user = update.effective_user
    if not is_admin(context, user):
        await message.reply_text(say("admins_only", lang))
        return
    assert user is not None and message.document is not None
    sent = message.document
    name = sent.file_name or "document"
    library = context.bot_data.library
    try:
        library.check_size(name, sent.file_size or 0)  # before anything is fetched
    except BadUpload as e:
        await message.reply_text(say("not_added", lang, name=name, why=reason(e, lang)))
        return
    status = await message.reply_text(say("reading", lang, name=name))
    try:
        file = await context.bot.get_file(sent.file_id)
        library.check_size(name, file.file_size or 0)
        data = bytes(await file.download_as_bytearray())
    except BadUpload as e:
        await status.edit_text(say("not_added", lang, name=name, why=reason(e, lang)))
        return
    except TelegramError as e:
        logger.warning("download of a document failed: %s", e)
        await status.edit_text(say("download_failed", lang, name=name, why=str(e)))
        return
    if sent.file_size and len(data) != sent.file_size:
        await status.edit_text(say("download_failed", lang, name=name, why="it came incomplete"))
        return
    await _add(context, status, lang, name, data, sender(user))


async def _add(
    context: Context, status: Message, lang: Language, name: str, data: bytes, by: str
) -> None:
    loop = asyncio.get_running_loop()
    edits: list[Future[object]] = []

    def indexing(passages: int) -> None:  # from the worker thread
        text = say("indexing", lang, n=passages)
        edits.append(asyncio.run_coroutine_threadsafe(status.edit_text(text), loop))

    library = context.bot_data.library
    try:
        added = await _changing(lambda: library.add(name, data, by, indexing))
    except Exception as e:
        if not isinstance(e, CiteqaError):
            logger.exception("adding %s failed", name)
        await _settled(edits)
        await status.edit_text(say("not_added", lang, name=name, why=reason(e, lang)))
        return
    await _settled(edits)
    await _refreshed(context)
    logger.info("added %s (%d passages) for %s", added.name, added.passages, by)
    await status.edit_text(say("added", lang, title=added.title, n=added.passages))


async def _settled(edits: list[Future[object]]) -> None:
    """Wait for the status edits already sent, so that the last word is the last edit."""
    for edit in edits:
        with contextlib.suppress(TelegramError):
            await asyncio.wrap_future(edit)


async def add_usage(update: Update, context: Context) -> None:
    """Say how to add a document (/add without a file)."""
    lang = lang_of(update)
    key = "add_usage" if is_admin(context, update.effective_user) else "admins_only"
    await message_of(update).reply_text(say(key, lang))


async def remove(update: Update, context: Context) -> None:
    """Ask an admin to confirm removing the document /remove names."""
    message = message_of(update)
    lang = lang_of(update)
    if not is_admin(context, update.effective_user):
        await message.reply_text(say("admins_only", lang))
        return
    wanted = " ".join(context.args or []).strip()
    if not wanted:
        await message.reply_text(say("remove_usage", lang))
        return
    library = context.bot_data.library
    try:
        source = library.find(wanted)
    except CiteqaError as e:
        await message.reply_text(reason(e, lang))
        return
    qa = context.bot_data.qa
    title = qa.sources.get(source, source)
    key = RemoveButton.key_of(source)
    buttons = [
        InlineKeyboardButton(say("remove_yes", lang), callback_data=RemoveButton(key, True).data()),
        InlineKeyboardButton(say("remove_no", lang), callback_data=RemoveButton(key, False).data()),
    ]
    count = qa.chunk_counts().get(source, 0)
    await message.reply_text(
        say("remove_confirm", lang, title=title, name=source, n=count),
        reply_markup=InlineKeyboardMarkup([buttons]),
    )


async def confirm_remove(update: Update, context: Context) -> None:
    """Remove the document (or keep it) when an admin presses the confirmation button."""
    query = query_of(update)
    lang = lang_of(update)
    if not is_admin(context, query.from_user):
        await query.answer(say("admins_only", lang), show_alert=True)
        return
    await query.answer()
    button = RemoveButton.parse(match_of(context))
    library = context.bot_data.library
    sources = await asyncio.to_thread(library.sources)
    source = next((s for s in sources if RemoveButton.key_of(s) == button.key), None)
    if source is None:
        await query.edit_message_text(say("remove_gone", lang))
        return
    title = sources[source]
    if not button.confirm:
        await query.edit_message_text(say("remove_kept", lang, title=title))
        return
    await query.edit_message_text(say("removing", lang, title=title))
    try:
        await _changing(lambda: library.remove(source))
    except Exception as e:
        logger.exception("removing %s failed", source)
        await query.edit_message_text(say("not_removed", lang, title=title, why=reason(e, lang)))
        return
    await _refreshed(context)
    logger.info("removed %s for %s", source, sender(query.from_user))
    await query.edit_message_text(say("removed", lang, title=title))
