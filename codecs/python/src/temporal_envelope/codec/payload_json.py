"""Payloads as proto3 JSON (base64 bytes): the shape of the codec protocol and of our vector files."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from temporalio.api.common.v1 import Payload

from ..primitives.errors import MalformedPayloadError

ProtoJson = dict[str, Any]


def to_proto_json(payload: Payload) -> ProtoJson:
    """``{"metadata": {key: base64}, "data": base64}``, leaving out empty fields as protobufjs does."""
    out: ProtoJson = {}
    if len(payload.metadata) > 0:
        out["metadata"] = {k: base64.b64encode(v).decode() for k, v in payload.metadata.items()}
    if payload.data:
        out["data"] = base64.b64encode(payload.data).decode()
    return out


def from_proto_json(obj: object) -> Payload:
    if not isinstance(obj, dict):
        raise MalformedPayloadError("payload JSON expected an object")
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise MalformedPayloadError('payload JSON "metadata" expected an object')
    payload = Payload(data=_b64(obj.get("data") or "", "data"))
    for key, value in metadata.items():
        payload.metadata[str(key)] = _b64(value, f"metadata.{key}")
    return payload


def same_payload(a: Payload, b: Payload) -> bool:
    """Equal by content: metadata keys and bytes, data bytes (map order does not matter)."""
    return dict(a.metadata) == dict(b.metadata) and a.data == b.data


def _b64(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise MalformedPayloadError(f'payload JSON "{where}" expected a base64 string')
    try:
        # proto3 JSON accepts both alphabets, padded or not.
        text = value.replace("-", "+").replace("_", "/")
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise MalformedPayloadError(f'payload JSON "{where}" is not valid base64') from None
