"""The PayloadCodec (codecs/envelope-codec.ts in TypeScript).

::

    Temporal Server <--> Wire <--> EnvelopeCodec <--> PayloadConverter <--> User code

Each payload is sealed with the data key (DEK) of the workflow it belongs to; the DEK is wrapped by a
key-encryption key (KEK) from a KeyProvider and travels, wrapped, inside the payload (format v1), or
is derived from a branch key per namespace that travels wrapped instead (format v2,
``key_hierarchy="branch"``). Every codec opens both versions, whichever it seals. The SDK hands
the codec a serialization context through ``with_context`` (temporalio's WithSerializationContext):
a workflow's, or an activity's naming its workflow, seals to that workflow; none seals to the
namespace. Bytes: primitives/wire_format.py and wire_format_v2.py; rules: docs/wire-format.md.
"""

from __future__ import annotations

import logging
import os
import zlib
from collections.abc import Sequence
from typing import Final, Literal

import temporalio.runtime
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

from ..keys.branch_key_provider import BranchKeyOptions, BranchKeyProvider
from ..keys.dek_cache import DataKeyCache, DekCacheLimits, validate_limits
from ..keys.legacy_keyring import LegacyKeyring
from ..keys.provider import KeyObserver, KeyProvider, NullObserver
from ..keys.provider_set import ProviderSet
from ..primitives.aead import AeadAlgorithm, RandomSource, aead_suite, is_aead_algorithm, open_sealed
from ..primitives.branch_key import KeyHierarchy, is_key_hierarchy
from ..primitives.errors import (
    EnvelopeError,
    InvalidConfigError,
    MalformedPayloadError,
    PlaintextRejectedError,
)
from ..primitives.refused_marker import refused_marker
from ..primitives.samples_format import SAMPLES_AAD, samples_key_id_of
from ..primitives.scope import Scope, check_scope, make_scope
from ..primitives.wire_format import ENCODING_BYTES, META_ENCODING, META_VERSION, Compression
from ..primitives.wire_format_versions import parsed_sealed_header, sealing_template, wrapped_key_of

_log = logging.getLogger("temporal_envelope")

#: A sealed payload never inflates past this (a deflate bomb is refused, not expanded).
MAX_INFLATED_BYTES: Final = 64 * 1024 * 1024


class _Shared:
    """What every context-bound copy of a codec shares: providers, options and the DEK cache."""

    def __init__(
        self,
        providers: ProviderSet,
        branch_layers: tuple[BranchKeyProvider, ...],
        cache: DataKeyCache,
        *,
        default_namespace: str,
        algorithm: AeadAlgorithm,
        compression: Compression | None,
        compression_min_bytes: int,
        require_encryption: bool,
        accept_namespace_scoped: bool,
        schedule_runs: bool,
        mark_refused_in_workflow: bool,
        legacy_keys: LegacyKeyring | None,
        random: RandomSource,
    ) -> None:
        self.providers = providers
        self.branch_layers = branch_layers
        self.cache = cache
        self.default_namespace = default_namespace
        self.algorithm = algorithm
        self.compression = compression
        self.compression_min_bytes = compression_min_bytes
        self.require_encryption = require_encryption
        self.accept_namespace_scoped = accept_namespace_scoped
        self.schedule_runs = schedule_runs
        self.mark_refused_in_workflow = mark_refused_in_workflow
        self.legacy_keys = legacy_keys
        self.random = random


class _CacheObserver:
    """The codec's observer as the DEK cache sees it: cache hits and misses, but no KMS calls, which
    the branch-key layers report (they alone know which calls reach KMS)."""

    def __init__(self, observer: KeyObserver) -> None:
        self.on_cache_hit = observer.on_cache_hit
        self.on_cache_miss = observer.on_cache_miss

    def on_kms_call(self, op: Literal["generate", "decrypt"], provider: str, outcome: Literal["ok", "error"], seconds: float) -> None:
        pass


