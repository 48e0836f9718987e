"""The bot's token kept out of sight: log redaction, and a token check before polling."""

import logging

from telegram import Bot

from retrieval.settings import Settings


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
