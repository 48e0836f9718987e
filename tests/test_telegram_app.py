"""End to end: the real python-telegram-bot Application against a fake Bot API on 127.0.0.1."""

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.telegram_html import utf16_len
from ingest.chunking import CHUNKER
from retrieval.qa import QA
from retrieval.settings import Settings
from retrieval.text import sentence_spans, squash
from tests.botapi import FakeBotAPI, message, press, running, user, visible
from tests.chatapi import Script, dripping_openai, scripted_openai
from tests.conftest import CALIBRATION, ROOT

pytestmark = pytest.mark.slow
TOKEN = "123456:TEST-token_abcdefghijklmnop"


def labelled(item_id: str) -> dict[str, Any]:
    """Return a labelled question from tests/data/calibration.jsonl."""
    items = (json.loads(line) for line in CALIBRATION.read_text("utf-8").splitlines())
    return next(i for i in items if i["id"] == item_id)


class CountingQA:
    """The real QA, counting questions: shows that refused users cost no retrieval."""

    def __init__(self, qa: QA) -> None:
        self.qa = qa
        self.asked = 0

    def ask(self, *args: Any, **kwargs: Any) -> Any:
        self.asked += 1
        return self.qa.ask(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.qa, name)


@pytest.fixture(scope="module")
def qa(real_index: Settings) -> QA:
    return QA(real_index, chunker=CHUNKER)


def html_replies(api: FakeBotAPI, chat_id: int | None = None) -> list[dict[str, Any]]:
    return [
        m
        for m in api.sent()
        if m.get("parse_mode") == "HTML" and (chat_id is None or int(m["chat_id"]) == chat_id)
    ]


def test_question_is_answered_with_cited_passages_and_buttons(real_index: Settings, qa: QA) -> None:
    item = labelled("c07")
    with running(TOKEN, real_index, qa) as api:
        api.push(message(item["q"]))
        api.wait_for(lambda a: len(html_replies(a)) >= 1)
        reply = html_replies(api)[0]
        assert int(reply["chat_id"]) == 42
        assert utf16_len(reply["text"]) <= 4096
        shown = visible(reply["text"])
        assert shown.startswith("答：") and "[1] " in shown
        assert "<b>" in reply["text"]
        typing = api.sent("sendChatAction")
        assert typing and typing[0]["action"] == "typing"
        rows = reply["reply_markup"]["inline_keyboard"]
        buttons = [b for row in rows for b in row]
        assert [b["text"] for b in buttons[:5]] == ["[1]", "[2]", "[3]", "[4]", "[5]"]
        assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)

        api.push(press(buttons[0]["callback_data"], reply))
        api.wait_for(lambda a: len(html_replies(a)) >= 2 and a.sent("answerCallbackQuery"))
        full = visible(html_replies(api)[1]["text"])
        assert "a-67-131-multilateralism-disarmament.txt" in full
        assert any(squash(g) in squash(full) for g in item["gold"])

        api.push(press(buttons[-1]["callback_data"], reply))
        api.wait_for(lambda a: len(html_replies(a)) >= 3 and a.sent("editMessageReplyMarkup"))
        more = visible(html_replies(api)[2]["text"])
        assert "[6] " in more and "[1] " not in more
        assert len(api.sent("answerCallbackQuery")) == 2


def test_expired_buttons_say_so(real_index: Settings, qa: QA) -> None:
    shown = {"chat_id": "42", "_message_id": 5, "text": "old"}
    with running(TOKEN, real_index, qa) as api:
        api.push(press("m:ffff:5", shown), press("p:" + "0" * 32 + ":1", shown), press("x", shown))
        api.wait_for(lambda a: len(a.sent("answerCallbackQuery")) == 3)
        answers = api.sent("answerCallbackQuery")
        assert all("expired" in a["text"] or "过期" in a["text"] for a in answers)
        assert not api.sent()


