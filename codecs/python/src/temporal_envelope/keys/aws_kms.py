"""KEKs in AWS KMS through boto3 (keys/aws-kms-keyring.ts in TypeScript).

Data keys come from GenerateDataKey and are unwrapped by Decrypt, both with the payload's scope as
the EncryptionContext ``{"temporal-namespace": ns, "temporal-workflow-id": wf}``, so a wrapped key
only opens for the scope it was made for. boto3 blocks: every call runs in a worker thread
(``asyncio.to_thread``) under a timeout, so a slow KMS never stalls the event loop, and the DEK
cache in front means KMS is called once per workflow per key lifetime, never per payload.

The configured key id string (ARN, key id or alias), not the ARN KMS answers with, goes into
payloads, so ``handles()`` and ``keys usage``/``keys retire`` match what the operator configured.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final, Protocol, TypeVar

from ..primitives.errors import (
    EnvelopeError,
    InvalidConfigError,
    KeyRetiredError,
    KmsAccessDeniedError,
    KmsUnavailableError,
    TamperedCiphertextError,
    UnknownKeyError,
)
from ..primitives.scope import Scope, scope_to_encryption_context
from .file_poll import FilePoll, file_stamp
from .kms_key_config import is_kms_key_id, read_kms_key_config
from .provider import GeneratedDataKey, KekInfo, KekState

logger = logging.getLogger("temporal_envelope")
T = TypeVar("T")

#: Errors KMS returns when a retry later can succeed.
RETRYABLE: Final = frozenset(
    {
        "ThrottlingException",
        "LimitExceededException",
        "KMSInternalException",
        "DependencyTimeoutException",
        "KeyUnavailableException",
        "ServiceUnavailableException",
        "InternalFailure",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
DENIED: Final = frozenset(
    {
        "AccessDeniedException",
        "DisabledException",
        "KMSInvalidStateException",
        "NotFoundException",
        "InvalidKeyUsageException",
        "UnrecognizedClientException",
    }
)
_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:kms:([a-z0-9-]+):")


@dataclass(frozen=True, slots=True)
class AwsKmsKey:
    #: ARN, key id or alias, written verbatim into each payload's ``encryption-key-id``.
    key_id: str
    #: Default: the first key is primary, the rest decrypt-only.
    state: KekState | None = None
    #: Region for this key; read from an ARN, else the keyring's region.
    region: str | None = None


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None


class KmsClient(Protocol):
    """The three calls of a boto3 KMS client this provider makes (keyword arguments as boto3 takes them)."""

    def generate_data_key(self, **kwargs: Any) -> dict[str, Any]: ...

    def decrypt(self, **kwargs: Any) -> dict[str, Any]: ...

    def describe_key(self, **kwargs: Any) -> dict[str, Any]: ...


@dataclass(frozen=True, slots=True)
class _ConfiguredKey:
    key_id: str
    state: KekState
    region: str


class AwsKmsKeyring:
    name = "aws-kms"

    def __init__(
        self,
        keys: Sequence[AwsKmsKey],
        *,
        region: str | None = None,
        endpoint: str | None = None,
        credentials: AwsCredentials | None = None,
        request_timeout_seconds: float = 3.0,
        max_attempts: int = 3,
        client_factory: Callable[[str], KmsClient] | None = None,
    ) -> None:
        if not (isinstance(request_timeout_seconds, (int, float)) and request_timeout_seconds > 0):
            raise InvalidConfigError(f'awsKms "request_timeout_seconds" expected a positive number, got {request_timeout_seconds!r}')
        if not (isinstance(max_attempts, int) and max_attempts >= 1):
            raise InvalidConfigError(f'awsKms "max_attempts" expected a whole number >= 1, got {max_attempts!r}')
        self._region = region
        self._endpoint = endpoint
        self._credentials = credentials
        self._timeout = float(request_timeout_seconds)
        self._max_attempts = max_attempts
        self._client_factory = client_factory or self._boto3_client
        self._clients: dict[str, KmsClient] = {}
        self._clients_lock = threading.Lock()
        self._keys: tuple[_ConfiguredKey, ...] = ()
        self._by_id: dict[str, _ConfiguredKey] = {}
        self._poll: FilePoll | None = None
        self._warn: Callable[[str], None] = logger.warning
        self.set_keys(keys)

    @classmethod
    def from_key_config_file(
        cls,
        path: str,
        *,
        watch_interval_seconds: float = 2.0,
        warn: Callable[[str], None] | None = None,
        region: str | None = None,
        endpoint: str | None = None,
        credentials: AwsCredentials | None = None,
        request_timeout_seconds: float = 3.0,
        max_attempts: int = 3,
        client_factory: Callable[[str], KmsClient] | None = None,
    ) -> AwsKmsKeyring:
        """Keys from a key config file (``keys init/rotate --provider aws-kms``), re-read when it
        changes (its modification time is checked on use, at most every ``watch_interval_seconds``)."""
        stamp = file_stamp(path)
        ring = cls(
            _keys_of(read_kms_key_config(path)),
            region=region,
            endpoint=endpoint,
            credentials=credentials,
            request_timeout_seconds=request_timeout_seconds,
            max_attempts=max_attempts,
            client_factory=client_factory,
        )
        ring._poll = FilePoll(path, watch_interval_seconds, stamp)
        if warn is not None:
            ring._warn = warn
        return ring

    def set_keys(self, keys: Sequence[AwsKmsKey]) -> None:
        """Swap the configured keys at once (rotation without restart)."""
        if len(keys) == 0:
            raise InvalidConfigError('awsKms "keys" expected at least one KMS key')
        configured: list[_ConfiguredKey] = []
        for i, k in enumerate(keys):
            if not isinstance(k.key_id, str) or not is_kms_key_id(k.key_id):
                raise InvalidConfigError(
                    f'awsKms "keys[{i}].key_id" expected a KMS key ARN, key id or alias/<name>, got {k.key_id!r}'
                )
            state: KekState = k.state or ("primary" if i == 0 else "decrypt-only")
            if (state == "primary") != (i == 0):
                raise InvalidConfigError(f'awsKms "keys[{i}].state": the first key, and only the first, is primary')
            arn = _ARN_REGION.match(k.key_id)
            region = (
                k.region
                or (arn.group(1) if arn else None)
                or self._region
                or os.environ.get("AWS_REGION")
                or os.environ.get("AWS_DEFAULT_REGION")
            )
            if region is None:
                raise InvalidConfigError(f'awsKms "region" is required for key {k.key_id} (or set AWS_REGION)')
            configured.append(_ConfiguredKey(k.key_id, state, region))
        self._keys = tuple(configured)
        self._by_id = {k.key_id: k for k in configured}

    # -- KeyProvider -----------------------------------------------------------------------------

    def primary_key_id(self) -> str:
        self._maybe_reload()
        return self._keys[0].key_id

    def handles(self, key_id: str) -> bool:
        self._maybe_reload()
        if key_id not in self._by_id:
            # A key `keys rotate --provider aws-kms` added a moment ago: look at the config file now.
            self._maybe_reload(now=True)
        return key_id in self._by_id

    async def generate_data_key(self, scope: Scope) -> GeneratedDataKey:
        self._maybe_reload()
        key = self._keys[0]
        out = await self._call(
            "GenerateDataKey",
            key,
            lambda c: c.generate_data_key(
                KeyId=key.key_id, KeySpec="AES_256", EncryptionContext=scope_to_encryption_context(scope)
            ),
        )
        plaintext, blob = out.get("Plaintext"), out.get("CiphertextBlob")
        if not isinstance(plaintext, (bytes, bytearray)) or len(plaintext) != 32 or not isinstance(blob, (bytes, bytearray)):
            raise KmsUnavailableError(f"KMS GenerateDataKey for {key.key_id} returned no usable data key")
        return GeneratedDataKey(plaintext=bytearray(plaintext), wrapped=bytes(blob), key_id=key.key_id)

    async def decrypt_data_key(self, key_id: str, wrapped: bytes, scope: Scope) -> bytearray:
        if not self.handles(key_id):
            raise UnknownKeyError(f"KMS key {key_id!r} is not configured")
        key = self._by_id[key_id]
        if key.state == "retired":
            raise KeyRetiredError(f"KMS key {key_id!r} is retired and no longer decrypts")
        out = await self._call(
            "Decrypt",
            key,
            lambda c: c.decrypt(KeyId=key_id, CiphertextBlob=wrapped, EncryptionContext=scope_to_encryption_context(scope)),
        )
        plaintext = out.get("Plaintext")
        if not isinstance(plaintext, (bytes, bytearray)) or len(plaintext) != 32:
            raise TamperedCiphertextError(f"KMS Decrypt with {key_id} did not return a 32-byte data key")
        return bytearray(plaintext)

    async def list_keys(self) -> list[KekInfo]:
        self._maybe_reload()
        infos: list[KekInfo] = []
        for k in self._keys:
            created: str | None = None
            try:
                out = await self._call("DescribeKey", k, partial(_describe, key_id=k.key_id))
                date = out.get("KeyMetadata", {}).get("CreationDate")
                created = date.isoformat() if date is not None else None
            except EnvelopeError:
                pass  # Listing must work while KMS is unreachable; the date is a nicety.
            infos.append(KekInfo(id=k.key_id, provider=self.name, state=k.state, created=created))
        return infos

    async def check_ready(self) -> None:
        key = self._keys[0]
        out = await self._call("DescribeKey", key, partial(_describe, key_id=key.key_id))
        state = out.get("KeyMetadata", {}).get("KeyState")
        if state is not None and state != "Enabled":
            raise KmsAccessDeniedError(f"KMS key {key.key_id} is {state}")

    def close(self) -> None:
        with self._clients_lock:
            self._clients.clear()

    # -- internals -------------------------------------------------------------------------------

    async def _call(self, op: str, key: _ConfiguredKey, send: Callable[[KmsClient], T]) -> T:
        def blocking() -> T:
            return send(self._client(key.region))

        try:
            # The thread may outlive the timeout; botocore's own connect/read timeouts end it.
            return await asyncio.wait_for(asyncio.to_thread(blocking), self._timeout * self._max_attempts)
        except asyncio.TimeoutError:
            raise KmsUnavailableError(
                f"KMS {op} with {key.key_id} timed out after {self._timeout * self._max_attempts:g} s"
            ) from None
        except EnvelopeError:
            raise
        except Exception as err:
            raise map_kms_error(err, op, key.key_id) from err

    def _client(self, region: str) -> KmsClient:
        with self._clients_lock:
            client = self._clients.get(region)
            if client is None:
                client = self._client_factory(region)
                self._clients[region] = client
            return client

    def _boto3_client(self, region: str) -> KmsClient:
        try:
            import boto3
            from botocore.config import Config
        except ImportError:
            raise InvalidConfigError('AWS KMS needs boto3: pip install "temporal-envelope[aws]"') from None
        creds = self._credentials
        session = boto3.session.Session(
            aws_access_key_id=creds.access_key_id if creds else None,
            aws_secret_access_key=creds.secret_access_key if creds else None,
            aws_session_token=creds.session_token if creds else None,
            region_name=region,
        )
        config = Config(
            connect_timeout=self._timeout,
            read_timeout=self._timeout,
            retries={"max_attempts": self._max_attempts, "mode": "standard"},
        )
        client: KmsClient = session.client("kms", endpoint_url=self._endpoint, config=config)
        return client

    def _maybe_reload(self, *, now: bool = False) -> None:
        stamp = None if self._poll is None else self._poll.poll(now=now)
        if self._poll is None or stamp is None:
            return
        try:
            self.set_keys(_keys_of(read_kms_key_config(self._poll.path)))
        except EnvelopeError as err:
            self._warn(f"temporal-envelope: KMS key config reload failed, keeping the loaded keys: {err}")
            return
        self._poll.accept(stamp)


def map_kms_error(err: BaseException, op: str, key_id: str) -> EnvelopeError:
    """KMS and network failures as our typed errors. Messages carry the operation and key id, never key bytes."""
    where = f"KMS {op} with {key_id}"
    response = getattr(err, "response", None)
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", "")) or type(err).__name__
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        http = f" (HTTP {status})" if status else ""
        if code in ("InvalidCiphertextException", "IncorrectKeyException"):
            return TamperedCiphertextError(f"{where} refused the wrapped data key: altered, or wrapped for another scope or key", cause=err)
        if code in DENIED:
            return KmsAccessDeniedError(f"{where} was refused: {code}", cause=err)
        if code in RETRYABLE or (isinstance(status, int) and status >= 500):
            return KmsUnavailableError(f"{where} failed and may succeed later: {code}{http}", cause=err)
        # Unknown failures count as transient: a workflow task retried later loses nothing, while a
        # permanent failure would fail the workflow.
        return KmsUnavailableError(f"{where} failed: {code}{http}", cause=err)
    # botocore's connection errors (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError, …)
    return KmsUnavailableError(f"{where} failed and may succeed later: {type(err).__name__}", cause=err)


def _describe(client: KmsClient, key_id: str) -> dict[str, Any]:
    return client.describe_key(KeyId=key_id)


def _keys_of(doc: dict[str, Any]) -> list[AwsKmsKey]:
    return [AwsKmsKey(key_id=k["keyId"], state=k["state"]) for k in doc["keys"]]

