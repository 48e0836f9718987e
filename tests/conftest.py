"""Shared fixtures: settings in temp dirs, the real corpus, built indexes."""

import os
import shutil
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
    settings = make_settings(tmp, CORPUS, embedder="use-multilingual")
    Ingester(settings, progress=False).run()
    return settings
