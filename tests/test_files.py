"""Ingest never stops for one file: every entry of a troublesome data dir is indexed or
skipped with one line naming it, through the real CLI."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ingest.files import discover, safe_name
from tests.conftest import CITEQA, run_citeqa

TEXT = "裁军谈判会议第1261次全体会议记录。主席宣布会议开幕，各国代表就消极安全保证发言。\n"
GBK_NAME = os.fsdecode("中文资料.txt".encode("gbk"))  # as unzip leaves a Chinese-Windows zip


def _env(root: Path) -> dict[str, str]:
    return {
        "CITEQA_DATA_DIR": str(root / "data"),
        "CITEQA_INDEX_DIR": str(root / "index"),
        "CITEQA_EMBEDDER": "hashing",
    }


@pytest.fixture
def troubles(tmp_path: Path) -> Path:
    """A data dir holding one of each kind of trouble, beside two good documents."""
    data = tmp_path / "data"
    (data / "x.txt").mkdir(parents=True)  # a folder named like a document: read into
    (data / "good.txt").write_text(TEXT, "utf-8")
    (data / "x.txt" / "inner.md").write_text("# 内层\n\n" + TEXT, "utf-8")
    (data / GBK_NAME).write_bytes(TEXT.encode("gbk"))
    (data / "line\nbreak.txt").write_text(TEXT, "utf-8")
    (data / "stray.txt").write_bytes(TEXT.encode()[:12] + b"\xff" + TEXT.encode()[12:])
    (data / "empty.txt").write_bytes(b"")
    (data / ".secret.txt").write_text(TEXT, "utf-8")
    (data / ".git").mkdir()
    (data / ".git" / "HEAD").write_text("ref", "utf-8")
    (data / "passwd.txt").symlink_to("/etc/passwd")
    (data / "alias.txt").symlink_to(data / "good.txt")  # stays inside: read
    (data / "gone.txt").symlink_to(data / "missing.txt")
    (data / "loop.txt").symlink_to(data / "loop.txt")
    (data / "outside").symlink_to("/etc", target_is_directory=True)
    os.mkfifo(data / "pipe.txt")
    return tmp_path


def test_a_troubled_data_dir_is_indexed_with_one_line_for_each_skip(troubles: Path) -> None:
    result = run_citeqa(_env(troubles), "ingest", timeout=120)
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()

    def line(name: str) -> str:
        found = [x for x in lines if x.startswith(f"skipped {name}:")]
        assert len(found) == 1, (name, lines)
        return found[0]

    assert "not valid UTF-8 replaced" in next(x for x in lines if x.startswith("warning stray.txt"))
    assert "outside the data directory" in line("passwd.txt")
    assert "target is gone" in line("gone.txt")
    assert "loop" in line("loop.txt")
    assert "FIFO" in line("pipe.txt")
    assert "empty" in line("empty.txt")
    assert "hidden file" in line(".secret.txt")
    assert "hidden folder" in line(".git/")
    assert "outside the data directory" in line("outside")
    assert "Traceback" not in result.stderr
    assert "6 indexed" in result.stdout and "8 skipped" in result.stdout

    sources = run_citeqa(_env(troubles), "sources")
    assert sources.returncode == 0, sources.stderr
    listed = sources.stdout
    assert "\\xd6\\xd0\\xce\\xc4\\xd7\\xca\\xc1\\xcf.txt" in listed  # the GBK name, escaped
    assert "中文资料" in listed  # its title, read as GB18030
    assert "line\\nbreak.txt" in listed and "x.txt/inner.md" in listed
    assert all(len(row.split("\t")) == 3 for row in listed.splitlines())  # one line each
    assert "root:" not in run_citeqa(_env(troubles), "ask", "root用户的shell是什么").stdout


def test_names_are_the_same_on_every_run_and_a_second_ingest_changes_nothing(
    troubles: Path,
) -> None:
    first = discover(troubles / "data", frozenset())
    assert [f.source for f in first.documents] == [
        f.source for f in discover(troubles / "data", frozenset()).documents
    ]
    assert safe_name(GBK_NAME).encode("utf-8")  # storable: no surrogates left
    assert run_citeqa(_env(troubles), "ingest").returncode == 0
    again = run_citeqa(_env(troubles), "ingest")
    assert "0 indexed, 6 unchanged" in again.stdout, again.stdout


def test_a_data_dir_that_is_a_file_says_so(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("not a folder", "utf-8")
    result = run_citeqa(_env(tmp_path), "ingest")
    assert result.returncode == 1
    assert result.stderr.strip().endswith("is a file, not a folder")


DROP = "-dac_override,-dac_read_search"


def _without_root_reads(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run citeqa so that file permissions bind it: as root, without the two capabilities
    that let root read any file (setpriv, util-linux)."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv (util-linux) is missing: root reads any file")
        prefix = [setpriv, f"--bounding-set={DROP}", f"--inh-caps={DROP}"]
        probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False)
        if probe.returncode != 0:
            pytest.skip(f"cannot drop root's read capabilities here: {probe.stderr.strip()}")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CITEQA_")}
    return subprocess.run(
        [*prefix, str(CITEQA), *args],
        capture_output=True,
        text=True,
        env=clean | env,
        timeout=120,
        check=False,
    )


def test_an_unreadable_file_and_folder_are_skipped_and_named(tmp_path: Path) -> None:
    data = tmp_path / "data"
    (data / "locked").mkdir(parents=True)
    (data / "good.txt").write_text(TEXT, "utf-8")
    (data / "secret.txt").write_text(TEXT, "utf-8")
    (data / "locked" / "inside.txt").write_text(TEXT, "utf-8")
    (data / "secret.txt").chmod(0o000)
    (data / "locked").chmod(0o000)
    try:
        result = _without_root_reads(_env(tmp_path), "ingest")
    finally:
        (data / "locked").chmod(0o755)
    assert result.returncode == 0, result.stderr
    assert "skipped secret.txt: cannot read it (permission denied)" in result.stderr
    assert "skipped locked/: cannot open the folder (Permission denied)" in result.stderr
    assert "1 indexed" in result.stdout and "2 skipped" in result.stdout
    assert "ingest: 2/2 files" in result.stderr  # the unreadable file counts as gone through
    assert "Traceback" not in result.stderr
