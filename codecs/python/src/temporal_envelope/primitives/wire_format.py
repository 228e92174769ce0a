"""The temporal-envelope wire format, version 1 (docs/wire-format.md; primitives/format.ts in TypeScript).

::

    Temporal Server <--> Wire <--> EnvelopeCodec <--> PayloadConverter <--> User code
                           ^ sealed payload: everything below is what history stores

    metadata (UTF-8 unless noted)
      encoding               "binary/encrypted"
      encryption-key-id      KEK id that wrapped the DEK ("local-2-a1b2c3d4", a KMS ARN or alias)
      envelope-version       "1"
      envelope-alg           "AES-256-GCM" | "XCHACHA20-POLY1305"
      envelope-namespace     namespace the payload is sealed to
      envelope-workflow-id   workflow id it is sealed to (absent: namespace scope)
      envelope-dek           the wrapped data key (raw bytes, provider-specific)
      envelope-compression   "deflate" when the plaintext was deflated before sealing (absent: none)
    data
      nonce ‖ ciphertext ‖ tag   of the original Payload serialized as temporal.api.common.v1.Payload

The additional data binds every metadata field to the ciphertext: a label, then each field
length-prefixed. Changing any field, or moving the payload to another scope, fails authentication.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from temporalio.api.common.v1 import Payload

from .aead import AeadAlgorithm, is_aead_algorithm
from .errors import MalformedPayloadError, UnsupportedFormatError
from .length_prefixed import length_prefixed
from .scope import Scope, make_scope

ENCODING: Final = "binary/encrypted"
ENCODING_BYTES: Final = ENCODING.encode()
FORMAT_VERSION: Final = "1"

META_ENCODING: Final = "encoding"
META_KEY_ID: Final = "encryption-key-id"
META_VERSION: Final = "envelope-version"
META_ALGORITHM: Final = "envelope-alg"
META_NAMESPACE: Final = "envelope-namespace"
META_WORKFLOW_ID: Final = "envelope-workflow-id"
META_WRAPPED_DEK: Final = "envelope-dek"
META_COMPRESSION: Final = "envelope-compression"

Compression = Literal["deflate"]
K = TypeVar("K")
V = TypeVar("V")

AAD_LABEL: Final = b"temporal-envelope/v1/payload"
MAX_KEY_ID_BYTES: Final = 2048
MAX_WRAPPED_DEK_BYTES: Final = 4096
MAX_SCOPE_FIELD_BYTES: Final = 1024


@dataclass(frozen=True, slots=True)
class EnvelopeHeader:
    """Everything in a sealed payload except the box itself. All of it is authenticated."""

    algorithm: AeadAlgorithm
    key_id: str
    scope: Scope
    wrapped_dek: bytes
    compression: Compression | None = None
    version: str = FORMAT_VERSION


def header_aad(
    label: bytes,
    algorithm: bytes,
    key_id: bytes,
    namespace: bytes,
    workflow_id: bytes | None,
    key_fields: tuple[bytes, ...],
    compression: bytes,
) -> bytes:
    """Every version's additional data (wire_format_v2.py's too): the version's label, algorithm,
    key id, namespace, workflow field, the fields of its wrapped key, compression, each length-prefixed."""
    return length_prefixed(
        (
            label,
            algorithm,
            key_id,
            namespace,
            # Presence flag first: "no workflow id" must differ from any workflow id.
            b"\x00" if workflow_id is None else b"\x01" + workflow_id,
            *key_fields,
            compression,
        )
    )


def additional_data(header: EnvelopeHeader) -> bytes:
    return header_aad(
        AAD_LABEL,
        header.algorithm.encode(),
        header.key_id.encode(),
        header.scope.namespace.encode(),
        None if header.scope.workflow_id is None else header.scope.workflow_id.encode(),
        (header.wrapped_dek,),
        b"" if header.compression is None else header.compression.encode(),
    )


def additional_data_of(payload: Payload) -> bytes:
    """The same additional data, from a sealed payload's metadata bytes as they are (after
    parse_header validated them): for every payload we seal these are the UTF-8 of the header."""
    meta = payload.metadata
    return header_aad(
        AAD_LABEL,
        meta[META_ALGORITHM],
        meta[META_KEY_ID],
        meta[META_NAMESPACE],
        meta[META_WORKFLOW_ID] if META_WORKFLOW_ID in meta else None,
        (meta[META_WRAPPED_DEK],),
        meta[META_COMPRESSION] if META_COMPRESSION in meta else b"",
    )


def sealed_metadata(header: EnvelopeHeader) -> dict[str, bytes]:
    return metadata_of(header.version, header.algorithm, header.key_id, header.scope, header.compression, {META_WRAPPED_DEK: header.wrapped_dek})


def metadata_of(
    version: str, algorithm: str, key_id: str, scope: Scope, compression: str | None, key_fields: Mapping[str, bytes]
) -> dict[str, bytes]:
    """A sealed payload's metadata in every version: the common fields, with the version's wrapped-key fields after the namespace."""
    metadata = {
        META_ENCODING: ENCODING_BYTES,
        META_KEY_ID: key_id.encode(),
        META_VERSION: version.encode(),
        META_ALGORITHM: algorithm.encode(),
        META_NAMESPACE: scope.namespace.encode(),
        **key_fields,
    }
    if scope.workflow_id is not None:
        metadata[META_WORKFLOW_ID] = scope.workflow_id.encode()
    if compression is not None:
        metadata[META_COMPRESSION] = compression.encode()
    return metadata


class SealTemplate:
    """Additional data and a metadata-only Payload to copy, for every payload sealed under one header."""

    __slots__ = ("aad", "prototype")

    def __init__(self, aad: bytes, prototype: Payload) -> None:
        self.aad = aad
        self.prototype = prototype

    def payload(self, box: bytes) -> Payload:
        # CopyFrom of a ready message is a C-level copy, ~4x faster than building the metadata map.
        out = Payload()
        out.CopyFrom(self.prototype)
        out.data = box
        return out


# One data key seals many payloads under the same header, and a worker reads back many payloads
# sealed under the same header: additional data, metadata and the parsed header are computed once
# and shared. Keyed by the exact field values (bytes and str cache their hashes); cleared when full
# rather than tracked per key, so hostile input can cost recomputation but not memory.
_TEMPLATES: dict[tuple[str, str, str, str | None, bytes, str | None], SealTemplate] = {}
_PARSED: dict[tuple[bytes | None, ...], tuple[EnvelopeHeader, bytes]] = {}
_MEMO_MAX: Final = 1024
_MEMO_LOCK = threading.Lock()


def template_for(
    algorithm: AeadAlgorithm, key_id: str, scope: Scope, wrapped_dek: bytes, compression: Compression | None
) -> SealTemplate:
    """Additional data and metadata for sealing under this header, memoised per data key."""
    memo_key = (algorithm, key_id, scope.namespace, scope.workflow_id, wrapped_dek, compression)
    template = _TEMPLATES.get(memo_key)
    if template is None:
        header = EnvelopeHeader(algorithm, key_id, scope, wrapped_dek, compression)
        template = SealTemplate(additional_data(header), Payload(metadata=sealed_metadata(header)))
        memo_put(_TEMPLATES, memo_key, template)
    return template


def seal_template(header: EnvelopeHeader) -> SealTemplate:
    return template_for(header.algorithm, header.key_id, header.scope, header.wrapped_dek, header.compression)


def parsed_header(payload: Payload) -> tuple[EnvelopeHeader, bytes]:
    """parse_header's header and additional_data_of's bytes, memoised by the metadata's exact bytes
    (only for headers that parsed: a malformed one raises every time)."""
    get = payload.metadata.get
    memo_key = (
        get(META_VERSION),
        get(META_ALGORITHM),
        get(META_KEY_ID),
        get(META_NAMESPACE),
        get(META_WORKFLOW_ID),
        get(META_WRAPPED_DEK),
        get(META_COMPRESSION),
    )
    hit = _PARSED.get(memo_key)
    if hit is None:
        header, _ = parse_header(payload)
        hit = (header, additional_data_of(payload))
        memo_put(_PARSED, memo_key, hit)
    return hit


def memo_put(memo: dict[K, V], key: K, value: V) -> None:
    """Store in one of the format layer's memos, clearing it when full (wire_format_v2.py keeps its own)."""
    with _MEMO_LOCK:
        if len(memo) >= _MEMO_MAX:
            memo.clear()
        memo[key] = value


