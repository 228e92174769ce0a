"""The temporal-envelope wire format, version 2: data keys derived from a branch key per namespace
(primitives/branch_key.py; primitives/format-v2.ts in TypeScript). Documented in docs/wire-format.md
("Version 2"); test/vectors/envelope-v2.json pins it. Version 1 (wire_format.py) is unchanged and
keeps opening.

::

    metadata (UTF-8 unless noted)
      encoding               "binary/encrypted"
      encryption-key-id      KEK id that wrapped the branch key
      envelope-version       "2"
      envelope-alg           "AES-256-GCM" | "XCHACHA20-POLY1305"
      envelope-namespace     namespace the payload is sealed to
      envelope-workflow-id   workflow id it is sealed to (absent: namespace scope)
      envelope-branch-key    the wrapped branch key (raw bytes, provider-specific, 1..4096 bytes)
      envelope-dek-salt      32 bytes: the HKDF salt of this payload's data key
      envelope-compression   "deflate" when the plaintext was deflated before sealing (absent: none)
      (no envelope-dek: a version-2 header carrying one is refused as UNSUPPORTED_FORMAT)
    data
      nonce ‖ ciphertext ‖ tag, as in version 1
    additional data
      length_prefixed(["temporal-envelope/v2/payload", alg, key id, namespace, 0x00 | 0x01‖workflow id,
                       wrapped branch key, dek salt, compression or empty])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from temporalio.api.common.v1 import Payload

from .aead import AeadAlgorithm
from .branch_key import DEK_SALT_BYTES, pack_branch_wrapped, unpack_branch_wrapped
from .errors import MalformedPayloadError, UnsupportedFormatError
from .scope import Scope
from .wire_format import (
    META_ALGORITHM,
    META_COMPRESSION,
    META_KEY_ID,
    META_NAMESPACE,
    META_VERSION,
    META_WORKFLOW_ID,
    META_WRAPPED_DEK,
    Compression,
    SealTemplate,
    header_aad,
    memo_put,
    metadata_of,
    read_bytes,
    read_common_fields,
    read_compression,
    read_text,
)

FORMAT_VERSION_2: Final = "2"
META_BRANCH_KEY: Final = "envelope-branch-key"
META_DEK_SALT: Final = "envelope-dek-salt"

AAD_LABEL_V2: Final = b"temporal-envelope/v2/payload"
MAX_WRAPPED_BRANCH_KEY_BYTES: Final = 4096


@dataclass(frozen=True, slots=True)
class EnvelopeHeaderV2:
    """A version-2 header: everything in the payload except the box. All of it is authenticated."""

    algorithm: AeadAlgorithm
    key_id: str
    scope: Scope
    wrapped_branch_key: bytes
    dek_salt: bytes
    compression: Compression | None = None
    version: str = FORMAT_VERSION_2

    @property
    def wrapped_key(self) -> bytes:
        """What a KeyProvider unwraps for this header: the wrapped branch key and the salt, packed."""
        return pack_branch_wrapped(self.wrapped_branch_key, self.dek_salt)


def additional_data_v2(header: EnvelopeHeaderV2) -> bytes:
    return header_aad(
        AAD_LABEL_V2,
        header.algorithm.encode(),
        header.key_id.encode(),
        header.scope.namespace.encode(),
        None if header.scope.workflow_id is None else header.scope.workflow_id.encode(),
        (header.wrapped_branch_key, header.dek_salt),
        b"" if header.compression is None else header.compression.encode(),
    )


def additional_data_of_v2(payload: Payload) -> bytes:
    """The same additional data from a validated payload's metadata bytes as they are."""
    meta = payload.metadata
    return header_aad(
        AAD_LABEL_V2,
        meta[META_ALGORITHM],
        meta[META_KEY_ID],
        meta[META_NAMESPACE],
        meta[META_WORKFLOW_ID] if META_WORKFLOW_ID in meta else None,
        (meta[META_BRANCH_KEY], meta[META_DEK_SALT]),
        meta[META_COMPRESSION] if META_COMPRESSION in meta else b"",
    )


