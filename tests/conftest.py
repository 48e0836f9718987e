"""Shared fixtures: settings in temp dirs, the real corpus, built indexes."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pipeline import Ingester
from retrieval.settings import Settings

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["NO_PROXY"] = "127.0.0.1,localhost"
ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "data"
DEV = ROOT.parent / "shared" / "eval" / "dev.jsonl"
CALIBRATION = ROOT / "tests" / "data" / "calibration.jsonl"


CITEQA = Path(sys.executable).parent / "citeqa"
# the keys of a citation in `ask --json` (README, "Command line")
CITATION_KEYS = {"n", "source", "title", "locator", "text", "score", "start", "end", "reader"}


def citeqa_env(overrides: dict[str, str]) -> dict[str, str]:
    """Return this environment without any CITEQA_ setting, offline, plus `overrides`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    return clean | {"HF_HUB_OFFLINE": "1"} | overrides


def settings_env(settings: Settings) -> dict[str, str]:
    """Return the CITEQA_ variables that point the command line at `settings`' index."""
    return {
        "CITEQA_DATA_DIR": str(settings.data_dir),
        "CITEQA_INDEX_DIR": str(settings.index_dir),
        "CITEQA_EMBEDDER": settings.embedder,
    }


def run_citeqa(
    overrides: dict[str, str],
    *args: str,
    stdin: str | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run the real `citeqa` command in a fresh process with `overrides` as its settings."""
    return subprocess.run(
        [str(CITEQA), *args],
        capture_output=True,
        text=True,
        env=citeqa_env(overrides),
        input=stdin,
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def make_settings(tmp: Path, data_dir: Path, embedder: str = "hashing") -> Settings:
    """Return settings with everything under `tmp` and no .env file."""
    return Settings(_env_file=None, data_dir=data_dir, index_dir=tmp / "index", embedder=embedder)  # type: ignore[call-arg]


@pytest.fixture
def corpus_copy(tmp_path: Path) -> Path:
    """A writable copy of the real corpus."""
    target = tmp_path / "data"
    shutil.copytree(CORPUS, target)
    return target


@pytest.fixture
def hashed(tmp_path: Path, corpus_copy: Path) -> Settings:
    """Settings for an index of the real corpus built with the instant hashing embedder."""
    settings = make_settings(tmp_path, corpus_copy)
    Ingester(settings, progress=False).run()
    return settings


@pytest.fixture(scope="session")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings for an index of the real corpus built with the default (real) model."""
    tmp = tmp_path_factory.mktemp("real")
    settings = make_settings(tmp, CORPUS, embedder="multilingual-e5-small")
    Ingester(settings, progress=False).run()
    return settings
