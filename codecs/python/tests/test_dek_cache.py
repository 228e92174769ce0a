"""The DEK cache: KMS once per workflow per key lifetime, the TypeScript limits, coalesced misses,
stale keys through a KMS outage, and key bytes wiped."""

from __future__ import annotations

import asyncio

import pytest

from support.providers import ScriptedProvider
from temporal_envelope.keys import DataKeyCache, DekCacheLimits, LocalKeyring, new_keyring_document
from temporal_envelope.keys.dek_cache import KMS_RETRY_SECONDS
from temporal_envelope.primitives import (
    InvalidConfigError,
    KmsAccessDeniedError,
    KmsUnavailableError,
    make_scope,
)

WF = make_scope("default", "wf-1")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def setup(limits: DekCacheLimits | None = None, delay: float = 0.0) -> tuple[DataKeyCache, ScriptedProvider, Clock]:
    provider = ScriptedProvider(LocalKeyring.from_document(new_keyring_document()), delay)
    clock = Clock()
    return DataKeyCache(provider, limits, clock=clock), provider, clock


def test_defaults_are_the_typescript_limits() -> None:
    assert DekCacheLimits() == DekCacheLimits(
        max_age_seconds=3600,
        max_payloads_per_key=2**20,
        max_bytes_per_key=2**36,
        max_entries=10_000,
        max_decrypt_entries=10_000,
        decrypt_max_age_seconds=3600,
        stale_grace_seconds=900,
    )


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        (DekCacheLimits(max_age_seconds=0), "max_age_seconds"),
        (DekCacheLimits(max_entries=1.5), "max_entries"),  # type: ignore[arg-type]
        (DekCacheLimits(stale_grace_seconds=-1), "stale_grace_seconds"),
        (DekCacheLimits(decrypt_max_age_seconds=float("nan")), "decrypt_max_age_seconds"),
        (DekCacheLimits(max_payloads_per_key=2**33), "max_payloads_per_key"),
    ],
)
def test_bad_limits_are_refused_naming_the_field(limits: DekCacheLimits, field: str) -> None:
    with pytest.raises(InvalidConfigError, match=f'cache "{field}"'):
        setup(limits)


async def test_ten_thousand_payloads_in_a_hundred_workflows_make_a_hundred_kms_calls() -> None:
    cache, provider, _ = setup()
    for i in range(10_000):
        scope = make_scope("default", f"wf-{i % 100}")
        lease = await cache.lease_for_encrypt(scope, "AES-256-GCM", 1024)
        box = lease.cipher.seal(b"payload", b"aad")
        assert (await cache.lease_for_decrypt(lease.key_id, lease.wrapped, scope, "AES-256-GCM")).open(box, b"aad") == b"payload"
    assert provider.generate_calls == 100
    assert provider.decrypt_calls == 0  # reading back our own payloads needs no KMS


async def test_concurrent_misses_share_one_kms_call() -> None:
    cache, provider, _ = setup(delay=0.05)
    leases = await asyncio.gather(*(cache.lease_for_encrypt(WF, "AES-256-GCM", 10) for _ in range(50)))
    assert provider.generate_calls == 1
    assert len({id(l.cipher) for l in leases}) == 1
    reader, rprov, _ = setup(delay=0.05)
    rprov.inner = provider.inner
    keys = await asyncio.gather(*(reader.lease_for_decrypt(leases[0].key_id, leases[0].wrapped, WF, "AES-256-GCM") for _ in range(50)))
    assert rprov.decrypt_calls == 1
    box = leases[0].cipher.seal(b"x", b"")
    assert all(k.open(box, b"") == b"x" for k in keys)


async def test_the_providers_plaintext_is_wiped_and_a_lease_outlives_eviction() -> None:
    cache, provider, _ = setup(DekCacheLimits(max_entries=1, max_decrypt_entries=1))
    assert (await cache.lease_for_encrypt(WF, "AES-256-GCM", 10)) is not None
    assert provider.generated[0].plaintext == bytearray(32)
    held = await cache.lease_for_encrypt(WF, "AES-256-GCM", 10)
    await cache.lease_for_encrypt(make_scope("default", "wf-2"), "AES-256-GCM", 10)  # evicts WF's key
    assert cache.stats()["encrypt_entries"] == 1
    box = held.cipher.seal(b"still sealing", b"")  # the prepared key never sees the wiped bytes
    opener = await cache.lease_for_decrypt(held.key_id, held.wrapped, WF, "AES-256-GCM")  # unwrapped again
    assert opener.open(box, b"") == b"still sealing" and provider.decrypt_calls == 1


