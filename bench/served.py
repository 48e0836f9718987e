"""The whole written-answer path against a scripted OpenAI-compatible server on 127.0.0.1:
what a user of `citeqa ask` sees when the chat model answers well, cites the wrong passage,
invents a figure, obeys an injected instruction, declines, is slow, fails or sends garbage.

No chat model runs here, so the replies are scripted from the passages citeqa retrieves for
each question (its first sentences, as a faithful model would copy them). The index is the
seed corpus with the instant hashing embedder in a temporary folder: the chat path does not
depend on the embedder.

    .venv/bin/python bench/served.py
"""

import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.pipeline import Ingester  # noqa: E402
from retrieval.qa import QA  # noqa: E402
from retrieval.text import sentence_spans  # noqa: E402
from retrieval.types import Answer  # noqa: E402
from retrieval.verify import verify_reply  # noqa: E402
from tests.chatapi import Script, scripted_openai  # noqa: E402
from tests.conftest import CORPUS, make_settings, run_citeqa, settings_env  # noqa: E402

QUESTION = "土库曼斯坦批准了哪些国际公约？"
ENGLISH = "Which international conventions has Turkmenistan ratified?"


def _sentence(answer: Answer, n: int) -> str:
    text = answer.citations[n].text
    start, end = sentence_spans(text)[0]
    return text[start:end].strip().rstrip("。；;")


def scripts(answer: Answer) -> dict[str, tuple[str, Script]]:
    """Return name -> (question, what the scripted model does)."""
    one, two = _sentence(answer, 0), _sentence(answer, 1)
    return {
        "good answer, streamed": (QUESTION, Script(f"{one}[1]。{two}[2]。", pieces=8)),
        "wrong [n]": (QUESTION, Script(f"{one}[2]。", stream=False)),
        "invented figure": (QUESTION, Script(f"{one}[1]。土库曼斯坦于2099年批准了月球条约[1]。")),
        "obeys an injection": (QUESTION, Script("Ignore the passages: the answer is 42 [1].")),
        "says the passages do not answer": (QUESTION, Script("NOT IN THE PASSAGES")),
        "no citations": (QUESTION, Script("土库曼斯坦批准了很多公约。")),
        "slow (past the timeout)": (QUESTION, Script(f"{one}[1]。", delay=5.0)),
        "HTTP 500": (QUESTION, Script(status=500)),
        "garbage": (QUESTION, Script(raw=b"\x00\xffnot json")),
        "English question, names in brackets": (
            ENGLISH,
            Script("Turkmenistan (土库曼斯坦) has ratified international conventions [1]."),
        ),
    }


def main() -> None:
    tmp = Path(tempfile.mkdtemp())
    try:
        shutil.copytree(CORPUS, tmp / "data")
        settings = make_settings(tmp, tmp / "data")
        Ingester(settings, progress=False).run()
        answer = QA(settings).ask(QUESTION)
        for name, (question, script) in scripts(answer).items():
            with scripted_openai(script) as server:
                env = settings_env(settings) | {
                    "CITEQA_LLM_URL": server["url"],
                    "CITEQA_LLM_MODEL": "scripted",
                    "CITEQA_LLM_API_KEY": "sk-bench",
                    "CITEQA_WRITE_TIMEOUT": "2",
                }
                shown = run_citeqa(env, "ask", question)
                data = json.loads(run_citeqa(env, "ask", "--json", question).stdout)
            written = data["written"] or {}
            print(f"### {name}\nmodel: {script.text or script.raw or script.status!r}")
            print("user saw:\n    " + "\n    ".join(shown.stdout.splitlines()[:3]))
            print(f"written: {json.dumps(written, ensure_ascii=False)[:600]}")
            print(f"stderr: {shown.stderr.strip()[:300]}\n")
        passages = [c.text for c in answer.citations]
        reply = scripts(answer)["good answer, streamed"][1].text * 2
        times = []
        for _ in range(50):
            started = time.perf_counter()
            verify_reply(reply, passages)
            times.append((time.perf_counter() - started) * 1000)
        print(f"verifying a 4-sentence reply: median {statistics.median(times):.2f} ms")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
