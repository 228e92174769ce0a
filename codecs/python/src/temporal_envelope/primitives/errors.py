"""Every failure the codec and the key providers can report, each a class with a stable ``code``.

The codes are the same in every language the project ships (primitives/errors.ts in TypeScript). A
worker reads ``retryable`` to tell a KMS outage (Temporal should retry the task) from a payload that
will never open. Messages name what was wrong and never carry plaintext or key bytes.
"""

from __future__ import annotations

from typing import ClassVar, Final, Literal, get_args

EnvelopeErrorCode = Literal[
    "UNKNOWN_KEY",
    "TAMPERED_CIPHERTEXT",
    "SCOPE_MISMATCH",
    "UNSUPPORTED_FORMAT",
    "MALFORMED_PAYLOAD",
    "PLAINTEXT_REJECTED",
    "KMS_UNAVAILABLE",
    "KMS_ACCESS_DENIED",
    "KEY_RETIRED",
    "KEY_SHREDDED",
    "KEY_LIMIT_EXCEEDED",
    "INVALID_CONFIG",
    "KEYRING_ERROR",
    "STORE_UNAVAILABLE",
]

ERROR_CODES: Final[frozenset[str]] = frozenset(get_args(EnvelopeErrorCode))


class EnvelopeError(Exception):
    """Base of every temporal-envelope error: a stable ``code`` and a ``retryable`` flag."""

    code: ClassVar[EnvelopeErrorCode]
    #: True when the same call may succeed later (KMS outage, throttling): Temporal should retry.
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, cause: BaseException | None = None) -> None:
        super().__init__(message)
        self.message = message
        if cause is not None:
            self.__cause__ = cause

    def __str__(self) -> str:
        # The code travels with the message, so a failure shown in the UI or a log names it.
        return f"{self.code}: {self.message}"


class UnknownKeyError(EnvelopeError):
    """The payload names a key id no configured provider knows."""

    code = "UNKNOWN_KEY"


class TamperedCiphertextError(EnvelopeError):
    """Authentication of the ciphertext (or of the wrapped data key) failed."""

    code = "TAMPERED_CIPHERTEXT"


class ScopeMismatchError(EnvelopeError):
    """The payload was sealed for another namespace or workflow than the one decoding it."""

    code = "SCOPE_MISMATCH"


class UnsupportedFormatError(EnvelopeError):
    """A format version, algorithm or compression this build does not read."""

    code = "UNSUPPORTED_FORMAT"


class MalformedPayloadError(EnvelopeError):
    """The payload claims our encoding but its fields are missing or malformed."""

    code = "MALFORMED_PAYLOAD"


class PlaintextRejectedError(EnvelopeError):
    """``require_encryption`` is on and a payload arrived unencrypted."""

    code = "PLAINTEXT_REJECTED"


class KmsUnavailableError(EnvelopeError):
    """KMS is slow, throttling or down. Retry later; nothing was lost."""

    code = "KMS_UNAVAILABLE"
    retryable = True


class KmsAccessDeniedError(EnvelopeError):
    """KMS refused the operation for good (access denied, disabled key)."""

    code = "KMS_ACCESS_DENIED"


class KeyRetiredError(EnvelopeError):
    """The key-encryption key exists but was retired: it no longer decrypts."""

    code = "KEY_RETIRED"


class KeyShreddedError(EnvelopeError):
    """The scope's key material was destroyed on purpose (crypto-shredding)."""

    code = "KEY_SHREDDED"


class KeyLimitExceededError(EnvelopeError):
    """A data key would be used past its safety limits and no new one could be made."""

    code = "KEY_LIMIT_EXCEEDED"
    retryable = True


class InvalidConfigError(EnvelopeError):
    """Configuration failed validation; the message names the field."""

    code = "INVALID_CONFIG"


class KeyringError(EnvelopeError):
    """The keyring file is unreadable, corrupt or has unsafe permissions."""

    code = "KEYRING_ERROR"


class StoreUnavailableError(EnvelopeError):
    """The shred store (the database of crypto-shredding's secrets) is down or throttling. Retry later."""

    code = "STORE_UNAVAILABLE"
    retryable = True


def is_envelope_error(err: object) -> bool:
    """Our typed errors, recognised by shape too, so a second copy of the package still counts."""
    if isinstance(err, EnvelopeError):
        return True
    return (
        isinstance(err, Exception)
        and getattr(err, "code", None) in ERROR_CODES
        and isinstance(getattr(err, "retryable", None), bool)
    )
