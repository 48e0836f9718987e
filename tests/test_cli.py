"""The real `citeqa` command as a subprocess."""

import json
import subprocess
from pathlib import Path

from retrieval.settings import Settings
from retrieval.text import squash
from tests.conftest import CITATION_KEYS, run_citeqa, settings_env
from tests.documents import chinese_pdf


def _run(
    settings: Settings, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return run_citeqa(settings_env(settings), *args, stdin=stdin)


def test_ask_json_has_the_documented_shape_and_verbatim_text(hashed: Settings) -> None:
    out = _run(hashed, "ask", "--json", "土库曼斯坦批准了哪些国际公约？")
    assert out.returncode == 0, out.stderr
    answer = json.loads(out.stdout)
    assert set(answer) == {
        "question",
        "answer",
        "abstained",
        "reader",
        "citations",
        "closest",
        "signals",
        "timings_ms",
        "written",
    }
    assert answer["written"] is None  # no chat model is configured
    assert not answer["abstained"] and answer["citations"]
    signals = answer["signals"]
    assert 0 <= signals["confidence"] <= 1 and signals["translated"] is False
    assert {"coverage", "sentence_top", "dense_gap", "missing"} <= set(signals)
    first = answer["citations"][0]
    assert set(first) == CITATION_KEYS
    assert answer["reader"] is None and first["reader"] is None  # no reader for this embedder
    source = squash((hashed.data_dir / first["source"]).read_text("utf-8"))
    assert all(squash(c["text"]) in source or "\n\n" in c["text"] for c in answer["citations"])
    assert answer["answer"] and squash(answer["answer"]) in squash(first["text"]) + "".join(
        squash(c["text"]) for c in answer["citations"]
    )


def test_ask_prints_answer_then_numbered_citations(hashed: Settings) -> None:
    out = _run(hashed, "ask", "土库曼斯坦批准了哪些国际公约？", "-k", "2")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("答：") and "[1] " in out.stdout and "[2] " in out.stdout
    assert "[3] " not in out.stdout and "【" in out.stdout


def test_stdin_questions_give_one_json_line_each(hashed: Settings) -> None:
    out = _run(
        hashed, "ask", "--json", "-", stdin="土库曼斯坦批准了哪些国际公约？\n\n挪威的立场？\n"
    )
    lines = [json.loads(x) for x in out.stdout.splitlines()]
    assert [x["question"] for x in lines] == ["土库曼斯坦批准了哪些国际公约？", "挪威的立场？"]


def test_bad_questions_get_one_line_and_no_traceback(hashed: Settings) -> None:
    for question, code in [("", 1), ("   ", 1), ("x" * 10_000, 1), ("🙂🙂", 1), ("\x07\x1b", 1)]:
        out = _run(hashed, "ask", question)
        assert out.returncode == code, (question[:10], out.stdout, out.stderr)
        assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1
    huge = _run(hashed, "ask", "--json", "-", stdin="问" * 100_000 + "\n")
    line = json.loads(huge.stdout)
    assert "too long" in line["error"] and len(line["question"]) <= 200  # not echoed whole
    odd = _run(hashed, "ask", "Кто выиграл чемпионат мира? 🙂\u200b")
    assert odd.returncode == 0 and "Traceback" not in odd.stderr


def test_missing_index_and_bad_doc_filter(tmp_path: Path, hashed: Settings) -> None:
    empty = hashed.model_copy(update={"index_dir": tmp_path / "none"})
    out = _run(empty, "ask", "问题")
    assert out.returncode == 1 and "citeqa ingest" in out.stderr and "Traceback" not in out.stderr
    out = _run(hashed, "ask", "问题", "--doc", "no-such-doc")
    assert out.returncode == 1 and "no single document" in out.stderr


def test_sources_and_ingest_commands(hashed: Settings) -> None:
    out = _run(hashed, "sources")
    assert out.returncode == 0 and len(out.stdout.splitlines()) == 5
    out = _run(hashed, "ingest")
    assert out.returncode == 0 and "0 indexed, 5 unchanged" in out.stdout


def test_add_and_remove_from_the_command_line(hashed: Settings, tmp_path: Path) -> None:
    report = tmp_path / "火星报告.pdf"
    report.write_bytes(
        chinese_pdf(["2031年，联合国在火星建立了第一个科学基地，共有12名科学家常驻。"])
    )
    fake = tmp_path / "fake.pdf"
    fake.write_text("这只是文字。", "utf-8")
    out = _run(hashed, "add", str(report), str(fake))
    assert out.returncode == 1  # one of the two was refused
    assert "added 火星报告.pdf: 火星报告," in out.stdout
    assert "not added: 'fake.pdf' is named as a PDF but holds text" in out.stderr
    assert not (hashed.data_dir / "fake.pdf").exists()
    again = _run(hashed, "add", str(report))
    assert again.returncode == 1 and "already in the collection as 火星报告.pdf" in again.stderr
    listed = _run(hashed, "sources")
    assert "火星报告.pdf" in listed.stdout and "added by" in listed.stdout
    answer = json.loads(_run(hashed, "ask", "--json", "火星基地有多少名科学家？").stdout)
    assert answer["citations"][0]["source"] == "火星报告.pdf"
    kept = _run(hashed, "remove", "火星报告", stdin="n\n")
    assert kept.returncode == 1 and (hashed.data_dir / "火星报告.pdf").exists()
    partial = _run(hashed, "remove", "火星", "--yes")  # without asking, only a whole name
    assert partial.returncode == 1 and (hashed.data_dir / "火星报告.pdf").exists()
    removed = _run(hashed, "remove", "火星报告", "--yes")
    assert removed.returncode == 0 and "removed 火星报告.pdf" in removed.stdout
    assert "火星报告.pdf" not in _run(hashed, "sources").stdout
    unknown = _run(hashed, "remove", "土星", "--yes")
    assert unknown.returncode == 1 and "no document is called '土星'" in unknown.stderr