class EnvelopeCodec(PayloadCodec, WithSerializationContext):
    """Envelope encryption for Temporal payloads, wire format v1 and v2.

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
        mark_refused_in_workflow: In a workflow context, return a payload refused for good
            (anything but KMS_UNAVAILABLE and KEY_LIMIT_EXCEEDED) as a refused-payload marker,
            logged with its code and reason, instead of raising: the SDK then drops a refused
            signal, as Go's does, instead of failing the workflow task on every attempt (a
            stalled workflow). Input, memo and results still fail the task. Default off: a client
            sharing this codec reports the marker's unknown encoding instead of the refusal.
        key_hierarchy: How new data keys are made. ``"per-workflow"`` (default): one KMS data key per
            workflow per key lifetime (format v1); CloudTrail names each workflow. ``"branch"``: one
            KMS call per namespace per ``branch_key_max_age_seconds``, each workflow's data key
            derived from that branch key (format v2). Either way the codec opens both formats.
        branch_key_max_age_seconds: With ``key_hierarchy="branch"``: how long one branch key makes
            new data keys for a namespace. Default 1 h.
        legacy_keys: Keys of Temporal's samples encryption codec, a legacy key file's path or a
            ``LegacyKeyring`` (``temporal-envelope keys import-legacy`` writes the file): payloads in
            the samples' format whose ``encryption-key-id`` names one of them are opened
            (decrypt-only; they are bound to no scope, see SECURITY.md). Default none.
        cache: DEK cache limits (max age 1 h, 2^20 payloads, 2^36 bytes, 10,000 entries, …); its
            ``stale_grace_seconds``, ``decrypt_max_age_seconds`` and ``max_decrypt_entries`` apply
            to branch keys too.
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
        key_hierarchy: KeyHierarchy = "per-workflow",
        branch_key_max_age_seconds: float = 60 * 60,
        mark_refused_in_workflow: bool = False,
        legacy_keys: LegacyKeyring | str | os.PathLike[str] | None = None,
        cache: DekCacheLimits | None = None,
        observer: KeyObserver | None = None,
        random: RandomSource = os.urandom,
    ) -> None:
        given = list(key_providers) if isinstance(key_providers, Sequence) else [key_providers]
        if len(given) == 0:
            raise InvalidConfigError('codec "key_providers" expected at least one key provider')
        if not is_key_hierarchy(key_hierarchy):
            raise InvalidConfigError(f'codec "key_hierarchy" expected "per-workflow" or "branch", got {key_hierarchy!r}')
        if not isinstance(default_namespace, str) or default_namespace == "":
            raise InvalidConfigError('codec "default_namespace" expected a non-empty string')
        if not is_aead_algorithm(algorithm):
            raise InvalidConfigError(f'codec "algorithm" expected AES-256-GCM or XCHACHA20-POLY1305, got {algorithm!r}')
        if compression not in (None, "deflate"):
            raise InvalidConfigError(f'codec "compression" expected "deflate" or None, got {compression!r}')
        if not isinstance(compression_min_bytes, int) or compression_min_bytes < 0:
            raise InvalidConfigError(f'codec "compression_min_bytes" expected a whole number >= 0, got {compression_min_bytes!r}')
        # The cache's limits first, so a bad one is named as the cache's, not as a branch key's.
        limits = validate_limits(cache or DekCacheLimits(), aead_suite(algorithm).max_messages_per_key)
        branch_options = BranchKeyOptions(
            branch_key_max_age_seconds=branch_key_max_age_seconds,
            stale_grace_seconds=limits.stale_grace_seconds,
            decrypt_max_age_seconds=limits.decrypt_max_age_seconds,
            max_decrypt_entries=limits.max_decrypt_entries,
        )
        # Every provider gets the branch-key layer, so this codec opens format v2 whatever it seals;
        # only the first one seals, and only it with the chosen hierarchy.
        layers = tuple(
            BranchKeyProvider(p, key_hierarchy=key_hierarchy if i == 0 else "per-workflow", options=branch_options, observer=observer, random=random)
            for i, p in enumerate(given)
        )
        providers = ProviderSet(layers)
        legacy = _legacy_keyring(legacy_keys)
        dek_cache = DataKeyCache(
            providers,
            limits,
            cipher_message_limit=aead_suite(algorithm).max_messages_per_key,
            observer=_CacheObserver(observer or NullObserver()),
        )
        self.key_hierarchy: KeyHierarchy = key_hierarchy
        self._shared = _Shared(
            providers,
            layers,
            dek_cache,
            default_namespace=default_namespace,
            algorithm=algorithm,
            compression=compression,
            compression_min_bytes=compression_min_bytes,
            require_encryption=bool(require_encryption),
            accept_namespace_scoped=bool(accept_namespace_scoped),
            schedule_runs=bool(schedule_runs),
            mark_refused_in_workflow=bool(mark_refused_in_workflow),
            legacy_keys=legacy,
            random=random,
        )
        self._context: SerializationContext | None = None
        self._scopes: tuple[Scope, Scope | None] | None = None

    @property
    def keys(self) -> DataKeyCache:
        """The DEK cache (shared by every context-bound copy of this codec)."""
        return self._shared.cache

    def close(self) -> None:
        """Wipe every key this codec holds (data keys and branch keys). The key providers it was
        given stay open: they are the caller's to close."""
        self._shared.cache.clear()
        for layer in self._shared.branch_layers:
            layer.wipe()

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
        if self._shared.mark_refused_in_workflow and isinstance(self._context, WorkflowSerializationContext):
            expected = self.expected_scope()
            return [await self._open_or_mark(p, expected) for p in payloads]
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
        # A branch-derived data key seals in format v2, any other in v1: its wrapped form says which.
        template = sealing_template(s.algorithm, lease.key_id, scope, lease.wrapped, compression)
        return template.payload(lease.cipher.seal(plaintext, template.aad, s.random))

    async def _open_or_mark(self, payload: Payload, expected: Scope | None) -> Payload:
        # A failure that may pass (KMS down) still raises: the task retries, nothing is lost.
        try:
            return await self._open_one(payload, expected)
        except EnvelopeError as err:
            if err.retryable:
                raise
            _log.warning(
                "temporal_envelope: refused a payload in workflow %r (%s); a signal carrying it is dropped",
                expected.workflow_id if expected else None,
                err,
            )
            # The default runtime's meter: where the SDK's own worker metrics go unless replaced.
            temporalio.runtime.Runtime.default().metric_meter.create_counter(
                "temporal_envelope_refused_payloads", "Payloads a worker's codec refused and marked", "payloads"
            ).add(1, {"code": err.code})
            return refused_marker(err.code, err.message)

    async def _open_one(self, payload: Payload, expected: Scope | None) -> Payload:
        s = self._shared
        meta = payload.metadata
        if meta.get(META_ENCODING) != ENCODING_BYTES:
            if s.require_encryption:
                raise PlaintextRejectedError("payload is not encrypted and this codec requires encryption")
            return payload
        if META_VERSION not in meta:
            return self._open_not_envelope(payload)
        header, aad = parsed_sealed_header(payload)
        if expected is not None:
            check_scope(header.scope, expected, accept_namespace_scoped=s.accept_namespace_scoped, schedule_runs=s.schedule_runs)
        key = await s.cache.lease_for_decrypt(header.key_id, wrapped_key_of(header), header.scope, header.algorithm)
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
