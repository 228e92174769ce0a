"""Flags both example programs share (named as the `temporal` CLI and temporal-envelope CLI name
them, with the same environment variables), and the codec they build from them."""

from __future__ import annotations

import argparse
import os

from temporalio.client import Client, Interceptor

from temporal_envelope import EnvelopeCodec, envelope_data_converter, open_key_provider, open_legacy_keyring


def add_options(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("--address", default=env("TEMPORAL_ADDRESS", "127.0.0.1:7233"), help="Temporal frontend (env TEMPORAL_ADDRESS)")
    parser.add_argument("--namespace", default=env("TEMPORAL_NAMESPACE", "default"), help="namespace (env TEMPORAL_NAMESPACE)")
    parser.add_argument("--task-queue", default="polyglot-py", help="task queue (default polyglot-py)")
    parser.add_argument("--keyring", default=env("TEMPORAL_ENVELOPE_KEYRING"), help="local keyring file (env TEMPORAL_ENVELOPE_KEYRING; default ~/.temporal-envelope/keyring.json)")
    parser.add_argument("--kms-key-config", default=env("TEMPORAL_ENVELOPE_KEY_CONFIG"), help="AWS KMS key config file; selects AWS KMS (env TEMPORAL_ENVELOPE_KEY_CONFIG)")
    parser.add_argument("--kms-endpoint", default=env("TEMPORAL_ENVELOPE_KMS_ENDPOINT"), help="AWS-compatible KMS endpoint (env TEMPORAL_ENVELOPE_KMS_ENDPOINT)")
    parser.add_argument("--region", default=env("AWS_REGION"), help="AWS region (env AWS_REGION)")
    parser.add_argument("--legacy-keys", default=env("TEMPORAL_ENVELOPE_LEGACY_KEYS"), help="legacy key file: keys of the Temporal samples' encryption codec, to open its old payloads (env TEMPORAL_ENVELOPE_LEGACY_KEYS)")
    parser.add_argument("--require-encryption", action="store_true", help="refuse plaintext payloads (fail closed)")
    parser.add_argument(
        "--key-hierarchy",
        choices=["per-workflow", "branch"],
        default=env("TEMPORAL_ENVELOPE_KEY_HIERARCHY", "per-workflow"),
        help="how new data keys are made: per-workflow (format v1) or branch keys (format v2); both open either (env TEMPORAL_ENVELOPE_KEY_HIERARCHY)",
    )


def codec_from(args: argparse.Namespace) -> EnvelopeCodec:
    keys = open_key_provider(keyring=args.keyring, kms_key_config=args.kms_key_config, kms_endpoint=args.kms_endpoint, region=args.region)
    return EnvelopeCodec(
        keys,
        default_namespace=args.namespace,
        require_encryption=args.require_encryption,
        legacy_keys=open_legacy_keyring(args.legacy_keys),
        key_hierarchy=args.key_hierarchy,
    )


async def connect(args: argparse.Namespace, codec: EnvelopeCodec, interceptors: list[Interceptor] | None = None) -> Client:
    return await Client.connect(
        args.address, namespace=args.namespace, data_converter=envelope_data_converter(codec), interceptors=interceptors or []
    )
