"""A real `chroma run` server: ingest and ask through it, replicas, and a server that goes away."""

import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import CITEQA, CORPUS, citeqa_env, run_citeqa

BIN = Path(sys.executable).parent
QUESTION = "土库曼斯坦批准了哪些国际公约？"


class Server:
    """`chroma run` on 127.0.0.1 at a free port, stoppable and restartable on the same data."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [str(BIN / "chroma"), "run", "--path", str(self.path)]
        self.process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise AssertionError("chroma run did not start in 60 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(30)
            self.process = None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    s = Server(tmp_path / "chroma-server")
    s.start()
    yield s
    s.stop()


def citeqa(
    url: str, index: Path, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {"CITEQA_CHROMA_URL": url, "CITEQA_INDEX_DIR": str(index)}
    env |= {"CITEQA_DATA_DIR": str(CORPUS), "CITEQA_EMBEDDER": "hashing"}
    return run_citeqa(env, *args, stdin=stdin, timeout=180)


def test_ingest_and_ask_through_a_server_and_a_second_replica(
    server: Server, tmp_path: Path
) -> None:
    assert citeqa(server.url, tmp_path / "a", "ingest", "--quiet").returncode == 0
    first = citeqa(server.url, tmp_path / "a", "ask", "--json", QUESTION)
    replica = citeqa(server.url, tmp_path / "empty", "ask", "--json", QUESTION)
    assert first.returncode == replica.returncode == 0, replica.stderr
    a, b = json.loads(first.stdout), json.loads(replica.stdout)
    assert a["citations"] and a["citations"] == b["citations"] and a["answer"] == b["answer"]


def test_a_dead_server_gives_one_line_for_every_command(server: Server, tmp_path: Path) -> None:
    server.stop()
    for args in (["ask", QUESTION], ["sources"], ["ingest", "--quiet"], ["chat", "--json"]):
        out = citeqa(server.url, tmp_path / "a", *args, stdin="")
        assert out.returncode == 1, args
        assert out.stderr.startswith(f"Error: cannot reach the Chroma server at {server.url}: ")
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_ask_stdin_reports_a_lost_server_and_carries_on(server: Server, tmp_path: Path) -> None:
    assert citeqa(server.url, tmp_path / "a", "ingest", "--quiet").returncode == 0
    env = citeqa_env(
        {
            "CITEQA_CHROMA_URL": server.url,
            "CITEQA_INDEX_DIR": str(tmp_path / "a"),
            "CITEQA_EMBEDDER": "hashing",
        }
    )
    with subprocess.Popen(
        [str(CITEQA), "ask", "--json", "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    ) as proc:
        assert proc.stdin and proc.stdout
        stdin, stdout = proc.stdin, proc.stdout

        def ask() -> dict[str, object]:
            stdin.write(QUESTION + "\n")
            stdin.flush()
            return dict(json.loads(stdout.readline()))

        assert ask()["citations"]
        server.stop()
        lost = ask()
        assert str(lost["error"]).startswith("cannot reach the Chroma server")
        server.start()
        assert ask()["citations"]
        stdin.close()
        assert proc.wait(60) == 1  # one question failed
