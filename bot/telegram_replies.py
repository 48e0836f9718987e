"""Replies to a question, and the handlers of the buttons under them."""

import asyncio
import dataclasses
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot.buttons import Asked, ClosestButton, MoreButton, PassageButton
from bot.render import (
    Block,
    Run,
    answer_blocks,
    citation_head,
    decline_block,
    excerpt,
    passage_blocks,
)
from bot.telegram_state import (
    Context,
    chat_state,
    lang_of,
    match_of,
    message_of,
    message_under,
    query_of,
    send,
    titles_of,
    user_id_of,
)
from bot.words import say
from retrieval.errors import BadQuestion
from retrieval.text import Language, clamp, sentence_spans
from retrieval.types import Answer

logger = logging.getLogger(__name__)
DRAFT_EVERY = 1.0  # seconds between edits of a streaming draft (Telegram allows ~1 a second)
DRAFT_CHARS = 3500  # of a draft shown: well under a message's 4096 with the label


async def show_passage(update: Update, context: Context) -> None:
    """Show a cited passage in full, its answering sentences bold."""
    query = query_of(update)
    button = PassageButton.parse(match_of(context))
    chunk = context.bot_data.qa.chunk(button.chunk_id)
    if chunk is None:  # re-ingested since: the passage changed or went
        await expired(update, context)
        return
    await query.answer()
    spans = sentence_spans(chunk.text)
    bold = tuple(spans[i] for i in button.marks if i < len(spans))
    await send(message_under(query), passage_blocks(chunk, lang_of(update), bold))


async def _pressed(update: Update, context: Context, key: str) -> tuple[Asked, Message] | None:
    """Acknowledge a press on a remembered question's button; return the question and the
    message the button is under, or None (said to the user when the question expired)."""
    query = query_of(update)
    asked = context.bot_data.questions.get(key)
    if asked is None:
        await expired(update, context)
        return None
    await query.answer()
    shown = message_under(query)
    return None if shown is None else (asked, shown)


async def show_more(update: Update, context: Context) -> None:
    """Show the next cited passages of a question, and spend the button."""
    query = query_of(update)
    button = MoreButton.parse(match_of(context))
    pressed = await _pressed(update, context, button.key)
    if pressed is None:
        return
    asked, shown = pressed
    await answer(update, context, asked, offset=button.offset, reply_to=shown)
    markup = shown.reply_markup
    if markup is not None:  # the press is spent: keep the passage buttons only
        await query.edit_message_reply_markup(InlineKeyboardMarkup(markup.inline_keyboard[:-1]))


async def show_closest(update: Update, context: Context) -> None:
    """Show a declined question's closest passages under a heading that says what they are."""
    query = query_of(update)
    pressed = await _pressed(update, context, ClosestButton.parse(match_of(context)).key)
    if pressed is None:
        return
    asked, shown = pressed
    qa = context.bot_data.qa
    answer = await asyncio.to_thread(
        qa.ask, asked.text, qa.settings.top_k, asked.source, None, asked.history
    )
    lang = lang_of(update, asked.text)
    await query.edit_message_reply_markup(None)  # the press is spent
    if not answer.closest:  # the index changed since, and nothing comes close now
        await shown.reply_text(say("no_more", lang))
        return
    page = dataclasses.replace(answer, citations=answer.closest, language=lang)
    heading: Block = [Run(say("closest_heading", lang), "i")]
    blocks = [heading] + [citation_head(c) + excerpt(c) for c in page.citations]
    await send(shown, blocks, keyboard(page, None, lang))


async def expired(update: Update, context: Context) -> None:
    """Answer a button the bot no longer knows."""
    await query_of(update).answer(say("expired", lang_of(update)), show_alert=True)


async def answer(
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
    message = reply_to or message_of(update)
    text = asked if isinstance(asked, str) else asked.text
    lang = lang_of(update, text)
    user_id = user_id_of(update)
    access = context.bot_data.access
    wait = access.wait(user_id)
    if wait:
        await message.reply_text(say("slow_down", lang, rate=access.limit.rate, wait=int(wait) + 1))
        return
    await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
    qa = context.bot_data.qa
    state = chat_state(context)
    conversation = state.conversation(user_id)
    if isinstance(asked, str):
        asked = Asked(text, state.doc, tuple(conversation.history()))
    k = qa.settings.top_k + offset
    try:
        answer = await asyncio.to_thread(qa.ask, text, k, asked.source, None, asked.history)
    except BadQuestion as e:
        await message.reply_text(str(e))
        return
    draft = None
    if offset == 0 and qa.writes(answer):
        answer, draft = await _written(message, context, answer, lang)
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
        await send(message, [*searched, decline_block(lang, titles_of(context))], offer, draft)
        return
    page = dataclasses.replace(answer, citations=answer.citations[offset:], language=lang)
    if not page.citations:
        await message.reply_text(say("no_more", lang))
        return
    blocks = answer_blocks(page)[1 if offset else 0 :]  # the answer line was sent
    more = None
    if len(answer.citations) == k:
        more = MoreButton(context.bot_data.questions.remember(asked), k)
    await send(message, [*searched, *blocks], keyboard(page, more, lang), draft)


async def _written(
    message: Message, context: Context, answer: Answer, lang: Language
) -> tuple[Answer, Message | None]:
    """Have the chat model write the answer, off the event loop, showing its draft as it
    streams: one message, edited at most every `DRAFT_EVERY` seconds, "typing…" renewed
    while nothing is shown. Return the checked answer and the draft message (the reply
    replaces it), if one was sent."""
    latest = [""]
    writing = asyncio.ensure_future(
        asyncio.to_thread(
            context.bot_data.qa.write, answer, lambda text: latest.__setitem__(0, text)
        )
    )
    draft: Message | None = None
    shown = ""
    while not (await asyncio.wait({writing}, timeout=DRAFT_EVERY))[0]:
        text = latest[0]
        try:
            if not text:
                await context.bot.send_chat_action(message.chat_id, ChatAction.TYPING)
            elif text != shown:
                body = say("writing", lang) + clamp(text, DRAFT_CHARS)
                if draft is None:
                    draft = await message.reply_text(body, do_quote=True)
                else:
                    await draft.edit_text(body)
                shown = text
        except TelegramError as e:  # the draft is a courtesy: the checked reply still comes
            logger.warning("could not show the draft: %s", e)
    return writing.result(), draft


def keyboard(answer: Answer, more: MoreButton | None, lang: Language) -> InlineKeyboardMarkup:
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
