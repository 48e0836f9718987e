"""Chunking: sentence-aligned, sized, overlapping, carrying locators."""

import itertools
from pathlib import Path

from ingest.chunking import MAX_CHARS, Document, chunk, speaker_of
from ingest.clean import Block, render, text_blocks
from retrieval.text import sentence_spans

CORPUS = Path(__file__).resolve().parent.parent / "data"


def _doc(name: str) -> Document:
    raw = (CORPUS / name).read_text("utf-8")
    return Document(name, "t", text_blocks(raw))


def test_speaker_and_state_of_a_verbatim_record() -> None:
    assert speaker_of("天野先生(日本)：我想简要陈述") == ("天野先生", "日本")
    assert speaker_of("瓦西里耶夫先生(俄罗斯联邦)(以俄语发言)：俄罗斯") == (
        "瓦西里耶夫先生",
        "俄罗斯联邦",
    )
    assert speaker_of("主席：我宣布") == ("主席", "")
    assert speaker_of("本集团重申") is None
    chunks = chunk(_doc("cd-pv-1261-negative-security-assurances.txt"))
    amano = [c for c in chunks if c.speaker == "天野先生"]
    assert amano and all(c.state == "日本" for c in amano)
    assert amano[0].locator() == "天野先生(日本)"


def test_numbered_paragraphs_are_located() -> None:
    chunks = chunk(_doc("cd-2018-g21-negative-security-assurances.txt"))
    numbered = {c.paragraph for c in chunks if c.paragraph}
    assert {str(n) for n in range(1, 17)} <= numbered
    assert any(c.locator() == "消极安全保证 · 第9段" for c in chunks)


def test_chunks_are_exact_slices_that_never_cut_a_sentence() -> None:
    doc = _doc("npt-2022-russia-middle-east-wmd-free-zone.txt")
    text = render(doc.blocks)
    boundaries = {0, len(text)}
    offset = 0
    for block in doc.blocks:
        boundaries |= {offset + e for _, e in sentence_spans(block.text)}
        boundaries |= {offset + s for s, _ in sentence_spans(block.text)}
        offset += len(block.text) + 2
    for c in chunk(doc):
        assert text[c.start : c.end] == c.text
        assert c.start in boundaries and c.end in boundaries
        assert len(c.text) <= MAX_CHARS or len(sentence_spans(c.text)) == 1


def _paragraph(n: int, k: int) -> str:
    """n sentences of 40 characters each, tagged with paragraph k."""
    return "".join(f"第{k}段第{i:02d}句" + "字" * 33 + "。" for i in range(n))


def _pieces(doc: Document) -> list[list[str]]:
    """Each chunk as the paragraphs (or paragraph parts) it holds."""
    return [c.text.split("\n\n") for c in chunk(doc)]


def test_a_paragraph_that_fits_is_one_chunk_and_short_ones_share() -> None:
    sizes = [10, 2, 2, 30, 3]
    paragraphs = [_paragraph(n, k) for k, n in enumerate(sizes)]
    doc = Document("p.txt", "t", [Block("para", p) for p in paragraphs])
    pieces = _pieces(doc)
    # Ten sentences (400 characters) fit: one chunk, not cut at 280.
    assert pieces[0] == [paragraphs[0]]
    # Two short paragraphs share a chunk, each whole.
    assert pieces[1] == [paragraphs[1], paragraphs[2]]
    # A long paragraph is cut into parts, none crossing into the next paragraph.
    long_parts = [p for p in pieces if len(p) == 1 and p[0] in paragraphs[3]]
    assert len(long_parts) >= 3
    assert all(len(p[0]) <= MAX_CHARS for p in long_parts)
    assert pieces[-1] == [paragraphs[4]]
    for a, b in itertools.pairwise(long_parts):
        assert paragraphs[3].index(b[0]) < paragraphs[3].index(a[0]) + len(a[0])


def test_a_chunk_of_several_paragraphs_holds_each_whole() -> None:
    overlaps = 0
    for path in sorted(CORPUS.glob("*.txt")):
        doc = _doc(path.name)
        paragraphs = {b.text for b in doc.blocks}
        chunks = chunk(doc)
        for c in chunks:
            parts = c.text.split("\n\n")
            if len(parts) > 1:
                assert all(p in paragraphs for p in parts), (path.name, c.start)
        overlaps += sum(1 for a, b in itertools.pairwise(chunks) if b.start < a.end)
    assert overlaps > 0
