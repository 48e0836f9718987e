"""Cleaning, with fixtures cut from the real corpus files."""

from pathlib import Path

from ingest.clean import is_furniture, markdown_blocks, running_symbol, text_blocks
from retrieval.text import sentence_spans, squash

CORPUS = Path(__file__).resolve().parent.parent / "data"


def test_hard_wrapped_chinese_lines_are_joined_without_spaces() -> None:
    raw = " 2012 年或之后，无法就举行和召开无大规模毁灭性武器区会议的模式和明\n\n确时间表达成一致。 \n"
    [block] = text_blocks(raw)
    assert (
        block.text
        == "2012年或之后，无法就举行和召开无大规模毁灭性武器区会议的模式和明确时间表达成一致。"
    )


def test_a_number_cut_by_a_line_break_is_joined_whole() -> None:
    [block] = text_blocks("介于北纬30度45分~31度22分、东经86度23分~8\n6度49分。湖面海拔4528米。\n")
    assert block.text == "介于北纬30度45分~31度22分、东经86度23分~86度49分。湖面海拔4528米。"
    [english] = text_blocks("The survey of 1998\n2000 people found the same.\n")
    assert english.text == "The survey of 1998 2000 people found the same."


def test_running_headers_footers_and_page_numbers_are_furniture() -> None:
    for line in ["CD/PV.1261 ", "10 GE.12-63627 ", "A/67/131  ", "12-41312 (C)6 ", "  7 "]:
        assert is_furniture(line), line
    assert not is_furniture(" CD/1864 号决定将关于保证不对无核武器国家使用")


def test_header_inside_a_sentence_leaves_verbatim_fragments() -> None:
    raw = " 美国已向参议院提交关于建立非洲无核武器区的议\n\nCD/PV.1261 \n\n10 GE.12-63627 \n\n定书。 \n"
    texts = [b.text for b in text_blocks(raw)]
    assert texts == ["美国已向参议院提交关于建立非洲无核武器区的议", "定书。"]


def test_paragraph_breaks_and_headings_are_kept() -> None:
    raw = "  古巴 \n\n[原件：西班牙文] \n\n 在复杂的国际局势下，我们必须共同应对。 \n 大会是联合国最有代表性的机构。 \n"
    blocks = text_blocks(raw)
    assert [b.kind for b in blocks] == ["heading", "para", "para", "para"]
    assert blocks[0].text == "古巴"


def test_footnotes_are_marked_and_the_cut_sentence_continues() -> None:
    raw = (
        " 该文件强调，大门仍然敞开，并确认将在该区域各国以协商一致方式\n自由达成安排的基础上，建立无大规模毁\n\n__________________ \n\n 1 A/CONF.236/6 (附件)。 \n\n"
        "https://undocs.org/ch/A/CONF.236/6\n 灭性武器区。总体而言，会议充分实现了其目标。 \n"
    )
    blocks = text_blocks(raw)
    assert [b.kind for b in blocks] == ["para", "para", "footnote", "footnote"]
    assert blocks[1].text.startswith("灭性武器区。")


def test_markdown_headings_and_footnotes() -> None:
    raw = "## 一、态势\n\n正文第一段。\n\n---\n\n赵伟明等：《研究》，第393页。\n\n正文第二段。\n"
    blocks = markdown_blocks(raw)
    assert [(b.kind, b.text) for b in blocks] == [
        ("heading", "一、态势"),
        ("para", "正文第一段。"),
        ("footnote", "赵伟明等：《研究》，第393页。"),
        ("para", "正文第二段。"),
    ]


def test_real_documents_keep_every_sentence_verbatim() -> None:
    for path in sorted(CORPUS.glob("*-*.*")):
        raw = path.read_text("utf-8")
        blocks = markdown_blocks(raw) if path.suffix == ".md" else text_blocks(raw)
        source = squash(raw)
        for block in blocks:
            for s, e in sentence_spans(block.text):
                assert squash(block.text[s:e]) in source, (path.name, block.text[s:e])


def test_document_symbol_comes_from_running_headers() -> None:
    raw = (CORPUS / "a-67-131-multilateralism-disarmament.txt").read_text("utf-8")
    assert running_symbol(raw) == "A/67/131"
    assert not any(
        "GE.12-63627" in b.text
        for b in text_blocks(
            (CORPUS / "cd-pv-1261-negative-security-assurances.txt").read_text("utf-8")
        )
    )
