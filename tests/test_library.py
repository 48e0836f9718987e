"""Adding and removing documents (ingest/library.py) against a real index in a temp dir:
what is added is answerable, what is refused leaves the collection as it was."""

import os
import re
import threading
from pathlib import Path

import pytest

from ingest import loaders
from ingest.library import ADDED, BadUpload, Library, check_kind, safe_filename
from retrieval.lexical import open_index
from retrieval.qa import QA
from retrieval.settings import Settings
from tests.conftest import make_settings
from tests.documents import chinese_pdf, docx_bytes, swollen_docx

MARS = "2031年，联合国在火星建立了第一个科学基地，共有12名科学家常驻。"


def _state(settings: Settings) -> tuple[list[str], dict[str, int]]:
    """Return the data dir's documents and what the index holds of each."""
    names = sorted(p.name for p in settings.data_dir.iterdir() if not p.name.startswith("."))
    counts = {s: f.expected for s, f in open_index(settings.index_dir).files().items()}
    return names, counts


def test_an_added_pdf_and_docx_are_answerable_and_credited(hashed: Settings) -> None:
    library = Library(hashed)
    heard: list[int] = []
    pdf = library.add(
        "火星报告.pdf", chinese_pdf(["火星基地报告", MARS]), "@alice (42)", heard.append
    )
    assert pdf.name == "火星报告.pdf" and pdf.passages >= 1 and heard == [pdf.passages]
    word = library.add(
        "月球.docx", docx_bytes("月球工作站", ["月球工作站于2035年启用，可容纳6人。"]), "bob"
    )
    assert word.title == "月球工作站"
    answer = QA(hashed).ask("火星基地有多少名科学家？")
    assert answer.citations and answer.citations[0].source == "火星报告.pdf"
    assert "12名科学家" in answer.citations[0].text
    assert QA(hashed).ask("月球工作站可容纳几人？").citations[0].source == "月球.docx"
    credited = library.provenance()
    assert (
        credited["火星报告.pdf"].by == "@alice (42)" and credited["月球.docx"].given == "月球.docx"
    )
    assert (hashed.data_dir / ADDED).is_file()  # beside the documents, never ingested
    assert ADDED not in open_index(hashed.index_dir).sources()


