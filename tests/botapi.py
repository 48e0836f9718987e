"""A small fake Telegram Bot API server on 127.0.0.1: queued updates out, calls recorded.

It speaks what python-telegram-bot sends: POST /bot<token>/<method> with form fields, where
non-string values are JSON (so a text "123" stays a string). `getUpdates` long-polls until an
update is queued or the server closes; a token other than the good one gets 401 on every call.
Files put up with `serve_file` are described by `getFile` and downloaded with a GET of
/file/bot<token>/<file_path>, as from the real server; a "broken" one stops halfway.
"""

import asyncio
import itertools
import json
import re
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from pydantic import SecretStr

from bot.telegram_app import build_application
from retrieval.settings import Settings

BOT = {"id": 777, "is_bot": True, "first_name": "citeqa", "username": "citeqa_bot"}
ALLOWED_TAGS = {"b", "i", "code"}
JSON_FIELDS = {"reply_markup", "allowed_updates", "commands", "entities", "reply_parameters"}


class _Server(ThreadingHTTPServer):
    # Twenty chats at once open twenty connections: the default backlog of 5 would drop
    # SYNs and stall clients for the 1 s TCP retransmission timeout.
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients hanging up mid-reply (polling stops); report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeBotAPI:
    """Serves updates and records every call, with its parameters, in order."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self._updates: list[dict[str, Any]] = []
        self._ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._files: dict[str, tuple[bytes, bool]] = {}
        self._cond = threading.Condition()
        self._closed = False
        self.pushed_at = 0.0
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        """Return the base URL python-telegram-bot appends the token to."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/bot"

    @property
    def base_file_url(self) -> str:
        """Return the base URL of file downloads, the token appended."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/file/bot"

    def serve_file(self, data: bytes, broken: bool = False) -> str:
        """Put up a file for getFile and download; return its file_id. A `broken` one's
        download stops halfway (the connection closes)."""
        file_id = f"doc{len(self._files) + 1}"
        self._files[file_id] = (data, broken)
        return file_id

    def __enter__(self) -> "FakeBotAPI":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()  # release waiting long polls
        self._server.shutdown()
        self._server.server_close()

    def push(self, *updates: dict[str, Any]) -> None:
        """Queue updates (their update_id is assigned here) for the next getUpdates."""
        with self._cond:
            for update in updates:
                self._updates.append({"update_id": next(self._ids), **update})
            self.pushed_at = time.monotonic()
            self._cond.notify_all()

    def sent(self, method: str = "sendMessage") -> list[dict[str, Any]]:
        """Return the parameters of every call to `method`, in order."""
        with self._cond:
            return [params for name, params in self.calls if name == method]

    def wait_for(self, done: Callable[["FakeBotAPI"], bool], timeout: float = 60) -> None:
        """Block until `done(self)` holds; fail the test after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"bot did not finish in {timeout} s; calls: {self.calls}")
            time.sleep(0.02)

    def _answer(self, method: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if method == "getUpdates":
            return 200, {"ok": True, "result": self._poll(params)}
        params["_at"] = time.monotonic()  # when the call arrived, for latency measurements
        with self._cond:
            self.calls.append((method, params))
        if method == "getMe":
            return 200, {"ok": True, "result": BOT}
        if method == "getFile":
            if params.get("file_id") not in self._files:
                return 400, {
                    "ok": False,
                    "error_code": 400,
                    "description": "Bad Request: invalid file_id",
                }
            data, _ = self._files[params["file_id"]]
            file = {"file_id": params["file_id"], "file_unique_id": params["file_id"]}
            path = f"documents/{params['file_id']}"
            return 200, {"ok": True, "result": file | {"file_size": len(data), "file_path": path}}
        if method == "sendMessage":
            chat = {"id": int(params["chat_id"]), "type": "private"}
            message = {
                "message_id": next(self._message_ids),
                "date": int(time.time()),
                "chat": chat,
                "from": BOT,
                "text": params["text"],
            }
            if "reply_markup" in params:
                message["reply_markup"] = params["reply_markup"]
            params["_message_id"] = message["message_id"]  # for tests pressing its buttons
            return 200, {"ok": True, "result": message}
        return 200, {"ok": True, "result": True}

    def _poll(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset", 0))
        wait = min(float(params.get("timeout", 0)), 2.0)
        with self._cond:
            self._cond.wait_for(
                lambda: self._closed or any(u["update_id"] >= offset for u in self._updates),
                timeout=wait,
            )
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
            return list(self._updates)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                _, _, rest = self.path.partition("/bot")
                token, _, method = rest.partition("/")
                params = _parse(self.headers.get("Content-Type", ""), self._body())
                if token != api.token:
                    status, body = (
                        401,
                        {"ok": False, "error_code": 401, "description": "Unauthorized"},
                    )
                else:
                    status, body = api._answer(method, params)
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_GET(self) -> None:
                _, _, rest = unquote(self.path).partition("/file/bot")
                token, _, path = rest.partition("/")
                data, broken = api._files.get(path.removeprefix("documents/"), (b"", False))
                if token != api.token or not path.startswith("documents/") or not data:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                with api._cond:
                    api.calls.append(("download", {"path": path, "_at": time.monotonic()}))
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2] if broken else data)
                if broken:
                    self.close_connection = True

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def running(token: str, settings: Settings, qa: Any, **telegram: str) -> Iterator[FakeBotAPI]:
    """Run the production Application on its own event loop, polling a fake Bot API."""
    with FakeBotAPI(token) as api:
        configured = Settings.model_validate(
            settings.model_dump()
            | {"telegram_token": SecretStr(token), "telegram_base_url": api.base_url}
            | {"telegram_base_file_url": api.base_file_url}
            | {f"telegram_{k}": v for k, v in telegram.items()}
        )
        application = build_application(configured, qa)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, daemon=True)
        thread.start()

        def call(coro: Any) -> Any:
            return asyncio.run_coroutine_threadsafe(coro, loop).result(60)

        async def start() -> None:
            await application.initialize()
            if application.post_init:
                await application.post_init(application)
            await application.updater.start_polling(poll_interval=0.0, timeout=1)  # type: ignore[union-attr]
            await application.start()

        async def stop() -> None:
            await application.updater.stop()  # type: ignore[union-attr]
            await application.stop()
            await application.shutdown()

        call(start())
        try:
            yield api
        finally:
            call(stop())
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
            loop.close()


