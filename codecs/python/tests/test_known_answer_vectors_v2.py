"""test/vectors/envelope-v2.json, format version 2 (branch keys): each valid vector opens to its
input with the keyring alone, in either hierarchy; its branch key unwraps and its data key derives
to the published values; re-sealing with the seeded stream of test/support/deterministic-random.ts
gives the same bytes; each invalid vector fails with its code; and version 1's parser alone (a
version-1-only reader) answers UNSUPPORTED_FORMAT."""

from __future__ import annotations

import base64
import copy
import json
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload
from temporalio.converter import WorkflowSerializationContext

from support.deterministic_random import deterministic_random
from support.paths import VECTORS_V2
from temporal_envelope import EnvelopeCodec, EnvelopeError, LocalKeyring, UnsupportedFormatError, make_scope
from temporal_envelope.codec import from_proto_json, same_payload, to_proto_json
from temporal_envelope.primitives import branch_key_scope, derive_branch_data_key, parse_header

VECTORS: dict[str, Any] = json.loads(VECTORS_V2.read_text(encoding="utf-8"))
FIELDS = [
    "encryption-key-id",
    "envelope-version",
    "envelope-alg",
    "envelope-namespace",
    "envelope-workflow-id",
    "envelope-branch-key",
    "envelope-dek-salt",
    "envelope-compression",
]


def ring() -> LocalKeyring:
    return LocalKeyring.from_document(copy.deepcopy(VECTORS["keyring"]))


def meta(vector: dict[str, Any], key: str) -> bytes:
    return base64.b64decode(vector["sealed"]["metadata"][key])


def bound(codec: EnvelopeCodec, open_in: dict[str, Any] | None) -> EnvelopeCodec:
    if open_in is None or open_in["workflowId"] is None:
        return codec
    return codec.with_context(WorkflowSerializationContext(namespace=open_in["namespace"], workflow_id=open_in["workflowId"]))


def test_covers_both_algorithms_scopes_deflate_a_pre_rotation_kek_and_every_header_field_altered() -> None:
    assert VECTORS["format"] == "temporal-envelope/v2"
    valid = VECTORS["valid"]
    assert {v["algorithm"] for v in valid} == {"AES-256-GCM", "XCHACHA20-POLY1305"}
    assert any(v["workflowId"] is None for v in valid) and any(v["workflowId"] is not None for v in valid)
    assert any(v["compression"] == "deflate" for v in valid)
    assert {meta(v, "encryption-key-id").decode() for v in valid} == {"local-1-7e570001", "local-2-7e570002"}
    altered = {k for v in VECTORS["invalid"] for k in v["sealed"]["metadata"]}
    assert set(FIELDS) <= altered
    for v in valid:
        assert meta(v, "envelope-version") == b"2" and "envelope-dek" not in v["sealed"]["metadata"]


@pytest.mark.parametrize("hierarchy", ["per-workflow", "branch"])
@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
async def test_opens_whichever_hierarchy_the_codec_seals(vector: dict[str, Any], hierarchy: Any) -> None:
    codec = bound(EnvelopeCodec(ring(), key_hierarchy=hierarchy), vector)
    [opened] = await codec.decode([from_proto_json(vector["sealed"])])
    assert same_payload(opened, from_proto_json(vector["input"]))


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
async def test_branch_key_unwraps_and_data_key_derives_to_the_published_values(vector: dict[str, Any]) -> None:
    kek = meta(vector, "encryption-key-id").decode()
    branch_key = await ring().decrypt_data_key(kek, meta(vector, "envelope-branch-key"), branch_key_scope(vector["namespace"]))
    assert base64.b64encode(branch_key).decode() == vector["branchKey"]
    data_key = derive_branch_data_key(branch_key, meta(vector, "envelope-dek-salt"), make_scope(vector["namespace"], vector["workflowId"]))
    assert base64.b64encode(data_key).decode() == vector["dataKey"]


@pytest.mark.parametrize("vector", VECTORS["valid"], ids=lambda v: v["name"])
def test_a_version_1_only_reader_answers_unsupported_format(vector: dict[str, Any]) -> None:
    # parse_header is version 1's parser, the one a build without format v2 runs: it reads the version first.
    with pytest.raises(UnsupportedFormatError):
        parse_header(from_proto_json(vector["sealed"]))


@pytest.mark.parametrize("vector", VECTORS["invalid"], ids=lambda v: v["name"])
async def test_rejects_with_the_same_code(vector: dict[str, Any]) -> None:
    codec = bound(EnvelopeCodec(ring()), vector.get("openIn"))
    with pytest.raises(EnvelopeError) as caught:
        await codec.decode([from_proto_json(vector["sealed"])])
    assert caught.value.code == vector["code"], caught.value.message


@pytest.mark.parametrize("vector", VECTORS["shreddable"], ids=lambda v: v["name"])
async def test_shreddable_vectors_name_no_provider_here(vector: dict[str, Any]) -> None:
    """This codec has no crypto-shredding (the README allows skipping the list): a "shred:" key id
    is one no provider holds, refused as UNKNOWN_KEY, never opened without its scope's secret."""
    assert meta(vector, "encryption-key-id").startswith(b"shred:")
    codec = bound(EnvelopeCodec(ring()), vector)
    with pytest.raises(EnvelopeError) as caught:
        await codec.decode([from_proto_json(vector["sealed"])])
    assert caught.value.code == "UNKNOWN_KEY"


async def _reseal(vector: dict[str, Any]) -> Payload:
    """As test/vectors/generate-v2.ts's sealCase: one seeded stream for the salt, the branch key,
    its wrap's nonce and the payload's nonce, drawn in that order."""
    random = deterministic_random(f"vector-v2:{vector['name']}")
    doc = copy.deepcopy(VECTORS["keyring"])
    kek = meta(vector, "encryption-key-id").decode()
    for k in doc["keys"]:
        k["state"] = "primary" if k["id"] == kek else "decrypt-only"
    sealer = EnvelopeCodec(
        LocalKeyring.from_document(doc, random=random),
        key_hierarchy="branch",
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
    assert to_proto_json(await _reseal(vector)) == vector["sealed"]


@pytest.mark.parametrize("vector", MULTI_KEY, ids=lambda v: v["name"])
async def test_multi_key_metadata_reseals_to_the_same_header_and_nonce(vector: dict[str, Any]) -> None:
    """Map entry order differs between protobufjs and Python's deterministic serialization (see
    test_known_answer_vectors.py): the header and nonce are byte-identical, and both open alike."""
    assert MULTI_KEY, "the v2 vectors have a payload with extra metadata"
    sealed = await _reseal(vector)
    expected = from_proto_json(vector["sealed"])
    assert dict(sealed.metadata) == dict(expected.metadata)
    assert sealed.data[:24] == expected.data[:24]
    codec = bound(EnvelopeCodec(ring()), vector)
    [ours] = await codec.decode([sealed])
    assert same_payload(ours, from_proto_json(vector["input"]))
