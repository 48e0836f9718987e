"""Admins add and remove documents from a chat: the real Application against the fake Bot API
(getFile and the file download included), over a real index in a temp dir."""

import threading
from typing import Any

import pytest

from retrieval.embeddings import HashingEmbeddings
from retrieval.qa import QA
from retrieval.settings import Settings
from tests.botapi import FakeBotAPI, message, press, running, user, visible
from tests.documents import chinese_pdf, docx_bytes

pytestmark = pytest.mark.slow
TOKEN = "123456:TEST-token_abcdefghijklmnop"
ADMIN = user(42, "alice")
MARS = "2031年，联合国在火星建立了第一个科学基地，共有12名科学家常驻。"
MOON = "月球工作站于2035年启用，可容纳6名宇航员。"


class GatedEmbeddings(HashingEmbeddings):
    """The hashing embedder, whose passages wait for `go` while `gated`: an ingest that
    stays in progress until the test lets it finish. Questions are never held."""

    def __init__(self) -> None:
        super().__init__()
        self.gated = False
        self.waiting = threading.Event()
        self.go = threading.Event()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if self.gated:
            self.waiting.set()
            assert self.go.wait(60)
        return super().embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return super().embed_documents([text])[0]


def _document(
    api: FakeBotAPI, name: str, data: bytes, sender: dict[str, Any] = ADMIN, **more: Any
) -> dict[str, Any]:
    file_id = api.serve_file(data, broken=more.pop("broken", False))
    sent = {"file_id": file_id, "file_unique_id": file_id, "file_name": name}
    sent["file_size"] = more.pop("file_size", len(data))
    return message(
        None, chat_id=more.pop("chat_id", sender["id"]), sender=sender, document=sent, **more
    )


def _status(api: FakeBotAPI) -> list[str]:
    """Return the texts of the status message: first sent, then each edit."""
    return [c["text"] for name, c in api.calls if name in ("sendMessage", "editMessageText")]


def _answered(api: FakeBotAPI, after: int) -> list[str]:
    """Return the replies sent after the first `after` messages, as shown."""
    return [
        visible(m["text"]) if m.get("parse_mode") == "HTML" else m["text"]
        for m in api.sent()[after:]
    ]


def test_an_admin_adds_a_pdf_and_a_docx_and_everyone_can_ask_about_them(hashed: Settings) -> None:
    qa = QA(hashed)
    with running(TOKEN, hashed, qa, admins="@alice") as api:
        api.push(_document(api, "火星报告.pdf", chinese_pdf(["火星基地报告", MARS])))
        api.wait_for(lambda a: any("已添加" in t for t in _status(a)))
        status = _status(api)
        assert status[0].startswith("正在读取 火星报告.pdf")
        assert any(t.startswith("正在索引") for t in status)
        assert status[-1].startswith("已添加：火星报告，共")
        api.push(_document(api, "月球.docx", docx_bytes("月球工作站", [MOON])))
        api.wait_for(lambda a: sum("已添加" in t for t in _status(a)) == 2)
        asked = len(api.sent())
        api.push(message("火星基地有多少名科学家？", chat_id=7, sender=user(7, "carol")))
        api.push(message("月球工作站可以容纳几名宇航员？", chat_id=8, sender=user(8, "dave")))
        api.wait_for(lambda a: len(_answered(a, asked)) == 2)
        replies = " ".join(_answered(api, asked))
        assert "12名科学家" in replies and "6名宇航员" in replies
        api.push(message("/sources"))
        api.wait_for(
            lambda a: any(
                "火星报告.pdf" in visible(m["text"]) for m in a.sent() if m.get("parse_mode")
            )
        )
        listing = [visible(m["text"]) for m in api.sent() if "火星报告.pdf" in m["text"]][-1]
        assert "由 @alice (42) 于" in listing


def test_others_are_told_adding_is_for_admins_and_nothing_is_downloaded(hashed: Settings) -> None:
    with running(TOKEN, hashed, QA(hashed), admins="42") as api:
        carol = user(7, "carol", language="en")
        api.push(_document(api, "火星.md", f"# 火星\n\n{MARS}".encode(), sender=carol))
        api.wait_for(lambda a: len(a.sent()) == 1)
        assert api.sent()[0]["text"].startswith(
            "Adding and removing documents is for this bot's admins"
        )
        api.push(message("/remove 火星", chat_id=7, sender=carol))
        api.wait_for(lambda a: len(a.sent()) == 2)
        assert "admins" in api.sent()[1]["text"]
        assert not api.sent("getFile") and not api.sent("download")
        assert not (hashed.data_dir / "火星.md").exists()


