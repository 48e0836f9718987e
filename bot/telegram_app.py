"""The Telegram bot: questions in a chat, cited passages back, over long polling."""

import asyncio
import logging
import signal
import threading
from typing import TYPE_CHECKING, cast

from telegram import (
    BotCommand,
    Update,
)
from telegram.constants import ChatType
from telegram.ext import (
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.access import Access
from bot.buttons import ClosestButton, MoreButton, PassageButton, Questions
from bot.render import (
    Block,
    Run,
    citation_score,
    signals_text,
    written_text,
)
from bot.telegram_library import (
    ADD_CAPTION,
    RemoveButton,
    add_document,
    add_usage,
    confirm_remove,
    remove,
)
from bot.telegram_replies import answer, expired, show_closest, show_more, show_passage
from bot.telegram_state import (
    BotApplication,
    BotState,
    ChatState,
    Context,
    Handler,
    chat_state,
    lang_of,
    message_of,
    send,
    strip_mention,
    title_runs,
    user_id_of,
)
from bot.words import say
from ingest.library import Library
from retrieval.settings import Settings

if TYPE_CHECKING:
    from retrieval.qa import QA

logger = logging.getLogger(__name__)


async def gate(update: Update, context: Context) -> None:
    """Refuse users outside the allowlist before any handler runs."""
    user = update.effective_user
    if user is None or context.bot_data.access.allows(user.id, user.username):
        return
    lang = lang_of(update)
    if update.callback_query:
        await update.callback_query.answer(say("denied", lang), show_alert=True)
    elif (
        update.effective_message
        and update.effective_chat
        and update.effective_chat.type == ChatType.PRIVATE
    ):
        await message_of(update).reply_text(say("denied", lang))
    raise ApplicationHandlerStop


async def start(update: Update, context: Context) -> None:
    """Say what the bot is, which documents it knows and how to ask."""
    lang = lang_of(update)
    blocks = [
        [Run(say("intro", lang))],
        [Run(say("docs", lang), "b"), *title_runs(context)],
        [Run(say("how", lang))],
    ]
    await send(message_of(update), blocks)


async def help_command(update: Update, context: Context) -> None:
    """Explain how to ask."""
    await send(message_of(update), [[Run(say("how", lang_of(update)))]])


async def sources(update: Update, context: Context) -> None:
    """List the documents with their titles."""
    qa = context.bot_data.qa
    lang = lang_of(update)
    counts = qa.chunk_counts()
    added = context.bot_data.library.provenance()
    runs: Block = [Run(say("docs", lang), "b")]
    for source, title in sorted(qa.sources.items()):
        runs += [Run(f"\n• {title}\n  "), Run(f"{source} ({counts[source]})", "code")]
        if source in added:
            by = added[source]
            runs.append(Run("\n  " + say("added_by", lang, by=by.by, at=by.at[:10]), "i"))
    await send(message_of(update), [runs])


async def ask_command(update: Update, context: Context) -> None:
    """Answer the question after /ask (the way to ask in groups)."""
    question = " ".join(context.args or [])
    if not question.strip():
        await message_of(update).reply_text(say("ask_usage", lang_of(update)))
        return
    await answer(update, context, question)


async def doc(update: Update, context: Context) -> None:
    """Restrict the chat's next questions to one document, or clear that."""
    lang = lang_of(update)
    name = " ".join(context.args or []).strip()
    if not name:
        chat_state(context).doc = None
        await message_of(update).reply_text(say("doc_cleared", lang))
        return
    qa = context.bot_data.qa
    source = qa.resolve_source(name)
    if source is None:
        await message_of(update).reply_text(say("doc_unknown", lang, name=name))
        return
    chat_state(context).doc = source
    await message_of(update).reply_text(say("doc_set", lang, title=qa.sources[source]))


async def new_conversation(update: Update, context: Context) -> None:
    """Forget the user's earlier questions: the next one starts a new conversation."""
    chat_state(context).conversation(user_id_of(update)).clear()
    await message_of(update).reply_text(say("new_conversation", lang_of(update)))


async def why(update: Update, context: Context) -> None:
    """Show the retrieval scores and signals behind the chat's last answer."""
    last = chat_state(context).last
    if last is None or last.signals is None:
        await message_of(update).reply_text(say("no_last", lang_of(update)))
        return
    runs: Block = [Run(last.question, "b")]
    if last.asked_as and last.asked_as != last.question:
        runs.append(
            Run("\n" + say("searched_as", lang_of(update, last.question), text=last.asked_as), "i")
        )
    runs.append(Run(f"\n{signals_text(last.signals, last.abstained, last.reader)}"))
    for c in last.citations or last.closest:
        runs += [Run(f"\n[{c.n}] "), Run(f"{c.source} {c.start}-{c.end}", "code")]
        runs.append(Run(f" {citation_score(c)}"))
    if last.written is not None:
        runs.append(Run(f"\n{written_text(last.written)}"))
    runs.append(Run(f"\n{last.timings_ms.get('total', 0.0):.1f} ms", "i"))
    await send(message_of(update), [runs])


async def question(update: Update, context: Context) -> None:
    """Answer a text message: any in private chats; mentions and replies to me in groups."""
    message = message_of(update)
    text = message.text or ""
    if message.chat.type != ChatType.PRIVATE:
        mention = f"@{context.bot.username or ''}"
        replied = message.reply_to_message
        to_me = bool(replied and replied.from_user and replied.from_user.id == context.bot.id)
        if mention.lower() not in text.lower() and not to_me:
            return
        text = strip_mention(text, mention)
    await answer(update, context, text)


async def not_text(update: Update, context: Context) -> None:
    """Tell the user that only text questions are answered."""
    await message_of(update).reply_text(say("text_only", lang_of(update)))


async def unknown(update: Update, context: Context) -> None:
    """Answer an unknown command with the help line."""
    await help_command(update, context)


async def on_error(update: object, context: Context) -> None:
    """Log the traceback and tell the user briefly."""
    logger.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        await message_of(update).reply_text(say("error", lang_of(update)))


# The commands: one table for the handlers and for the menu Telegram shows (setMyCommands).
COMMANDS: list[tuple[str, Handler, str]] = [
    ("start", start, "What this bot is and which documents it knows"),
    ("help", help_command, "How to ask"),
    ("sources", sources, "The documents, with titles"),
    ("ask", ask_command, "Ask a question (in groups)"),
    ("doc", doc, "Restrict questions to one document; alone: clear"),
    ("why", why, "The scores behind the last answer"),
    ("new", new_conversation, "Start a new conversation (forget earlier questions)"),
    ("add", add_usage, "Add a document (admins): send the file"),
    ("remove", remove, "Remove a document (admins)"),
]


async def _post_init(application: BotApplication) -> None:
    await application.bot.set_my_commands([BotCommand(c, d) for c, _, d in COMMANDS])
    if threading.current_thread() is threading.main_thread():  # `citeqa bot`, not a test
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, _stop, application)


