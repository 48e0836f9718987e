"""Settings and their documentation stay in step."""

import re
from pathlib import Path

import pytest

from retrieval.errors import BadQuestion
from retrieval.qa import clean_question
from retrieval.settings import Settings


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
