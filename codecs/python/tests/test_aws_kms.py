"""AWS KMS through boto3 against moto on loopback: the scope as EncryptionContext, the key config
file, typed errors, and calls kept off the event loop."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from temporalio.converter import PayloadConverter, WorkflowSerializationContext

from support.servers import Moto, loopback_port
from temporal_envelope import EnvelopeCodec
from temporal_envelope.keys import AwsCredentials, AwsKmsKey, AwsKmsKeyring, map_kms_error
from temporal_envelope.primitives import (
    InvalidConfigError,
    KeyringError,
    KeyRetiredError,
    KmsAccessDeniedError,
    KmsUnavailableError,
    TamperedCiphertextError,
    UnknownKeyError,
    make_scope,
)

SCOPE = make_scope("default", "grant-42")
CREDS = AwsCredentials("testing", "testing")


def kms_client(moto: Moto) -> Any:
    return boto3.client("kms", region_name="us-east-1", endpoint_url=moto.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")


def new_key(moto: Moto) -> str:
    arn: str = kms_client(moto).create_key(Description="temporal-envelope python test")["KeyMetadata"]["Arn"]
    return arn


def ring(moto: Moto, *keys: AwsKmsKey) -> AwsKmsKeyring:
    return AwsKmsKeyring(keys, region="us-east-1", endpoint=moto.endpoint, credentials=CREDS, max_attempts=1)


async def test_data_keys_are_bound_to_the_scope_as_encryption_context(moto: Moto) -> None:
    arn = new_key(moto)
    kms = ring(moto, AwsKmsKey(arn))
    dk = await kms.generate_data_key(SCOPE)
    assert dk.key_id == arn and len(dk.plaintext) == 32
    # The EncryptionContext is exactly the TypeScript codec's: boto3 itself opens it with that context.
    direct = kms_client(moto).decrypt(
        CiphertextBlob=dk.wrapped, EncryptionContext={"temporal-namespace": "default", "temporal-workflow-id": "grant-42"}
    )
    assert direct["Plaintext"] == bytes(dk.plaintext)
    assert await kms.decrypt_data_key(arn, dk.wrapped, SCOPE) == dk.plaintext
    for other in [make_scope("default", "grant-43"), make_scope("default")]:
        with pytest.raises(TamperedCiphertextError, match="wrapped for another scope"):
            await kms.decrypt_data_key(arn, dk.wrapped, other)
    with pytest.raises(UnknownKeyError):
        await kms.decrypt_data_key("alias/not-configured", dk.wrapped, SCOPE)


async def test_a_codec_on_kms_calls_it_once_per_workflow(moto: Moto) -> None:
    calls: list[str] = []

    class Counting:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def generate_data_key(self, **kw: Any) -> dict[str, Any]:
            calls.append("generate")
            result: dict[str, Any] = self.inner.generate_data_key(**kw)
            return result

        def decrypt(self, **kw: Any) -> dict[str, Any]:
            calls.append("decrypt")
            result: dict[str, Any] = self.inner.decrypt(**kw)
            return result

        def describe_key(self, **kw: Any) -> dict[str, Any]:
            result: dict[str, Any] = self.inner.describe_key(**kw)
            return result

    arn = new_key(moto)
    kms = AwsKmsKeyring([AwsKmsKey(arn)], region="us-east-1", client_factory=lambda region: Counting(kms_client(moto)))
    codec = EnvelopeCodec(kms)
    for i in range(50):
        bound = codec.with_context(WorkflowSerializationContext("default", f"wf-{i % 5}"))
        await bound.decode(await bound.encode([PayloadConverter.default.to_payload(i)]))
    assert calls == ["generate"] * 5
    reader = EnvelopeCodec(AwsKmsKeyring([AwsKmsKey(arn)], region="us-east-1", client_factory=lambda region: Counting(kms_client(moto))))
    sealed = await codec.with_context(WorkflowSerializationContext("default", "wf-0")).encode([PayloadConverter.default.to_payload(1)] * 20)
    await reader.with_context(WorkflowSerializationContext("default", "wf-0")).decode(sealed)
    assert calls.count("decrypt") == 1


async def test_key_config_file_rotation_and_retirement_without_restart(moto: Moto, tmp_path: Path) -> None:
    first, second = new_key(moto), new_key(moto)
    path = tmp_path / "aws-kms-keys.json"

    def write(keys: list[dict[str, str]]) -> None:
        path.write_text(json.dumps({"format": "temporal-envelope-kms-keys/v1", "keys": keys}))

    write([{"keyId": first, "state": "primary", "added": "2026-11-24T00:00:00.000Z"}])
    kms = AwsKmsKeyring.from_key_config_file(
        str(path), region="us-east-1", endpoint=moto.endpoint, credentials=CREDS, watch_interval_seconds=0.01
    )
    old = await kms.generate_data_key(SCOPE)
    write(
        [
            {"keyId": second, "state": "primary", "added": "2026-11-25T00:00:00.000Z"},
            {"keyId": first, "state": "decrypt-only", "added": "2026-11-24T00:00:00.000Z"},
        ]
    )
    await asyncio.sleep(0.05)
    assert kms.primary_key_id() == second
    assert await kms.decrypt_data_key(first, old.wrapped, SCOPE) == old.plaintext
    write(
        [
            {"keyId": second, "state": "primary", "added": "2026-11-25T00:00:00.000Z"},
            {"keyId": first, "state": "retired", "added": "2026-11-24T00:00:00.000Z"},
        ]
    )
    await asyncio.sleep(0.05)
    with pytest.raises(KeyRetiredError):
        await kms.decrypt_data_key(first, old.wrapped, SCOPE)

    # A keyring whose next check is an hour away looks at the file as soon as it is asked for a key
    # id it does not hold (a rotation another process read first).
    slow = AwsKmsKeyring.from_key_config_file(
        str(path), region="us-east-1", endpoint=moto.endpoint, credentials=CREDS, watch_interval_seconds=3600
    )
    third = new_key(moto)
    write(
        [
            {"keyId": third, "state": "primary", "added": "2026-11-26T00:00:00.000Z"},
            {"keyId": second, "state": "decrypt-only", "added": "2026-11-25T00:00:00.000Z"},
        ]
    )
    assert slow.handles(third) and slow.primary_key_id() == third
    assert not slow.handles("alias/nowhere")


def test_a_bad_key_config_is_refused_naming_the_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    path.write_text(json.dumps({"format": "temporal-envelope-kms-keys/v1", "keys": [{"keyId": "not a key", "state": "primary", "added": "x"}]}))
    with pytest.raises(KeyringError, match=rf"key config {path}: keys\[0\].keyId expected"):
        AwsKmsKeyring.from_key_config_file(str(path), region="us-east-1")
    with pytest.raises(KeyringError, match="does not exist"):
        AwsKmsKeyring.from_key_config_file(str(tmp_path / "missing.json"), region="us-east-1")
    with pytest.raises(InvalidConfigError, match=r'"keys\[0\].key_id"'):
        AwsKmsKeyring([AwsKmsKey("nope")], region="us-east-1")


async def test_kms_down_is_retryable_and_bounded_in_time() -> None:
    closed = f"http://127.0.0.1:{loopback_port()}"
    kms = AwsKmsKeyring([AwsKmsKey("alias/te")], region="us-east-1", endpoint=closed, credentials=CREDS, request_timeout_seconds=1, max_attempts=1)
    start = time.monotonic()
    with pytest.raises(KmsUnavailableError) as caught:
        await kms.generate_data_key(SCOPE)
    assert caught.value.retryable and "alias/te" in str(caught.value)
    assert time.monotonic() - start < 10


async def test_a_hung_kms_times_out_without_blocking_the_event_loop() -> None:
    class Hung:
        def generate_data_key(self, **kw: Any) -> dict[str, Any]:
            time.sleep(1.0)
            return {}

        def decrypt(self, **kw: Any) -> dict[str, Any]:
            return {}

        def describe_key(self, **kw: Any) -> dict[str, Any]:
            return {}

    kms = AwsKmsKeyring([AwsKmsKey("alias/te")], region="us-east-1", request_timeout_seconds=0.2, max_attempts=1, client_factory=lambda r: Hung())
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    with pytest.raises(KmsUnavailableError, match="timed out after 0.2 s"):
        await kms.generate_data_key(SCOPE)
    task.cancel()
    assert ticks >= 10  # the loop kept running while boto3 blocked in its thread


def client_error(code: str, status: int = 400) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "Decrypt")


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (client_error("InvalidCiphertextException"), TamperedCiphertextError),
        (client_error("IncorrectKeyException"), TamperedCiphertextError),
        (client_error("AccessDeniedException"), KmsAccessDeniedError),
        (client_error("DisabledException"), KmsAccessDeniedError),
        (client_error("NotFoundException"), KmsAccessDeniedError),
        (client_error("ThrottlingException"), KmsUnavailableError),
        (client_error("KMSInternalException", 500), KmsUnavailableError),
        (client_error("SomethingNew", 503), KmsUnavailableError),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), KmsUnavailableError),
    ],
)
def test_kms_errors_map_to_typed_errors(err: Exception, expected: type[Exception]) -> None:
    mapped = map_kms_error(err, "Decrypt", "alias/te")
    assert isinstance(mapped, expected) and "KMS Decrypt with alias/te" in str(mapped)
