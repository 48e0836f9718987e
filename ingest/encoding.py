"""Decode a text file's bytes: UTF-8 (with or without BOM), UTF-16/32, GB18030 or Big5.

A file where a few bytes are bad (one stray byte, a UTF-8 file cut mid-character) is read
with those bytes replaced by U+FFFD and a warning, not skipped: the rest of it is still the
document. Where GB18030 and Big5 both decode (every Big5 text is also valid GB18030 bytes),
charset-normalizer picks the one whose text reads as language.
"""

import codecs
from dataclasses import dataclass

import charset_normalizer

from retrieval.errors import UnreadableFile

BOMS = (  # UTF-32 first: its little-endian BOM starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Bad bytes a document may have and still be read (with a warning): a share of its length.
MAX_BAD_SHARE = 0.002
MIN_BAD_ALLOWED = 4


@dataclass(frozen=True, slots=True)
class Decoded:
    """A file's text, the encoding it was read in, and how many bad bytes were replaced."""

    text: str
    encoding: str
    replaced: int = 0

    @property
    def warning(self) -> str:
        """Return what the user should know about this decoding, or an empty string."""
        if not self.replaced:
            return ""
        many = self.replaced > 1
        return (
            f"{self.replaced} byte{'s' if many else ''} that {'are' if many else 'is'} not "
            f"valid {self.encoding.upper()} replaced with �"
        )


def _strict(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _utf16_without_bom(data: bytes) -> str | None:
    """Return the text of BOM-less UTF-16 (NULs on every other byte), else None."""
    if len(data) < 4 or len(data) % 2:
        return None
    for encoding, zeros in (("utf-16-le", data[1::2]), ("utf-16-be", data[0::2])):
        if zeros.count(0) > 0.3 * len(zeros):
            return _strict(data, encoding)
    return None


def _chinese(data: bytes) -> Decoded | None:
    """Return the text as GB18030 or Big5 when either decodes cleanly."""
    gb, big5 = _strict(data, "gb18030"), _strict(data, "big5")
    if gb is not None and big5 is not None and gb != big5:
        best = charset_normalizer.from_bytes(data, cp_isolation=["gb18030", "big5"]).best()
        if best is not None and best.encoding == "big5":
            return Decoded(big5, "big5")
    if gb is not None:
        return Decoded(gb, "gb18030")
    return Decoded(big5, "big5") if big5 is not None else None


def _replacing(data: bytes, encoding: str) -> Decoded:
    """Return the text with bad bytes replaced, counting the replacements."""
    text = data.decode(encoding, "replace")
    bad = text.count("\ufffd") - data.decode(encoding, "ignore").count("\ufffd")
    return Decoded(text, encoding, bad)


def _repaired(data: bytes, encoding: str) -> Decoded | None:
    """Return the text with its bad bytes replaced, when they are only a few."""
    found = _replacing(data, encoding)
    return found if found.replaced <= max(MIN_BAD_ALLOWED, len(data) * MAX_BAD_SHARE) else None


def _binary(text: str) -> bool:
    return text.count("\x00") > 0.01 * len(text)


def decode(data: bytes) -> Decoded:
    """Return the text of a file's bytes; raise UnreadableFile when it is not text."""
    for bom, encoding in BOMS:
        if data.startswith(bom):
            return _replacing(data, encoding)
    text = _utf16_without_bom(data)  # before UTF-8: ASCII in UTF-16 is valid UTF-8 too
    found = Decoded(text, "utf-16") if text is not None else None
    if found is None:
        text = _strict(data, "utf-8")
        found = Decoded(text, "utf-8") if text is not None else None
    # UTF-8 with a few bad bytes before GB18030: UTF-8 bytes often decode as (wrong) GB18030
    found = found or _repaired(data, "utf-8") or _chinese(data) or _repaired(data, "gb18030")
    if found is None or _binary(found.text):
        raise UnreadableFile(
            "not text in an encoding citeqa reads (UTF-8, UTF-16, GB18030, Big5): save it as UTF-8"
        )
    return found
