"""Settings and their documentation stay in step."""

import re
import subprocess
from pathlib import Path

import pytest

from bot.access import RateLimit
from retrieval.errors import BadQuestion
from retrieval.qa import clean_question
from retrieval.settings import Rate, Settings
from tests.conftest import run_citeqa


def test_env_example_lists_every_setting() -> None:
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text("utf-8")
    listed = set(re.findall(r"^CITEQA_(\w+)=", example, re.M))
    assert listed == {name.upper() for name in Settings.model_fields}
    for name in listed:  # each is preceded by a comment
        assert re.search(rf"^#.*\n(?:#.*\n)*CITEQA_{name}=", example, re.M), name


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEQA_TOP_K", "7")
    monkeypatch.setenv("CITEQA_TELEGRAM_TOKEN", "123:secret")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.top_k == 7 and "secret" not in repr(settings)


def test_questions_are_cleaned_or_refused() -> None:
    assert clean_question("  伊朗\x00的\u200b立场？ \n", 100) == "伊朗 的 立场？"
    for bad in ["", " \t", "？？", "x" * 101]:
        with pytest.raises(BadQuestion):
            clean_question(bad, 100)


BAD = [
    ("CHROMA_URL", "localhost:8000"),
    ("COLLECTION", "a"),
    ("COLLECTION", "bad name!"),
    ("EMBEDDER", ""),
    ("TOP_K", "0"),
    ("TOP_K", "many"),
    ("IGNORE", "notes/README.md"),
    ("MAX_QUESTION_CHARS", "5"),
    ("TELEGRAM_TOKEN", "not a token"),
    ("TELEGRAM_BASE_URL", "api.telegram.org"),
    ("TELEGRAM_ALLOWED_USERS", "42, bob smith"),
    ("TELEGRAM_ADMINS", "@a b"),
    ("TELEGRAM_BASE_FILE_URL", "files.example"),
    ("MAX_UPLOAD_MB", "0"),
    ("TELEGRAM_RATE", "abc/60"),
    ("TELEGRAM_RATE", "0/60"),
    ("TELEGRAM_RATE", "10/0"),
]


def _citeqa(tmp: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    # cwd: no .env from the checkout
    return run_citeqa({"CITEQA_INDEX_DIR": str(tmp / "none")} | env, *args, cwd=tmp, timeout=60)


@pytest.mark.parametrize(("name", "value"), BAD)
def test_a_bad_setting_stops_with_one_line(tmp_path: Path, name: str, value: str) -> None:
    out = _citeqa(tmp_path, {f"CITEQA_{name}": value}, "sources")
    assert out.returncode == 1
    assert out.stderr.startswith(f"Error: bad setting: CITEQA_{name}")
    assert len(out.stderr.strip().splitlines()) == 1 and "Traceback" not in out.stderr
    if name == "TELEGRAM_TOKEN":
        assert value not in out.stderr


def test_a_bad_setting_in_dotenv_is_reported_the_same_way(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CITEQA_TELEGRAM_RATE=ten/60\n", "utf-8")
    out = _citeqa(tmp_path, {}, "sources")
    assert out.returncode == 1 and "CITEQA_TELEGRAM_RATE='ten/60'" in out.stderr


def test_list_settings_are_parsed_once() -> None:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        telegram_rate=" 3 / 90 ",
        telegram_allowed_users="42, @Bob, -1001",
        ignore="README.md, NOTES.txt,",
    )
    assert settings.telegram_rate == Rate(3, 90.0) and str(settings.telegram_rate) == "3/90"
    allowed = settings.telegram_allowed_users
    assert allowed.allows(42, None) and allowed.allows(7, "bob") and not allowed.allows(7, "eve")
    assert settings.ignore == frozenset({"README.md", "NOTES.txt"})
    assert Settings(_env_file=None).telegram_allowed_users.allows(1, None)  # type: ignore[call-arg]


def test_the_rate_limit_counts_per_user_over_a_window() -> None:
    limit = RateLimit(Rate(1, 60.0))
    assert limit.wait(1, now=0.0) == 0.0 and limit.wait(2, now=0.0) == 0.0
    assert limit.wait(1, now=30.0) == pytest.approx(30.0)
    assert limit.wait(1, now=61.0) == 0.0
