"""A stand-in for Temporal's samples encryption codec in Python, written from (not copied out of)
samples-python ``encryption/codec.py`` (main): ``cryptography``'s AESGCM over the Payload's
``SerializeToString()``, a random 12-byte nonce put in front (``nonce ‖ ciphertext ‖ tag``), no
additional data; metadata ``encoding: binary/encrypted`` and ``encryption-key-id``. The same bytes
as test/support/samples-codec.ts (TypeScript) writes. Tests use it to leave payloads exactly as a
team on the samples codec would have."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Final

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

#: The samples' hard-coded 32-character key.
SAMPLES_KEY: Final = b"test-key-test-key-test-key-test!"
SAMPLES_KEY_ID: Final = "test-key-id"


class SamplesEncryptionCodec(PayloadCodec):
    def __init__(self, key_id: str = SAMPLES_KEY_ID, key: bytes = SAMPLES_KEY) -> None:
        super().__init__()
        self.key_id = key_id
        self._aes = AESGCM(key)

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            nonce = os.urandom(12)
            out.append(
                Payload(
                    metadata={"encoding": b"binary/encrypted", "encryption-key-id": self.key_id.encode()},
                    data=nonce + self._aes.encrypt(nonce, p.SerializeToString(), None),
                )
            )
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            if p.metadata.get("encoding", b"") != b"binary/encrypted":
                out.append(p)
                continue
            if p.metadata.get("encryption-key-id", b"").decode() != self.key_id:
                raise ValueError(f"unrecognized key id {p.metadata.get('encryption-key-id', b'')!r}")
            out.append(Payload.FromString(self._aes.decrypt(p.data[:12], p.data[12:], None)))
        return out
