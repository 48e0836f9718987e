"""Add a document to the collection, or take one out, from the command line or a chat.

A file is checked completely before anything changes: its size (`Settings.max_upload_mb`),
that its content is what its name says (a PDF starts `%PDF-`, a DOCX is a zip holding
`word/document.xml`, text is not binary), that citeqa can read text from it, and that it is
not already in the collection. It is then written into the data dir under a name of citeqa's
making (`safe_filename`: the sender's name without any folder, hidden dot or control
character; a name already taken gets " (2)") and the data dir is ingested incrementally: that
file is embedded (and whatever else changed in the data dir since the last ingest is brought
in line). A change holds the index's ingest lock (`ingest.pipeline.ingest_lock`) from its
checks against the collection to the end of its ingest, whichever process makes it. Who
added what, and when, is kept beside the documents in `ADDED` (a hidden file the ingest does
not read).
"""

import hashlib
import json
import logging
import os
import re
import tempfile
import threading
import unicodedata
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

from langchain_core.embeddings import Embeddings

from ingest.chunking import chunk
from ingest.files import ADDED, OWN, discover
from ingest.loaders import READERS, load
from ingest.pipeline import Ingester, Report, ingest_lock
from retrieval.errors import CiteqaError, UnreadableFile
from retrieval.lexical import open_index
from retrieval.settings import Settings

logger = logging.getLogger(__name__)
# what each kind of name must hold
KINDS = {".pdf": "a PDF", ".docx": "a Word document (.docx)"} | dict.fromkeys(
    (".txt", ".md", ".markdown", ".html", ".htm"), "text"
)
# longest file name kept, in bytes of UTF-8 (file systems allow 255)
NAME_BYTES = 150


# why a file is not added (or a name not found), in English; the bot has each in Chinese too
REASONS = {
    "too_big": "{name!r} is {mb:.1f} MB, over the {limit} MB limit",
    "unsupported": "citeqa reads {kinds} files; {name!r} is {holds}",
    "wrong_kind": "{name!r} is named as {named} but holds {holds}",
    "unreadable": "{name!r} cannot be read: {why}",
    "duplicate": "{name!r} is already in the collection as {held}",
    "ambiguous": "{name!r} could be {choices}",
    "unknown": "no document is called {name!r}",
    "outside": "{name!r} is not a document of the collection",
}


class BadUpload(CiteqaError):
    """A file that is not added, or a name that is no document: `key` (of REASONS) and
    `values` say why, for the person who sent it."""

    def __init__(self, key: str, **values: object) -> None:
        super().__init__(REASONS[key].format(**values))
        self.key = key
        self.values = values


@dataclass(frozen=True, slots=True)
class Added:
    """A document now in the collection."""

    name: str  # its file name in the data dir (the index's source)
    title: str
    passages: int
    warnings: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Provenance:
    """Who added a document from a chat or the command line, when, and under what name."""

    by: str
    at: str  # ISO 8601, UTC
    given: str  # the name it was sent under


def _content(data: bytes) -> str:
    """Return what a file's bytes are, as a suffix of KINDS or a description."""
    if b"%PDF-" in data[:1024]:
        return ".pdf"
    if data[:4] == b"PK\x03\x04":
        try:
            names = zipfile.ZipFile(BytesIO(data)).namelist()
        except (zipfile.BadZipFile, OSError):
            return "a broken ZIP archive"
        return ".docx" if "word/document.xml" in names else "a ZIP archive"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # UTF-16 text holds NUL bytes
        return "text"
    if b"\x00" in data[:8192]:
        return "binary data"
    return "text"


def check_kind(name: str, data: bytes) -> str:
    """Return the suffix a file is stored under; raise BadUpload when its content is not
    what its name says, or when citeqa reads no such kind."""
    suffix = Path(name).suffix.lower()
    content = _content(data)
    if suffix not in KINDS:
        if not suffix and content in KINDS:  # no suffix: the content decides
            return content
        if not suffix and content == "text":
            return ".txt"
        kinds = ", ".join(sorted(READERS))
        raise BadUpload("unsupported", kinds=kinds, name=name, holds=content)
    expected = suffix if suffix in (".pdf", ".docx") else "text"
    if content != expected:
        shown = KINDS.get(content, content)
        raise BadUpload("wrong_kind", name=name, named=KINDS[suffix], holds=shown)
    return suffix


