"""The Telegram bot: questions in a chat, cited passages back, over long polling."""

import asyncio
import logging
import time
from collections import OrderedDict, deque
from typing import Any

from telegram import (
    Bot,
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
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.render import signals_text
from bot.telegram_html import Block, Run, answer_blocks, passage_blocks, split
from retrieval.errors import BadQuestion
from retrieval.settings import Settings
from retrieval.text import is_cjk_text, sentence_spans
from retrieval.types import Answer

logger = logging.getLogger(__name__)

MORE = 5
REMEMBERED = 1000  # questions kept for "more results" buttons, across all chats

WORDS = {
    "intro": (
        "I answer questions from a document collection with the exact passages I found, each "
        "cited. Ask in English or Chinese.",
        "我根据文档库回答问题，给出找到的原文段落并逐条注明出处。可以用中文或英文提问。",
    ),
    "docs": ("Documents I know:", "我掌握的文档："),
    "how": (
        "Just type a question. In groups use /ask QUESTION, mention me, or reply to me.\n"
        "/sources lists the documents, /doc NAME restricts questions to one (/doc alone "
        "clears it), /why shows the scores behind the last answer.",
        "直接输入问题即可。在群组中请用 /ask 问题、@我 或回复我的消息。\n"
        "/sources 列出文档，/doc 名称 只在该文档中查找（单独 /doc 取消），"
        "/why 显示上一个回答的检索分数。",
    ),
    "ask_usage": ("Usage: /ask QUESTION", "用法：/ask 问题"),
    "not_found": (
        "The documents do not answer this question. The collection covers:",
        "文档中没有找到这个问题的答案。本资料库包含：",
    ),
    "text_only": (
        "I can only answer text questions.",
        "我只能回答文字问题。",
    ),
    "denied": (
        "Sorry, this bot is private. Ask its operator to add you.",
        "抱歉，这是一个私有机器人。请联系管理员把您加入名单。",
    ),
    "slow_down": (
        "You are asking faster than I can take ({rate}). Try again in {wait} s.",
        "提问太频繁了（{rate}）。请 {wait} 秒后再试。",
    ),
    "doc_set": ("Questions now search only: {title}", "现在只在此文档中查找：{title}"),
    "doc_cleared": ("Questions now search all documents.", "现在在全部文档中查找。"),
    "doc_unknown": (
        "No single document matches {name!r}. Use /sources to see the names.",
        "没有唯一匹配 {name!r} 的文档。请用 /sources 查看文档名。",
    ),
    "no_last": ("Ask a question first.", "请先提一个问题。"),
    "expired": (
        "This button has expired: ask the question again.",
        "此按钮已过期，请重新提问。",
    ),
    "no_more": ("No further passages.", "没有更多段落了。"),
    "passage": ("Passage", "段落"),
    "more": ("More results", "更多结果"),
    "error": (
        "Sorry, something went wrong on my side. Please try again.",
        "抱歉，我这边出了问题，请再试一次。",
    ),
}


def say(key: str, chinese: bool, **values: Any) -> str:
    """Return the bot's own words in the user's language."""
    return WORDS[key][1 if chinese else 0].format(**values)


def _chinese(update: Update, text: str = "") -> bool:
    if any(c.isalpha() for c in text):
        return is_cjk_text(text)
    user = update.effective_user
    return bool(user and (user.language_code or "").lower().startswith("zh"))


class RateLimit:
    """At most `count` questions per `seconds` for each user, over a sliding window."""

    def __init__(self, spec: str) -> None:
        self.spec = spec
        count, _, seconds = spec.partition("/")
        self.count, self.seconds = int(count), float(seconds or 60)
        self._seen: dict[int, deque[float]] = {}

    def wait(self, user_id: int, now: float | None = None) -> float:
        """Return 0 and count the question if allowed, else the seconds to wait."""
        now = time.monotonic() if now is None else now
        seen = self._seen.setdefault(user_id, deque())
        while seen and seen[0] <= now - self.seconds:
            seen.popleft()
        if len(seen) >= self.count:
            return seen[0] + self.seconds - now
        seen.append(now)
        return 0.0


def allowed_users(spec: str) -> tuple[set[int], set[str]]:
    """Parse the allowlist into user ids and lowercase usernames."""
    ids, names = set(), set()
    for item in (s.strip() for s in spec.split(",")):
        if item.lstrip("-").isdigit():
            ids.add(int(item))
        elif item:
            names.add(item.lstrip("@").lower())
    return ids, names


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Refuse users outside the allowlist before any handler runs."""
    ids, names = context.bot_data["allowed"]
    user = update.effective_user
    if not (ids or names) or (user and (user.id in ids or (user.username or "").lower() in names)):
        return
    chinese = _chinese(update)
    if update.callback_query:
        await update.callback_query.answer(say("denied", chinese), show_alert=True)
    elif (
        update.effective_message
        and update.effective_chat
        and update.effective_chat.type == ChatType.PRIVATE
    ):
        await _message(update).reply_text(say("denied", chinese))
    raise ApplicationHandlerStop


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Say what the bot is, which documents it knows and how to ask."""
    chinese = _chinese(update)
    blocks = [
        [Run(say("intro", chinese))],
        [Run(say("docs", chinese), "b"), *_titles(context)],
        [Run(say("how", chinese))],
    ]
    await _send(_message(update), blocks)


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Explain how to ask."""
    await _send(_message(update), [[Run(say("how", _chinese(update)))]])


async def sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """List the documents with their titles."""
    qa = context.bot_data["qa"]
    counts = qa.chunk_counts()
    runs: Block = [Run(say("docs", _chinese(update)), "b")]
    for source, title in sorted(qa.sources.items()):
        runs += [Run(f"\n• {title}\n  "), Run(f"{source} ({counts[source]})", "code")]
    await _send(_message(update), [runs])


async def ask_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the question after /ask (the way to ask in groups)."""
    question = " ".join(context.args or [])
    if not question.strip():
        await _message(update).reply_text(say("ask_usage", _chinese(update)))
        return
    await _answer(update, context, question)


async def doc(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Restrict the chat's next questions to one document, or clear that."""
    chinese = _chinese(update)
    name = " ".join(context.args or []).strip()
    if not name:
        _state(context).pop("doc", None)
        await _message(update).reply_text(say("doc_cleared", chinese))
        return
    qa = context.bot_data["qa"]
    source = qa.searcher.resolve_source(name)
    if source is None:
        await _message(update).reply_text(say("doc_unknown", chinese, name=name))
        return
    _state(context)["doc"] = source
    await _message(update).reply_text(say("doc_set", chinese, title=qa.sources[source]))


async def why(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show the retrieval scores and signals behind the chat's last answer."""
    last: Answer | None = _state(context).get("last")
    if last is None or last.signals is None:
        await _message(update).reply_text(say("no_last", _chinese(update)))
        return
    s = last.signals
    runs: Block = [
        Run(last.question, "b"),
        Run(f"\n{signals_text(s, last.abstained)}"),
    ]
    for c in last.citations:
        runs += [Run(f"\n[{c.n}] "), Run(f"{c.source} {c.start}-{c.end}", "code")]
        runs.append(Run(f" score {c.score:.3f}"))
    runs.append(Run(f"\n{last.timings_ms.get('total', 0.0):.1f} ms", "i"))
    await _send(_message(update), [runs])


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer a text message: any in private chats; mentions and replies to me in groups."""
    message = _message(update)
    text = message.text or ""
    if message.chat.type != ChatType.PRIVATE:
        me = context.bot.username or ""
        mention = f"@{me}"
        replied = message.reply_to_message
        to_me = bool(replied and replied.from_user and replied.from_user.id == context.bot.id)
        if mention.lower() not in text.lower() and not to_me:
            return
        text = _strip_mention(text, mention)
    await _answer(update, context, text)


def _message(update: Update) -> Message:
    """Return the update's message: the handlers it is routed to all expect one."""
    if update.effective_message is None:
        raise ValueError(f"update {update.update_id} has no message")
    return update.effective_message


def _query(update: Update) -> CallbackQuery:
    if update.callback_query is None:
        raise ValueError(f"update {update.update_id} has no button press")
    return update.callback_query


def _shown(query: CallbackQuery) -> Message | None:
    """Return the message the pressed button is under, if still accessible."""
    return query.message if isinstance(query.message, Message) else None


def _state(context: ContextTypes.DEFAULT_TYPE) -> dict[Any, Any]:
    """Return the chat's state (document filter, last answer); empty outside chats."""
    return context.chat_data if context.chat_data is not None else {}


def _strip_mention(text: str, mention: str) -> str:
    at = text.lower().find(mention.lower())
    return text if at < 0 else (text[:at] + text[at + len(mention) :]).strip()


async def not_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Tell the user that only text questions are answered."""
    await _message(update).reply_text(say("text_only", _chinese(update)))


async def unknown(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer an unknown command with the help line."""
    await help_command(update, context)


async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Show a cited passage in full, or more results; every press is answered."""
    query = _query(update)
    kind, _, rest = (query.data or "").partition(":")
    chinese = _chinese(update)
    if kind == "p":
        await _show_passage(update, context, rest, chinese)
    elif kind == "m":
        await _show_more(update, context, rest, chinese)
    else:
        await query.answer(say("expired", chinese), show_alert=True)


async def _show_passage(
    update: Update, context: ContextTypes.DEFAULT_TYPE, rest: str, chinese: bool
) -> None:
    query = _query(update)
    chunk_id, _, marks = rest.partition(":")
    chunk = context.bot_data["qa"].chunk(chunk_id)
    if chunk is None:  # re-ingested since: the passage changed or went
        await query.answer(say("expired", chinese), show_alert=True)
        return
    await query.answer()
    spans = sentence_spans(chunk.text)
    bold = tuple(spans[int(i)] for i in marks.split(",") if i.isdigit() and int(i) < len(spans))
    await _send(_shown(query), passage_blocks(chunk, chinese, bold))


async def _show_more(
    update: Update, context: ContextTypes.DEFAULT_TYPE, rest: str, chinese: bool
) -> None:
    query = _query(update)
    key, _, offset_text = rest.partition(":")
    asked = context.bot_data["asked"].get(key)
    if asked is None or not offset_text.isdigit():
        await query.answer(say("expired", chinese), show_alert=True)
        return
    await query.answer()
    text, source = asked
    offset = int(offset_text)
    shown = _shown(query)
    if shown is None:
        return
    await _answer(update, context, text, source=source, offset=offset, reply_to=shown)
    markup = shown.reply_markup
    if markup is not None:  # the press is spent: keep the passage buttons only
        await query.edit_message_reply_markup(InlineKeyboardMarkup(markup.inline_keyboard[:-1]))


async def _answer(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    text: str,
    source: str | None = None,
    offset: int = 0,
    reply_to: Message | None = None,
) -> None:
    """Retrieve off the event loop and reply with cited passages, or a plain decline."""
    message = reply_to or _message(update)
    chinese = _chinese(update, text)
    user_id = update.effective_user.id if update.effective_user else 0
    rate: RateLimit = context.bot_data["rate"]
    wait = rate.wait(user_id)
    if wait:
        await message.reply_text(say("slow_down", chinese, rate=rate.spec, wait=int(wait) + 1))
        return
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    qa = context.bot_data["qa"]
    source = source or _state(context).get("doc")
    k = qa.settings.top_k + offset
    try:
        answer: Answer = await asyncio.to_thread(qa.ask, text, k, source)
    except BadQuestion as e:
        await message.reply_text(str(e))
        return
    if offset == 0:
        _state(context)["last"] = answer
    if answer.abstained:
        await _send(message, [[Run(say("not_found", chinese)), *_titles(context)]])
        return
    shown = answer.citations[offset:]
    if not shown:
        await message.reply_text(say("no_more", chinese))
        return
    page = Answer(answer.question, answer.answer, False, shown, answer.timings_ms, answer.signals)
    blocks = answer_blocks(page, chinese)[1 if offset else 0 :]  # the answer line was sent
    more = len(answer.citations) == k
    markup = _keyboard(context, page, text, source, k if more else None, chinese)
    await _send(message, blocks, markup)


def _keyboard(
    context: ContextTypes.DEFAULT_TYPE,
    answer: Answer,
    text: str,
    source: str | None,
    next_offset: int | None,
    chinese: bool,
) -> InlineKeyboardMarkup:
    row = []
    for c in answer.citations:
        spans = sentence_spans(c.text)
        marks = ",".join(str(spans.index(h)) for h in c.highlights if h in spans)
        data = f"p:{c.chunk_id}:{marks}"  # 32 hex digits + two sentence numbers: < 64 bytes
        row.append(InlineKeyboardButton(f"[{c.n}]", callback_data=data))
    rows = [row[i : i + 5] for i in range(0, len(row), 5)]
    if next_offset is not None:
        asked: OrderedDict[str, tuple[str, str | None]] = context.bot_data["asked"]
        key = format(context.bot_data["counter"], "x")
        context.bot_data["counter"] += 1
        asked[key] = (text, source)
        while len(asked) > REMEMBERED:
            asked.popitem(last=False)
        more = say("more", chinese) + " ▸"
        rows.append([InlineKeyboardButton(more, callback_data=f"m:{key}:{next_offset}")])
    return InlineKeyboardMarkup(rows)


def _titles(context: ContextTypes.DEFAULT_TYPE) -> list[Run]:
    titles = sorted(set(context.bot_data["qa"].sources.values()))
    return [Run(f"\n• {t}") for t in titles]


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


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Log the traceback and tell the user briefly."""
    logger.error("error while handling an update", exc_info=context.error)
    if isinstance(update, Update) and update.effective_message:
        await _message(update).reply_text(say("error", _chinese(update)))


COMMANDS = [
    ("start", "What this bot is and which documents it knows"),
    ("help", "How to ask"),
    ("sources", "The documents, with titles"),
    ("ask", "Ask a question (in groups)"),
    ("doc", "Restrict questions to one document; alone: clear"),
    ("why", "The scores behind the last answer"),
]


async def _post_init(application: Application[Any, Any, Any, Any, Any, Any]) -> None:
    await application.bot.set_my_commands([BotCommand(c, d) for c, d in COMMANDS])


def build_application(settings: Settings, qa: Any) -> Application[Any, Any, Any, Any, Any, Any]:
    """Return the bot's Application, answering from `qa`."""
    application = (
        ApplicationBuilder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_base_url)
        .concurrent_updates(True)
        .post_init(_post_init)
        .build()
    )
    application.bot_data.update(
        qa=qa,
        allowed=allowed_users(settings.telegram_allowed_users),
        rate=RateLimit(settings.telegram_rate),
        asked=OrderedDict(),
        counter=0,
    )
    application.add_handler(TypeHandler(Update, gate), group=-1)
    for name, callback in [
        ("start", start),
        ("help", help_command),
        ("sources", sources),
        ("ask", ask_command),
        ("doc", doc),
        ("why", why),
    ]:
        application.add_handler(CommandHandler(name, callback))
    new = filters.UpdateType.MESSAGE  # edits are not re-answered: the first reply stands
    application.add_handler(MessageHandler(new & filters.TEXT & ~filters.COMMAND, question))
    application.add_handler(
        MessageHandler(new & filters.COMMAND & filters.ChatType.PRIVATE, unknown)
    )
    application.add_handler(
        MessageHandler(new & filters.ChatType.PRIVATE & ~filters.TEXT, not_text)
    )
    application.add_handler(CallbackQueryHandler(button))
    application.add_error_handler(on_error)
    return application


async def check_token(settings: Settings) -> str:
    """Return the bot's username; raise InvalidToken or NetworkError before polling starts."""
    bot = Bot(settings.telegram_token.get_secret_value(), base_url=settings.telegram_base_url)
    async with bot:  # initialize() asks getMe: 401/404 means a wrong or revoked token
        return bot.username


class Redacting(logging.Formatter):
    """A formatter that removes the bot token from every line, tracebacks included."""

    def __init__(self, secret: str, fmt: str) -> None:
        super().__init__(fmt)
        self.secret = secret

    def format(self, record: logging.LogRecord) -> str:
        """Format the record, then blank out the token."""
        text = super().format(record)
        return text.replace(self.secret, "[token]") if self.secret else text


def configure_logging(settings: Settings) -> None:
    """Log to stderr without the token; httpx's request lines (they carry it) only on warning."""
    handler = logging.StreamHandler()
    handler.setFormatter(
        Redacting(
            settings.telegram_token.get_secret_value(),
            "%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
    )
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    logging.getLogger("httpx").setLevel(logging.WARNING)
