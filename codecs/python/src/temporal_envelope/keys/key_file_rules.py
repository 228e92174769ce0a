"""The rules every key file is read by, the same as keys/file-schema.ts in TypeScript and
codecs/go/keys/key_file_rules.go: a leading UTF-8 byte order mark is ignored (and mentioned only when
the file does not parse anyway), key bytes are canonical base64, times are ISO-8601 instants, and a
directory at the path is called a directory."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Final

BOM: Final = "\ufeff"

INSTANT_PROBLEM: Final = "expected an ISO-8601 instant like 2026-11-24T10:00:00.000Z"

_INSTANT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d{1,9})?(?:Z|[+-](\d{2}):(\d{2}))",
    re.ASCII,
)


def without_bom(text: str) -> tuple[str, bool]:
    """The text without a byte order mark at its start (Windows editors add one), and whether it had one."""
    return (text[len(BOM) :], True) if text.startswith(BOM) else (text, False)


def bom_note(had_bom: bool) -> str:
    """Appended to "is not valid JSON/YAML" when the file began with a byte order mark."""
    return " (after the UTF-8 byte order mark at its start, which is ignored)" if had_bom else ""


def decode_key_bytes(text: str, n: int) -> tuple[bytes, str]:
    """Canonical standard base64 (``=`` padding) of exactly ``n`` bytes, and "" — or b"" and the problem,
    worded as keys/file-schema.ts words it. ``b64decode`` ignores bits past the last byte, so
    re-encoding must give back the text."""
    try:
        decoded = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        decoded = None
    if decoded is None or base64.b64encode(decoded).decode("ascii") != text:
        return b"", f"expected canonical base64 of {n} bytes (standard alphabet, = padding, no whitespace or other characters)"
    if len(decoded) != n:
        return b"", f"expected base64 of {n} bytes, got {len(decoded)}"
    return decoded, ""


def is_iso_instant(value: object) -> bool:
    """YYYY-MM-DDTHH:MM:SS[.fraction] with Z or a ±HH:MM offset, naming a real calendar time."""
    if not isinstance(value, str):
        return False
    m = _INSTANT.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= _days_in(year, month)) or hour > 23 or minute > 59 or second > 59:
        return False
    return m.group(7) is None or (int(m.group(7)) <= 23 and int(m.group(8)) <= 59)


def _days_in(year: int, month: int) -> int:
    if month == 2:
        return 29 if (year % 4 == 0 and year % 100 != 0) or year % 400 == 0 else 28
    return 30 if month in (4, 6, 9, 11) else 31
