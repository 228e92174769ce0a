"""The key-encryption-key (KEK) provider interface (keys/key-provider.ts in TypeScript)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol, TypeVar, runtime_checkable

from ..primitives.scope import Scope

KekState = Literal["primary", "decrypt-only", "retired"]
T = TypeVar("T")


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

    Branch keys (format v2): a provider that binds a ``BranchKeyScope`` (primitives/branch_key.py)
    to a wrap context of its own, apart from every data key's, says so with a class attribute
    ``wraps_branch_keys = True`` (LocalKeyring and AwsKmsKeyring do; a wrapper passes its inner
    provider's on). Only such providers are used under branch keys: one that would wrap a branch
    key like a namespace's data key is refused. Optional, so it is not a member of this protocol;
    read it with ``wraps_branch_keys(provider)``.
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


def wraps_branch_keys(provider: object) -> bool:
    """Whether ``provider`` gives branch keys a wrap context of their own (see KeyProvider)."""
    return getattr(provider, "wraps_branch_keys", False) is True


async def observe_kms_call(
    observer: KeyObserver, op: Literal["generate", "decrypt"], provider: str, call: Callable[[], Awaitable[T]]
) -> T:
    """One call to a KEK provider, timed and told to the observer as a KMS call with its outcome."""
    start = time.perf_counter()
    try:
        out = await call()
    except BaseException:
        observer.on_kms_call(op, provider, "error", time.perf_counter() - start)
        raise
    observer.on_kms_call(op, provider, "ok", time.perf_counter() - start)
    return out