async def test_a_key_is_renewed_by_age_payload_count_bytes_and_rotation() -> None:
    limits = DekCacheLimits(max_payloads_per_key=3, max_bytes_per_key=100)
    cache, provider, clock = setup(limits)
    for _ in range(3):
        await cache.lease_for_encrypt(WF, "AES-256-GCM", 10)
    assert provider.generate_calls == 1
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 10)  # 4th payload
    assert provider.generate_calls == 2
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 95)  # 10 + 95 bytes > 100
    assert provider.generate_calls == 3
    clock.now += 3600
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    assert provider.generate_calls == 4


async def test_evicted_keys_are_wiped() -> None:
    cache, _, _ = setup(DekCacheLimits(max_entries=2, max_decrypt_entries=2))
    await cache.lease_for_encrypt(make_scope("ns", "a"), "AES-256-GCM", 1)
    first = next(iter(cache._encrypt.values()))  # the cache's own bytes, to watch them being wiped
    await cache.lease_for_encrypt(make_scope("ns", "b"), "AES-256-GCM", 1)
    await cache.lease_for_encrypt(make_scope("ns", "c"), "AES-256-GCM", 1)
    assert first.wiped and first.key == bytearray(32)
    assert cache.stats() == {"encrypt_entries": 2, "decrypt_entries": 2}


async def test_decrypt_entries_expire_after_their_age() -> None:
    cache, provider, clock = setup()
    writer, _, _ = setup()
    writer.provider = provider  # same keyring
    lease = await writer.lease_for_encrypt(WF, "AES-256-GCM", 1)
    await cache.lease_for_decrypt(lease.key_id, lease.wrapped, WF, "AES-256-GCM")
    await cache.lease_for_decrypt(lease.key_id, lease.wrapped, WF, "XCHACHA20-POLY1305")
    assert provider.decrypt_calls == 1
    clock.now += 3600
    await cache.lease_for_decrypt(lease.key_id, lease.wrapped, WF, "AES-256-GCM")
    assert provider.decrypt_calls == 2


async def test_a_kms_outage_keeps_sealing_with_the_stale_key_for_the_grace_period() -> None:
    cache, provider, clock = setup()
    lease = await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    provider.fail = KmsUnavailableError("KMS GenerateDataKey with k failed and may succeed later: ThrottlingException")
    clock.now += 3600 + 60  # past its age, within the 15-minute grace
    assert (await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)).wrapped == lease.wrapped
    clock.now += 900
    with pytest.raises(KmsUnavailableError) as caught:
        await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    assert caught.value.retryable
    provider.fail = None  # KMS is back: a fresh key
    assert (await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)).wrapped != lease.wrapped


async def test_during_an_outage_a_burst_of_payloads_asks_kms_once_per_retry_window() -> None:
    cache, provider, clock = setup()
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    provider.fail = KmsUnavailableError("KMS GenerateDataKey with k timed out after 9 s")
    clock.now += 3601
    for _ in range(100):
        await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    assert provider.generate_calls == 2  # the first key, then one failed renewal for 100 payloads
    clock.now += KMS_RETRY_SECONDS
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    assert provider.generate_calls == 3
    provider.fail = None
    clock.now += KMS_RETRY_SECONDS
    fresh = await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    assert provider.generate_calls == 4 and fresh.wrapped == provider.generated[-1].wrapped


async def test_a_permanent_kms_refusal_is_not_papered_over() -> None:
    cache, provider, clock = setup()
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    provider.fail = KmsAccessDeniedError("KMS GenerateDataKey with k was refused: AccessDeniedException")
    clock.now += 3601
    with pytest.raises(KmsAccessDeniedError):
        await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)


async def test_forget_scope_and_clear_go_back_to_the_provider() -> None:
    cache, provider, _ = setup()
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    cache.forget_scope(WF)
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    cache.clear()
    await cache.lease_for_encrypt(WF, "AES-256-GCM", 1)
    assert provider.generate_calls == 3
