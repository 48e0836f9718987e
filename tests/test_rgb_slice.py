"""A slice of RGB through the real default model: the topic is there, the answer is not.

A regression guard for the reader: the first `ROWS` rows of ../shared/eval/rgb built as the
eval README says (`bot/rgb.py`: even ids answerable, odd ids with only their negative
passages), every question asked, with floors under the share of answerable questions answered
and of odd ones declined. RGB's licence allows evaluation only: it is read from ../shared at
test time and never copied here.
"""

from pathlib import Path

import pytest

from bot import rgb
from bot.squad import Question, first_right
from ingest.pipeline import Ingester
from retrieval.qa import QA
from retrieval.settings import Settings
from tests.conftest import make_settings

pytestmark = pytest.mark.slow
RGB = Path(__file__).resolve().parent.parent.parent / "shared" / "eval" / "rgb"
ROWS = 40
# a little under what this slice gave: answered 0.90 (cited 0.90), line 0.55, declined 0.25,
# then 0.15 with the decision over the best sentence's similarity (the whole first half:
# 0.293 -> 0.213 declined, 0.947 -> 0.973 answered; bench/calibrate.py). Issue 18's target for
# declined is 0.70: not met yet.
ANSWERED, LINE, DECLINED = 0.85, 0.45, 0.15


@pytest.fixture(scope="module")
def rgb_slice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, list[Question]]:
    source = RGB / "zh_refine.first150.jsonl"
    if not source.exists():
        pytest.skip("../shared/eval is not beside this checkout")
    tmp = tmp_path_factory.mktemp("rgb")
    questions = rgb.build(source, tmp / "data", limit=ROWS)
    settings = make_settings(tmp, tmp / "data", embedder="multilingual-e5-small")
    Ingester(settings, progress=False).run()
    return settings, questions


def test_topic_without_answer_declined_and_answers_kept(
    rgb_slice: tuple[Settings, list[Question]],
) -> None:
    settings, questions = rgb_slice
    qa = QA(settings)
    asked = [(q, qa.ask(q.text)) for q in questions]
    kept = [(q, a) for q, a in asked if q.answerable]
    out = [a for q, a in asked if not q.answerable]
    assert len(kept) == len(out) == ROWS // 2
    answered = sum(not a.abstained for _, a in kept) / len(kept)
    cited = sum(1 for q, a in kept if first_right([c.text for c in a.citations], q)) / len(kept)
    line = sum(any(x in a.answer.replace(" ", "") for x in q.answers) for q, a in kept)
    declined = sum(a.abstained for a in out) / len(out)
    assert answered >= ANSWERED
    assert cited >= ANSWERED
    assert line / len(kept) >= LINE
    assert declined >= DECLINED