BAD = [
    ("big.txt", b"x", {"file_size": 21 * 2**20}, "只能添加不超过 20 MB 的文档"),
    ("fake.pdf", "这只是文字。".encode(), {}, "fake.pdf 的名称表明是PDF 文件，内容却是文本"),
    ("locked.pdf", chinese_pdf(["机密"], password="secret"), {}, "encrypted PDF"),
    ("empty.txt", b"  \n", {}, "empty"),
    ("half.md", f"# 火星\n\n{MARS}".encode(), {"broken": True}, "下载失败"),
]


def test_each_bad_file_gets_a_clear_message_and_the_collection_stays_as_it_was(
    hashed: Settings,
) -> None:
    before = sorted(p.name for p in hashed.data_dir.iterdir())
    existing = sorted(p for p in hashed.data_dir.iterdir() if p.suffix == ".txt")[0]
    bad = [*BAD, ("copy.txt", existing.read_bytes(), {}, f"已在资料库中，名为 {existing.name}")]
    with running(TOKEN, hashed, QA(hashed), admins="@alice") as api:
        for name, data, more, said in bad:
            api.push(_document(api, name, data, **more))
            api.wait_for(lambda a, said=said: any(said in t for t in _status(a)), timeout=60)
            assert sorted(p.name for p in hashed.data_dir.iterdir()) == before, name


def test_in_a_group_a_file_is_added_only_with_add_as_its_caption(hashed: Settings) -> None:
    with running(TOKEN, hashed, QA(hashed), admins="@alice") as api:
        group = {"chat_id": -100, "chat_type": "group"}
        api.push(_document(api, "闲聊.md", "# 闲聊\n\n今天天气很好，适合散步。".encode(), **group))
        api.push(_document(api, "火星.md", f"# 火星\n\n{MARS}".encode(), caption="/add", **group))
        api.wait_for(lambda a: any("已添加" in t for t in _status(a)))
        assert (hashed.data_dir / "火星.md").exists() and not (hashed.data_dir / "闲聊.md").exists()
        assert len(api.sent("getFile")) == 1


def test_remove_asks_first_and_a_question_meanwhile_sees_the_old_index(hashed: Settings) -> None:
    embedder = GatedEmbeddings()
    qa = QA(hashed, embedder)
    with running(TOKEN, hashed, qa, admins="@alice") as api:
        embedder.gated = True
        api.push(_document(api, "火星.md", f"# 火星基地\n\n{MARS}".encode()))
        assert embedder.waiting.wait(60)  # the ingest is under way
        asked = len(api.sent())
        api.push(message("火星基地有多少名科学家？", chat_id=7, sender=user(7, "carol")))
        api.wait_for(lambda a: len(_answered(a, asked)) == 1)
        assert "12名科学家" not in _answered(api, asked)[0]  # answered from the old index
        embedder.go.set()
        api.wait_for(lambda a: any("已添加" in t for t in _status(a)))
        embedder.gated = False
        asked = len(api.sent())
        api.push(message("火星基地有多少名科学家？", chat_id=7, sender=user(7, "carol")))
        api.wait_for(lambda a: len(_answered(a, asked)) == 1)
        assert "12名科学家" in _answered(api, asked)[0]  # the next one, from the new index

        api.push(message("/remove 火星基地"))
        api.wait_for(lambda a: any("要从资料库中删除" in m["text"] for m in a.sent()))
        confirm = next(m for m in api.sent() if "要从资料库中删除" in m["text"])
        keep, remove = (
            b["callback_data"] for b in confirm["reply_markup"]["inline_keyboard"][0][::-1]
        )
        api.push(press(remove, confirm, sender=user(7, "carol")))  # not an admin
        api.wait_for(lambda a: len(a.sent("answerCallbackQuery")) == 1)
        assert (hashed.data_dir / "火星.md").exists()
        api.push(press(keep, confirm, sender=ADMIN))
        api.wait_for(lambda a: any("已保留" in t for t in _status(a)))
        assert (hashed.data_dir / "火星.md").exists()
        api.push(press(remove, confirm, sender=ADMIN))
        api.wait_for(lambda a: any(t.startswith("已删除") for t in _status(a)))
        assert not (hashed.data_dir / "火星.md").exists()
        asked = len(api.sent())
        api.push(message("火星基地有多少名科学家？", chat_id=7, sender=user(7, "carol")))
        api.wait_for(lambda a: len(_answered(a, asked)) == 1)
        assert "12名科学家" not in _answered(api, asked)[0]
