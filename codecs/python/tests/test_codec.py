"""EnvelopeCodec: sealing per workflow from temporalio's serialization contexts, the scope rules,
fail-closed decoding, compression, and the PayloadCodec contract."""

from __future__ import annotations

import copy
import zlib

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    NexusSerializationContext,
    PayloadConverter,
    WorkflowSerializationContext,
)

from support.providers import ScriptedProvider
from temporal_envelope import EnvelopeCodec, LocalKeyring
from temporal_envelope.keys import new_keyring_document
from temporal_envelope.primitives import (
    EnvelopeHeader,
    InvalidConfigError,
    KmsUnavailableError,
    MalformedPayloadError,
    PlaintextRejectedError,
    ScopeMismatchError,
    TamperedCiphertextError,
    make_scope,
    read_refused_marker,
    seal_template,
)

RING = LocalKeyring.from_document(new_keyring_document())


def wf(workflow_id: str, namespace: str = "default") -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace=namespace, workflow_id=workflow_id)


def activity(workflow_id: str | None, namespace: str = "default") -> ActivitySerializationContext:
    return ActivitySerializationContext(
        namespace=namespace,
        activity_id="1",
        activity_type="act",
        activity_task_queue="q",
        workflow_id=workflow_id,
        workflow_type="Wf" if workflow_id else None,
        is_local=False,
    )


def payload(value: object) -> Payload:
    return PayloadConverter.default.to_payload(value)


def meta(p: Payload, key: str) -> str | None:
    return p.metadata[key].decode() if key in p.metadata else None


async def test_workflow_context_seals_to_that_workflow_and_opens_there() -> None:
    codec = EnvelopeCodec(RING).with_context(wf("grant-42"))
    original = payload({"token": "dlg_secret"})
    [sealed] = await codec.encode([original])
    assert meta(sealed, "encoding") == "binary/encrypted"
    assert meta(sealed, "envelope-version") == "1"
    assert meta(sealed, "envelope-alg") == "AES-256-GCM"
    assert meta(sealed, "envelope-namespace") == "default"
    assert meta(sealed, "envelope-workflow-id") == "grant-42"
    assert meta(sealed, "encryption-key-id") == RING.primary_key_id()
    assert b"dlg_secret" not in sealed.SerializeToString()
    [opened] = await codec.decode([sealed])
    assert opened == original


async def test_an_activity_of_a_workflow_seals_to_the_workflow() -> None:
    codec = EnvelopeCodec(RING)
    [sealed] = await codec.with_context(activity("grant-42")).encode([payload(1)])
    assert meta(sealed, "envelope-workflow-id") == "grant-42"
    [opened] = await codec.with_context(wf("grant-42")).decode([sealed])  # and the workflow reads it
    assert opened == payload(1)


@pytest.mark.parametrize(
    "context",
    [None, activity(None), activity(""), NexusSerializationContext(endpoint="e", service="s", operation="o")],
    ids=["no context", "standalone activity", "activity with empty workflow id", "nexus"],
)
async def test_without_a_workflow_the_payload_is_namespace_scoped(context: object) -> None:
    codec = EnvelopeCodec(RING, default_namespace="fallback")
    bound = codec if context is None else codec.with_context(context)  # type: ignore[arg-type]
    [sealed] = await bound.encode([payload(1)])
    assert meta(sealed, "envelope-workflow-id") is None
    expected_ns = "default" if isinstance(context, ActivitySerializationContext) else "fallback"
    assert meta(sealed, "envelope-namespace") == expected_ns


async def test_with_context_copies_share_one_key_cache() -> None:
    provider = ScriptedProvider(RING)
    codec = EnvelopeCodec(provider)
    for _ in range(5):
        await codec.with_context(wf("a")).encode([payload(1)])
    assert provider.generate_calls == 1 and codec.with_context(wf("b")).keys is codec.keys
    assert codec.context is None


async def test_a_payload_does_not_open_in_another_workflow_or_namespace() -> None:
    codec = EnvelopeCodec(RING)
    [sealed] = await codec.with_context(wf("a")).encode([payload(1)])
    for context in [wf("b"), wf("a", "other"), activity("b")]:
        with pytest.raises(ScopeMismatchError):
            await codec.with_context(context).decode([sealed])
    # No context: no scope check (e.g. a codec server's /decode).
    assert (await codec.decode([sealed]))[0] == payload(1)
    # A namespace-only context accepts any payload of its namespace.
    assert (await codec.with_context(activity(None)).decode([sealed]))[0] == payload(1)