def test_unanswerable_question_is_declined_naming_the_collection(
    real_index: Settings, qa: QA
) -> None:
    with running(TOKEN, real_index, qa) as api:
        api.push(message("Who won the 2018 FIFA World Cup?", sender=user(language="en")))
        api.wait_for(lambda a: len(html_replies(a)) == 1)
        reply = html_replies(api)[0]
        text = visible(reply["text"])
        assert text.startswith("The documents do not answer this question.")
        assert all(title in text for title in qa.sources.values())
        assert "reply_markup" not in reply


def test_commands(real_index: Settings, qa: QA) -> None:
    with running(TOKEN, real_index, qa) as api:
        api.push(message("/start"))
        api.wait_for(lambda a: len(a.sent()) == 1)
        assert all(t in visible(api.sent()[0]["text"]) for t in qa.sources.values())
        api.push(message("/help", sender=user(language="en")))
        api.wait_for(lambda a: len(a.sent()) == 2)
        assert "/ask" in api.sent()[1]["text"]
        api.push(message("/sources"))
        api.wait_for(lambda a: len(a.sent()) == 3)
        assert all(s in visible(api.sent()[2]["text"]) for s in qa.sources)
        api.push(message("/frobnicate"))
        api.wait_for(lambda a: len(a.sent()) == 4)
        assert "/ask" in api.sent()[3]["text"]
        api.push(message("/why"))
        api.wait_for(lambda a: len(a.sent()) == 5)
        assert api.sent()[4]["text"] == "请先提一个问题。"
        assert [c["command"] for c in api.sent("setMyCommands")[0]["commands"]][:3] == [
            "start",
            "help",
            "sources",
        ]


def test_doc_restricts_and_clears_and_why_explains(real_index: Settings, qa: QA) -> None:
    with running(TOKEN, real_index, qa) as api:
        api.push(message("/doc g21"))
        api.wait_for(lambda a: len(a.sent()) == 1)
        assert "21" in api.sent()[0]["text"]
        api.push(message("21国集团欢迎哪些条约建立的无核武器区？"))
        api.wait_for(lambda a: len(html_replies(a)) == 1)
        for row in html_replies(api)[0]["reply_markup"]["inline_keyboard"][:1]:
            for b in row:
                chunk = qa.chunk(b["callback_data"].split(":")[1])
                assert chunk is not None and chunk.source.startswith("cd-2018-g21")
        api.push(message("/why"))
        api.wait_for(lambda a: len(html_replies(a)) == 2)
        why = visible(html_replies(api)[1]["text"])
        assert "confidence" in why and "cd-2018-g21" in why
        api.push(message("/doc"))
        api.wait_for(lambda a: len(a.sent()) == 4)
        assert api.sent()[3]["text"] == "现在在全部文档中查找。"
        api.push(message("/doc nosuchdocument"))
        api.wait_for(lambda a: len(a.sent()) == 5)
        assert "/sources" in api.sent()[4]["text"]
        api.push(message("/doc " + "很长的文档名" * 1000))  # the echo is clamped
        api.wait_for(lambda a: len(a.sent()) == 6)
        reply = api.sent()[5]["text"]
        assert "/sources" in reply and "…" in reply and len(reply) < 400


def test_non_text_and_edits(real_index: Settings, qa: QA) -> None:
    sticker = {"file_id": "s", "file_unique_id": "s", "type": "regular", "width": 1, "height": 1}
    sticker |= {"is_animated": False, "is_video": False}
    edited = message("改过的问题")
    edited_command = message("/ask 裁军谈判会议第1261次全体会议何时举行？")
    with running(TOKEN, real_index, qa) as api:
        api.push({"edited_message": edited["message"] | {"edit_date": 1}})
        api.push({"edited_message": edited_command["message"] | {"edit_date": 1}})
        api.push(message(None, sticker=sticker))
        api.wait_for(lambda a: len(a.sent()) == 1)
        assert api.sent()[0]["text"] == "我只能回答文字问题。"
        api.push(message("/ask 裁军谈判会议第1261次全体会议何时举行？"))  # asked after the edits
        api.wait_for(lambda a: len(html_replies(a)) >= 1)
        assert len(api.sent("sendChatAction")) == 1  # the edited /ask was not answered


