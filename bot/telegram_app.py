"""The Telegram bot: questions in a chat, cited passages back, over long polling."""

import asyncio
import dataclasses
import logging
import re
import signal
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from telegram import (
    BotCommand,
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    Update,
)
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.ext import (
    Application,
    ApplicationBuilder,
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    ExtBot,
    JobQueue,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.access import Access
from bot.buttons import Asked, ClosestButton, MoreButton, PassageButton, Questions
from bot.render import (
    Block,
    Run,
    answer_blocks,
    citation_head,
    decline_block,
    excerpt,
    passage_blocks,
    signals_text,
)
from bot.telegram_html import split
from bot.words import say
from retrieval.conversation import Conversation
from retrieval.errors import BadQuestion
from retrieval.settings import Settings
from retrieval.text import Language, language, sentence_spans
from retrieval.types import Answer

if TYPE_CHECKING:
    from retrieval.qa import QA

logger = logging.getLogger(__name__)


@dataclass
class ChatState:
    """What a chat's next questions depend on: its document filter, its last answer and the
    conversation of each member (one in a private chat)."""

    doc: str | None = None
    last: Answer | None = None
    conversations: dict[int, Conversation] = field(default_factory=dict)

    def conversation(self, user_id: int) -> Conversation:
        """Return a member's conversation, started on first use."""
        return self.conversations.setdefault(user_id, Conversation())


class BotState:
    """What every handler shares; set once by `build_application`."""

    qa: "QA"
    access: Access
    questions: Questions


Context = CallbackContext[ExtBot[None], dict[Any, Any], ChatState, BotState]
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]
BotApplication = Application[
    ExtBot[None], Context, dict[Any, Any], ChatState, BotState, JobQueue[Context]
]


def _lang(update: Update, text: str = "") -> Language:
    """Return the language to reply in: the text's, else the user's Telegram language."""
    if any(c.isalpha() for c in text):
        return language(text)
    user = update.effective_user
    return "zh" if user and (user.language_code or "").lower().startswith("zh") else "en"


async def gate(update: Update, context: Context) -> None:
    """Refuse users outside the allowlist before any handler runs."""
    user = update.effective_user
    if user is None or context.bot_data.access.allows(user.id, user.username):
        return
    lang = _lang(update)
    if update.callback_query:
        await update.callback_query.answer(say("denied", lang), show_alert=True)
    elif (
        update.effective_message
        and update.effective_chat
        and update.effective_chat.type == ChatType.PRIVATE
    ):
        await _message(update).reply_text(say("denied", lang))
    raise ApplicationHandlerStop


async def start(update: Update, context: Context) -> None:
    """Say what the bot is, which documents it knows and how to ask."""
    lang = _lang(update)
    blocks = [
        [Run(say("intro", lang))],
        [Run(say("docs", lang), "b"), *_titles(context)],
        [Run(say("how", lang))],
    ]
    await _send(_message(update), blocks)


async def help_command(update: Update, context: Context) -> None:
    """Explain how to ask."""
    await _send(_message(update), [[Run(say("how", _lang(update)))]])


async def sources(update: Update, context: Context) -> None:
    """List the documents with their titles."""
    qa = context.bot_data.qa
    counts = qa.chunk_counts()
    runs: Block = [Run(say("docs", _lang(update)), "b")]
    for source, title in sorted(qa.sources.items()):
        runs += [Run(f"\n• {title}\n  "), Run(f"{source} ({counts[source]})", "code")]
    await _send(_message(update), [runs])


async def ask_command(update: Update, context: Context) -> None:
    """Answer the question after /ask (the way to ask in groups)."""
    question = " ".join(context.args or [])
    if not question.strip():
        await _message(update).reply_text(say("ask_usage", _lang(update)))
        return
    await _answer(update, context, question)


