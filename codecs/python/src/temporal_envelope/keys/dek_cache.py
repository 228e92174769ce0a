"""Data keys by scope for sealing and by wrapped bytes for opening (keys/dek-cache.ts in TypeScript).

KMS is called once per scope per key lifetime rather than once per payload; concurrent misses for
the same key share one KMS call. Each entry owns its key in a bytearray, wiped when the entry leaves
the cache, and the AEAD key prepared from it once (primitives/aead.py AeadKey), which callers use
and which is dropped with the entry. A caller holding a prepared key across an eviction keeps a
working key: it never sees wiped bytes. (Python cannot promise more than that: boto3's responses
and PyNaCl's ``bytes`` copies are freed unwiped by the garbage collector; see README, key hygiene.)
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, NamedTuple, TypeVar, cast

from ..primitives.aead import AeadKey, prepare_key
from ..primitives.errors import InvalidConfigError, KeyLimitExceededError, is_envelope_error
from ..primitives.scope import Scope
from .coalesce import Coalescer
from .provider import KeyObserver, KeyProvider, NullObserver, observe_kms_call

T = TypeVar("T")
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class DekCacheLimits:
    #: How long one data key seals new payloads for a scope before a fresh one is made.
    max_age_seconds: float = 60 * 60
    #: Payloads one data key may seal; never above the cipher's own limit.
    max_payloads_per_key: int = 2**20
    #: Plaintext bytes one data key may seal (64 GiB).
    max_bytes_per_key: int = 2**36
    #: Scopes (workflows) whose sealing keys stay cached.
    max_entries: int = 10_000
    #: Unwrapped keys kept for opening, by wrapped bytes.
    max_decrypt_entries: int = 10_000
    #: How long an unwrapped key stays cached for opening.
    decrypt_max_age_seconds: float = 60 * 60
    #: While KMS is unavailable, keep sealing with a key up to this long past its age (the payload
    #: and byte limits still hold), so workers keep running through an outage.
    stale_grace_seconds: float = 15 * 60


def validate_limits(limits: DekCacheLimits, cipher_message_limit: int) -> DekCacheLimits:
    for f in fields(limits):
        value = getattr(limits, f.name)
        seconds = f.name.endswith("_seconds")
        minimum = 0 if f.name == "stale_grace_seconds" else 1
        number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
        if not number or value < minimum or (not seconds and not isinstance(value, int)):
            kind = "a positive number of seconds" if seconds else "a positive whole number"
            raise InvalidConfigError(f'cache "{f.name}" expected {kind}, got {value!r}')
    if limits.max_payloads_per_key > cipher_message_limit:
        raise InvalidConfigError(
            f'cache "max_payloads_per_key" expected at most {cipher_message_limit} (the cipher\'s safe limit), '
            f"got {limits.max_payloads_per_key}"
        )
    return limits


@dataclass(slots=True)
class _EncryptEntry:
    key: bytearray
    cipher: AeadKey
    wrapped: bytes
    key_id: str
    created: float
    payloads: int = 0
    nbytes: int = 0
    #: Set when the entry leaves the cache and its key is wiped; a caller that awaited it must not use it.
    wiped: bool = False
    #: While KMS is failing: no new renewal attempt before this time (the stale key is used meanwhile).
    kms_retry_at: float = 0.0


@dataclass(slots=True)
class _DecryptEntry:
    key: bytearray
    created: float
    #: Prepared per algorithm on first use (a payload's header names its algorithm).
    ciphers: dict[str, AeadKey]
    wiped: bool = False


class LeasedDataKey(NamedTuple):
    """The key to seal one payload with, as the wrapped DEK and KEK id that go in its header."""

    cipher: AeadKey
    wrapped: bytes
    key_id: str


_EncryptId = tuple[str, str, str | None]
_DecryptId = tuple[str, str, str | None, bytes]
_ATTEMPTS: Final = 3
#: After KMS failed to renew a key, the stale key seals this long before KMS is asked again: a burst
#: of payloads during an outage makes one KMS call (and waits for one timeout), not one each.
KMS_RETRY_SECONDS: Final = 5.0


def _wipe(buf: bytearray) -> None:
    buf[:] = bytes(len(buf))


def _wipe_decrypt(entry: _DecryptEntry) -> None:
    entry.wiped = True
    _wipe(entry.key)
    entry.ciphers.clear()


class DataKeyCache:
    def __init__(
        self,
        provider: KeyProvider,
        limits: DekCacheLimits | None = None,
        *,
        cipher_message_limit: int = 2**32,
        clock: Callable[[], float] = time.monotonic,
        observer: KeyObserver | None = None,
    ) -> None:
        self.provider = provider
        self.limits = validate_limits(limits or DekCacheLimits(), cipher_message_limit)
        self._clock = clock
        self._observer: KeyObserver = observer or NullObserver()
        self._lock = threading.Lock()
        self._encrypt: OrderedDict[_EncryptId, _EncryptEntry] = OrderedDict()
        self._decrypt: OrderedDict[_DecryptId, _DecryptEntry] = OrderedDict()
        self._coalescer = Coalescer()

    async def lease_for_encrypt(self, scope: Scope, algorithm: str, plaintext_bytes: int) -> LeasedDataKey:
        """A key to seal one payload of ``plaintext_bytes`` for ``scope``."""
        eid: _EncryptId = (algorithm, scope.namespace, scope.workflow_id)
        for _ in range(_ATTEMPTS):
            cached = self._get_encrypt(eid)
            if cached is not None and self._has_room(cached, plaintext_bytes):
                if self._fresh(cached) or (self._clock() < cached.kms_retry_at and self._within_grace(cached)):
                    self._observer.on_cache_hit("encrypt")
                    return self._take(cached, plaintext_bytes)
            self._observer.on_cache_miss("encrypt")
            try:
                entry = await self._coalesce(("encrypt", eid), lambda: self._generate(eid, scope, algorithm))
            except Exception as err:
                # KMS is down: a key past its age but within the grace period and its usage limits
                # keeps the worker sealing rather than failing every workflow task.
                if (
                    cached is not None
                    and is_envelope_error(err)
                    and getattr(err, "retryable", False)
                    and self._within_grace(cached)
                    and self._has_room(cached, plaintext_bytes)
                ):
                    cached.kms_retry_at = self._clock() + KMS_RETRY_SECONDS
                    return self._take(cached, plaintext_bytes)
                raise
            if self._has_room(entry, plaintext_bytes):
                return self._take(entry, plaintext_bytes)
            # Other callers used the new key up between its arrival and us: go round again.
        where = f"namespace {scope.namespace!r}" if scope.workflow_id is None else f"workflow {scope.workflow_id!r}"
        raise KeyLimitExceededError(f"data key for {where} reached its usage limit repeatedly; retry")

    async def lease_for_decrypt(self, key_id: str, wrapped: bytes, scope: Scope, algorithm: str) -> AeadKey:
        """The unwrapped key for a wrapped DEK, prepared for ``algorithm``. Seeded by our own
        sealing, so a worker reading back its own payloads calls no KMS."""
        did: _DecryptId = (key_id, scope.namespace, scope.workflow_id, wrapped)
        for _ in range(_ATTEMPTS):
            entry = self._get_decrypt(did)
            if entry is not None:
                self._observer.on_cache_hit("decrypt")
            else:
                self._observer.on_cache_miss("decrypt")
                entry = await self._coalesce(("decrypt", did), lambda: self._unwrap(did, key_id, wrapped, scope))
            with self._lock:
                cipher = entry.ciphers.get(algorithm)
                if cipher is None and not entry.wiped:
                    cipher = entry.ciphers[algorithm] = prepare_key(algorithm, entry.key)
            if cipher is not None:
                return cipher
            # Evicted (by another thread) between the lookup and here: look it up again.
        raise KeyLimitExceededError(f"data key {key_id!r} left the cache repeatedly while in use; retry")

    def clear(self) -> None:
        """Forget every key (e.g. after a KEK is retired); bytes are wiped."""
        with self._lock:
            for e in self._encrypt.values():
                e.wiped = True
                _wipe(e.key)
            for d in self._decrypt.values():
                _wipe_decrypt(d)
            self._encrypt.clear()
            self._decrypt.clear()

    def forget_scope(self, scope: Scope) -> None:
        """Drop the cached keys of one scope so the next use goes back to the provider."""
        with self._lock:
            for eid in [k for k in self._encrypt if k[1] == scope.namespace and k[2] == scope.workflow_id]:
                entry = self._encrypt.pop(eid)
                entry.wiped = True
                _wipe(entry.key)
            for did in [k for k in self._decrypt if k[1] == scope.namespace and k[2] == scope.workflow_id]:
                _wipe_decrypt(self._decrypt.pop(did))

    def stats(self) -> dict[str, int]:
        return {"encrypt_entries": len(self._encrypt), "decrypt_entries": len(self._decrypt)}

    # -- internals -------------------------------------------------------------------------------

    async def _generate(self, eid: _EncryptId, scope: Scope, algorithm: str) -> _EncryptEntry:
        dk = await self._timed("generate", lambda: self.provider.generate_data_key(scope))
        try:
            key = bytearray(dk.plaintext)
            cipher = prepare_key(algorithm, key)
            entry = _EncryptEntry(key=key, cipher=cipher, wrapped=bytes(dk.wrapped), key_id=dk.key_id, created=self._clock())
        finally:
            _wipe(dk.plaintext)
        self._put_encrypt(eid, entry)
        did = (entry.key_id, scope.namespace, scope.workflow_id, entry.wrapped)
        self._put_decrypt(did, _DecryptEntry(bytearray(key), entry.created, {algorithm: cipher}))
        return entry

    async def _unwrap(self, did: _DecryptId, key_id: str, wrapped: bytes, scope: Scope) -> _DecryptEntry:
        key = await self._timed("decrypt", lambda: self.provider.decrypt_data_key(key_id, wrapped, scope))
        entry = _DecryptEntry(bytearray(key), self._clock(), {})
        _wipe(key)
        self._put_decrypt(did, entry)
        return entry

    def _get_encrypt(self, eid: _EncryptId) -> _EncryptEntry | None:
        with self._lock:
            entry = self._encrypt.get(eid)
            if entry is not None:
                self._encrypt.move_to_end(eid)
            return entry

    def _put_encrypt(self, eid: _EncryptId, entry: _EncryptEntry) -> None:
        for e in self._put(self._encrypt, eid, entry, self.limits.max_entries):
            e.wiped = True
            _wipe(e.key)

    def _get_decrypt(self, did: _DecryptId) -> _DecryptEntry | None:
        with self._lock:
            entry = self._decrypt.get(did)
            if entry is None:
                return None
            if self._clock() - entry.created >= self.limits.decrypt_max_age_seconds:
                del self._decrypt[did]
                _wipe_decrypt(entry)
                return None
            self._decrypt.move_to_end(did)
            return entry

    def _put_decrypt(self, did: _DecryptId, entry: _DecryptEntry) -> None:
        for e in self._put(self._decrypt, did, entry, self.limits.max_decrypt_entries):
            _wipe_decrypt(e)

    def _put(self, lru: OrderedDict[K, V], key: K, entry: V, limit: int) -> list[V]:
        """Insert as most recent; returns what it displaced (an older entry under the same key, and
        the least recently used ones past ``limit``) for the caller to wipe."""
        with self._lock:
            old = lru.pop(key, None)
            lru[key] = entry
            evicted = [old] if old is not None else []
            while len(lru) > limit:
                evicted.append(lru.popitem(last=False)[1])
            return evicted

    def _fresh(self, entry: _EncryptEntry) -> bool:
        return (
            self._clock() - entry.created < self.limits.max_age_seconds
            and entry.key_id == self.provider.primary_key_id()
        )

    def _within_grace(self, entry: _EncryptEntry) -> bool:
        return self._clock() - entry.created < self.limits.max_age_seconds + self.limits.stale_grace_seconds

    def _has_room(self, entry: _EncryptEntry, nbytes: int) -> bool:
        return (
            not entry.wiped
            and entry.payloads < self.limits.max_payloads_per_key
            and entry.nbytes + nbytes <= self.limits.max_bytes_per_key
        )

    def _take(self, entry: _EncryptEntry, nbytes: int) -> LeasedDataKey:
        with self._lock:
            entry.payloads += 1
            entry.nbytes += nbytes
            return LeasedDataKey(entry.cipher, entry.wrapped, entry.key_id)

    async def _coalesce(self, key: object, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return await self._coalescer.run(key, make)

    async def _timed(self, op: Literal["generate", "decrypt"], call: Callable[[], Awaitable[T]]) -> T:
        return await observe_kms_call(self._observer, op, self.provider.name, call)
