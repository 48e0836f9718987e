"""Each loader on a small file the test writes, Chinese PDF included."""

from pathlib import Path

import pytest

from ingest.loaders import load, read_catalog
from retrieval.errors import UnreadableFile
from tests.documents import write_pdf


def test_pdf_with_chinese_text(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    write_pdf(path, ["赫尔辛基被选为可能的会议举办地。", "这是第二句话。"])
    doc, _ = load(path, "a.pdf")
    text = " ".join(b.text for b in doc.blocks)
    assert "赫尔辛基被选为可能的会议举办地。" in text
    assert "GE.12" not in text


def test_docx_headings_become_sections(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("裁军会议", level=1)
    d.add_paragraph("挪威却不敢苟同。")
    d.save(str(tmp_path / "b.docx"))
    doc, _ = load(tmp_path / "b.docx", "b.docx")
    assert [(b.kind, b.text) for b in doc.blocks] == [
        ("heading", "裁军会议"),
        ("para", "挪威却不敢苟同。"),
    ]
    assert doc.title == "裁军会议"


def test_html_text_without_scripts(tmp_path: Path) -> None:
    path = tmp_path / "c.html"
    path.write_text(
        "<html><script>alert(1)</script><h2>Scope</h2><p>The zone &amp; its treaty.</p></html>",
        "utf-8",
    )
    doc, _ = load(path, "c.html")
    assert [b.text for b in doc.blocks] == ["Scope", "The zone & its treaty."]


def test_markdown_and_gb18030_text(tmp_path: Path) -> None:
    (tmp_path / "d.md").write_text("# 标题\n\n正文。\n", "utf-8")
    (tmp_path / "e.txt").write_bytes(" 中文编码的文本。 \n".encode("gb18030"))
    assert load(tmp_path / "d.md", "d.md")[0].title == "标题"
    assert load(tmp_path / "e.txt", "e.txt")[0].blocks[0].text == "中文编码的文本。"


TEXT = "裁军谈判会议第1261次全体会议记录。主席宣布会议开幕。"
TRADITIONAL = "裁軍談判會議第1261次全體會議記錄。主席宣佈會議開幕。"
ENGLISH = "The President declared the meeting of the Conference on Disarmament open."


@pytest.mark.parametrize(
    ("data", "expected", "warned"),
    [
        (b"\xef\xbb\xbf" + TEXT.encode(), TEXT, False),
        (TEXT.encode("utf-16"), TEXT, False),
        (ENGLISH.encode("utf-16-le"), ENGLISH, False),
        (TEXT.encode("gbk"), TEXT, False),
        (TRADITIONAL.encode("big5"), TRADITIONAL, False),
        (TEXT.encode()[:30] + b"\xff" + TEXT.encode()[30:], None, True),  # one stray byte
        ((TEXT * 3).encode()[:-1], TEXT, True),  # cut mid-character
    ],
    ids=["utf8-bom", "utf16-bom", "utf16-no-bom", "gbk", "big5", "stray-byte", "cut"],
)
def test_text_in_each_encoding_is_read(
    tmp_path: Path, data: bytes, expected: str | None, warned: bool
) -> None:
    (tmp_path / "t.txt").write_bytes(data)
    doc, warnings = load(tmp_path / "t.txt", "t.txt")
    text = "".join(b.text for b in doc.blocks)
    if expected is not None:
        assert text.startswith(expected)
    assert text.endswith("开幕。") or text.endswith("開幕。") or text.endswith("open.") or warned
    assert bool(warnings) == warned
    if warned:
        assert "replaced with �" in warnings[0] and "\ufffd" in text


def test_binary_content_in_a_txt_is_refused(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_bytes(bytes(range(256)) * 8)
    with pytest.raises(UnreadableFile, match="save it as UTF-8"):
        load(tmp_path / "b.txt", "b.txt")


def test_docx_tables_are_read_in_document_order(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_paragraph("会前的说明。")
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([("国家", "立场"), ("挪威", "不敢苟同")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_paragraph("会后的说明。")
    d.save(str(tmp_path / "t.docx"))
    doc, _ = load(tmp_path / "t.docx", "t.docx")
    assert [b.text for b in doc.blocks] == [
        "会前的说明。",
        "国家|立场",
        "挪威|不敢苟同",
        "会后的说明。",
    ]


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 not really", "PDF"),
        ("broken.docx", b"PK not a zip", "DOCX"),
        ("empty.txt", b"   \n", "empty: no text found"),
        ("empty.md", b"", "empty: no text found"),
        ("image.png", b"\x89PNG", "unsupported"),
    ],
)
def test_bad_files_raise_a_clear_error(
    tmp_path: Path, name: str, content: bytes, reason: str
) -> None:
    (tmp_path / name).write_bytes(content)
    with pytest.raises(UnreadableFile, match=reason):
        load(tmp_path / name, name)


def test_catalog_titles_from_readme(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("正文。", "utf-8")
    (tmp_path / "README.md").write_text("| file | what |\n|---|---|\n| x.txt | 标题 X |\n", "utf-8")
    assert read_catalog(tmp_path) == {"x.txt": "标题 X"}


def test_a_pdf_library_warning_is_a_warning_of_that_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.pdf"
    write_pdf(path, ["赫尔辛基被选为可能的会议举办地。"])
    data = path.read_bytes()
    path.write_bytes(data[: data.rfind(b"%%EOF") + 4])  # the end marker cut short
    doc, warnings = load(path, "cut.pdf")
    assert "赫尔辛基" in "".join(b.text for b in doc.blocks)
    assert warnings == ["PDF read despite: EOF marker seems truncated"]
    assert "EOF" not in capsys.readouterr().err  # no stray line without the file's name
