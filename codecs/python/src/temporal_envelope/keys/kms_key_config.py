"""The AWS KMS key config file (keys/kms-key-config.ts in TypeScript): which KMS keys a deployment
uses, primary first. ``temporal-envelope keys rotate --provider aws-kms`` edits it; running workers
re-read it to switch primaries without a restart.

::

    { "format": "temporal-envelope-kms-keys/v1",
      "keys": [ { "keyId": "alias/te-2026", "state": "primary", "added": "2026-12-24T10:00:00.000Z" },
                { "keyId": "arn:aws:kms:…:key/…", "state": "decrypt-only", "added": "…" } ] }

JSON, or YAML when the file name ends in .yaml/.yml (YAML needs PyYAML installed).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final

from ..primitives.errors import KeyringError
from .key_file_rules import INSTANT_PROBLEM, bom_note, is_iso_instant, without_bom

KMS_KEY_CONFIG_FORMAT: Final = "temporal-envelope-kms-keys/v1"

_KEY_ID = re.compile(
    r"(arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key|alias)/[A-Za-z0-9/_-]+"
    r"|alias/[A-Za-z0-9/_-]+"
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
    r"|mrk-[0-9a-f]{32})",
    re.ASCII,
)

KmsKeyConfig = dict[str, Any]


def is_kms_key_id(value: str) -> bool:
    return len(value) <= 2048 and _KEY_ID.fullmatch(value) is not None


def read_kms_key_config(path: str) -> KmsKeyConfig:
    yaml_file = path.lower().endswith((".yaml", ".yml"))
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        raise KeyringError(
            f'key config {path} does not exist; create it with "temporal-envelope keys init --provider aws-kms --kms-key <arn|alias>"'
        ) from None
    except IsADirectoryError:
        raise KeyringError(f"key config {path} is a directory, expected a key config file") from None
    except OSError as err:
        raise KeyringError(f"key config {path} cannot be read: {err.strerror or 'error'}", cause=err) from None
    body, had_bom = without_bom(text)
    try:
        doc: object = _load_yaml(body, path) if yaml_file else json.loads(body)
    except KeyringError:
        raise
    except Exception:
        raise KeyringError(f"key config {path} is not valid {'YAML' if yaml_file else 'JSON'}{bom_note(had_bom)}") from None
    return validate_kms_key_config(doc, path)


def _load_yaml(text: str, path: str) -> object:
    """YAML as the TypeScript reader (yaml, core schema) reads it: an unquoted timestamp stays the
    string it was written as, so the instant rule sees what the file says, not a ``date`` made of
    ``2026-01-01``."""
    try:
        import yaml  # type: ignore[import-untyped, unused-ignore]
    except ImportError:
        raise KeyringError(f"key config {path} is YAML: install PyYAML, or write it as JSON") from None

    class _Loader(yaml.SafeLoader):  # type: ignore[misc, name-defined, unused-ignore]
        pass

    _Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def validate_kms_key_config(doc: object, path: str) -> KmsKeyConfig:
    def fail(what: str) -> KeyringError:
        return KeyringError(f"key config {path}: {what}")

    if not isinstance(doc, dict):
        raise fail("expected an object")
    if doc.get("format") != KMS_KEY_CONFIG_FORMAT:
        raise fail(f'"format" expected {json.dumps(KMS_KEY_CONFIG_FORMAT)}')
    keys = doc.get("keys")
    if not isinstance(keys, list) or len(keys) == 0:
        raise fail('"keys" expected a non-empty array')
    seen: set[str] = set()
    for i, entry in enumerate(keys):
        if not isinstance(entry, dict):
            raise fail(f"keys[{i}] expected an object")
        key_id = entry.get("keyId")
        if not isinstance(key_id, str) or not is_kms_key_id(key_id):
            raise fail(f"keys[{i}].keyId expected a KMS key ARN, key id or alias/name")
        if key_id in seen:
            raise fail(f"keys[{i}].keyId {json.dumps(key_id)} appears twice")
        seen.add(key_id)
        state = entry.get("state")
        if state not in ("primary", "decrypt-only", "retired"):
            raise fail(f"keys[{i}].state expected primary, decrypt-only or retired")
        if (state == "primary") != (i == 0):
            raise fail(f'keys[{i}].state: the first key, and only the first, must be "primary"')
        for field in ("added", "demoted", "retired"):
            if (field in entry or field == "added") and not is_iso_instant(entry.get(field)):
                raise fail(f"keys[{i}].{field} {INSTANT_PROBLEM}")
    return doc