def _parse(content_type: str, body: bytes) -> dict[str, Any]:
    if content_type.startswith("application/json"):
        return dict(json.loads(body or b"{}"))
    fields = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
    return {k: json.loads(v) if k in JSON_FIELDS else v for k, v in fields.items()}


def user(uid: int = 42, username: str = "alice", language: str = "zh-hans") -> dict[str, Any]:
    """Return a Telegram User object."""
    return {
        "id": uid,
        "is_bot": False,
        "first_name": username.title(),
        "username": username,
        "language_code": language,
    }


def message(
    text: str | None,
    chat_id: int = 42,
    sender: dict[str, Any] | None = None,
    chat_type: str = "private",
    **extra: Any,
) -> dict[str, Any]:
    """Return a `message` update; a leading /command gets its bot_command entity."""
    sender = sender or user(chat_id if chat_type == "private" else 42)
    body: dict[str, Any] = {
        "message_id": next(_incoming),
        "date": int(time.time()),
        "chat": {"id": chat_id, "type": chat_type, "title": "group"}
        if chat_type != "private"
        else {"id": chat_id, "type": "private"},
        "from": sender,
        **extra,
    }
    if text is not None:
        body["text"] = text
        if text.startswith("/"):
            length = len(text.split()[0])
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": length}]
    return {"message": body}


def press(data: str, shown: dict[str, Any], sender: dict[str, Any] | None = None) -> dict[str, Any]:
    """Return a `callback_query` update for a button under the bot's message `shown`."""
    chat = shown.get("chat") or {"id": int(shown["chat_id"]), "type": "private"}
    return {
        "callback_query": {
            "id": str(next(_incoming)),
            "from": sender or user(chat["id"]),
            "chat_instance": "1",
            "data": data,
            "message": {
                "message_id": shown["_message_id"],
                "date": int(time.time()),
                "chat": chat,
                "from": BOT,
                "text": shown.get("text", ""),
                "reply_markup": shown.get("reply_markup"),
            },
        }
    }


class TelegramHTML(HTMLParser):
    """Parses a message as Telegram would: known tags only, balanced, text collected."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        assert tag in ALLOWED_TAGS and not attrs, f"unsupported tag <{tag}>"
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack.pop() == tag, f"unbalanced </{tag}>"

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def visible(html_text: str) -> str:
    """Return the text Telegram would show, failing on HTML it would reject."""
    parser = TelegramHTML()
    parser.feed(html_text)
    parser.close()
    assert not parser.stack, f"unclosed tags {parser.stack}"
    assert not re.search(r"&(?!(amp|lt|gt|quot);)", html_text), "unescaped &"
    return "".join(parser.text)


_incoming = itertools.count(1)
