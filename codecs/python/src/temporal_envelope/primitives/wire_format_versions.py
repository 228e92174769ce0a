"""Which wire-format versions this build reads and writes, in one place (primitives/format-versions.ts
in TypeScript): version 1 (wire_format.py, a KMS data key per workflow) and version 2
(wire_format_v2.py, data keys derived from a branch key). The codec reads headers through here; a
data key's wrapped form decides which version a payload is sealed in.
"""

from __future__ import annotations

from temporalio.api.common.v1 import Payload

from .aead import AeadAlgorithm
from .branch_key import unpack_branch_wrapped
from .errors import MalformedPayloadError, UnsupportedFormatError
from .scope import Scope
from .wire_format import (
    META_VERSION,
    META_WRAPPED_DEK,
    Compression,
    EnvelopeHeader,
    SealTemplate,
    is_envelope_payload,
    parse_header,
    parsed_header,
    template_for,
)
from .wire_format_v2 import FORMAT_VERSION_2, EnvelopeHeaderV2, parse_header_v2, parsed_header_v2, template_for_v2

SealedHeader = EnvelopeHeader | EnvelopeHeaderV2

_VERSION_2_BYTES = FORMAT_VERSION_2.encode()


def _refuse_packed_in_v1(header: EnvelopeHeader) -> None:
    # The in-process form of a branch-derived key must come only from a version-2 header, never
    # from a version-1 envelope-dek (that would open with version 2's key derivation under v1's AAD).
    if unpack_branch_wrapped(header.wrapped_dek) is not None:
        raise MalformedPayloadError(f'metadata "{META_WRAPPED_DEK}" is not a version-1 wrapped data key')


def parse_sealed_header(payload: Payload) -> tuple[SealedHeader, bytes]:
    """Read and validate the header of a payload in our format, any version this build reads.
    Version 2 goes to its own parser; everything else to version 1's, which answers
    UNSUPPORTED_FORMAT for a version it does not know (as a version-1-only reader answers version 2)."""
    if payload.metadata.get(META_VERSION) == _VERSION_2_BYTES:
        return parse_header_v2(payload)
    header, box = parse_header(payload)
    _refuse_packed_in_v1(header)
    return header, box


def parsed_sealed_header(payload: Payload) -> tuple[SealedHeader, bytes]:
    """The header and the additional data of a sealed payload (any version), memoised per header."""
    if payload.metadata.get(META_VERSION) == _VERSION_2_BYTES:
        return parsed_header_v2(payload)
    header, aad = parsed_header(payload)
    _refuse_packed_in_v1(header)
    return header, aad


def wrapped_key_of(header: SealedHeader) -> bytes:
    """The wrapped key a KeyProvider unwraps for this header: v1's wrapped DEK, or v2's branch key and salt together."""
    return header.wrapped_key if isinstance(header, EnvelopeHeaderV2) else header.wrapped_dek


def sealing_template(
    algorithm: AeadAlgorithm, key_id: str, scope: Scope, wrapped: bytes, compression: Compression | None
) -> SealTemplate:
    """Metadata and additional data for sealing with a leased data key: version 2 when the key was
    derived from a branch key (its wrapped form says so), else version 1. Memoised per data key."""
    return template_for_v2(algorithm, key_id, scope, wrapped, compression) or template_for(
        algorithm, key_id, scope, wrapped, compression
    )


def peek_scope(payload: Payload) -> tuple[Scope, str] | None:
    """Scope and key id of a sealed payload (any version) without opening it: for authorization
    before any KMS call."""
    if not is_envelope_payload(payload):
        return None
    try:
        header, _ = parse_sealed_header(payload)
    except (MalformedPayloadError, UnsupportedFormatError):
        return None
    return header.scope, header.key_id
