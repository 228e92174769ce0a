"""The one place that assembles a key provider from options (the examples' flags, environment)."""

from __future__ import annotations

import os

from .aws_kms import AwsCredentials, AwsKmsKeyring
from .legacy_keyring import LegacyKeyring
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


def open_legacy_keyring(legacy_keys: str | None = None, *, watch_interval_seconds: float = 2.0) -> LegacyKeyring | None:
    """The legacy key file (keys of Temporal's samples codec) named by ``legacy_keys`` or, as the CLI
    reads it, TEMPORAL_ENVELOPE_LEGACY_KEYS; None when neither names one. Pass it to
    ``EnvelopeCodec(…, legacy_keys=…)``."""
    path = legacy_keys or os.environ.get("TEMPORAL_ENVELOPE_LEGACY_KEYS")
    return LegacyKeyring.open(path, watch_interval_seconds=watch_interval_seconds) if path else None