async def test_namespace_scoped_payloads_are_refused_in_a_workflow_by_default() -> None:
    [ns_scoped] = await EnvelopeCodec(RING).encode([payload("approve")])
    with pytest.raises(ScopeMismatchError, match="accept_namespace_scoped"):
        await EnvelopeCodec(RING).with_context(wf("a")).decode([ns_scoped])
    lenient = EnvelopeCodec(RING, accept_namespace_scoped=True).with_context(wf("a"))
    assert (await lenient.decode([ns_scoped]))[0] == payload("approve")


async def test_a_schedule_run_opens_what_the_schedule_sealed_unless_turned_off() -> None:
    [sealed] = await EnvelopeCodec(RING).with_context(wf("nightly")).encode([payload(1)])
    run = wf("nightly-2026-11-25T15:14:31Z")
    assert (await EnvelopeCodec(RING).with_context(run).decode([sealed]))[0] == payload(1)
    with pytest.raises(ScopeMismatchError):
        await EnvelopeCodec(RING, schedule_runs=False).with_context(run).decode([sealed])


async def test_require_encryption_refuses_plaintext_and_otherwise_passes_it_through() -> None:
    plain = payload({"inject": True})
    assert (await EnvelopeCodec(RING).decode([plain]))[0] is plain
    with pytest.raises(PlaintextRejectedError):
        await EnvelopeCodec(RING, require_encryption=True).with_context(wf("a")).decode([plain])


async def test_mark_refused_in_workflow_marks_refusals_in_a_workflow_context_only() -> None:
    [mine] = await EnvelopeCodec(RING).with_context(wf("a")).encode([payload("ok")])
    [other] = await EnvelopeCodec(RING).with_context(wf("b")).encode([payload("other")])
    marking = EnvelopeCodec(RING, require_encryption=True, mark_refused_in_workflow=True)
    out = await marking.with_context(wf("a")).decode([mine, other, payload("plain")])
    assert out[0] == payload("ok")
    assert read_refused_marker(out[1]) == ("SCOPE_MISMATCH", 'payload sealed for workflow "b" cannot be decoded in workflow "a"')
    assert read_refused_marker(out[2]) is not None and read_refused_marker(out[2])[0] == "PLAINTEXT_REJECTED"  # type: ignore[index]
    assert out[1].data == b""
    # Activities, context-free calls and codecs without the option still raise.
    with pytest.raises(PlaintextRejectedError):
        await marking.with_context(activity("a")).decode([payload("plain")])
    with pytest.raises(PlaintextRejectedError):
        await marking.decode([payload("plain")])
    with pytest.raises(ScopeMismatchError):
        await EnvelopeCodec(RING).with_context(wf("a")).decode([other])


async def test_mark_refused_in_workflow_still_raises_a_failure_that_may_pass() -> None:
    provider = ScriptedProvider(LocalKeyring.from_document(new_keyring_document()))
    [sealed] = await EnvelopeCodec(provider).with_context(wf("a")).encode([payload("later")])
    provider.fail = KmsUnavailableError("KMS endpoint refused the connection")
    marking = EnvelopeCodec(provider, mark_refused_in_workflow=True).with_context(wf("a"))
    with pytest.raises(KmsUnavailableError):
        await marking.decode([sealed])
    provider.fail = None
    assert (await marking.decode([sealed]))[0] == payload("later")


async def test_another_products_encrypted_payload_is_not_ours() -> None:
    # docs/wire-format.md "Decoding rules": returned as it came, as the TypeScript codec does,
    # unless require_encryption. (tests/test_legacy_samples.py: the samples' format under a legacy key.)
    foreign = Payload(metadata={"encoding": b"binary/encrypted", "encryption-key-id": b"sample"}, data=b"x" * 40)
    assert (await EnvelopeCodec(RING).decode([foreign]))[0] is foreign
    with pytest.raises(PlaintextRejectedError, match=r"no envelope-version\), and this codec requires encryption"):
        await EnvelopeCodec(RING, require_encryption=True).decode([foreign])


