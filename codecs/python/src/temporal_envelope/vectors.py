"""The Python codec's cross-language vector tool (test/cross-language/README.md): seal a set of
vectors every codec of the project must open, or verify a set another codec sealed.

    python -m temporal_envelope.vectors generate --out FILE [--hierarchy per-workflow|branch] [--kms-endpoint URL --kms-key ID --region R]
    python -m temporal_envelope.vectors verify FILE [--kms-endpoint URL --region R]

``--hierarchy branch`` seals every vector in format v2 (data keys derived from a branch key per
namespace) and says ``"hierarchy": "branch"`` in the file; ``verify`` reads either without being told.
``verify`` prints one JSON line ``{"generator", "verifier", "opened", "rejected", "failures"}`` and
exits 0 only when nothing failed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import copy
import json
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, SerializationContext, WorkflowSerializationContext

from .codec.envelope_codec import EnvelopeCodec
from .codec.payload_json import from_proto_json, same_payload, to_proto_json
from .keys.aws_kms import AwsCredentials, AwsKmsKey, AwsKmsKeyring
from .keys.local_keyring import LocalKeyring
from .keys.provider import KeyProvider
from .primitives.aead import AeadAlgorithm
from .primitives.branch_key import KeyHierarchy
from .primitives.errors import EnvelopeError
from .primitives.scope import make_scope

FORMAT = "temporal-envelope/cross-v1"


def _json_payload(value: object) -> Payload:
    # JSON.stringify's compact form, so a vector's input reads the same whichever tool wrote it.
    return Payload(metadata={"encoding": b"json/plain"}, data=json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def _kms_ring(key_id: str, endpoint: str, region: str) -> AwsKmsKeyring:
    # moto accepts any credentials; a real AWS account would use the default credential chain.
    access, secret = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    credentials = AwsCredentials(access, secret) if access and secret else AwsCredentials("testing", "testing")
    # A generous timeout: the endpoint is on loopback, and a machine running many tests at once can
    # take seconds to answer; a vector tool must not fail for that.
    return AwsKmsKeyring([AwsKmsKey(key_id)], region=region, endpoint=endpoint, credentials=credentials, max_attempts=1, request_timeout_seconds=30)


def _b64(data: bytes | bytearray) -> str:
    return base64.b64encode(bytes(data)).decode()


def _now() -> str:
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


@dataclass
class _Case:
    name: str
    provider: str
    algorithm: AeadAlgorithm
    compression: str | bool
    namespace: str
    workflow_id: str | None
    input: Payload
    open_in: dict[str, str | None] | None = None
    options: dict[str, bool] | None = None


async def generate(out: str, kms_endpoint: str | None, kms_key: str | None, region: str, hierarchy: KeyHierarchy = "per-workflow") -> None:
    keyring = {
        "format": "temporal-envelope-keyring/v1",
        "keys": [
            {"id": f"local-1-{secrets.token_hex(4)}", "version": 1, "state": "decrypt-only", "created": _now(), "material": base64.b64encode(secrets.token_bytes(32)).decode()},
            {"id": f"local-2-{secrets.token_hex(4)}", "version": 2, "state": "primary", "created": _now(), "material": base64.b64encode(secrets.token_bytes(32)).decode()},
        ],
    }
    providers: dict[str, KeyProvider] = {"local": LocalKeyring.from_document(copy.deepcopy(keyring))}
    if kms_endpoint is not None:
        if kms_key is None:
            raise SystemExit("--kms-endpoint needs --kms-key")
        providers["aws-kms"] = _kms_ring(kms_key, kms_endpoint, region)
    big = _json_payload({"note": "repetitive text compresses well " * 64})
    cases: list[_Case] = []
    for provider_name in providers:
        p = "" if provider_name == "local" else " (KMS)"
        cases += [
            _Case(f"aes-gcm workflow scope{p}", provider_name, "AES-256-GCM", False, "default", "grant-42", _json_payload({"token": "dlg_test_only", "email": "ada@example.com"}), {"namespace": "default", "workflowId": "grant-42"}),
            _Case(f"aes-gcm namespace scope{p}", provider_name, "AES-256-GCM", False, "tenant-a", None, _json_payload("approve")),
            _Case(f"xchacha workflow scope{p}", provider_name, "XCHACHA20-POLY1305", False, "default", "grant-43", _json_payload([1, 2, 3])),
            _Case(f"xchacha namespace scope{p}", provider_name, "XCHACHA20-POLY1305", False, "tenant-b", None, _json_payload({"n": 1})),
            _Case(f"aes-gcm deflate{p}", provider_name, "AES-256-GCM", "deflate", "default", "grant-44", big),
            _Case(f"xchacha deflate{p}", provider_name, "XCHACHA20-POLY1305", "deflate", "default", "grant-45", big),
        ]
    cases.append(_Case("empty data, unicode workflow id", "local", "AES-256-GCM", False, "default", "wf-ünïcødé-✓-😀", Payload(metadata={"encoding": b"binary/null"})))
    cases.append(
        _Case(
            "binary payload with extra metadata",
            "local",
            "XCHACHA20-POLY1305",
            False,
            "ns.with.dots",
            "x",
            Payload(metadata={"encoding": b"binary/plain", "custom-key": bytes([0, 255, 1])}, data=bytes([0, 1, 2, 254, 255])),
        )
    )
    # Ids every codec must carry byte for byte (docs/wire-format.md): a leading BOM, NUL, the 1024-byte limit.
    for name, workflow_id in [
        ("workflow id with a leading BOM", "\ufeffgrant-bom"),
        ("workflow id with NUL", "grant\x00nul"),
        ("workflow id of 1024 UTF-8 bytes", "x" * 1020 + "\U0001f600"),
    ]:
        cases.append(_Case(name, "local", "AES-256-GCM", False, "default", workflow_id, _json_payload(name), {"namespace": "default", "workflowId": workflow_id}))
    # The schedule-run clause: sealed for the schedule action's id, opened in a run the server started.
    cases.append(
        _Case("schedule action opened in its run", "local", "AES-256-GCM", False, "default", "nightly-report", _json_payload({"run": "scheduled"}),
              {"namespace": "default", "workflowId": "nightly-report-2026-11-25T15:14:31Z"})
    )
    cases.append(
        _Case("namespace scope opened in a workflow, accepted by option", "local", "AES-256-GCM", False, "default", None, _json_payload("from the UI"),
              {"namespace": "default", "workflowId": "grant-42"}, {"acceptNamespaceScoped": True})
    )

    valid: list[dict[str, Any]] = []
    for c in cases:
        codec = EnvelopeCodec(
            providers[c.provider],
            key_hierarchy=hierarchy,
            algorithm=c.algorithm,
            compression="deflate" if c.compression == "deflate" else None,
            compression_min_bytes=256,
        )
        [sealed] = await codec.encode_in_scope([c.input], make_scope(c.namespace, c.workflow_id))
        vector: dict[str, Any] = {
            "name": c.name,
            "provider": c.provider,
            "algorithm": c.algorithm,
            "compression": c.compression,
            "namespace": c.namespace,
            "workflowId": c.workflow_id,
            "input": to_proto_json(c.input),
            "sealed": to_proto_json(sealed),
        }
        if c.open_in is not None:
            vector["openIn"] = c.open_in
        if c.options is not None:
            vector["options"] = c.options
        valid.append(vector)

    first = valid[0]["sealed"]

    def by_name(name: str) -> dict[str, Any]:
        return next(v["sealed"] for v in valid if v["name"] == name)

    def with_meta(key: str, value: bytes | None) -> dict[str, Any]:
        metadata = dict(first["metadata"])
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = base64.b64encode(value).decode()
        return {"metadata": metadata, "data": first["data"]}

    data = base64.b64decode(first["data"])
    flipped = bytearray(data)
    flipped[-1] ^= 0x01

    def flipped20(field: str) -> bytes:
        value = bytearray(base64.b64decode(first["metadata"][field]))
        value[20] ^= 0x80
        return bytes(value)

    # The wrapped key's fields: v1's wrapped DEK, or v2's wrapped branch key and salt.
    key_cases: list[dict[str, Any]]
    if hierarchy == "branch":
        key_cases = [
            {"name": "wrapped branch key altered", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": with_meta("envelope-branch-key", flipped20("envelope-branch-key"))},
            {"name": "salt altered", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": with_meta("envelope-dek-salt", flipped20("envelope-dek-salt"))},
            {"name": "wrapped branch key missing", "code": "MALFORMED_PAYLOAD", "provider": "local", "sealed": with_meta("envelope-branch-key", None)},
            {"name": "salt missing", "code": "MALFORMED_PAYLOAD", "provider": "local", "sealed": with_meta("envelope-dek-salt", None)},
            {"name": "salt of 16 bytes", "code": "MALFORMED_PAYLOAD", "provider": "local", "sealed": with_meta("envelope-dek-salt", bytes(16))},
            {"name": "version relabelled 2 to 1", "code": "MALFORMED_PAYLOAD", "provider": "local", "sealed": with_meta("envelope-version", b"1")},
            {
                "name": "version 2 carrying an envelope-dek",
                "code": "UNSUPPORTED_FORMAT",
                "provider": "local",
                "sealed": with_meta("envelope-dek", base64.b64decode(first["metadata"]["envelope-branch-key"])),
            },
        ]
    else:
        key_cases = [
            {"name": "wrapped DEK altered", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": with_meta("envelope-dek", flipped20("envelope-dek"))},
            {"name": "wrapped DEK missing", "code": "MALFORMED_PAYLOAD", "provider": "local", "sealed": with_meta("envelope-dek", None)},
        ]
    invalid: list[dict[str, Any]] = [
        {"name": "last tag bit flipped", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": {"metadata": first["metadata"], "data": _b64(flipped)}},
        {"name": "truncated to 10 bytes", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": {"metadata": first["metadata"], "data": _b64(data[:10])}},
        {"name": "workflow id swapped in the header", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": with_meta("envelope-workflow-id", b"grant-666")},
        {"name": "workflow id removed from the header", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": with_meta("envelope-workflow-id", None)},
        {"name": "namespace swapped in the header", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": with_meta("envelope-namespace", b"other")},
        {"name": "algorithm relabelled", "code": "TAMPERED_CIPHERTEXT", "provider": "local", "sealed": with_meta("envelope-alg", b"XCHACHA20-POLY1305")},
        {"name": "unknown key id", "code": "UNKNOWN_KEY", "provider": "local", "sealed": with_meta("encryption-key-id", b"local-9-deadbeef")},
        {"name": "future format version", "code": "UNSUPPORTED_FORMAT", "provider": "local", "sealed": with_meta("envelope-version", b"9")},
        {"name": "unknown algorithm", "code": "UNSUPPORTED_FORMAT", "provider": "local", "sealed": with_meta("envelope-alg", b"ROT13")},
        *key_cases,
        {"name": "opened in another workflow", "code": "SCOPE_MISMATCH", "provider": "local", "sealed": first, "openIn": {"namespace": "default", "workflowId": "grant-43"}},
        {"name": "opened in another namespace", "code": "SCOPE_MISMATCH", "provider": "local", "sealed": first, "openIn": {"namespace": "other", "workflowId": "grant-42"}},
        {"name": "namespace scope opened in a workflow", "code": "SCOPE_MISMATCH", "provider": "local", "sealed": by_name("aes-gcm namespace scope"), "openIn": {"namespace": "tenant-a", "workflowId": "grant-42"}},
        {"name": "schedule action opened in a run-shaped id that is no time", "code": "SCOPE_MISMATCH", "provider": "local", "sealed": by_name("schedule action opened in its run"),
         "openIn": {"namespace": "default", "workflowId": "nightly-report-2026-13-45T99:99:99Z"}},
        {"name": "schedule action opened in its run, scheduleRuns off", "code": "SCOPE_MISMATCH", "provider": "local", "sealed": by_name("schedule action opened in its run"),
         "openIn": {"namespace": "default", "workflowId": "nightly-report-2026-11-25T15:14:31Z"}, "options": {"scheduleRuns": False}},
    ]
    kms_vector = next((v for v in valid if v["provider"] == "aws-kms"), None)
    if kms_vector is not None:
        kd = kms_vector["sealed"]
        field = "envelope-branch-key" if hierarchy == "branch" else "envelope-dek"
        kw = bytearray(base64.b64decode(kd["metadata"][field]))
        kw[-5] ^= 0x01
        what = "branch key" if hierarchy == "branch" else "DEK"
        invalid.append(
            {"name": f"KMS-wrapped {what} altered", "code": "TAMPERED_CIPHERTEXT", "provider": "aws-kms", "sealed": {"metadata": {**kd["metadata"], field: _b64(kw)}, "data": kd["data"]}}
        )
    doc: dict[str, Any] = {
        "format": FORMAT,
        "generator": "python",
        **({"hierarchy": hierarchy} if hierarchy == "branch" else {}),
        "note": "TEST ONLY: the keys below were generated for this file and protect nothing.",
        "keyring": keyring,
    }
    if kms_endpoint is not None and kms_key is not None:
        doc["kms"] = {"keyId": kms_key, "region": region}
    doc["valid"] = valid
    doc["invalid"] = invalid
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    for provider in providers.values():
        provider.close()


def _context_of(open_in: dict[str, Any] | None) -> SerializationContext | None:
    if open_in is None:
        return None
    if open_in.get("workflowId") is None:
        # A namespace-only context: an activity that belongs to no workflow.
        return ActivitySerializationContext(
            namespace=open_in["namespace"], activity_id=None, activity_type=None, activity_task_queue=None,
            workflow_id=None, workflow_type=None, is_local=False,
        )
    return WorkflowSerializationContext(namespace=open_in["namespace"], workflow_id=open_in["workflowId"])


async def verify(path: str, kms_endpoint: str | None, region: str | None) -> tuple[dict[str, Any], int]:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    if doc.get("format") != FORMAT:
        raise SystemExit(f"{path}: format {doc.get('format')!r} is not {FORMAT}")
    providers: list[KeyProvider] = [LocalKeyring.from_document(doc["keyring"])]
    if "kms" in doc:
        if kms_endpoint is None:
            raise SystemExit(f"{path} has KMS vectors: pass --kms-endpoint")
        providers.append(_kms_ring(doc["kms"]["keyId"], kms_endpoint, region or doc["kms"]["region"]))
    codecs: dict[tuple[bool | None, bool | None], EnvelopeCodec] = {}

    def codec_for(options: dict[str, bool] | None) -> EnvelopeCodec:
        # One codec per set of scope options a vector names; absent options are the defaults.
        accept = (options or {}).get("acceptNamespaceScoped")
        runs = (options or {}).get("scheduleRuns")
        if (accept, runs) not in codecs:
            codecs[(accept, runs)] = EnvelopeCodec(
                providers,
                accept_namespace_scoped=False if accept is None else accept,
                schedule_runs=True if runs is None else runs,
            )
        return codecs[(accept, runs)]

    failures: list[str] = []
    opened = rejected = 0
    for v in doc["valid"]:
        context = _context_of(v.get("openIn"))
        codec = codec_for(v.get("options"))
        bound = codec if context is None else codec.with_context(context)
        try:
            [out] = await bound.decode([from_proto_json(v["sealed"])])
        except EnvelopeError as err:
            failures.append(f"{v['name']}: {err.code} {err.message}")
            continue
        if same_payload(out, from_proto_json(v["input"])):
            opened += 1
        else:
            failures.append(f"{v['name']}: opened to a different payload")
    for v in doc["invalid"]:
        context = _context_of(v.get("openIn"))
        codec = codec_for(v.get("options"))
        bound = codec if context is None else codec.with_context(context)
        try:
            await bound.decode([from_proto_json(v["sealed"])])
            failures.append(f"{v['name']}: opened, expected {v['code']}")
        except EnvelopeError as err:
            if err.code == v["code"]:
                rejected += 1
            else:
                failures.append(f"{v['name']}: failed with {err.code} ({err.message}), expected {v['code']}")
    for p in providers:
        p.close()
    summary = {"generator": doc.get("generator"), "verifier": "python", "opened": opened, "rejected": rejected, "failures": failures}
    return summary, 0 if not failures else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m temporal_envelope.vectors", description=__doc__.split("\n\n")[0] if __doc__ else None)
    verbs = parser.add_subparsers(dest="verb", required=True)
    gen = verbs.add_parser("generate", help="seal a fresh vector file (TEST ONLY keys)")
    gen.add_argument("--out", required=True)
    gen.add_argument("--hierarchy", choices=["per-workflow", "branch"], default="per-workflow", help="branch: seal format v2 (branch keys)")
    gen.add_argument("--kms-endpoint")
    gen.add_argument("--kms-key")
    gen.add_argument("--region", default="us-east-1")
    ver = verbs.add_parser("verify", help="open and reject every vector of a file")
    ver.add_argument("file")
    ver.add_argument("--kms-endpoint")
    ver.add_argument("--region")
    args = parser.parse_args(argv)
    if args.verb == "generate":
        asyncio.run(generate(args.out, args.kms_endpoint, args.kms_key, args.region, args.hierarchy))
        return 0
    summary, code = asyncio.run(verify(args.file, args.kms_endpoint, args.region))
    sys.stdout.write(json.dumps(summary, ensure_ascii=False) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main())
