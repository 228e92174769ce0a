"""The branch-key layer over a KEK provider (keys/branch-key-provider.ts in TypeScript; format v2,
docs/wire-format.md "Version 2").

With ``key_hierarchy="branch"``, ``generate_data_key(scope)`` takes the namespace's branch key (one
KMS GenerateDataKey per namespace per ``branch_key_max_age_seconds``, concurrent first uses sharing
it), draws a 32-byte salt and derives the workflow's data key locally; its ``wrapped`` is the
wrapped branch key and the salt together, which the format layer writes as a version-2 header.
``decrypt_data_key`` reverses it for such a key, unwrapping each distinct branch key once (one KMS
Decrypt, cached by KEK id, namespace and wrapped bytes); any other wrapped key (format v1) goes to
the KEK provider as it is. So every codec reads both formats, whichever it seals.

Both caches are bounded LRUs; a branch key is wiped (its bytearray zeroed) when it leaves one:
expired, evicted, or ``wipe()``. Expired keys leave when next looked up, and all expired ones each
time a new branch key is stored; ``purge_expired()`` does it on demand.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from ..primitives.aead import RandomSource
from ..primitives.branch_key import (
    BRANCH_KEY_BYTES,
    DEK_SALT_BYTES,
    KeyHierarchy,
    branch_key_scope,
    derive_branch_data_key,
    is_branch_key_scope,
    is_key_hierarchy,
    pack_branch_wrapped,
    unpack_branch_wrapped,
)
from ..primitives.errors import (
    InvalidConfigError,
    KmsUnavailableError,
    TamperedCiphertextError,
    UnsupportedFormatError,
    is_envelope_error,
)
from ..primitives.scope import Scope
from .coalesce import Coalescer
from .provider import GeneratedDataKey, KekInfo, KeyObserver, KeyProvider, NullObserver, observe_kms_call, wraps_branch_keys

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")
_ATTEMPTS: Final = 3
#: After KMS failed to renew a branch key, the stale one derives this long before KMS is asked
#: again, as the DEK cache does for data keys (keys/dek_cache.py).
KMS_RETRY_SECONDS: Final = 5.0


@dataclass(frozen=True, slots=True)
class BranchKeyOptions:
    #: How long one branch key makes new data keys for a namespace before a new one is made.
    branch_key_max_age_seconds: float = 60 * 60
    #: When KMS is unavailable, keep deriving from a branch key up to this long past its age.
    stale_grace_seconds: float = 15 * 60
    #: How long an unwrapped branch key stays cached for opening payloads.
    decrypt_max_age_seconds: float = 60 * 60
    #: Namespaces whose branch keys stay cached for sealing.
    max_entries: int = 1000
    #: Unwrapped branch keys kept for opening (one per writer process, namespace and hour).
    max_decrypt_entries: int = 10_000


def _validate(o: BranchKeyOptions) -> BranchKeyOptions:
    for name in ("branch_key_max_age_seconds", "stale_grace_seconds", "decrypt_max_age_seconds"):
        v = getattr(o, name)
        minimum = 0 if name == "stale_grace_seconds" else 0.001
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < minimum:
            raise InvalidConfigError(f'branch keys "{name}" expected a positive number of seconds, got {v!r}')
    for name in ("max_entries", "max_decrypt_entries"):
        v = getattr(o, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InvalidConfigError(f'branch keys "{name}" expected a positive whole number, got {v!r}')
    return o


@dataclass(slots=True)
class _BranchKey:
    key_id: str
    key: bytearray
    wrapped: bytes
    created: float
    #: Set when the entry leaves its cache and the key is wiped: a caller that awaited it goes round again.
    wiped: bool = False
    #: While KMS is failing: no new attempt to renew before this time (the stale key is used meanwhile).
    kms_retry_at: float = 0.0


def _wipe(entry: _BranchKey) -> None:
    entry.wiped = True
    entry.key[:] = bytes(len(entry.key))


def _drop_expired(lru: OrderedDict[K, _BranchKey], created_before: float) -> None:
    for key in [k for k, e in lru.items() if e.created <= created_before]:
        _wipe(lru.pop(key))


class BranchKeyProvider:
    """A KeyProvider around a KEK provider (LocalKeyring, AwsKmsKeyring). The EnvelopeCodec puts
    one around each provider it is given (only the first one seals with branch keys)."""

    def __init__(
        self,
        inner: KeyProvider,
        *,
        key_hierarchy: KeyHierarchy = "per-workflow",
        options: BranchKeyOptions | None = None,
        observer: KeyObserver | None = None,
        clock: Callable[[], float] = time.monotonic,
        random: RandomSource = os.urandom,
    ) -> None:
        if not is_key_hierarchy(key_hierarchy):
            raise InvalidConfigError(f'"key_hierarchy" expected "per-workflow" or "branch", got {key_hierarchy!r}')
        if key_hierarchy == "branch" and not wraps_branch_keys(inner):
            raise InvalidConfigError(
                f'"key_hierarchy" "branch" needs a KEK provider that wraps branch keys (LocalKeyring, AwsKmsKeyring, '
                f'or a wrapper passing on "wraps_branch_keys"); {inner.name!r} does not'
            )
        self.inner = inner
        self.key_hierarchy: KeyHierarchy = key_hierarchy
        self.options = _validate(options or BranchKeyOptions())
        self._observer: KeyObserver = observer or NullObserver()
        self._clock = clock
        self._random = random
        self._lock = threading.Lock()
        self._sealing: OrderedDict[str, _BranchKey] = OrderedDict()
        self._opening: OrderedDict[tuple[str, str, bytes], _BranchKey] = OrderedDict()
        self._coalescer = Coalescer()

    # -- KeyProvider -----------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def wraps_branch_keys(self) -> bool:
        return wraps_branch_keys(self.inner)

    def primary_key_id(self) -> str:
        return self.inner.primary_key_id()

    def handles(self, key_id: str) -> bool:
        return self.inner.handles(key_id)

    async def generate_data_key(self, scope: Scope) -> GeneratedDataKey:
        # A branch scope from a layer above (another BranchKeyProvider) is the KEK provider's business.
        if self.key_hierarchy == "per-workflow" or is_branch_key_scope(scope):
            return await self._kms("generate", lambda: self.inner.generate_data_key(scope))
        dek_salt = bytes(self._random(DEK_SALT_BYTES))
        if len(dek_salt) != DEK_SALT_BYTES:
            raise ValueError(f'"dek_salt" expected {DEK_SALT_BYTES} bytes from the random source, got {len(dek_salt)}')
        for _ in range(_ATTEMPTS):
            bk = await self._for_sealing(scope.namespace)
            # Under the lock: the entry cannot be wiped between the check and the derivation.
            with self._lock:
                if bk.wiped:
                    continue
                plaintext = derive_branch_data_key(bk.key, dek_salt, scope)
            return GeneratedDataKey(plaintext=plaintext, wrapped=pack_branch_wrapped(bk.wrapped, dek_salt), key_id=bk.key_id)
        raise KmsUnavailableError(f"the branch key for namespace {scope.namespace!r} left the cache repeatedly before use; retry")

    async def decrypt_data_key(self, key_id: str, wrapped: bytes, scope: Scope) -> bytearray:
        pair = None if is_branch_key_scope(scope) else unpack_branch_wrapped(wrapped)
        if pair is None:
            return await self._kms("decrypt", lambda: self.inner.decrypt_data_key(key_id, wrapped, scope))
        if not wraps_branch_keys(self.inner):
            raise UnsupportedFormatError(f"a version-2 payload needs a KEK provider that unwraps branch keys; {self.inner.name!r} does not")
        for _ in range(_ATTEMPTS):
            bk = await self._for_opening(key_id, scope.namespace, pair.wrapped_branch_key)
            with self._lock:
                if bk.wiped:
                    continue
                return derive_branch_data_key(bk.key, pair.dek_salt, scope)
        raise KmsUnavailableError(f"the branch key of {key_id!r} for namespace {scope.namespace!r} left the cache repeatedly before use; retry")

    async def list_keys(self) -> list[KekInfo]:
        return await self.inner.list_keys()

    async def check_ready(self) -> None:
        await self.inner.check_ready()

    def close(self) -> None:
        """wipe(), then close the KEK provider."""
        self.wipe()
        self.inner.close()

    # -- cache management ------------------------------------------------------------------------

    def wipe(self) -> None:
        """Wipe every branch key, leaving the KEK provider open (the codec's close())."""
        with self._lock:
            for entry in (*self._sealing.values(), *self._opening.values()):
                _wipe(entry)
            self._sealing.clear()
            self._opening.clear()

    def purge_expired(self) -> None:
        """Drop and wipe every expired branch key now."""
        with self._lock:
            self._purge_locked()

    def stats(self) -> dict[str, int]:
        return {"sealing_entries": len(self._sealing), "opening_entries": len(self._opening)}

    # -- internals -------------------------------------------------------------------------------

    async def _for_sealing(self, namespace: str) -> _BranchKey:
        o = self.options
        cached = self._get(self._sealing, namespace, o.branch_key_max_age_seconds + o.stale_grace_seconds)
        now = self._clock()
        if cached is not None:
            fresh = now - cached.created < o.branch_key_max_age_seconds and cached.key_id == self.inner.primary_key_id()
            if fresh or now < cached.kms_retry_at:
                return cached
        try:
            return await self._coalescer.run(("seal", namespace), lambda: self._new_branch_key(namespace))
        except Exception as err:
            # KMS is down: a branch key past its age, within the grace period, keeps new workflows going.
            within_grace = cached is not None and self._clock() - cached.created < o.branch_key_max_age_seconds + o.stale_grace_seconds
            if cached is not None and not cached.wiped and within_grace and is_envelope_error(err) and getattr(err, "retryable", False):
                cached.kms_retry_at = self._clock() + KMS_RETRY_SECONDS
                return cached
            raise

    async def _new_branch_key(self, namespace: str) -> _BranchKey:
        dk = await self._kms("generate", lambda: self.inner.generate_data_key(branch_key_scope(namespace)))
        try:
            if len(dk.plaintext) != BRANCH_KEY_BYTES:
                raise TamperedCiphertextError(f"branch key from {dk.key_id!r} expected {BRANCH_KEY_BYTES} bytes, got {len(dk.plaintext)}")
            entry = _BranchKey(dk.key_id, bytearray(dk.plaintext), bytes(dk.wrapped), self._clock())
            # This process opens its own payloads without asking KMS for the key it made.
            mine = _BranchKey(dk.key_id, bytearray(dk.plaintext), entry.wrapped, entry.created)
        finally:
            dk.plaintext[:] = bytes(len(dk.plaintext))
        self._put(self._sealing, namespace, entry, self.options.max_entries)
        self._put(self._opening, (entry.key_id, namespace, entry.wrapped), mine, self.options.max_decrypt_entries)
        return entry

    async def _for_opening(self, key_id: str, namespace: str, wrapped_branch_key: bytes) -> _BranchKey:
        oid = (key_id, namespace, wrapped_branch_key)
        cached = self._get(self._opening, oid, self.options.decrypt_max_age_seconds)
        if cached is not None:
            return cached
        return await self._coalescer.run(("open", oid), lambda: self._unwrap(oid))

    async def _unwrap(self, oid: tuple[str, str, bytes]) -> _BranchKey:
        key_id, namespace, wrapped_branch_key = oid
        key = await self._kms("decrypt", lambda: self.inner.decrypt_data_key(key_id, wrapped_branch_key, branch_key_scope(namespace)))
        try:
            if len(key) != BRANCH_KEY_BYTES:
                raise TamperedCiphertextError(f"wrapped branch key expected {BRANCH_KEY_BYTES} bytes inside, got {len(key)}")
            entry = _BranchKey(key_id, bytearray(key), wrapped_branch_key, self._clock())
        finally:
            key[:] = bytes(len(key))
        # Only branch keys that unwrapped are ever stored: hostile payloads cannot fill the cache with failures.
        self._put(self._opening, oid, entry, self.options.max_decrypt_entries)
        return entry

    def _get(self, lru: OrderedDict[K, _BranchKey], key: K, ttl: float) -> _BranchKey | None:
        with self._lock:
            entry = lru.get(key)
            if entry is None:
                return None
            if self._clock() - entry.created >= ttl:
                del lru[key]
                _wipe(entry)
                return None
            lru.move_to_end(key)
            return entry

    def _put(self, lru: OrderedDict[K, _BranchKey], key: K, entry: _BranchKey, limit: int) -> None:
        with self._lock:
            old = lru.pop(key, None)
            if old is not None and old is not entry:
                _wipe(old)
            lru[key] = entry
            while len(lru) > limit:
                _wipe(lru.popitem(last=False)[1])
            self._purge_locked()

    def _purge_locked(self) -> None:
        o = self.options
        _drop_expired(self._sealing, self._clock() - (o.branch_key_max_age_seconds + o.stale_grace_seconds))
        _drop_expired(self._opening, self._clock() - o.decrypt_max_age_seconds)

    async def _kms(self, op: Literal["generate", "decrypt"], call: Callable[[], Awaitable[T]]) -> T:
        """A call to the KEK provider, told to the observer as a KMS call: this layer alone knows
        which calls reach KMS (a branch-derived data key does not)."""
        return await observe_kms_call(self._observer, op, self.inner.name, call)