BAD = [
    ("notes.pdf", "这只是文字。".encode(), "named as a PDF but holds text"),
    ("notes.docx", chinese_pdf(["文字"]), "named as a Word document (.docx) but holds a PDF"),
    ("notes.txt", b"\x00\x01\x02binary", "named as text but holds binary data"),
    ("notes.exe", b"MZ\x90\x00", "citeqa reads"),
    ("locked.pdf", chinese_pdf(["机密"], password="secret"), "encrypted PDF"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj<<>>\n", "cannot be read"),
    ("empty.md", b"   \n\n", "empty"),
    ("broken.docx", b"PK\x03\x04 not really a zip", "holds a broken ZIP archive"),
]


def test_each_bad_file_is_refused_with_why_and_changes_nothing(
    hashed: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loaders, "MAX_UNPACKED", 2**20)  # a zip bomb a test can afford
    bomb = ("bomb.docx", swollen_docx(2 * 2**20), "zip bomb")
    before = _state(hashed)
    for given, data, why in [*BAD, bomb]:
        with pytest.raises(BadUpload, match=re.escape(why)):
            Library(hashed).add(given, data, "alice")
        assert _state(hashed) == before, given
    assert not Library(hashed).provenance()


def test_a_file_over_the_limit_or_already_there_is_refused(hashed: Settings) -> None:
    small = Library(hashed.model_copy(update={"max_upload_mb": 1}))
    with pytest.raises(BadUpload, match="over the 1 MB limit"):
        small.add("big.txt", ("火星。" * 200_000).encode(), "alice")
    existing = sorted(p for p in hashed.data_dir.iterdir() if p.suffix == ".txt")[0]
    before = _state(hashed)
    with pytest.raises(BadUpload, match=f"already in the collection as {existing.name}"):
        Library(hashed).add("copy.txt", existing.read_bytes(), "alice")
    assert _state(hashed) == before


def test_a_name_never_leaves_the_data_dir_and_a_taken_one_is_kept_apart(
    hashed: Settings,
) -> None:
    assert safe_filename("../../etc/passwd.txt", ".txt") == "passwd.txt"
    assert safe_filename("..\\..\\boot.ini.md", ".md") == "boot.ini.md"
    assert safe_filename(".bashrc", ".txt") == "bashrc.txt"
    assert safe_filename("a\x00b\u202ec.md", ".md") == "abc.md"
    assert len(safe_filename("报告" * 200 + ".pdf", ".pdf").encode()) <= 154
    assert safe_filename("...", ".txt") == "document.txt"
    assert check_kind("火星", MARS.encode()) == ".txt"  # no suffix: the content decides
    library = Library(hashed)
    first = library.add("../火星.md", f"# 火星\n\n{MARS}".encode(), "alice")
    second = library.add("火星.md", f"# 火星二\n\n{MARS}另有一段。".encode(), "bob")
    readme = library.add("README.md", "# 说明\n\n这是一份说明文档。".encode(), "bob")
    assert (first.name, second.name, readme.name) == ("火星.md", "火星 (2).md", "README (2).md")
    assert all((hashed.data_dir / n).is_file() for n in (first.name, second.name, readme.name))
    assert not (hashed.data_dir.parent / "火星.md").exists()


def test_two_adds_at_once_both_land(hashed: Settings) -> None:
    library = Library(hashed)
    errors: list[BaseException] = []

    def add(name: str, text: str) -> None:
        try:
            library.add(name, text.encode(), "alice")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [
        threading.Thread(target=add, args=("甲.md", f"# 甲\n\n{MARS}")),
        threading.Thread(target=add, args=("乙.md", "# 乙\n\n乙文档说明了金星探测器的发射。")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    names, counts = _state(hashed)
    assert {"甲.md", "乙.md"} <= set(names) and {"甲.md", "乙.md"} <= set(counts)


def test_a_removed_document_leaves_the_data_dir_and_the_index(hashed: Settings) -> None:
    library = Library(hashed)
    added = library.add("火星.md", f"# 火星基地\n\n{MARS}".encode(), "alice")
    assert library.find("火星基地") == added.name  # by title
    assert library.find("火星.MD") == added.name  # by name, any case
    with pytest.raises(BadUpload, match="no document is called"):
        library.find("土星")
    library.remove(added.name)
    names, counts = _state(hashed)
    assert added.name not in names and added.name not in counts
    assert added.name not in library.provenance()
    answer = QA(hashed).ask("火星基地有多少名科学家？")
    assert all(c.source != added.name for c in [*answer.citations, *answer.closest])


def test_the_last_document_can_be_removed(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    settings = make_settings(tmp_path, tmp_path / "data")
    library = Library(settings)
    added = library.add("火星.md", f"# 火星\n\n{MARS}".encode(), "alice")
    library.remove(added.name)
    assert _state(settings) == ([], {})


def test_a_dangling_link_keeps_its_name_and_an_odd_byte_name_can_be_removed(
    hashed: Settings,
) -> None:
    (hashed.data_dir / "火星.md").symlink_to(hashed.data_dir / "gone.md")
    library = Library(hashed)
    added = library.add("火星.md", f"# 火星\n\n{MARS}".encode(), "alice")
    assert added.name == "火星 (2).md" and (hashed.data_dir / "火星.md").is_symlink()
    odd = os.fsdecode(b"\xd6\xd0\xce\xc4.txt")  # GBK bytes: the index escapes them
    (hashed.data_dir / odd).write_text("金星探测器于2040年发射。", "utf-8")
    library.remove(added.name)  # the ingest it runs indexes the odd file as well
    source = next(s for s in library.sources() if s.startswith("\\x"))
    library.remove(source)
    assert not (hashed.data_dir / odd).exists() and source not in library.sources()