def safe_filename(given: str, suffix: str) -> str:
    """Return a file name for a document sent as `given`: its last part only (no folder),
    without control or format characters, leading dots or characters Windows refuses, at
    most NAME_BYTES long, ending in `suffix`."""
    name = unicodedata.normalize("NFC", re.split(r"[\\/]", given)[-1])
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = re.sub(r'[<>:"|?*]', "_", name).strip(" .")
    stem = name[: -len(Path(name).suffix)] if Path(name).suffix.lower() == suffix else name
    stem = re.sub(r"\s+", " ", stem).strip(" .") or "document"
    while len(stem.encode("utf-8")) > NAME_BYTES:
        stem = stem[:-1]
    return stem.rstrip(" .") + suffix


def _taken(data_dir: Path, name: str, ignored: frozenset[str]) -> bool:
    # lexists: a dangling link holds its name too
    return name in ignored or os.path.lexists(data_dir / name) or name.startswith(OWN)


def _unique(data_dir: Path, name: str, ignored: frozenset[str]) -> str:
    """Return `name`, or "name (2)" and so on when a document already has it."""
    stem, suffix = name[: -len(Path(name).suffix)], Path(name).suffix
    n = 1
    while _taken(data_dir, name, ignored):
        n += 1
        name = f"{stem} ({n}){suffix}"
    return name