async def doc(update: Update, context: Context) -> None:
    """Restrict the chat's next questions to one document, or clear that."""
    lang = _lang(update)
    name = " ".join(context.args or []).strip()
    if not name:
        _state(context).doc = None
        await _message(update).reply_text(say("doc_cleared", lang))
        return
    qa = context.bot_data.qa
    source = qa.resolve_source(name)
    if source is None:
        await _message(update).reply_text(say("doc_unknown", lang, name=name))
        return
    _state(context).doc = source
    await _message(update).reply_text(say("doc_set", lang, title=qa.sources[source]))


async def new_conversation(update: Update, context: Context) -> None:
    """Forget the user's earlier questions: the next one starts a new conversation."""
    _state(context).conversation(_user_id(update)).clear()
    await _message(update).reply_text(say("new_conversation", _lang(update)))


async def why(update: Update, context: Context) -> None:
    """Show the retrieval scores and signals behind the chat's last answer."""
    last = _state(context).last
    if last is None or last.signals is None:
        await _message(update).reply_text(say("no_last", _lang(update)))
        return
    runs: Block = [Run(last.question, "b")]
    if last.asked_as and last.asked_as != last.question:
        runs.append(
            Run("\n" + say("searched_as", _lang(update, last.question), text=last.asked_as), "i")
        )
    runs.append(Run(f"\n{signals_text(last.signals, last.abstained)}"))
    for c in last.citations:
        runs += [Run(f"\n[{c.n}] "), Run(f"{c.source} {c.start}-{c.end}", "code")]
        runs.append(Run(f" score {c.score:.3f}"))
    runs.append(Run(f"\n{last.timings_ms.get('total', 0.0):.1f} ms", "i"))
    await _send(_message(update), [runs])


async def question(update: Update, context: Context) -> None:
    """Answer a text message: any in private chats; mentions and replies to me in groups."""
    message = _message(update)
    text = message.text or ""
    if message.chat.type != ChatType.PRIVATE:
        mention = f"@{context.bot.username or ''}"
        replied = message.reply_to_message
        to_me = bool(replied and replied.from_user and replied.from_user.id == context.bot.id)
        if mention.lower() not in text.lower() and not to_me:
            return
        text = _strip_mention(text, mention)
    await _answer(update, context, text)


async def not_text(update: Update, context: Context) -> None:
    """Tell the user that only text questions are answered."""
    await _message(update).reply_text(say("text_only", _lang(update)))


async def unknown(update: Update, context: Context) -> None:
    """Answer an unknown command with the help line."""
    await help_command(update, context)


async def show_passage(update: Update, context: Context) -> None:
    """Show a cited passage in full, its answering sentences bold."""
    query = _query(update)
    button = PassageButton.parse(_match(context))
    chunk = context.bot_data.qa.chunk(button.chunk_id)
    if chunk is None:  # re-ingested since: the passage changed or went
        await expired(update, context)
        return
    await query.answer()
    spans = sentence_spans(chunk.text)
    bold = tuple(spans[i] for i in button.marks if i < len(spans))
    await _send(_shown(query), passage_blocks(chunk, _lang(update), bold))


async def _pressed(update: Update, context: Context, key: str) -> tuple[Asked, Message] | None:
    """Acknowledge a press on a remembered question's button; return the question and the
    message the button is under, or None (said to the user when the question expired)."""
    query = _query(update)
    asked = context.bot_data.questions.get(key)
    if asked is None:
        await expired(update, context)
        return None
    await query.answer()
    shown = _shown(query)
    return None if shown is None else (asked, shown)


async def show_more(update: Update, context: Context) -> None:
    """Show the next cited passages of a question, and spend the button."""
    query = _query(update)
    button = MoreButton.parse(_match(context))
    pressed = await _pressed(update, context, button.key)
    if pressed is None:
        return
    asked, shown = pressed
    await _answer(update, context, asked, offset=button.offset, reply_to=shown)
    markup = shown.reply_markup
    if markup is not None:  # the press is spent: keep the passage buttons only
        await query.edit_message_reply_markup(InlineKeyboardMarkup(markup.inline_keyboard[:-1]))


