"""Branch keys (format v2) with the local keyring: one KEK call per namespace and interval to seal,
one per distinct wrapped branch key to open, renewal by age and rotation, stale keys through a KMS
outage, bounded caches that wipe what they drop, the codec option, and the wrap contexts kept apart."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload

from support.providers import ScriptedProvider
from temporal_envelope import EnvelopeCodec, LocalKeyring, make_scope
from temporal_envelope.keys import new_keyring_document
from temporal_envelope.keys.branch_key_provider import KMS_RETRY_SECONDS, BranchKeyOptions, BranchKeyProvider
from temporal_envelope.primitives import (
    EnvelopeError,
    InvalidConfigError,
    KmsAccessDeniedError,
    KmsUnavailableError,
    MalformedPayloadError,
    TamperedCiphertextError,
    UnsupportedFormatError,
    branch_key_scope,
    derive_branch_data_key,
    is_branch_key_scope,
    kms_encryption_context,
)
from temporal_envelope.primitives.branch_key import pack_branch_wrapped, unpack_branch_wrapped


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class NoBranchWraps(ScriptedProvider):
    """A provider that would wrap a branch key like any data key: refused under branch keys."""

    @property
    def wraps_branch_keys(self) -> bool:
        return False


def payload(n: int = 0) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=f'{{"n":{n}}}'.encode())


def counted(doc: Any = None, delay: float = 0.0) -> ScriptedProvider:
    return ScriptedProvider(LocalKeyring.from_document(doc or new_keyring_document()), delay)


def layer(inner: ScriptedProvider, clock: Clock, **options: Any) -> BranchKeyProvider:
    return BranchKeyProvider(inner, key_hierarchy="branch", options=BranchKeyOptions(**options), clock=clock)


# -- primitives ------------------------------------------------------------------------------------


def test_a_branch_scope_is_never_a_data_key_scope() -> None:
    bs = branch_key_scope("default")
    assert is_branch_key_scope(bs) and not is_branch_key_scope(make_scope("default"))
    assert bs != make_scope("default")
    assert kms_encryption_context(bs) == {"temporal-namespace": "default", "temporal-key-use": "branch-key"}
    assert kms_encryption_context(make_scope("default", "wf")) == {"temporal-namespace": "default", "temporal-workflow-id": "wf"}


def test_data_keys_differ_by_scope_and_salt_and_take_an_info_over_1024_bytes() -> None:
    bk, salt = bytes(range(32)), bytes(32)
    keys = {
        bytes(derive_branch_data_key(bk, salt, make_scope("default", "a"))),
        bytes(derive_branch_data_key(bk, salt, make_scope("default", "b"))),
        bytes(derive_branch_data_key(bk, salt, make_scope("default"))),
        bytes(derive_branch_data_key(bk, bytes([1]) * 32, make_scope("default", "a"))),
        bytes(derive_branch_data_key(bk, salt, make_scope("n" * 1024, "w" * 1024))),
    }
    assert len(keys) == 5
    with pytest.raises(TypeError, match='"dek_salt" expected 32 bytes, got 16'):
        derive_branch_data_key(bk, bytes(16), make_scope("default"))


def test_the_in_process_pair_is_told_apart_from_any_version_1_wrapped_key() -> None:
    packed = pack_branch_wrapped(b"wrapped-bk", bytes(32))
    assert unpack_branch_wrapped(packed) == (b"wrapped-bk", bytes(32))
    for other in [b"", bytes(60), packed + b"\x00", pack_branch_wrapped(b"", bytes(32)), pack_branch_wrapped(b"x", bytes(16))]:
        assert unpack_branch_wrapped(other) is None


# -- the branch-key layer --------------------------------------------------------------------------


async def test_one_kek_call_per_namespace_for_a_hundred_workflows() -> None:
    inner = counted()
    provider = layer(inner, Clock())
    keys = set()
    for i in range(100):
        dk = await provider.generate_data_key(make_scope("default", f"wf-{i}"))
        keys.add(bytes(dk.plaintext))
    assert inner.generate_calls == 1 and len(keys) == 100
    await provider.generate_data_key(make_scope("tenant-b", "wf-0"))
    assert inner.generate_calls == 2
    # The KEK provider was asked for branch keys only, never for a workflow's data key.
    assert inner.decrypt_calls == 0


async def test_a_reader_unwraps_each_distinct_branch_key_once() -> None:
    doc = new_keyring_document()
    writer = layer(counted(doc), Clock())
    sealed = [(await writer.generate_data_key(make_scope("default", f"wf-{i}")), make_scope("default", f"wf-{i}")) for i in range(50)]
    reader_inner = counted(doc)
    reader = BranchKeyProvider(reader_inner)  # a per-workflow codec's layer still opens version 2
    for dk, scope in sealed:
        assert await reader.decrypt_data_key(dk.key_id, dk.wrapped, scope) == dk.plaintext
    assert reader_inner.decrypt_calls == 1
    # The writer opens its own payloads without asking its KEK provider at all.
    dk, scope = sealed[0]
    assert await writer.decrypt_data_key(dk.key_id, dk.wrapped, scope) == dk.plaintext
    assert writer.inner.decrypt_calls == 0  # type: ignore[attr-defined]


async def test_concurrent_first_uses_share_one_kek_call() -> None:
    inner = counted(delay=0.05)
    provider = layer(inner, Clock())
    await asyncio.gather(*(provider.generate_data_key(make_scope("default", f"wf-{i}")) for i in range(20)))
    assert inner.generate_calls == 1


async def test_a_branch_key_is_renewed_after_its_age_and_on_rotation() -> None:
    doc = new_keyring_document()
    inner, clock = counted(doc), Clock()
    provider = layer(inner, clock, branch_key_max_age_seconds=60)
    first = await provider.generate_data_key(make_scope("default", "a"))
    clock.now += 59
    await provider.generate_data_key(make_scope("default", "b"))
    assert inner.generate_calls == 1
    clock.now += 1
    second = await provider.generate_data_key(make_scope("default", "c"))
    assert inner.generate_calls == 2
    assert unpack_branch_wrapped(first.wrapped).wrapped_branch_key != unpack_branch_wrapped(second.wrapped).wrapped_branch_key  # type: ignore[union-attr]


async def test_a_kms_outage_keeps_deriving_from_the_stale_branch_key_for_the_grace_period() -> None:
    inner, clock = counted(), Clock()
    provider = layer(inner, clock, branch_key_max_age_seconds=3600, stale_grace_seconds=900)
    await provider.generate_data_key(make_scope("default", "a"))
    inner.fail = KmsUnavailableError("KMS is down")
    clock.now += 3600 + 60
    dk = await provider.generate_data_key(make_scope("default", "b"))
    assert len(dk.plaintext) == 32 and inner.generate_calls == 2
    # A burst during the outage asks KMS once per retry window, not once per new workflow.
    await provider.generate_data_key(make_scope("default", "c"))
    assert inner.generate_calls == 2
    clock.now += KMS_RETRY_SECONDS
    await provider.generate_data_key(make_scope("default", "d"))
    assert inner.generate_calls == 3
    clock.now += 900
    with pytest.raises(KmsUnavailableError) as caught:
        await provider.generate_data_key(make_scope("default", "e"))
    assert caught.value.retryable
    inner.fail = None
    await provider.generate_data_key(make_scope("default", "f"))  # and recovers


async def test_a_permanent_refusal_is_not_papered_over() -> None:
    inner, clock = counted(), Clock()
    provider = layer(inner, clock, branch_key_max_age_seconds=60)
    await provider.generate_data_key(make_scope("default", "a"))
    inner.fail = KmsAccessDeniedError("denied")
    clock.now += 61
    with pytest.raises(KmsAccessDeniedError):
        await provider.generate_data_key(make_scope("default", "b"))


async def test_the_opening_cache_is_bounded_and_wipes_what_it_drops() -> None:
    doc = new_keyring_document()
    writers = [layer(counted(doc), Clock()) for _ in range(3)]  # three processes: three branch keys
    sealed = [await w.generate_data_key(make_scope("default", "wf")) for w in writers]
    inner, clock = counted(doc), Clock()
    reader = BranchKeyProvider(inner, options=BranchKeyOptions(max_decrypt_entries=2, decrypt_max_age_seconds=60), clock=clock)
    for dk in sealed:
        await reader.decrypt_data_key(dk.key_id, dk.wrapped, make_scope("default", "wf"))
    assert reader.stats()["opening_entries"] == 2 and inner.decrypt_calls == 3
    entries = list(reader._opening.values())
    clock.now += 60
    reader.purge_expired()
    assert reader.stats()["opening_entries"] == 0
    assert all(e.wiped and e.key == bytearray(32) for e in entries)


async def test_wipe_zeroes_every_branch_key() -> None:
    provider = layer(counted(), Clock())
    await provider.generate_data_key(make_scope("default", "a"))
    entries = [*provider._sealing.values(), *provider._opening.values()]
    assert len(entries) == 2 and all(any(e.key) for e in entries)
    provider.wipe()
    assert provider.stats() == {"sealing_entries": 0, "opening_entries": 0}
    assert all(e.wiped and not any(e.key) for e in entries)


async def test_a_branch_key_wrap_is_no_data_key_wrap_and_the_reverse() -> None:
    ring = LocalKeyring.from_document(new_keyring_document())
    bk = await ring.generate_data_key(branch_key_scope("default"))
    with pytest.raises(TamperedCiphertextError):
        await ring.decrypt_data_key(bk.key_id, bk.wrapped, make_scope("default"))
    with pytest.raises(TamperedCiphertextError):
        await ring.decrypt_data_key(bk.key_id, bk.wrapped, branch_key_scope("other"))
    dk = await ring.generate_data_key(make_scope("default"))
    with pytest.raises(TamperedCiphertextError):
        await ring.decrypt_data_key(dk.key_id, dk.wrapped, branch_key_scope("default"))


def test_branch_keys_need_a_provider_that_wraps_them_apart() -> None:
    with pytest.raises(InvalidConfigError, match='"branch" needs a KEK provider that wraps branch keys'):
        EnvelopeCodec(NoBranchWraps(LocalKeyring.from_document(new_keyring_document())), key_hierarchy="branch")
    with pytest.raises(InvalidConfigError, match='codec "key_hierarchy" expected'):
        EnvelopeCodec(LocalKeyring.from_document(new_keyring_document()), key_hierarchy="hierarchical")  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match='"branch_key_max_age_seconds"'):
        EnvelopeCodec(LocalKeyring.from_document(new_keyring_document()), key_hierarchy="branch", branch_key_max_age_seconds=0)


async def test_a_provider_that_cannot_unwrap_branch_keys_answers_unsupported_format() -> None:
    doc = new_keyring_document()
    [sealed] = await EnvelopeCodec(LocalKeyring.from_document(doc), key_hierarchy="branch").encode([payload()])
    reader = EnvelopeCodec(NoBranchWraps(LocalKeyring.from_document(doc)))
    with pytest.raises(UnsupportedFormatError, match="unwraps branch keys"):
        await reader.decode([sealed])


# -- the codec -------------------------------------------------------------------------------------


async def test_the_codec_seals_version_1_by_default_and_version_2_with_branch_keys() -> None:
    doc = new_keyring_document()
    [v1] = await EnvelopeCodec(LocalKeyring.from_document(doc)).encode([payload()])
    assert v1.metadata["envelope-version"] == b"1" and "envelope-dek" in v1.metadata
    branch = EnvelopeCodec(LocalKeyring.from_document(doc), key_hierarchy="branch")
    assert branch.key_hierarchy == "branch"
    [v2] = await branch.encode_in_scope([payload()], make_scope("default", "wf-1"))
    assert v2.metadata["envelope-version"] == b"2" and "envelope-dek" not in v2.metadata
    assert len(v2.metadata["envelope-dek-salt"]) == 32 and len(v2.metadata["envelope-branch-key"]) == 60
    assert v2.metadata["envelope-workflow-id"] == b"wf-1"
    # Both open in both: a reader opens either version whatever it seals.
    for reader in [EnvelopeCodec(LocalKeyring.from_document(doc)), EnvelopeCodec(LocalKeyring.from_document(doc), key_hierarchy="branch")]:
        assert await reader.decode_in_scope([v1, v2], None) == [payload(), payload()]


async def test_a_codec_with_branch_keys_calls_its_kek_provider_once_for_many_workflows() -> None:
    doc = new_keyring_document()
    inner = counted(doc)
    codec = EnvelopeCodec(inner, key_hierarchy="branch")
    sealed = [(await codec.encode_in_scope([payload(i)], make_scope("default", f"wf-{i}")))[0] for i in range(200)]
    assert inner.generate_calls == 1
    assert len({p.metadata["envelope-dek-salt"] for p in sealed}) == 200  # a data key per workflow
    reader_inner = counted(doc)
    reader = EnvelopeCodec(reader_inner)
    assert await reader.decode_in_scope(sealed, None) == [payload(i) for i in range(200)]
    assert reader_inner.decrypt_calls == 1
    codec.close()
    assert codec._shared.branch_layers[0].stats() == {"sealing_entries": 0, "opening_entries": 0}


async def test_the_observer_hears_of_kms_calls_only_where_they_reach_the_kek_provider() -> None:
    calls: list[str] = []

    class Observer:
        def on_kms_call(self, op: str, provider: str, outcome: str, seconds: float) -> None:
            calls.append(f"{op}:{outcome}")

        def on_cache_hit(self, cache: str) -> None:
            pass

        def on_cache_miss(self, cache: str) -> None:
            pass

    codec = EnvelopeCodec(counted(), key_hierarchy="branch", observer=Observer())
    for i in range(10):
        await codec.encode_in_scope([payload(i)], make_scope("default", f"wf-{i}"))
    assert calls == ["generate:ok"]


async def test_a_version_1_header_carrying_the_in_process_pair_is_refused() -> None:
    doc = new_keyring_document()
    [v2] = await EnvelopeCodec(LocalKeyring.from_document(doc), key_hierarchy="branch").encode([payload()])
    forged = Payload()
    forged.CopyFrom(v2)
    forged.metadata["envelope-version"] = b"1"
    forged.metadata["envelope-dek"] = pack_branch_wrapped(v2.metadata["envelope-branch-key"], v2.metadata["envelope-dek-salt"])
    with pytest.raises(MalformedPayloadError, match="not a version-1 wrapped data key"):
        await EnvelopeCodec(LocalKeyring.from_document(doc)).decode([forged])


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"envelope-dek-salt": bytes(32)}, "TAMPERED_CIPHERTEXT"),
        ({"envelope-dek-salt": bytes(31)}, "MALFORMED_PAYLOAD"),
        ({"envelope-branch-key": None}, "MALFORMED_PAYLOAD"),
        ({"envelope-dek": b"x"}, "UNSUPPORTED_FORMAT"),
        ({"envelope-workflow-id": b"wf-2"}, "TAMPERED_CIPHERTEXT"),
    ],
)
async def test_a_tampered_version_2_header_fails_with_its_code(change: dict[str, bytes | None], code: str) -> None:
    doc = new_keyring_document()
    [v2] = await EnvelopeCodec(LocalKeyring.from_document(doc), key_hierarchy="branch").encode_in_scope([payload()], make_scope("default", "wf-1"))
    for k, v in change.items():
        if v is None:
            del v2.metadata[k]
        else:
            v2.metadata[k] = v
    with pytest.raises(EnvelopeError) as caught:
        await EnvelopeCodec(LocalKeyring.from_document(doc)).decode([v2])
    assert caught.value.code == code
