"""How far an ingest has got: a bar on a terminal, a line every few seconds in a log.

Progress is counted in bytes of the files read and in chunks written, so that one 30 MB file
(tens of thousands of chunks) moves the line as its chunks are embedded, not only at its end.
"""

import time
from collections.abc import Callable

from tqdm import tqdm

from ingest.files import Found


def _size(found: Found) -> int:
    try:
        return found.path.stat().st_size
    except OSError:
        return 0


class Progress:
    """Counts what an ingest has read and written, and reports it."""

    def __init__(
        self,
        files: list[Found],
        bar: bool,
        log: Callable[[str], None] | None,
        log_every: float,
    ) -> None:
        self.files = len(files)
        self.sizes = {f.source: _size(f) for f in files}  # one stat a file
        self.total_bytes = sum(self.sizes.values()) or 1
        self.log = log
        self.log_every = log_every
        self.started = self.logged = time.perf_counter()
        self.done_files = self.done_bytes = 0
        self.read = self.written = self.vectors = 0
        self.bar = tqdm(
            total=self.total_bytes, desc="ingest", unit="B", unit_scale=True, disable=not bar
        )

    def file_read(self, found: Found, chunks: int) -> None:
        """Count a file as read, with the chunks it has to write."""
        self.done_files += 1
        size = self.sizes.get(found.source, 0)
        self.done_bytes += size
        self.read += chunks
        self.bar.update(size)
        self.bar.set_postfix_str(found.source[-40:])
        self.tick()

    def embedded(self, vectors: int) -> None:
        """Count vectors computed (chunks and sentences)."""
        self.vectors += vectors
        self.tick()

    def wrote(self, chunks: int) -> None:
        """Count chunks written to the store."""
        self.written += chunks
        self.tick()

    def tick(self, final: bool = False) -> None:
        """Log a line when `log_every` seconds have passed since the last, or at the end."""
        now = time.perf_counter()
        if self.log is not None and (final or now - self.logged >= self.log_every):
            self.log(self.line(now - self.started, final))
            self.logged = now

    def line(self, seconds: float, final: bool = False) -> str:
        """Return the log line: files, chunks read and written, rate, time left."""
        done = 1.0 if final else self.done_bytes / self.total_bytes
        if self.read and not final:
            done *= self.written / self.read
        rate = self.written / seconds if seconds > 0 else 0.0
        left = seconds / done - seconds if done > 0 else float("nan")
        eta = f"{left:.0f} s" if left == left else "unknown"
        return (
            f"ingest: {self.done_files}/{self.files} files, {self.read} changed chunks read, "
            f"{self.written} written ({self.vectors} vectors embedded), {rate:.0f} chunks/s, "
            f"ETA {eta}"
        )

    def close(self) -> None:
        """End the bar and log the last line."""
        self.bar.close()
        self.tick(final=True)
