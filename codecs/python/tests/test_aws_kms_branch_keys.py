"""Branch keys (format v2) wrapped by AWS KMS through boto3, against moto on loopback: the branch
key's own EncryptionContext (the TypeScript codec's), one GenerateDataKey per namespace to seal,
one Decrypt per distinct branch key to open, and an altered KMS-wrapped branch key refused."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from temporalio.api.common.v1 import Payload

from support.servers import Moto
from temporal_envelope import EnvelopeCodec, EnvelopeError, make_scope
from temporal_envelope.keys import AwsCredentials, AwsKmsKey, AwsKmsKeyring
from temporal_envelope.primitives import TamperedCiphertextError, branch_key_scope

BRANCH_CONTEXT = {"temporal-namespace": "default", "temporal-key-use": "branch-key"}


def kms_client(moto: Moto) -> Any:
    return boto3.client("kms", region_name="us-east-1", endpoint_url=moto.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")


class Recording:
    """A boto3 KMS client that records each call's operation and EncryptionContext."""

    def __init__(self, inner: Any, calls: list[tuple[str, dict[str, str]]]) -> None:
        self.inner = inner
        self.calls = calls

    def generate_data_key(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("generate", kw["EncryptionContext"]))
        out: dict[str, Any] = self.inner.generate_data_key(**kw)
        return out

    def decrypt(self, **kw: Any) -> dict[str, Any]:
        self.calls.append(("decrypt", kw["EncryptionContext"]))
        out: dict[str, Any] = self.inner.decrypt(**kw)
        return out

    def describe_key(self, **kw: Any) -> dict[str, Any]:
        out: dict[str, Any] = self.inner.describe_key(**kw)
        return out


def ring(moto: Moto, arn: str, calls: list[tuple[str, dict[str, str]]]) -> AwsKmsKeyring:
    return AwsKmsKeyring(
        [AwsKmsKey(arn)],
        region="us-east-1",
        credentials=AwsCredentials("testing", "testing"),
        client_factory=lambda region: Recording(kms_client(moto), calls),
    )


@pytest.fixture(scope="module")
def arn(moto: Moto) -> str:
    key: str = kms_client(moto).create_key(Description="temporal-envelope python branch keys")["KeyMetadata"]["Arn"]
    return key


async def test_a_branch_key_is_wrapped_with_its_own_encryption_context(moto: Moto, arn: str) -> None:
    calls: list[tuple[str, dict[str, str]]] = []
    kms = ring(moto, arn, calls)
    bk = await kms.generate_data_key(branch_key_scope("default"))
    assert calls == [("generate", BRANCH_CONTEXT)] and len(bk.plaintext) == 32
    # boto3 itself opens it with exactly that context, and with no data key's context.
    assert kms_client(moto).decrypt(CiphertextBlob=bk.wrapped, EncryptionContext=BRANCH_CONTEXT)["Plaintext"] == bytes(bk.plaintext)
    assert await kms.decrypt_data_key(arn, bk.wrapped, branch_key_scope("default")) == bk.plaintext
    for scope in [make_scope("default"), branch_key_scope("other")]:
        with pytest.raises(TamperedCiphertextError):
            await kms.decrypt_data_key(arn, bk.wrapped, scope)


async def test_a_codec_with_branch_keys_asks_kms_once_per_namespace_and_a_reader_once_per_branch_key(moto: Moto, arn: str) -> None:
    calls: list[tuple[str, dict[str, str]]] = []
    writer = EnvelopeCodec(ring(moto, arn, calls), key_hierarchy="branch")
    sealed: list[Payload] = []
    for i in range(100):
        sealed += await writer.encode_in_scope([Payload(metadata={"encoding": b"json/plain"}, data=str(i).encode())], make_scope("default", f"wf-{i}"))
    assert calls == [("generate", BRANCH_CONTEXT)]
    assert all(p.metadata["envelope-version"] == b"2" and p.metadata["encryption-key-id"] == arn.encode() for p in sealed)
    read_calls: list[tuple[str, dict[str, str]]] = []
    reader = EnvelopeCodec(ring(moto, arn, read_calls))
    opened = await reader.decode_in_scope(sealed, None)
    assert [p.data for p in opened] == [str(i).encode() for i in range(100)]
    assert read_calls == [("decrypt", BRANCH_CONTEXT)]


async def test_an_altered_kms_wrapped_branch_key_is_tampered(moto: Moto, arn: str) -> None:
    [sealed] = await EnvelopeCodec(ring(moto, arn, []), key_hierarchy="branch").encode_in_scope(
        [Payload(metadata={"encoding": b"json/plain"}, data=b"1")], make_scope("default", "wf")
    )
    altered = bytearray(sealed.metadata["envelope-branch-key"])
    altered[-5] ^= 0x01
    sealed.metadata["envelope-branch-key"] = bytes(altered)
    with pytest.raises(EnvelopeError) as caught:
        await EnvelopeCodec(ring(moto, arn, [])).decode([sealed])
    assert caught.value.code == "TAMPERED_CIPHERTEXT"