async def show_closest(update: Update, context: Context) -> None:
    """Show a declined question's closest passages under a heading that says what they are."""
    query = _query(update)
    pressed = await _pressed(update, context, ClosestButton.parse(_match(context)).key)
    if pressed is None:
        return
    asked, shown = pressed
    qa = context.bot_data.qa
    answer = await asyncio.to_thread(
        qa.ask, asked.text, qa.settings.top_k, asked.source, None, asked.history
    )
    lang = _lang(update, asked.text)
    await query.edit_message_reply_markup(None)  # the press is spent
    if not answer.closest:  # the index changed since, and nothing comes close now
        await shown.reply_text(say("no_more", lang))
        return
    page = dataclasses.replace(answer, citations=answer.closest, language=lang)
    heading: Block = [Run(say("closest_heading", lang), "i")]
    blocks = [heading] + [citation_head(c) + excerpt(c) for c in page.citations]
    await _send(shown, blocks, _keyboard(page, None, lang))


async def expired(update: Update, context: Context) -> None:
    """Answer a button the bot no longer knows."""
    await _query(update).answer(say("expired", _lang(update)), show_alert=True)


async def _answer(
    update: Update,
    context: Context,
    asked: str | Asked,
    offset: int = 0,
    reply_to: Message | None = None,
) -> None:
    """Retrieve off the event loop and reply with cited passages, or a plain decline.

    A new question (text) follows the user's conversation; a "more results" press (`Asked`)
    repeats the question it continues, with the same conversation.
    """
    message = reply_to or _message(update)
    text = asked if isinstance(asked, str) else asked.text
    lang = _lang(update, text)
    user_id = _user_id(update)
    access = context.bot_data.access
    wait = access.wait(user_id)
    if wait:
        await message.reply_text(say("slow_down", lang, rate=access.limit.rate, wait=int(wait) + 1))
        return
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    qa = context.bot_data.qa
    state = _state(context)
    conversation = state.conversation(user_id)
    if isinstance(asked, str):
        asked = Asked(text, state.doc, tuple(conversation.history()))
    k = qa.settings.top_k + offset
    try:
        answer = await asyncio.to_thread(qa.ask, text, k, asked.source, None, asked.history)
    except BadQuestion as e:
        await message.reply_text(str(e))
        return
    if offset == 0:
        state.last = answer
        conversation.add(answer)
    searched: list[Block] = []
    if offset == 0 and answer.asked_as != answer.question:
        searched = [[Run(say("searched_as", lang, text=answer.asked_as), "i")]]
    if answer.abstained:
        offer = None
        if answer.closest:
            key = context.bot_data.questions.remember(asked)
            button = InlineKeyboardButton(
                say("show_closest", lang) + " ▸", callback_data=ClosestButton(key).data()
            )
            offer = InlineKeyboardMarkup([[button]])
        await _send(message, [*searched, decline_block(lang, _titles_of(context))], offer)
        return
    page = dataclasses.replace(answer, citations=answer.citations[offset:], language=lang)
    if not page.citations:
        await message.reply_text(say("no_more", lang))
        return
    blocks = answer_blocks(page)[1 if offset else 0 :]  # the answer line was sent
    more = None
    if len(answer.citations) == k:
        more = MoreButton(context.bot_data.questions.remember(asked), k)
    await _send(message, [*searched, *blocks], _keyboard(page, more, lang))


def _keyboard(answer: Answer, more: MoreButton | None, lang: Language) -> InlineKeyboardMarkup:
    """Return a button per citation (five a row), then "more results" if there are more."""
    row = []
    for c in answer.citations:
        spans = sentence_spans(c.text)
        marks = tuple(spans.index(h) for h in c.highlights if h in spans)
        row.append(
            InlineKeyboardButton(f"[{c.n}]", callback_data=PassageButton(c.chunk_id, marks).data())
        )
    rows = [row[i : i + 5] for i in range(0, len(row), 5)]
    if more is not None:
        rows.append([InlineKeyboardButton(say("more", lang) + " ▸", callback_data=more.data())])
    return InlineKeyboardMarkup(rows)


