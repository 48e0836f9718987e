"""The Telegram bot's typed state and the small helpers every handler uses."""

import re
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from telegram import CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ParseMode
from telegram.ext import Application, CallbackContext, ExtBot, JobQueue

from bot.access import Access
from bot.buttons import Questions
from bot.render import Block, Run
from bot.telegram_html import split
from retrieval.conversation import Conversation
from retrieval.text import Language, language
from retrieval.types import Answer

if TYPE_CHECKING:
    from ingest.library import Library
    from retrieval.qa import QA


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
    library: "Library"


Context = CallbackContext[ExtBot[None], dict[Any, Any], ChatState, BotState]
Handler = Callable[[Update, Context], Coroutine[Any, Any, None]]
BotApplication = Application[
    ExtBot[None], Context, dict[Any, Any], ChatState, BotState, JobQueue[Context]
]


def lang_of(update: Update, text: str = "") -> Language:
    """Return the language to reply in: the text's, else the user's Telegram language."""
    if any(c.isalpha() for c in text):
        return language(text)
    user = update.effective_user
    return "zh" if user and (user.language_code or "").lower().startswith("zh") else "en"


def user_id_of(update: Update) -> int:
    return update.effective_user.id if update.effective_user else 0


def message_of(update: Update) -> Message:
    """Return the update's message: the handlers it is routed to all expect one."""
    if update.effective_message is None:
        raise ValueError(f"update {update.update_id} has no message")
    return update.effective_message


def query_of(update: Update) -> CallbackQuery:
    if update.callback_query is None:
        raise ValueError(f"update {update.update_id} has no button press")
    return update.callback_query


def match_of(context: Context) -> "re.Match[str]":
    """Return the match of the handler's pattern (set for pattern handlers only)."""
    found = context.match
    if not isinstance(found, re.Match):
        raise ValueError("a button handler was routed without its pattern")
    return found


def message_under(query: CallbackQuery) -> Message | None:
    """Return the message the pressed button is under, if still accessible."""
    return query.message if isinstance(query.message, Message) else None


def chat_state(context: Context) -> ChatState:
    """Return the chat's state; a throwaway one outside chats."""
    return context.chat_data if context.chat_data is not None else ChatState()


def strip_mention(text: str, mention: str) -> str:
    at = text.lower().find(mention.lower())
    return text if at < 0 else (text[:at] + text[at + len(mention) :]).strip()


def titles_of(context: Context) -> list[str]:
    return sorted(set(context.bot_data.qa.sources.values()))


def title_runs(context: Context) -> list[Run]:
    return [Run(f"\n• {t}") for t in titles_of(context)]


async def send(
    message: Message | None,
    blocks: list[Block],
    markup: InlineKeyboardMarkup | None = None,
    replace: Message | None = None,
) -> None:
    """Send blocks as HTML messages under the limit; the last one carries the buttons. With
    `replace` (a draft the bot sent), the first part is edited into it instead."""
    if message is None:
        return
    parts = split(blocks)
    for i, part in enumerate(parts):
        buttons = markup if i == len(parts) - 1 else None
        if i == 0 and replace is not None:
            await replace.edit_text(part, parse_mode=ParseMode.HTML, reply_markup=buttons)
            continue
        await message.reply_text(
            part, parse_mode=ParseMode.HTML, reply_markup=buttons, do_quote=i == 0
        )