async def test_xchacha_and_compression() -> None:
    codec = EnvelopeCodec(RING, algorithm="XCHACHA20-POLY1305", compression="deflate", compression_min_bytes=256)
    big = payload({"note": "repetitive " * 200})
    small = payload("x")
    [sealed_big, sealed_small] = await codec.encode([big, small])
    assert meta(sealed_big, "envelope-compression") == "deflate" and len(sealed_big.data) < len(big.data)
    assert meta(sealed_small, "envelope-compression") is None
    assert meta(sealed_big, "envelope-alg") == "XCHACHA20-POLY1305"
    assert await EnvelopeCodec(RING).decode([sealed_big, sealed_small]) == [big, small]


async def test_a_deflate_bomb_is_refused_not_expanded() -> None:
    codec = EnvelopeCodec(RING)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    bomb = deflater.compress(b"\0" * (65 * 1024 * 1024)) + deflater.flush()
    scope = make_scope("default")
    lease = await codec.keys.lease_for_encrypt(scope, "AES-256-GCM", len(bomb))
    template = seal_template(EnvelopeHeader("AES-256-GCM", lease.key_id, scope, lease.wrapped, "deflate"))
    sealed = template.payload(lease.cipher.seal(bomb, template.aad))
    with pytest.raises(MalformedPayloadError, match="inflates past"):
        await codec.decode([sealed])


async def test_inputs_are_not_mutated_and_empty_batches_are_fine() -> None:
    codec = EnvelopeCodec(RING).with_context(wf("a"))
    original = payload({"a": 1})
    before = copy.deepcopy(original)
    [sealed] = await codec.encode([original])
    sealed_before = copy.deepcopy(sealed)
    await codec.decode([sealed])
    assert original == before and sealed == sealed_before
    assert await codec.encode([]) == [] and await codec.decode([]) == []


async def test_every_single_bit_flip_fails_to_open() -> None:
    codec = EnvelopeCodec(RING).with_context(wf("a"))
    [sealed] = await codec.encode([payload("x")])
    for i in range(len(sealed.data) * 8):
        bad = copy.deepcopy(sealed)
        data = bytearray(bad.data)
        data[i // 8] ^= 1 << (i % 8)
        bad.data = bytes(data)
        with pytest.raises(TamperedCiphertextError):
            await codec.decode([bad])
    for key in ["encryption-key-id", "envelope-namespace", "envelope-workflow-id", "envelope-dek", "envelope-alg"]:
        for i in range(len(sealed.metadata[key]) * 8):
            bad = copy.deepcopy(sealed)
            value = bytearray(bad.metadata[key])
            value[i // 8] ^= 1 << (i % 8)
            bad.metadata[key] = bytes(value)
            with pytest.raises(Exception) as caught:  # any typed refusal, never plaintext
                await EnvelopeCodec(RING).decode([bad])
            assert getattr(caught.value, "code", None) in {
                "TAMPERED_CIPHERTEXT", "UNKNOWN_KEY", "UNSUPPORTED_FORMAT", "MALFORMED_PAYLOAD",
            }


async def test_ids_the_wire_cannot_carry_are_refused_when_sealing() -> None:
    codec = EnvelopeCodec(RING)
    for bad in ["wf-\ud800", "w" * 1025]:
        with pytest.raises(MalformedPayloadError):
            await codec.with_context(wf(bad)).encode([payload(1)])
    bom = codec.with_context(wf("\ufeffgrant"))
    [sealed] = await bom.encode([payload(1)])
    assert sealed.metadata["envelope-workflow-id"] == "\ufeffgrant".encode()
    assert (await bom.decode([sealed]))[0] == payload(1)


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"algorithm": "AES-128-CBC"}, "algorithm"),
        ({"compression": "zstd"}, "compression"),
        ({"default_namespace": ""}, "default_namespace"),
        ({"compression_min_bytes": -1}, "compression_min_bytes"),
    ],
)
def test_bad_options_are_refused_naming_the_field(options: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidConfigError, match=f'codec "{field}"'):
        EnvelopeCodec(RING, **options)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError, match="key_providers"):
        EnvelopeCodec([])

