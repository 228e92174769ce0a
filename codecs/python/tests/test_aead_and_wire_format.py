"""AEADs and the wire format's header, additional data and parser."""

from __future__ import annotations

import os

import pytest
from temporalio.api.common.v1 import Payload

from temporal_envelope.primitives import (
    AEAD_ALGORITHMS,
    EnvelopeHeader,
    MalformedPayloadError,
    TamperedCiphertextError,
    UnsupportedFormatError,
    additional_data,
    additional_data_of,
    length_prefixed,
    make_scope,
    open_sealed,
    parse_header,
    peek_scope,
    seal_template,
    seal_with_random_nonce,
)


@pytest.mark.parametrize("algorithm", AEAD_ALGORITHMS)
def test_seal_and_open_round_trip_and_every_failure_is_tampered(algorithm: str) -> None:
    key = bytearray(os.urandom(32))
    box = seal_with_random_nonce(algorithm, key, b"secret", b"aad")
    nonce = 12 if algorithm == "AES-256-GCM" else 24
    assert len(box) == nonce + len(b"secret") + 16
    assert open_sealed(algorithm, bytes(key), box, b"aad") == b"secret"
    for bad_box, bad_aad, bad_key in [
        (box[:-1] + bytes([box[-1] ^ 1]), b"aad", key),
        (box, b"aac", key),
        (box, b"aad", bytearray(os.urandom(32))),
        (box[: nonce + 15], b"aad", key),
    ]:
        with pytest.raises(TamperedCiphertextError):
            open_sealed(algorithm, bad_key, bad_box, bad_aad)


def test_a_key_of_the_wrong_length_is_refused_without_echoing_it() -> None:
    with pytest.raises(TypeError, match=r'"key" expected 32 bytes, got 31'):
        seal_with_random_nonce("AES-256-GCM", b"k" * 31, b"x", b"")


def test_an_unknown_algorithm_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormatError, match="ROT13"):
        seal_with_random_nonce("ROT13", b"k" * 32, b"x", b"")


def test_length_prefixed_fields() -> None:
    assert length_prefixed([b"ab", b"", b"c"]) == b"\0\0\0\x02ab\0\0\0\0\0\0\0\x01c"


HEADER = EnvelopeHeader("AES-256-GCM", "local-1-abcd", make_scope("default", "wf-1"), b"\x07" * 60)


def test_additional_data_layout_is_pinned() -> None:
    expected = length_prefixed(
        [b"temporal-envelope/v1/payload", b"AES-256-GCM", b"local-1-abcd", b"default", b"\x01wf-1", b"\x07" * 60, b""]
    )
    assert additional_data(HEADER) == expected
    ns_only = EnvelopeHeader("AES-256-GCM", "k", make_scope("default"), b"d", "deflate")
    assert additional_data(ns_only).endswith(length_prefixed([b"default", b"\x00", b"d", b"deflate"]))


def sealed_payload(header: EnvelopeHeader = HEADER) -> Payload:
    return seal_template(header).payload(b"\0" * 40)


def test_the_header_parses_back_and_the_aad_from_bytes_agrees() -> None:
    payload = sealed_payload()
    header, box = parse_header(payload)
    assert header == HEADER and box == b"\0" * 40
    assert additional_data_of(payload) == additional_data(HEADER)
    assert peek_scope(payload) == (HEADER.scope, "local-1-abcd")


def test_a_leading_bom_in_a_workflow_id_survives_the_header() -> None:
    header = EnvelopeHeader("XCHACHA20-POLY1305", "k", make_scope("ns", "\ufeffwf"), b"d")
    parsed, _ = parse_header(sealed_payload(header))
    assert parsed.scope.workflow_id == "\ufeffwf"


@pytest.mark.parametrize(
    ("key", "value", "error", "message"),
    [
        ("envelope-version", None, MalformedPayloadError, '"envelope-version" is missing'),
        ("envelope-version", b"2", UnsupportedFormatError, "expected 1"),
        ("envelope-alg", b"ROT13", UnsupportedFormatError, "ROT13"),
        ("encryption-key-id", b"", MalformedPayloadError, "is empty"),
        ("encryption-key-id", b"\xff\xfe", MalformedPayloadError, "not valid UTF-8"),
        ("encryption-key-id", b"k" * 2049, MalformedPayloadError, "at most 2048 bytes, got 2049"),
        ("envelope-namespace", None, MalformedPayloadError, '"envelope-namespace" is missing'),
        ("envelope-workflow-id", b"w" * 1025, MalformedPayloadError, "at most 1024 bytes"),
        ("envelope-workflow-id", b"\xed\xa0\x80", MalformedPayloadError, "not valid UTF-8"),  # an encoded surrogate
        ("envelope-dek", None, MalformedPayloadError, '"envelope-dek" is missing'),
        ("envelope-dek", b"d" * 4097, MalformedPayloadError, "at most 4096 bytes"),
        ("envelope-compression", b"zstd", UnsupportedFormatError, "zstd"),
    ],
)
def test_parse_refuses_each_bad_field_naming_it(key: str, value: bytes | None, error: type[Exception], message: str) -> None:
    payload = sealed_payload()
    if value is None:
        del payload.metadata[key]
    else:
        payload.metadata[key] = value
    with pytest.raises(error, match=message):
        parse_header(payload)
    assert peek_scope(payload) is None
