"""The PayloadCodec (codecs/envelope-codec.ts in TypeScript).

::

    Temporal Server <--> Wire <--> EnvelopeCodec <--> PayloadConverter <--> User code

Each payload is sealed with the data key (DEK) of the workflow it belongs to; the DEK is wrapped by a
key-encryption key (KEK) from a KeyProvider and travels, wrapped, inside the payload. The SDK hands
the codec a serialization context through ``with_context`` (temporalio's WithSerializationContext):
a workflow's, or an activity's naming its workflow, seals to that workflow; none seals to the
namespace. Bytes: primitives/wire_format.py; rules: docs/wire-format.md.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Sequence
from typing import Final, Literal

from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payload
from temporalio.converter import (
    ActivitySerializationContext,
    PayloadCodec,
    SerializationContext,
    WithSerializationContext,
    WorkflowSerializationContext,
)
from typing_extensions import Self

from ..keys.dek_cache import DataKeyCache, DekCacheLimits
from ..keys.legacy_keyring import LegacyKeyring
from ..keys.provider import KeyObserver, KeyProvider
from ..keys.provider_set import ProviderSet
from ..primitives.aead import AeadAlgorithm, RandomSource, aead_suite, is_aead_algorithm, open_sealed
from ..primitives.errors import (
    InvalidConfigError,
    MalformedPayloadError,
    PlaintextRejectedError,
)
from ..primitives.samples_format import SAMPLES_AAD, samples_key_id_of
from ..primitives.scope import Scope, check_scope, make_scope
from ..primitives.wire_format import (
    ENCODING_BYTES,
    META_ENCODING,
    META_VERSION,
    Compression,
    parsed_header,
    template_for,
)

#: A sealed payload never inflates past this (a deflate bomb is refused, not expanded).
MAX_INFLATED_BYTES: Final = 64 * 1024 * 1024


class _Shared:
    """What every context-bound copy of a codec shares: providers, options and the DEK cache."""

    def __init__(
        self,
        providers: ProviderSet,
        cache: DataKeyCache,
        *,
        default_namespace: str,
        algorithm: AeadAlgorithm,
        compression: Compression | None,
        compression_min_bytes: int,
        require_encryption: bool,
        accept_namespace_scoped: bool,
        schedule_runs: bool,
        legacy_keys: LegacyKeyring | None,
        random: RandomSource,
    ) -> None:
        self.providers = providers
        self.cache = cache
        self.default_namespace = default_namespace
        self.algorithm = algorithm
        self.compression = compression
        self.compression_min_bytes = compression_min_bytes
        self.require_encryption = require_encryption
        self.accept_namespace_scoped = accept_namespace_scoped
        self.schedule_runs = schedule_runs
        self.legacy_keys = legacy_keys
        self.random = random


class EnvelopeCodec(PayloadCodec, WithSerializationContext):
    """Envelope encryption for Temporal payloads, wire format v1.

    Args:
        key_providers: KEK providers. The first one's primary wraps new data keys; any may unwrap.
        default_namespace: Namespace for payloads coded without a serialization context.
        algorithm: ``"AES-256-GCM"`` (default) or ``"XCHACHA20-POLY1305"``. Decoding reads both.
        compression: ``"deflate"`` to deflate payloads before sealing. Off by default: compressed
            length reveals something about the plaintext (CRIME/BREACH).
        compression_min_bytes: Only compress payloads at least this large.
        require_encryption: Refuse to decode a payload that is not encrypted (fail closed against
            plaintext injected by someone with signal permission but no key).
        accept_namespace_scoped: Accept namespace-scoped payloads (e.g. sealed by the UI's
            /encode) in a workflow context. Default off: the secure default.
        schedule_runs: Accept a payload sealed for workflow S in a run a schedule started from it
            (``S-YYYY-MM-DDTHH:MM:SSZ``). Default on.
        legacy_keys: Keys of Temporal's samples encryption codec, a legacy key file's path or a
            ``LegacyKeyring`` (``temporal-envelope keys import-legacy`` writes the file): payloads in
            the samples' format whose ``encryption-key-id`` names one of them are opened
            (decrypt-only; they are bound to no scope, see SECURITY.md). Default none.
        cache: DEK cache limits (max age 1 h, 2^20 payloads, 2^36 bytes, 10,000 entries, …).
        observer: Metrics hooks (KMS calls, cache hits and misses).
        random: Nonce source; only known-answer tests replace it.
    """

    def __init__(
        self,
        key_providers: KeyProvider | Sequence[KeyProvider],
        *,
        default_namespace: str = "default",
        algorithm: AeadAlgorithm = "AES-256-GCM",
        compression: Literal["deflate"] | None = None,
        compression_min_bytes: int = 1024,
        require_encryption: bool = False,
        accept_namespace_scoped: bool = False,
        schedule_runs: bool = True,
        legacy_keys: LegacyKeyring | str | os.PathLike[str] | None = None,
        cache: DekCacheLimits | None = None,
        observer: KeyObserver | None = None,
        random: RandomSource = os.urandom,
    ) -> None:
        providers = ProviderSet(list(key_providers) if isinstance(key_providers, Sequence) else [key_providers])
        if not isinstance(default_namespace, str) or default_namespace == "":
            raise InvalidConfigError('codec "default_namespace" expected a non-empty string')
        if not is_aead_algorithm(algorithm):
            raise InvalidConfigError(f'codec "algorithm" expected AES-256-GCM or XCHACHA20-POLY1305, got {algorithm!r}')
        if compression not in (None, "deflate"):
            raise InvalidConfigError(f'codec "compression" expected "deflate" or None, got {compression!r}')
        if not isinstance(compression_min_bytes, int) or compression_min_bytes < 0:
            raise InvalidConfigError(f'codec "compression_min_bytes" expected a whole number >= 0, got {compression_min_bytes!r}')
        legacy = _legacy_keyring(legacy_keys)
        dek_cache = DataKeyCache(
            providers,
            cache,
            cipher_message_limit=aead_suite(algorithm).max_messages_per_key,
            observer=observer,
        )
        self._shared = _Shared(
            providers,
            dek_cache,
            default_namespace=default_namespace,
            algorithm=algorithm,
            compression=compression,
            compression_min_bytes=compression_min_bytes,
            require_encryption=bool(require_encryption),
            accept_namespace_scoped=bool(accept_namespace_scoped),
            schedule_runs=bool(schedule_runs),
            legacy_keys=legacy,
            random=random,
        )
        self._context: SerializationContext | None = None
        self._scopes: tuple[Scope, Scope | None] | None = None

    @property
    def keys(self) -> DataKeyCache:
        """The DEK cache (shared by every context-bound copy of this codec)."""
        return self._shared.cache

    @property
    def context(self) -> SerializationContext | None:
        return self._context

    def with_context(self, context: SerializationContext) -> Self:
        """A copy bound to ``context`` that shares this codec's keys and cache (temporalio calls this
        for every workflow, activity and client operation)."""
        # The SDK binds a codec once per operation: a plain attribute copy, not copy.copy's protocol.
        bound = object.__new__(type(self))
        bound.__dict__.update(self.__dict__)
        bound._context = context
        bound._scopes = None
        return bound

    # -- PayloadCodec ----------------------------------------------------------------------------

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.encode_in_scope(payloads, self.sealing_scope())

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return await self.decode_in_scope(payloads, self.expected_scope())

    async def encode_in_scope(self, payloads: Sequence[Payload], scope: Scope) -> list[Payload]:
        """Seal for an explicit scope (a codec server's /encode knows only the namespace)."""
        return [await self._seal_one(p, scope) for p in payloads]

    async def decode_in_scope(self, payloads: Sequence[Payload], expected: Scope | None) -> list[Payload]:
        """Open, checking each payload's sealed scope against ``expected`` (None: no scope check)."""
        return [await self._open_one(p, expected) for p in payloads]

    def sealing_scope(self) -> Scope:
        """The scope this codec seals to: the context's workflow, else the namespace."""
        return self._scopes_of_context()[0]

    def expected_scope(self) -> Scope | None:
        """The scope a payload must match to open here; None without a context (no check)."""
        return self._scopes_of_context()[1]

    def _scopes_of_context(self) -> tuple[Scope, Scope | None]:
        # Worked out on first use rather than in with_context, so an id the wire cannot carry
        # fails the codec call (a typed MALFORMED_PAYLOAD) and not the SDK's context plumbing.
        if self._scopes is None:
            ctx = self._context
            if isinstance(ctx, (WorkflowSerializationContext, ActivitySerializationContext)):
                # An activity without a workflow (standalone) has "" or None: the namespace scope.
                scope = make_scope(ctx.namespace or self._shared.default_namespace, ctx.workflow_id or None)
                self._scopes = (scope, scope)
            else:
                # No context, or one without a namespace (Nexus): the default namespace, no check.
                self._scopes = (make_scope(self._shared.default_namespace), None)
        return self._scopes

    # -- sealing and opening ---------------------------------------------------------------------

    async def _seal_one(self, payload: Payload, scope: Scope) -> Payload:
        if not isinstance(payload, Payload):
            raise MalformedPayloadError(f"payload expected a temporal.api.common.v1.Payload, got {type(payload).__name__}")
        s = self._shared
        # Deterministic: map entries sorted by key, so the same payload always seals the same
        # plaintext (protobufjs writes insertion order; readers parse either).
        plaintext = payload.SerializeToString(deterministic=True)
        compression: Compression | None = None
        if s.compression is not None and len(plaintext) >= s.compression_min_bytes:
            deflater = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
            deflated = deflater.compress(plaintext) + deflater.flush()
            if len(deflated) < len(plaintext):
                plaintext = deflated
                compression = s.compression
        lease = await s.cache.lease_for_encrypt(scope, s.algorithm, len(plaintext))
        template = template_for(s.algorithm, lease.key_id, scope, lease.wrapped, compression)
        return template.payload(lease.cipher.seal(plaintext, template.aad, s.random))

    async def _open_one(self, payload: Payload, expected: Scope | None) -> Payload:
        s = self._shared
        meta = payload.metadata
        if meta.get(META_ENCODING) != ENCODING_BYTES:
            if s.require_encryption:
                raise PlaintextRejectedError("payload is not encrypted and this codec requires encryption")
            return payload
        if META_VERSION not in meta:
            return self._open_not_envelope(payload)
        header, aad = parsed_header(payload)
        if expected is not None:
            check_scope(header.scope, expected, accept_namespace_scoped=s.accept_namespace_scoped, schedule_runs=s.schedule_runs)
        key = await s.cache.lease_for_decrypt(header.key_id, header.wrapped_dek, header.scope, header.algorithm)
        plaintext = key.open(payload.data, aad)
        if header.compression == "deflate":
            plaintext = _inflate(plaintext)
        return _parse_payload(plaintext)

    def _open_not_envelope(self, payload: Payload) -> Payload:
        """A binary/encrypted payload without our envelope-version: another product's format, not
        ours (returned as it came, as Temporal's codec contract asks, unless ``require_encryption``),
        except the samples codec's under a configured legacy key."""
        s = self._shared
        legacy_id = None if s.legacy_keys is None else samples_key_id_of(payload)
        if legacy_id is not None and s.legacy_keys is not None and s.legacy_keys.knows(legacy_id):
            return _open_legacy(s.legacy_keys, legacy_id, payload)
        if s.require_encryption:
            unknown = "" if legacy_id is None else " and its encryption-key-id is not a configured legacy key"
            raise PlaintextRejectedError(
                "payload is binary/encrypted but not in the temporal-envelope format (no envelope-version)"
                f"{unknown}, and this codec requires encryption"
            )
        return payload


def _legacy_keyring(option: object) -> LegacyKeyring | None:
    if option is None or isinstance(option, LegacyKeyring):
        return option
    if isinstance(option, (str, os.PathLike)) and os.fspath(option) != "":
        # Read now, at start-up: a missing, unsafe or invalid file is a KeyringError naming it.
        return LegacyKeyring.open(os.fspath(option))
    raise InvalidConfigError(f'codec "legacy_keys" expected a legacy key file path or a LegacyKeyring, got {type(option).__name__}')


def _open_legacy(legacy_keys: LegacyKeyring, key_id: str, payload: Payload) -> Payload:
    """A payload the samples' codec sealed: AES-256-GCM under the legacy key, no additional data. It
    is bound to no scope, so there is no scope to check; a configured legacy key is the consent."""
    if len(payload.data) == 0:
        # proto3 bytes have no presence: empty is how a missing "data" arrives.
        raise MalformedPayloadError('payload "data" is missing')
    key = legacy_keys.material(key_id)
    try:
        plaintext = open_sealed("AES-256-GCM", key, payload.data, SAMPLES_AAD)
    finally:
        key[:] = bytes(len(key))
    return _parse_payload(plaintext)


def _parse_payload(plaintext: bytes) -> Payload:
    opened = Payload()
    try:
        opened.ParseFromString(plaintext)
    except DecodeError:
        raise MalformedPayloadError("sealed payload is not a temporal.api.common.v1.Payload") from None
    return opened


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, MAX_INFLATED_BYTES)
    except zlib.error:
        raise MalformedPayloadError("sealed payload did not inflate") from None
    if inflater.unconsumed_tail:
        raise MalformedPayloadError(f"sealed payload inflates past {MAX_INFLATED_BYTES} bytes")
    if not inflater.eof:
        raise MalformedPayloadError("sealed payload did not inflate (truncated deflate stream)")
    return out