def is_encrypted_encoding(payload: Payload) -> bool:
    """Whether a payload claims Temporal's encrypted encoding (ours or anyone's)."""
    return payload.metadata.get(META_ENCODING) == ENCODING_BYTES


def is_envelope_payload(payload: Payload) -> bool:
    """Whether a payload is in this project's format (encrypted encoding plus our version field)."""
    return is_encrypted_encoding(payload) and META_VERSION in payload.metadata


def parse_header(payload: Payload) -> tuple[EnvelopeHeader, bytes]:
    """Read and validate the header of a payload in our format.

    Raises MalformedPayloadError for missing or ill-typed fields, UnsupportedFormatError for a
    version, algorithm or compression this build does not read. The order of the checks is the
    TypeScript codec's, so both report the same code for the same payload.
    """
    meta = payload.metadata
    version = read_text(meta, META_VERSION, 16)
    if version != FORMAT_VERSION:
        raise UnsupportedFormatError(f'"{META_VERSION}" expected {FORMAT_VERSION}, got {version[:16]!r}')
    algorithm, key_id, scope = read_common_fields(meta)
    wrapped_dek = read_bytes(meta, META_WRAPPED_DEK, MAX_WRAPPED_DEK_BYTES)
    header = EnvelopeHeader(algorithm, key_id, scope, wrapped_dek, read_compression(meta))
    return header, payload.data


