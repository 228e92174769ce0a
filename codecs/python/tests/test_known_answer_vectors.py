"""test/vectors/envelope-v1.json, the contract every codec of the project keeps: each valid vector
opens to its input, each invalid one fails with its code, and re-sealing with the seeded stream of
test/support/deterministic-random.ts gives the same bytes."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from support.deterministic_random import deterministic_random
from support.paths import VECTORS_V1
from temporal_envelope import EnvelopeCodec, EnvelopeError, LocalKeyring, make_scope
from temporal_envelope.codec import from_proto_json, same_payload, to_proto_json
from temporal_envelope.primitives import additional_data_of, open_sealed

VECTORS: dict[str, Any] = json.loads(VECTORS_V1.read_text(encoding="utf-8"))


def test_covers_both_algorithms_compression_and_a_pre_rotation_kek() -> None:
    assert len(VECTORS["valid"]) >= 7
    assert {v["algorithm"] for v in VECTORS["valid"]} == {"AES-256-GCM", "XCHACHA20-POLY1305"}
    assert any(v["compression"] == "deflate" for v in VECTORS["valid"])
    assert len(VECTORS["invalid"]) >= 10


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
async def test_opens(vector: dict[str, Any]) -> None:
    codec = EnvelopeCodec(LocalKeyring.from_document(copy.deepcopy(VECTORS["keyring"])))
    if vector["workflowId"] is not None:
        codec = codec.with_context(WorkflowSerializationContext(namespace=vector["namespace"], workflow_id=vector["workflowId"]))
    [opened] = await codec.decode([from_proto_json(vector["sealed"])])
    assert same_payload(opened, from_proto_json(vector["input"]))


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
async def test_rejects_with_the_same_code(vector: dict[str, Any]) -> None:
    codec = EnvelopeCodec(LocalKeyring.from_document(copy.deepcopy(VECTORS["keyring"])))
    with pytest.raises(EnvelopeError) as caught:
        await codec.decode([from_proto_json(vector["sealed"])])
    assert caught.value.code == vector["code"]


async def _reseal(vector: dict[str, Any]) -> Payload:
    random = deterministic_random(f"vector:{vector['name']}")
    doc = copy.deepcopy(VECTORS["keyring"])
    kek = from_proto_json(vector["sealed"]).metadata["encryption-key-id"].decode()
    for k in doc["keys"]:
        k["state"] = "primary" if k["id"] == kek else "decrypt-only"
    sealer = EnvelopeCodec(
        LocalKeyring.from_document(doc, random=random),
        algorithm=vector["algorithm"],
        compression=vector["compression"] or None,
        compression_min_bytes=256,
        random=random,
    )
    [sealed] = await sealer.encode_in_scope([from_proto_json(vector["input"])], make_scope(vector["namespace"], vector["workflowId"]))
    return sealed


SINGLE_KEY = [v for v in VECTORS["valid"] if len(v["input"].get("metadata", {})) <= 1]
MULTI_KEY = [v for v in VECTORS["valid"] if len(v["input"].get("metadata", {})) > 1]


@pytest.mark.parametrize("vector", SINGLE_KEY, ids=lambda v: v["name"])
async def test_reseals_to_the_same_bytes(vector: dict[str, Any]) -> None:
    sealed = await _reseal(vector)
    assert same_payload(sealed, from_proto_json(vector["sealed"]))
    assert to_proto_json(sealed)["data"] == vector["sealed"]["data"]


@pytest.mark.parametrize("vector", MULTI_KEY, ids=lambda v: v["name"])
async def test_multi_key_metadata_reseals_to_the_same_header_and_an_equal_payload(vector: dict[str, Any]) -> None:
    """protobufjs writes map entries in insertion order ("encoding", then "custom-key"); Python's
    protobuf writes them in hash order, or sorted with deterministic=True, which this codec uses.
    So the sealed plaintext of a payload with several metadata keys differs in entry order only:
    the header (wrapped DEK, nonce from the same stream) is byte-identical, both open, and the two
    plaintexts parse to the same Payload."""
    assert MULTI_KEY, "the v1 vectors have a payload with extra metadata"
    sealed = await _reseal(vector)
    expected = from_proto_json(vector["sealed"])
    assert dict(sealed.metadata) == dict(expected.metadata)
    assert sealed.data[:24] == expected.data[:24]  # the nonce
    ring = LocalKeyring.from_document(copy.deepcopy(VECTORS["keyring"]))
    codec = EnvelopeCodec(ring)
    [ours] = await codec.decode([sealed])
    [theirs] = await codec.decode([expected])
    assert same_payload(ours, theirs) and same_payload(ours, from_proto_json(vector["input"]))
    # The two plaintexts, decrypted: same entries, other order.
    dek = await ring.decrypt_data_key(
        expected.metadata["encryption-key-id"].decode(),
        expected.metadata["envelope-dek"],
        make_scope(vector["namespace"], vector["workflowId"]),
    )
    ts_plain = open_sealed(vector["algorithm"], dek, expected.data, additional_data_of(expected))
    py_plain = open_sealed(vector["algorithm"], dek, sealed.data, additional_data_of(sealed))
    assert Payload.FromString(ts_plain) == Payload.FromString(py_plain)
    assert ts_plain != py_plain and sorted(ts_plain) == sorted(py_plain)
    assert py_plain == from_proto_json(vector["input"]).SerializeToString(deterministic=True)
