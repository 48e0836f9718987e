"""Documents the tests write: a Chinese PDF (encrypted or not), a DOCX, a zip that unpacks big."""

import io
import zipfile
from pathlib import Path


def chinese_pdf(lines: list[str], pages: int = 2, password: str | None = None) -> bytes:
    """Return a PDF of `lines` on each page (and a running document symbol), in a CJK font."""
    return chinese_pdf_pages([[*lines, f"GE.12-6362{n}"] for n in range(pages)], password)


def chinese_pdf_pages(pages: list[list[str]], password: str | None = None) -> bytes:
    """Return a PDF with these lines on its pages, in a CJK font; encrypted with a password."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    pdf = canvas.Canvas(out, encrypt=password)
    for lines in pages:
        pdf.setFont("STSong-Light", 12)
        y = 800
        for line in lines:
            pdf.drawString(50, y, line)
            y -= 20
        pdf.showPage()
    pdf.save()
    return out.getvalue()


def write_pdf(path: Path, lines: list[str]) -> None:
    """Write `chinese_pdf(lines)` to `path`."""
    path.write_bytes(chinese_pdf(lines))


def docx_bytes(heading: str, paragraphs: list[str]) -> bytes:
    """Return a Word document: a heading, then the paragraphs."""
    import docx

    document = docx.Document()
    document.add_heading(heading, level=1)
    for text in paragraphs:
        document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def swollen_docx(unpacked: int) -> bytes:
    """Return a DOCX whose document part unpacks to about `unpacked` bytes of spaces: what a
    zip bomb looks like to a reader, at a size a test can afford."""
    real = zipfile.ZipFile(io.BytesIO(docx_bytes("标题", ["正文。"])))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as swollen:
        for item in real.infolist():
            data = real.read(item)
            if item.filename == "word/document.xml":
                data = data.replace(b"</w:body>", b" " * unpacked + b"</w:body>")
            swollen.writestr(item, data)
    return out.getvalue()
