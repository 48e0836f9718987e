"""Each loader on a small file the test writes, Chinese PDF included."""

from pathlib import Path

import pytest

from ingest.loaders import load, read_catalog
from retrieval.errors import UnreadableFile


def _pdf(path: Path, lines: list[str]) -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    pdf = canvas.Canvas(str(path))
    for page in range(2):
        pdf.setFont("STSong-Light", 12)
        y = 800
        for line in [*lines, f"GE.12-6362{page}"]:
            pdf.drawString(50, y, line)
            y -= 20
        pdf.showPage()
    pdf.save()


def test_pdf_with_chinese_text(tmp_path: Path) -> None:
    path = tmp_path / "a.pdf"
    _pdf(path, ["赫尔辛基被选为可能的会议举办地。", "这是第二句话。"])
    doc = load(path, "a.pdf")
    text = " ".join(b.text for b in doc.blocks)
    assert "赫尔辛基被选为可能的会议举办地。" in text
    assert "GE.12" not in text


def test_docx_headings_become_sections(tmp_path: Path) -> None:
    import docx

    d = docx.Document()
    d.add_heading("裁军会议", level=1)
    d.add_paragraph("挪威却不敢苟同。")
    d.save(str(tmp_path / "b.docx"))
    doc = load(tmp_path / "b.docx", "b.docx")
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
    doc = load(path, "c.html")
    assert [b.text for b in doc.blocks] == ["Scope", "The zone & its treaty."]


def test_markdown_and_gb18030_text(tmp_path: Path) -> None:
    (tmp_path / "d.md").write_text("# 标题\n\n正文。\n", "utf-8")
    (tmp_path / "e.txt").write_bytes(" 中文编码的文本。 \n".encode("gb18030"))
    assert load(tmp_path / "d.md", "d.md").title == "标题"
    assert load(tmp_path / "e.txt", "e.txt").blocks[0].text == "中文编码的文本。"


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("broken.pdf", b"%PDF-1.4 not really", "PDF"),
        ("broken.docx", b"PK not a zip", "DOCX"),
        ("empty.txt", b"   \n", "no text"),
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