def parse_header_v2(payload: Payload) -> tuple[EnvelopeHeaderV2, bytes]:
    """Read and validate a version-2 header. Checks in this order (every codec the same, so a header
    with several faults fails alike everywhere): version, no ``envelope-dek``, algorithm, key id,
    namespace, workflow id (as version 1 reads them), branch key, salt, compression."""
    meta = payload.metadata
    version = read_text(meta, META_VERSION, 16)
    if version != FORMAT_VERSION_2:
        raise UnsupportedFormatError(f'"{META_VERSION}" expected {FORMAT_VERSION_2}, got {version[:16]!r}')
    # A version-1 header relabelled: not a version-2 payload, and not one we could tell apart from one.
    if META_WRAPPED_DEK in meta:
        raise UnsupportedFormatError(f'version 2 carries no "{META_WRAPPED_DEK}": a version-1 header labelled 2')
    algorithm, key_id, scope = read_common_fields(meta)
    wrapped_branch_key = read_bytes(meta, META_BRANCH_KEY, MAX_WRAPPED_BRANCH_KEY_BYTES)
    dek_salt = read_bytes(meta, META_DEK_SALT, DEK_SALT_BYTES)
    if len(dek_salt) != DEK_SALT_BYTES:
        raise MalformedPayloadError(f'metadata "{META_DEK_SALT}" expected {DEK_SALT_BYTES} bytes, got {len(dek_salt)}')
    header = EnvelopeHeaderV2(algorithm, key_id, scope, wrapped_branch_key, dek_salt, read_compression(meta))
    return header, payload.data


# As wire_format.py's memos: keyed by exact field values, cleared when full.
_TEMPLATES_V2: dict[tuple[str, str, str, str | None, bytes, str | None], SealTemplate] = {}
_PARSED_V2: dict[tuple[bytes | None, ...], tuple[EnvelopeHeaderV2, bytes]] = {}


def template_for_v2(
    algorithm: AeadAlgorithm, key_id: str, scope: Scope, wrapped: bytes, compression: Compression | None
) -> SealTemplate | None:
    """Additional data and metadata for sealing with a branch-derived data key, memoised per data
    key; None when ``wrapped`` is a version-1 wrapped data key (then wire_format.template_for applies)."""
    memo_key = (algorithm, key_id, scope.namespace, scope.workflow_id, wrapped, compression)
    template = _TEMPLATES_V2.get(memo_key)
    if template is not None:
        return template
    pair = unpack_branch_wrapped(wrapped)
    if pair is None:
        return None
    header = EnvelopeHeaderV2(algorithm, key_id, scope, pair.wrapped_branch_key, pair.dek_salt, compression)
    metadata = metadata_of(
        FORMAT_VERSION_2, algorithm, key_id, scope, compression, {META_BRANCH_KEY: header.wrapped_branch_key, META_DEK_SALT: header.dek_salt}
    )
    template = SealTemplate(additional_data_v2(header), Payload(metadata=metadata))
    memo_put(_TEMPLATES_V2, memo_key, template)
    return template


def parsed_header_v2(payload: Payload) -> tuple[EnvelopeHeaderV2, bytes]:
    """parse_header_v2's header and additional_data_of_v2's bytes, memoised by the metadata's exact
    bytes (only headers that parsed: a malformed one raises every time)."""
    get = payload.metadata.get
    memo_key = (
        get(META_VERSION),
        get(META_WRAPPED_DEK),
        get(META_ALGORITHM),
        get(META_KEY_ID),
        get(META_NAMESPACE),
        get(META_WORKFLOW_ID),
        get(META_BRANCH_KEY),
        get(META_DEK_SALT),
        get(META_COMPRESSION),
    )
    hit = _PARSED_V2.get(memo_key)
    if hit is None:
        header, _ = parse_header_v2(payload)
        hit = (header, additional_data_of_v2(payload))
        memo_put(_PARSED_V2, memo_key, hit)
    return hit