class Library:
    """The collection's documents, for adding and removing one at a time."""

    def __init__(self, settings: Settings, embedder: Embeddings | None = None):
        self.settings = settings
        self.embedder = embedder
        self._lock = threading.Lock()  # one change at a time in this process

    def check_size(self, given: str, size: int) -> None:
        """Raise BadUpload for a file over the limit (known before it is read or fetched)."""
        limit = self.settings.max_upload_mb
        if size > limit * 2**20:
            raise BadUpload("too_big", name=given, mb=size / 2**20, limit=limit)

    def check(self, given: str, data: bytes) -> tuple[str, int, list[str]]:
        """Check a file as `add` does, changing nothing: return its suffix, how many
        passages it makes and the reader's warnings; raise BadUpload."""
        self.check_size(given, len(data))
        suffix = check_kind(given, data)
        try:  # the reader goes by the suffix; the bytes are read where they are
            document, warnings = load(Path(f"upload{suffix}"), given, data=data)
        except UnreadableFile as e:
            raise BadUpload("unreadable", name=given, why=str(e)) from e
        return suffix, len(chunk(document)), warnings

    def add(
        self,
        given: str,
        data: bytes,
        by: str,
        passages: Callable[[int], None] = lambda n: None,
    ) -> Added:
        """Check a file, write it into the data dir and ingest it; `passages` hears how
        many passages it makes before they are indexed. Raise BadUpload, leaving the
        collection as it was."""
        result = self.add_many([(given, data)], by, passages)[0]
        if isinstance(result, BadUpload):
            raise result
        return result

    def add_many(
        self,
        files: Sequence[tuple[str, bytes]],
        by: str,
        passages: Callable[[int], None] = lambda n: None,
    ) -> list[Added | BadUpload]:
        """Add files (name as sent, bytes) in one ingest; return, for each, what it became
        or why it was not added. A file that fails leaves the others and the collection as
        they were."""
        results: list[Added | BadUpload | None] = [None] * len(files)
        checked = []
        for i, (given, data) in enumerate(files):
            try:
                checked.append((i, given, data, *self.check(given, data)))
            except BadUpload as e:
                results[i] = e
        with self._lock, ingest_lock(self.settings.index_dir):
            held = {
                h: s
                for s, f in open_index(self.settings.index_dir).files().items()
                for h in f.hashes
            }
            written: list[tuple[int, str, str, int, list[str]]] = []
            try:
                for i, given, data, suffix, count, warnings in checked:
                    digest = hashlib.sha256(data).hexdigest()
                    if digest in held:
                        results[i] = BadUpload("duplicate", name=given, held=held[digest])
                        continue
                    name = self._write(safe_filename(given, suffix), data)
                    written.append((i, given, name, count, warnings))
                    held[digest] = name
                    when = datetime.now(UTC).isoformat(timespec="seconds")
                    self._record(name, Provenance(by, when, given))
            except BaseException:  # a full disk, say: what was written goes again
                self._undo([w[2] for w in written])
                raise
            if written:
                passages(sum(w[3] for w in written))
                self._ingest_added(written, results)
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]

    def _ingest_added(
        self,
        written: list[tuple[int, str, str, int, list[str]]],
        results: list[Added | BadUpload | None],
    ) -> None:
        """Ingest the files just written; take out again those the ingest could not read."""
        try:
            report = self._ingest()
        except BaseException:
            self._undo([name for _, _, name, _, _ in written])
            raise
        failed = dict(report.failed)
        unread = [w for w in written if w[2] in failed]
        for i, given, name, _, _ in unread:
            results[i] = BadUpload("unreadable", name=given, why=failed[name])
        if unread:
            self._undo([w[2] for w in unread])
        index = open_index(self.settings.index_dir)
        titles, held = index.sources(), index.files()
        for i, _, name, count, warnings in written:
            if results[i] is None:
                chunks = held[name].expected if name in held else count
                results[i] = Added(name, titles.get(name, name), chunks, tuple(warnings))

    def sources(self) -> dict[str, str]:
        """Return the collection's documents (source -> title), as the index holds them now."""
        return open_index(self.settings.index_dir).sources()

    def find(self, wanted: str, partial: bool = True) -> str:
        """Return the document a name means: its file name, or its title (any case), or
        with `partial` a unique part of either; raise BadUpload naming the choices when
        none or several match."""
        sources = self.sources()
        low = wanted.lower()
        tests: list[Callable[[str, str], bool]] = [
            lambda s, t: s == wanted,
            lambda s, t: low in (s.lower(), t.lower()),
        ]
        if partial:
            tests.append(lambda s, t: low in s.lower() or low in t.lower())
        for test in tests:
            found = [s for s, t in sources.items() if test(s, t)]
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                raise BadUpload("ambiguous", name=wanted, choices=", ".join(sorted(found)[:5]))
        raise BadUpload("unknown", name=wanted)

    def remove(self, source: str) -> Report:
        """Delete a document (by the name the index knows it by) from the data dir and
        the index."""
        with self._lock, ingest_lock(self.settings.index_dir):
            listing = discover(self.settings.data_dir, self.settings.ignore)
            found = next((f for f in listing.documents if f.source == source), None)
            if found is None and source not in self.sources():
                raise BadUpload("unknown", name=source)
            if found is not None:  # its path, not the source: that escapes odd bytes
                found.path.unlink()
            self._forget(source)
            return self._ingest()

    def provenance(self) -> dict[str, Provenance]:
        """Return who added each document that came through `add`."""
        try:
            raw = json.loads((self.settings.data_dir / ADDED).read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return {
            s: Provenance(str(p.get("by", "")), str(p.get("at", "")), str(p.get("given", "")))
            for s, p in raw.items()
            if isinstance(p, dict)
        }

    def _ingest(self) -> Report:
        """Ingest the data dir; the caller holds the ingest lock."""
        return Ingester(
            self.settings, self.embedder, progress=False, allow_empty=True, locked=True, fresh=True
        ).run()

    def _write(self, name: str, data: bytes) -> str:
        """Write a new document under `name` or the next free one, whole or not at all."""
        data_dir = self.settings.data_dir
        fd, tmp = tempfile.mkstemp(prefix=".citeqa-upload-", dir=data_dir)
        try:
            os.chmod(tmp, 0o644)  # a document, not a secret (mkstemp makes it 0600)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            while True:
                name = _unique(data_dir, name, self.settings.ignore)
                try:
                    os.link(tmp, data_dir / name)  # fails where another writer was first
                    return name
                except FileExistsError:
                    continue
        finally:
            os.unlink(tmp)

    def _undo(self, names: list[str]) -> None:
        """Take files just added out of the data dir and the index again."""
        for name in names:
            (self.settings.data_dir / name).unlink(missing_ok=True)
            self._forget(name)
        try:
            self._ingest()
        except (CiteqaError, OSError):  # the next ingest removes them from the index
            logger.exception("could not take %s out of the index again", ", ".join(names))

    def _record(self, name: str, provenance: Provenance) -> None:
        added = {s: asdict(p) for s, p in self.provenance().items()}
        added[name] = asdict(provenance)
        self._save(added)

    def _forget(self, name: str) -> None:
        added = {s: asdict(p) for s, p in self.provenance().items() if s != name}
        self._save(added)

    def _save(self, added: dict[str, dict[str, str]]) -> None:
        path = self.settings.data_dir / ADDED
        fd, tmp = tempfile.mkstemp(prefix=OWN, dir=self.settings.data_dir)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(added, out, ensure_ascii=False, indent=1)
        os.replace(tmp, path)
