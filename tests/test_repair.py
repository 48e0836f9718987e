"""A damaged index repairs itself or says how; a full disk loses nothing. The real CLI
over a real index of the seed corpus (hashing embedder), damaged as a disk damages files."""

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import CORPUS, run_citeqa

QUESTION = "消极安全保证"


def _env(root: Path, index: Path | None = None) -> dict[str, str]:
    return {
        "CITEQA_DATA_DIR": str(root / "data"),
        "CITEQA_INDEX_DIR": str(index or root / "index"),
        "CITEQA_EMBEDDER": "hashing",
    }


def _ask(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return run_citeqa(env, "ask", "--json", QUESTION)


def _answer(stdout: str) -> str:
    """Return the --json answer without its timings."""
    return stdout.split('"timings_ms"')[0]


@pytest.fixture
def built(tmp_path: Path) -> Path:
    shutil.copytree(CORPUS, tmp_path / "data")
    assert run_citeqa(_env(tmp_path), "ingest").returncode == 0
    return tmp_path


def _overwrite(path: Path, start: int, length: int) -> None:
    data = bytearray(path.read_bytes())
    data[start : start + length] = b"\x55" * min(length, len(data) - start)
    path.write_bytes(bytes(data))


def test_a_damaged_keyword_index_is_rebuilt_by_the_next_question(built: Path) -> None:
    env = _env(built)
    before = _ask(env).stdout
    lexical = built / "index" / "lexical.sqlite"
    _overwrite(lexical, 4096 * 8, lexical.stat().st_size)  # all but the first pages
    first = _ask(env)
    assert first.returncode == 0, first.stderr
    assert first.stderr.strip().splitlines() == [
        f"citeqa: the keyword index {lexical} was damaged; rebuilding it from the vector store"
    ]
    assert _answer(first.stdout) == _answer(before)  # the same answer, from the rebuilt index
    again = _ask(env)
    assert again.returncode == 0 and again.stderr == ""
    ingest = run_citeqa(env, "ingest")
    assert ingest.returncode == 0 and "0 indexed, 5 unchanged" in ingest.stdout


def test_a_keyword_index_damaged_where_ingest_reads_it_is_rebuilt_by_ingest(built: Path) -> None:
    env = _env(built)
    lexical = built / "index" / "lexical.sqlite"
    _overwrite(lexical, 0, 4096 * 4)  # the header: "file is not a database"
    result = run_citeqa(env, "ingest")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "0 indexed, 5 unchanged" in result.stdout
    assert _ask(env).returncode == 0


def test_a_truncated_vector_store_says_how_to_rebuild_and_the_rebuild_works(
    built: Path,
) -> None:
    env = _env(built)
    store = built / "index" / "chroma" / "chroma.sqlite3"
    os.truncate(store, store.stat().st_size // 2)
    for command in (["ask", QUESTION], ["ingest"]):
        result = run_citeqa(env, *command)
        assert result.returncode == 1
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert "is damaged" in lines[0] and "citeqa ingest --rebuild" in lines[0]
        assert f"({store})" in lines[0]  # the damaged file, named
    rebuilt = run_citeqa(env, "ingest", "--rebuild")
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "5 indexed" in rebuilt.stdout
    assert _ask(env).returncode == 0


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 24 MB tmpfs (needs root and permission to mount), unmounted after the test."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {result.stderr.strip() or 'not root'}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_fails_in_one_line_and_the_next_ingest_completes(
    tmp_path: Path, small_disk: Path
) -> None:
    shutil.copytree(CORPUS, tmp_path / "data")
    env = _env(tmp_path, small_disk / "index")
    assert run_citeqa(env, "ingest").returncode == 0
    before = _answer(_ask(env).stdout)
    added = (CORPUS / "cd-pv-1261-negative-security-assurances.txt").read_text("utf-8")
    (tmp_path / "data" / "added.txt").write_text(added.replace("主席", "议长"), "utf-8")
    filler = small_disk / "filler"
    with filler.open("wb") as out:  # everything but a few kilobytes
        out.write(b"\0" * (shutil.disk_usage(small_disk).free - 64 * 1024))
    full = run_citeqa(env, "ingest")
    assert full.returncode == 1
    assert full.stderr.strip().splitlines()[-1].startswith("Error: no space left on the disk")
    assert "Traceback" not in full.stderr
    filler.unlink()
    assert _answer(_ask(env).stdout) == before  # the previous index answers
    done = run_citeqa(env, "ingest")
    assert done.returncode == 0, done.stderr
    assert "1 indexed, 5 unchanged" in done.stdout
