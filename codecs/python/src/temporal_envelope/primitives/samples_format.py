"""The payload format of Temporal's samples encryption codec (primitives/samples-format.ts in
TypeScript), which most teams start from. Only read (legacy, decrypt-only keys): new payloads are
always sealed in our envelope.

::

    metadata  encoding           "binary/encrypted"
              encryption-key-id  the key's id, a free string the team chose
              (no envelope-version: that is what tells it from ours)
    data      nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16), no additional data, of the original
              Payload serialized as temporal.api.common.v1.Payload

As samples-python ``encryption/codec.py`` (``nonce + AESGCM.encrypt(nonce, SerializeToString(), None)``),
samples-go and samples-typescript (since 2022-10-27) write it.
"""

from __future__ import annotations

from typing import Final

from temporalio.api.common.v1 import Payload

from .wire_format import META_KEY_ID, META_VERSION, is_encrypted_encoding

#: The ``kind`` a legacy key file records for keys of this format.
SAMPLES_KEY_KIND: Final = "samples-aes-256-gcm"

#: The samples write no additional data.
SAMPLES_AAD: Final = b""

_MAX_KEY_ID_BYTES: Final = 2048


def samples_key_id_of(payload: Payload) -> str | None:
    """The key id of a payload that looks like the samples' format (Temporal's encrypted encoding, a
    readable ``encryption-key-id``, no ``envelope-version``), or None. Reads no key: whether the id
    names a configured legacy key is the caller's question."""
    if not is_encrypted_encoding(payload):
        return None
    meta = payload.metadata
    if META_VERSION in meta:
        return None
    raw = meta.get(META_KEY_ID)
    if raw is None or len(raw) == 0 or len(raw) > _MAX_KEY_ID_BYTES:
        return None
    try:
        # Plain "utf-8" keeps a leading U+FEFF (only "utf-8-sig" strips it), so the id matches the
        # legacy key file's byte for byte; invalid UTF-8 is not an id anyone could have configured.
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
