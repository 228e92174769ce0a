"""The key-encryption-key (KEK) provider interface (keys/key-provider.ts in TypeScript)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from ..primitives.scope import Scope

KekState = Literal["primary", "decrypt-only", "retired"]


@dataclass(frozen=True, slots=True)
class GeneratedDataKey:
    """A fresh data key: plaintext for this process only, and the same key wrapped by a KEK."""

    #: 32 bytes. The caller owns it and wipes it when done.
    plaintext: bytearray
    #: Opaque bytes that only ``decrypt_data_key`` of a provider holding ``key_id`` can open.
    wrapped: bytes
    #: The KEK (version) that wrapped it; written into ``encryption-key-id``.
    key_id: str


@dataclass(frozen=True, slots=True)
class KekInfo:
    id: str
    provider: str
    state: KekState
    created: str | None = None


@runtime_checkable
class KeyProvider(Protocol):
    """Wraps and unwraps data keys, binding each wrap to its scope (as AAD or KMS encryption
    context), so a wrapped key copied to another scope does not unwrap.

    Errors: UnknownKeyError for a key id this provider does not hold, TamperedCiphertextError for a
    wrapped key that does not authenticate, KmsUnavailableError (retryable) for outages and
    throttling, KmsAccessDeniedError / KeyRetiredError for permanent refusals.
    """

    #: Short name for logs: "local", "aws-kms".
    @property
    def name(self) -> str: ...

    def primary_key_id(self) -> str:
        """The key id new data keys are wrapped with right now (changes on rotation)."""
        ...

    def handles(self, key_id: str) -> bool:
        """True if this provider can be asked to unwrap data keys wrapped by ``key_id``."""
        ...

    async def generate_data_key(self, scope: Scope) -> GeneratedDataKey: ...

    async def decrypt_data_key(self, key_id: str, wrapped: bytes, scope: Scope) -> bytearray:
        """The 32-byte data key, in a bytearray the caller owns and wipes."""
        ...

    async def list_keys(self) -> list[KekInfo]: ...

    async def check_ready(self) -> None:
        """Returns when the provider can reach its keys; raises a typed error otherwise."""
        ...

    def close(self) -> None: ...


class KeyObserver(Protocol):
    """Hooks for metrics and tests; every method is optional to implement (see NullObserver)."""

    def on_kms_call(self, op: Literal["generate", "decrypt"], provider: str, outcome: Literal["ok", "error"], seconds: float) -> None: ...

    def on_cache_hit(self, cache: Literal["encrypt", "decrypt"]) -> None: ...

    def on_cache_miss(self, cache: Literal["encrypt", "decrypt"]) -> None: ...


class NullObserver:
    def on_kms_call(self, op: Literal["generate", "decrypt"], provider: str, outcome: Literal["ok", "error"], seconds: float) -> None:
        pass

    def on_cache_hit(self, cache: Literal["encrypt", "decrypt"]) -> None:
        pass

    def on_cache_miss(self, cache: Literal["encrypt", "decrypt"]) -> None:
        pass