def test_groups_answer_only_ask_mentions_and_replies(real_index: Settings, qa: QA) -> None:
    group = -100
    q = labelled("c14")["q"]
    with running(TOKEN, real_index, qa) as api:
        api.push(message(q, chat_id=group, chat_type="supergroup"))
        api.push(message(f"/ask {q}", chat_id=group, chat_type="supergroup"))
        api.wait_for(lambda a: len(html_replies(a)) == 1)
        api.push(message(f"@citeqa_bot {q}", chat_id=group, chat_type="supergroup"))
        api.wait_for(lambda a: len(html_replies(a)) == 2)
        bot_message = {"message_id": 9, "date": 1, "chat": {"id": group, "type": "supergroup"}}
        bot_message |= {"from": {"id": 777, "is_bot": True, "first_name": "citeqa"}, "text": "x"}
        api.push(message(q, chat_id=group, chat_type="supergroup", reply_to_message=bot_message))
        api.wait_for(lambda a: len(html_replies(a)) == 3)
        assert {int(m["chat_id"]) for m in api.sent()} == {group}
        assert len(api.sent("sendChatAction")) == 3  # the unaddressed message cost nothing


def test_allowlist_refuses_others_without_retrieving(real_index: Settings, qa: QA) -> None:
    counting = CountingQA(qa)
    with running(TOKEN, real_index, counting, allowed_users="42, @Bob") as api:
        api.push(message("中东会议", chat_id=7, sender=user(7, "carol")))
        api.wait_for(lambda a: len(a.sent()) == 1)
        assert "private" in api.sent()[0]["text"] or "私有" in api.sent()[0]["text"]
        assert counting.asked == 0
        api.push(message("中东会议", chat_id=8, sender=user(8, "bob")))
        api.wait_for(lambda a: len(html_replies(a, 8)) == 1)
        assert counting.asked == 1


def test_rate_limit_has_a_friendly_message(real_index: Settings, qa: QA) -> None:
    with running(TOKEN, real_index, qa, rate="2/60") as api:
        for _ in range(4):
            api.push(message("中东会议在哪里举办？"))
        api.wait_for(lambda a: len(a.sent()) == 4)
        limited = [m for m in api.sent() if "频繁" in m["text"]]
        assert len(limited) == 2 and len(html_replies(api)) == 2


def test_twenty_chats_at_once(real_index: Settings, qa: QA) -> None:
    chats = range(1001, 1021)
    with running(TOKEN, real_index, qa, rate="100/60") as api:
        api.push(
            *(
                message("无大规模毁灭性武器区会议第一届会议是什么时候举行的？", chat_id=c)
                for c in chats
            )
        )
        api.wait_for(lambda a: len(html_replies(a)) == 20)
        assert {int(m["chat_id"]) for m in html_replies(api)} == set(chats)
        assert len({m["text"] for m in html_replies(api)}) == 1


