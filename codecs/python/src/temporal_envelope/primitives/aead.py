"""The authenticated ciphers a payload may be sealed with (codecs/aead.ts in TypeScript).

Only AEADs, and only from well-kept libraries: AES-256-GCM from ``cryptography`` (OpenSSL), and
XChaCha20-Poly1305 from PyNaCl (libsodium's ``crypto_aead_xchacha20poly1305_ietf``), because
``cryptography`` does not offer XChaCha. Neither releases any plaintext before the tag verifies.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal, TypeGuard

import nacl.bindings
import nacl.exceptions
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .errors import TamperedCiphertextError, UnsupportedFormatError

AeadAlgorithm = Literal["AES-256-GCM", "XCHACHA20-POLY1305"]
AEAD_ALGORITHMS: Final[tuple[AeadAlgorithm, ...]] = ("AES-256-GCM", "XCHACHA20-POLY1305")
KEY_BYTES: Final = 32
TAG_BYTES: Final = 16

RandomSource = Callable[[int], bytes]
Key = bytes | bytearray
#: The sealed body is handed on as a view where the library accepts one (no copy of a large payload).
Body = bytes | memoryview


def _aes_gcm_seal(key: Key, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return AESGCM(key).encrypt(nonce, plaintext, aad)


def _aes_gcm_open(key: Key, nonce: bytes, sealed: Body, aad: bytes) -> bytes:
    try:
        return AESGCM(key).decrypt(nonce, sealed, aad)
    except InvalidTag:
        raise TamperedCiphertextError(
            "AES-256-GCM authentication failed: ciphertext, additional data or key is wrong"
        ) from None


# PyNaCl accepts only ``bytes``: the key is copied into an immutable object for the call (see
# README, "Key hygiene": Python cannot wipe that copy; our own bytearrays are wiped).
def _xchacha_seal(key: Key, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, bytes(key))


def _xchacha_open(key: Key, nonce: bytes, sealed: Body, aad: bytes) -> bytes:
    try:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(bytes(sealed), aad, nonce, bytes(key))
    except nacl.exceptions.CryptoError:
        raise TamperedCiphertextError(
            "XChaCha20-Poly1305 authentication failed: ciphertext, additional data or key is wrong"
        ) from None


@dataclass(frozen=True, slots=True)
class AeadSuite:
    name: AeadAlgorithm
    nonce_bytes: int
    #: Messages one key may seal with random nonces. AES-GCM: NIST SP 800-38D caps random-IV GCM at
    #: 2^32 invocations. XChaCha: 192-bit nonces do not collide in practice; Poly1305's forgery bound.
    max_messages_per_key: int
    seal: Callable[[Key, bytes, bytes, bytes], bytes]
    open: Callable[[Key, bytes, Body, bytes], bytes]


_SUITES: Final[dict[str, AeadSuite]] = {
    "AES-256-GCM": AeadSuite("AES-256-GCM", 12, 2**32, _aes_gcm_seal, _aes_gcm_open),
    "XCHACHA20-POLY1305": AeadSuite("XCHACHA20-POLY1305", 24, 2**48, _xchacha_seal, _xchacha_open),
}


def is_aead_algorithm(value: object) -> TypeGuard[AeadAlgorithm]:
    return isinstance(value, str) and value in _SUITES


def aead_suite(algorithm: str) -> AeadSuite:
    suite = _SUITES.get(algorithm)
    if suite is None:
        raise UnsupportedFormatError(
            f'algorithm "{algorithm}" is not supported; expected one of {", ".join(AEAD_ALGORITHMS)}'
        )
    return suite


def seal_with_random_nonce(
    algorithm: str, key: Key, plaintext: bytes, aad: bytes, random: RandomSource = os.urandom
) -> bytes:
    """Seal with a fresh random nonce; returns ``nonce ‖ ciphertext ‖ tag``."""
    suite = aead_suite(algorithm)
    _check_key(key)
    nonce = random(suite.nonce_bytes)
    if len(nonce) != suite.nonce_bytes:
        raise ValueError(f'"nonce" expected {suite.nonce_bytes} bytes, got {len(nonce)}')
    return nonce + suite.seal(key, nonce, plaintext, aad)


def open_sealed(algorithm: str, key: Key, box: bytes, aad: bytes) -> bytes:
    """Open ``nonce ‖ ciphertext ‖ tag``. Raises TamperedCiphertextError on any authentication failure."""
    suite = aead_suite(algorithm)
    _check_key(key)
    if len(box) < suite.nonce_bytes + TAG_BYTES:
        raise TamperedCiphertextError(
            f"{algorithm} ciphertext expected at least {suite.nonce_bytes + TAG_BYTES} bytes, got {len(box)}"
        )
    view = memoryview(box)
    return suite.open(key, bytes(view[: suite.nonce_bytes]), view[suite.nonce_bytes :], aad)


def _check_key(key: Key) -> None:
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        # Length only: never echo key bytes.
        got = len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__
        raise TypeError(f'"key" expected {KEY_BYTES} bytes, got {got}')