def _stop(application: BotApplication) -> None:
    """Stop polling on SIGINT or SIGTERM, first giving up on chat-model calls in flight:
    python-telegram-bot waits for the questions being answered, and those then end at once."""
    logger.info("stopping: answering the questions in flight without the chat model")
    application.bot_data.qa.stop()
    application.stop_running()


def run(application: BotApplication) -> None:
    """Poll the Bot API until SIGINT or SIGTERM (handled by `_stop`)."""
    application.run_polling(allowed_updates=Update.ALL_TYPES, stop_signals=None)


def build_application(settings: Settings, qa: "QA") -> BotApplication:
    """Return the bot's Application, answering from `qa`."""
    context_types = ContextTypes(context=CallbackContext, chat_data=ChatState, bot_data=BotState)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .base_file_url(settings.telegram_base_file_url)
        .context_types(context_types)
        .concurrent_updates(True)
        # On stop, python-telegram-bot cancels the long poll without awaiting it and at once
        # calls getUpdates again to confirm the offset: with one connection that call can wait
        # for the cancelled one past its pool timeout, and logs a traceback (seen in CI).
        .get_updates_connection_pool_size(2)
        .post_init(_post_init)
    )
    # The builder's stubs type the job queue with the default context, not ours.
    application = cast(BotApplication, builder.build())
    state = application.bot_data
    state.qa = qa
    state.access = Access(settings.telegram_allowed_users, settings.telegram_rate)
    state.questions = Questions()
    state.library = Library(settings, getattr(getattr(qa, "searcher", None), "embedder", None))
    application.add_handler(TypeHandler(Update, gate), group=-1)
    new = filters.UpdateType.MESSAGE  # edits are not re-answered: the first reply stands
    for name, callback, _ in COMMANDS:
        application.add_handler(CommandHandler(name, callback, filters=new))
    application.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, question))
    application.add_handler(
        MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE, unknown)
    )
    document = new & filters.Document.ALL
    application.add_handler(MessageHandler(document & filters.ChatType.PRIVATE, add_document))
    application.add_handler(
        MessageHandler(document & filters.CaptionRegex(ADD_CAPTION), add_document)
    )
    application.add_handler(
        MessageHandler(new & filters.ChatType.PRIVATE & ~filters.TEXT, not_text)
    )
    application.add_handler(CallbackQueryHandler(show_passage, pattern=PassageButton.PATTERN))
    application.add_handler(CallbackQueryHandler(show_more, pattern=MoreButton.PATTERN))
    application.add_handler(CallbackQueryHandler(show_closest, pattern=ClosestButton.PATTERN))
    application.add_handler(CallbackQueryHandler(confirm_remove, pattern=RemoveButton.PATTERN))
    application.add_handler(CallbackQueryHandler(expired))
    application.add_error_handler(on_error)
    return application