def _cli_bot(settings: Settings, api: FakeBotAPI, token: str, **more: str) -> subprocess.Popen[str]:
    env = os.environ | {
        "CITEQA_INDEX_DIR": str(settings.index_dir),
        "CITEQA_DATA_DIR": str(settings.data_dir),
        "CITEQA_TELEGRAM_TOKEN": token,
        "CITEQA_TELEGRAM_BASE_URL": api.base_url,
        "NO_PROXY": "127.0.0.1,localhost",
        **more,
    }
    citeqa = str(Path(sys.executable).with_name("citeqa"))
    return subprocess.Popen(
        [citeqa, "bot"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_cli_bot_answers_and_never_logs_the_token(real_index: Settings) -> None:
    with FakeBotAPI(TOKEN) as api:
        process = _cli_bot(real_index, api, TOKEN)
        try:
            api.wait_for(lambda a: bool(a.sent("getMe")))
            api.push(message("中东会议在哪里举办？"))
            api.wait_for(lambda a: len(html_replies(a)) == 1)
        finally:
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "Application started" in err
    assert TOKEN not in err and TOKEN.split(":")[1] not in err


def test_sigterm_stops_the_bot_while_a_chat_model_drips(real_index: Settings) -> None:
    with FakeBotAPI(TOKEN) as api, dripping_openai("第二届会议是什么时候举行的？") as model:
        # the model only rewrites the follow-up: a written first answer would wait out its drip
        llm = {"CITEQA_LLM_URL": model["url"], "CITEQA_LLM_TIMEOUT": "120", "CITEQA_WRITE": "0"}
        process = _cli_bot(real_index, api, TOKEN, **llm)
        try:
            api.wait_for(lambda a: bool(a.sent("getMe")))
            api.push(message("无大规模毁灭性武器区会议第一届会议是什么时候举行的？"))
            api.wait_for(lambda a: len(html_replies(a)) == 1)
            api.push(message("第二届呢？"))  # a follow-up: the chat model is asked, and drips
            api.wait_for(lambda a: model["sent"] > 0)
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=60)  # the drip alone would take minutes
        assert model["hung_up"].wait(10)  # the server's next byte met a closed connection
    assert process.returncode == 0, err
    assert model["sent"] < model["length"]
    assert "Traceback" not in err


def test_cli_bot_with_a_bad_token_stops_with_one_line(real_index: Settings) -> None:
    with FakeBotAPI(TOKEN) as api:
        process = _cli_bot(real_index, api, "999:revoked-token")
        _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: Telegram rejected the bot token")
    assert "revoked-token" not in err and "Traceback" not in err


def test_passage_buttons_keep_working_after_a_restart(real_index: Settings, qa: QA) -> None:
    item = labelled("c07")
    with running(TOKEN, real_index, qa) as api:
        api.push(message(item["q"]))
        api.wait_for(lambda a: len(html_replies(a)) >= 1)
        reply = html_replies(api)[0]
    first = reply["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    with running(TOKEN, real_index, qa) as restarted:  # a new Application: nothing in memory
        restarted.push(press(first, reply))
        restarted.wait_for(lambda a: len(html_replies(a)) >= 1)
        full = visible(html_replies(restarted)[0]["text"])
        assert any(squash(g) in squash(full) for g in item["gold"])


FIRST_Q = "无大规模毁灭性武器区会议第一届会议是什么时候举行的？"


def test_a_follow_up_keeps_the_subject_and_new_starts_over(real_index: Settings, qa: QA) -> None:
    with running(TOKEN, real_index, qa) as api:
        api.push(message(FIRST_Q))
        api.wait_for(lambda a: len(html_replies(a)) == 1)
        assert "按此检索" not in visible(html_replies(api)[0]["text"])
        api.push(message("第二届呢？"))
        api.wait_for(lambda a: len(html_replies(a)) == 2)
        reply = visible(html_replies(api)[1]["text"])
        searched = reply.splitlines()[0]
        assert searched.startswith("按此检索：") and searched.endswith("第二届呢？")
        assert "会议" in searched
        assert "2021年11月29日至12月3日" in squash(reply)  # the second session, found
        api.push(message("/why"))
        api.wait_for(lambda a: len(html_replies(a)) == 3)
        assert searched in visible(html_replies(api)[2]["text"])
        api.push(message("/new"))
        api.wait_for(lambda a: len(a.sent()) == 4)
        assert "新的对话" in api.sent()[3]["text"]
        api.push(message("第二届呢？"))
        api.wait_for(lambda a: len(a.sent()) == 5)
        assert "按此检索" not in visible(api.sent()[4]["text"])
        assert "new" in [c["command"] for c in api.sent("setMyCommands")[0]["commands"]]


def test_group_members_keep_separate_conversations(real_index: Settings, qa: QA) -> None:
    group = -200
    alice, bob = user(1, "alice"), user(2, "bob")
    with running(TOKEN, real_index, qa) as api:
        api.push(message(f"/ask {FIRST_Q}", chat_id=group, chat_type="group", sender=alice))
        api.wait_for(lambda a: len(html_replies(a)) == 1)
        api.push(message("/ask 第二届呢？", chat_id=group, chat_type="group", sender=bob))
        api.wait_for(lambda a: len(a.sent()) == 2)
        assert "按此检索" not in visible(api.sent()[1]["text"])  # Bob asked nothing before
        api.push(message("/ask 第二届呢？", chat_id=group, chat_type="group", sender=alice))
        api.wait_for(lambda a: len(a.sent()) == 3)
        assert visible(api.sent()[2]["text"]).startswith("按此检索：")


def test_a_conversation_expires_when_idle(
    real_index: Settings, qa: QA, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("retrieval.conversation.IDLE_SECONDS", 0.0)
    with running(TOKEN, real_index, qa) as api:
        api.push(message(FIRST_Q))
        api.wait_for(lambda a: len(html_replies(a)) == 1)
        api.push(message("第二届呢？"))
        api.wait_for(lambda a: len(a.sent()) == 2)
        assert "按此检索" not in visible(api.sent()[1]["text"])


SEED_QUESTIONS = ROOT / "tests" / "data" / "seed_questions.jsonl"


def a_close_decline(qa: QA) -> str:
    """Return a labelled question that the real index declines with its closest passages."""
    items = [json.loads(line) for line in SEED_QUESTIONS.read_text("utf-8").splitlines()]
    for item in items:
        answer = qa.ask(item["q"])
        if answer.abstained and answer.closest:
            return str(item["q"])
    raise AssertionError("no labelled question is declined with closest passages")


def test_a_close_decline_offers_the_closest_passages_behind_a_button(
    real_index: Settings, qa: QA
) -> None:
    question = a_close_decline(qa)
    with running(TOKEN, real_index, qa) as api:
        api.push(message(question))
        api.wait_for(lambda a: len(html_replies(a)) >= 1)
        reply = html_replies(api)[0]
        assert "[1]" not in visible(reply["text"])  # a decline, not an answer
        (button,) = [b for row in reply["reply_markup"]["inline_keyboard"] for b in row]
        assert button["callback_data"].startswith("c:")
        api.push(press(button["callback_data"], reply))
        api.wait_for(lambda a: len(html_replies(a)) >= 2 and a.sent("editMessageReplyMarkup"))
        shown = visible(html_replies(api)[1]["text"])
        assert shown.startswith(("最接近的段落", "Closest passages")) and "[1] " in shown
        passages = html_replies(api)[1]["reply_markup"]["inline_keyboard"][0]
        assert passages[0]["callback_data"].startswith("p:")


def test_a_written_answer_streams_as_edits_then_becomes_the_checked_reply(
    real_index: Settings, qa: QA
) -> None:
    item = labelled("c07")
    first = qa.ask(item["q"]).citations[0].text
    start, end = sentence_spans(first)[0]
    held = first[start:end].strip().rstrip("。；;")
    script = Script(f"{held}[1]。会议在火星举行[1]。", pieces=5, every=0.7)
    with scripted_openai(script) as server:
        settings = real_index.model_copy(update={"llm_url": server["url"], "llm_model": "scripted"})
        writing = QA(settings, chunker=CHUNKER)
        with running(TOKEN, settings, writing) as api:
            api.push(message(item["q"]))
            api.wait_for(lambda a: any(e.get("parse_mode") for e in a.sent("editMessageText")))
            api.push(message("/why"))
            api.wait_for(lambda a: len(html_replies(a)) >= 1)
    drafts = api.sent()[0], api.sent("editMessageText")
    draft, edits = drafts
    assert draft["text"].startswith("（正在撰写") and "parse_mode" not in draft
    assert api.sent("sendChatAction")[0]["action"] == "typing"
    streamed = [e for e in edits if not e.get("parse_mode")]
    at = [draft["_at"]] + [e["_at"] for e in streamed]
    assert streamed and all(b - a >= 0.9 for a, b in itertools.pairwise(at))  # at most one a second
    final = edits[-1]
    assert final["parse_mode"] == "HTML" and int(final["message_id"]) == draft["_message_id"]
    shown = visible(final["text"])
    assert shown.startswith(f"答：{held}[1]。") and "火星" not in shown and "[1] " in shown
    assert final["reply_markup"]["inline_keyboard"][0][0]["text"] == "[1]"
    why = visible(html_replies(api)[-1]["text"])
    assert "✓ " + held in why and "✗ 会议在火星举行[1]。" in why and "written by scripted" in why