def read_common_fields(meta: Mapping[str, bytes]) -> tuple[AeadAlgorithm, str, Scope]:
    """Algorithm, key id and scope, read and validated alike in every version (in this order, after the version)."""
    algorithm = read_text(meta, META_ALGORITHM, 64)
    if not is_aead_algorithm(algorithm):
        raise UnsupportedFormatError(f'"{META_ALGORITHM}" {algorithm!r} is not supported')
    key_id = read_text(meta, META_KEY_ID, MAX_KEY_ID_BYTES)
    namespace = read_text(meta, META_NAMESPACE, MAX_SCOPE_FIELD_BYTES)
    workflow_id = read_text(meta, META_WORKFLOW_ID, MAX_SCOPE_FIELD_BYTES) if META_WORKFLOW_ID in meta else None
    return algorithm, key_id, make_scope(namespace, workflow_id)


def read_compression(meta: Mapping[str, bytes]) -> Compression | None:
    """The compression field (after the wrapped key's fields, in every version)."""
    if META_COMPRESSION not in meta:
        return None
    c = read_text(meta, META_COMPRESSION, 32)
    if c != "deflate":
        raise UnsupportedFormatError(f'"{META_COMPRESSION}" {c!r} is not supported')
    return "deflate"


def read_bytes(meta: Mapping[str, bytes], key: str, limit: int) -> bytes:
    """A metadata field's bytes: present, not empty, at most ``limit`` long."""
    value = meta.get(key)
    if value is None:
        raise MalformedPayloadError(f'metadata "{key}" is missing')
    if len(value) == 0:
        raise MalformedPayloadError(f'metadata "{key}" is empty')
    if len(value) > limit:
        raise MalformedPayloadError(f'metadata "{key}" expected at most {limit} bytes, got {len(value)}')
    return bytes(value)


def read_text(meta: Mapping[str, bytes], key: str, limit: int) -> str:
    """A metadata field as strict UTF-8."""
    raw = read_bytes(meta, key, limit)
    try:
        # Plain "utf-8", not "utf-8-sig": a leading U+FEFF is part of an id and must survive.
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPayloadError(f'metadata "{key}" is not valid UTF-8') from None
