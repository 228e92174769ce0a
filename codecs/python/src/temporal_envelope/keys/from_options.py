"""The one place that assembles a key provider from options (the examples' flags, environment)."""

from __future__ import annotations

import os

from .aws_kms import AwsCredentials, AwsKmsKeyring
from .local_keyring import LocalKeyring
from .provider import KeyProvider


def open_key_provider(
    *,
    keyring: str | None = None,
    kms_key_config: str | None = None,
    kms_endpoint: str | None = None,
    region: str | None = None,
    credentials: AwsCredentials | None = None,
    watch_interval_seconds: float = 2.0,
) -> KeyProvider:
    """AWS KMS when a KMS key config file is given, else the local keyring file (created when
    missing). Paths default to TEMPORAL_ENVELOPE_KEY_CONFIG / TEMPORAL_ENVELOPE_KEYRING, the
    endpoint to TEMPORAL_ENVELOPE_KMS_ENDPOINT and the region to AWS_REGION, as the CLI reads them.
    Without ``credentials`` boto3's default credential chain applies."""
    key_config = kms_key_config or os.environ.get("TEMPORAL_ENVELOPE_KEY_CONFIG")
    if key_config:
        return AwsKmsKeyring.from_key_config_file(
            key_config,
            region=region,
            endpoint=kms_endpoint or os.environ.get("TEMPORAL_ENVELOPE_KMS_ENDPOINT"),
            credentials=credentials,
            watch_interval_seconds=watch_interval_seconds,
        )
    return LocalKeyring.open(
        keyring or os.environ.get("TEMPORAL_ENVELOPE_KEYRING"), watch_interval_seconds=watch_interval_seconds
    )
