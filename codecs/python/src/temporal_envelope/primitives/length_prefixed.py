"""Length-prefixed byte fields: each a 4-byte big-endian length then its bytes, so no two
sequences of fields serialize alike. Used for the payload AAD and the local keyring's wrap AAD."""

from __future__ import annotations

from collections.abc import Iterable


def length_prefixed(fields: Iterable[bytes]) -> bytes:
    parts: list[bytes] = []
    for field in fields:
        parts.append(len(field).to_bytes(4, "big"))
        parts.append(field)
    return b"".join(parts)
