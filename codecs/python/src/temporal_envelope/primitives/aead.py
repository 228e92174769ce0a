"""The authenticated ciphers a payload may be sealed with (primitives/aead.ts in TypeScript).

Only AEADs, and only from well-kept libraries: AES-256-GCM from ``cryptography`` (OpenSSL), and
XChaCha20-Poly1305 from PyNaCl (libsodium's ``crypto_aead_xchacha20poly1305_ietf``), because
``cryptography`` does not offer XChaCha. Neither releases any plaintext before the tag verifies.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
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


@dataclass(frozen=True, slots=True)
class AeadSuite:
    name: AeadAlgorithm
    nonce_bytes: int
    #: Messages one key may seal with random nonces. AES-GCM: NIST SP 800-38D caps random-IV GCM at
    #: 2^32 invocations. XChaCha: 192-bit nonces do not collide in practice; Poly1305's forgery bound.
    max_messages_per_key: int


_SUITES: Final[dict[str, AeadSuite]] = {
    "AES-256-GCM": AeadSuite("AES-256-GCM", 12, 2**32),
    "XCHACHA20-POLY1305": AeadSuite("XCHACHA20-POLY1305", 24, 2**48),
}


class AeadKey(ABC):
    """A key prepared for one algorithm: the library's own copy of it, made once and reused for many
    payloads (the DEK cache keeps one per data key and drops it on eviction). ``cryptography``
    copies the key into an OpenSSL context, which OpenSSL cleanses when the object is freed;
    PyNaCl takes only ``bytes``, an immutable copy Python frees without wiping."""

    suite: AeadSuite

    def seal(self, plaintext: bytes, aad: bytes, random: RandomSource = os.urandom) -> bytes:
        """``nonce ‖ ciphertext ‖ tag`` with a fresh random nonce."""
        n = self.suite.nonce_bytes
        nonce = random(n)
        if len(nonce) != n:
            raise ValueError(f'"nonce" expected {n} bytes, got {len(nonce)}')
        return nonce + self._seal(nonce, plaintext, aad)

    def open(self, box: bytes, aad: bytes) -> bytes:
        """Open ``nonce ‖ ciphertext ‖ tag``. Raises TamperedCiphertextError on any authentication failure."""
        n = self.suite.nonce_bytes
        if len(box) < n + TAG_BYTES:
            raise TamperedCiphertextError(f"{self.suite.name} ciphertext expected at least {n + TAG_BYTES} bytes, got {len(box)}")
        view = memoryview(box)
        return self._open(bytes(view[:n]), view[n:], aad)

    @abstractmethod
    def _seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes: ...

    @abstractmethod
    def _open(self, nonce: bytes, body: memoryview, aad: bytes) -> bytes: ...


class _AesGcmKey(AeadKey):
    suite = _SUITES["AES-256-GCM"]

    def __init__(self, key: Key) -> None:
        self._aes = AESGCM(key)

    def _seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return self._aes.encrypt(nonce, plaintext, aad)

    def _open(self, nonce: bytes, body: memoryview, aad: bytes) -> bytes:
        try:
            return self._aes.decrypt(nonce, body, aad)
        except InvalidTag:
            raise TamperedCiphertextError("AES-256-GCM authentication failed: ciphertext, additional data or key is wrong") from None


class _XChaChaKey(AeadKey):
    suite = _SUITES["XCHACHA20-POLY1305"]

    def __init__(self, key: Key) -> None:
        self._key = bytes(key)

    def _seal(self, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
        return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, aad, nonce, self._key)

    def _open(self, nonce: bytes, body: memoryview, aad: bytes) -> bytes:
        try:
            return nacl.bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(bytes(body), aad, nonce, self._key)
        except nacl.exceptions.CryptoError:
            raise TamperedCiphertextError(
                "XChaCha20-Poly1305 authentication failed: ciphertext, additional data or key is wrong"
            ) from None


_KEY_CLASSES: Final[dict[str, Callable[[Key], AeadKey]]] = {"AES-256-GCM": _AesGcmKey, "XCHACHA20-POLY1305": _XChaChaKey}


def is_aead_algorithm(value: object) -> TypeGuard[AeadAlgorithm]:
    return isinstance(value, str) and value in _SUITES


def aead_suite(algorithm: str) -> AeadSuite:
    suite = _SUITES.get(algorithm)
    if suite is None:
        raise UnsupportedFormatError(f'algorithm "{algorithm}" is not supported; expected one of {", ".join(AEAD_ALGORITHMS)}')
    return suite


def prepare_key(algorithm: str, key: Key) -> AeadKey:
    """``key`` (32 bytes) ready to seal and open with ``algorithm``."""
    aead_suite(algorithm)
    if not isinstance(key, (bytes, bytearray)) or len(key) != KEY_BYTES:
        # Length only: never echo key bytes.
        got = len(key) if isinstance(key, (bytes, bytearray)) else type(key).__name__
        raise TypeError(f'"key" expected {KEY_BYTES} bytes, got {got}')
    return _KEY_CLASSES[algorithm](key)


def seal_with_random_nonce(algorithm: str, key: Key, plaintext: bytes, aad: bytes, random: RandomSource = os.urandom) -> bytes:
    """Seal with a fresh random nonce; returns ``nonce ‖ ciphertext ‖ tag``."""
    return prepare_key(algorithm, key).seal(plaintext, aad, random)


def open_sealed(algorithm: str, key: Key, box: bytes, aad: bytes) -> bytes:
    """Open ``nonce ‖ ciphertext ‖ tag``. Raises TamperedCiphertextError on any authentication failure."""
    return prepare_key(algorithm, key).open(box, aad)