def _user_id(update: Update) -> int:
    return update.effective_user.id if update.effective_user else 0


def _message(update: Update) -> Message:
    """Return the update's message: the handlers it is routed to all expect one."""
    if update.effective_message is None:
        raise ValueError(f"update {update.update_id} has no message")
    return update.effective_message


def _query(update: Update) -> CallbackQuery:
    if update.callback_query is None:
        raise ValueError(f"update {update.update_id} has no button press")
    return update.callback_query


def _match(context: Context) -> "re.Match[str]":
    """Return the match of the handler's pattern (set for pattern handlers only)."""
    found = context.match
    if not isinstance(found, re.Match):
        raise ValueError("a button handler was routed without its pattern")
    return found


def _shown(query: CallbackQuery) -> Message | None:
    """Return the message the pressed button is under, if still accessible."""
    return query.message if isinstance(query.message, Message) else None


def _state(context: Context) -> ChatState:
    """Return the chat's state; a throwaway one outside chats."""
    return context.chat_data if context.chat_data is not None else ChatState()


def _strip_mention(text: str, mention: str) -> str:
    at = text.lower().find(mention.lower())
    return text if at < 0 else (text[:at] + text[at + len(mention) :]).strip()


def _titles_of(context: Context) -> list[str]:
    return sorted(set(context.bot_data.qa.sources.values()))


def _titles(context: Context) -> list[Run]:
    return [Run(f"\n• {t}") for t in _titles_of(context)]


async def _send(
    message: Message | None, blocks: list[Block], markup: InlineKeyboardMarkup | None = None
) -> None:
    """Send blocks as HTML messages under the limit; the last one carries the buttons."""
    if message is None:
        return
    parts = split(blocks)
    for i, part in enumerate(parts):
        await message.reply_text(
            part,
            parse_mode=ParseMode.HTML,
            reply_markup=markup if i == len(parts) - 1 else None,
            do_quote=i == 0,
        )


async def on_error(update: object, context: Context) -> None:
    """Log the traceback and tell the user briefly."""
    logger.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        await _message(update).reply_text(say("error", _lang(update)))


# The commands: one table for the handlers and for the menu Telegram shows (setMyCommands).
COMMANDS: list[tuple[str, Handler, str]] = [
    ("start", start, "What this bot is and which documents it knows"),
    ("help", help_command, "How to ask"),
    ("sources", sources, "The documents, with titles"),
    ("ask", ask_command, "Ask a question (in groups)"),
    ("doc", doc, "Restrict questions to one document; alone: clear"),
    ("why", why, "The scores behind the last answer"),
    ("new", new_conversation, "Start a new conversation (forget earlier questions)"),
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
        .context_types(context_types)
        .concurrent_updates(True)
        .post_init(_post_init)
    )
    # The builder's stubs type the job queue with the default context, not ours.
    application = cast(BotApplication, builder.build())
    state = application.bot_data
    state.qa = qa
    state.access = Access(settings.telegram_allowed_users, settings.telegram_rate)
    state.questions = Questions()
    application.add_handler(TypeHandler(Update, gate), group=-1)
    new = filters.UpdateType.MESSAGE  # edits are not re-answered: the first reply stands
    for name, callback, _ in COMMANDS:
        application.add_handler(CommandHandler(name, callback, filters=new))
    application.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, question))
    application.add_handler(
        MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE, unknown)
    )
    application.add_handler(
        MessageHandler(new & filters.ChatType.PRIVATE & ~filters.TEXT, not_text)
    )
    application.add_handler(CallbackQueryHandler(show_passage, pattern=PassageButton.PATTERN))
    application.add_handler(CallbackQueryHandler(show_more, pattern=MoreButton.PATTERN))
    application.add_handler(CallbackQueryHandler(show_closest, pattern=ClosestButton.PATTERN))
    application.add_handler(CallbackQueryHandler(expired))
    application.add_error_handler(on_error)
    return application
