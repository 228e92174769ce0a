"""The legacy key file (keys/legacy-key-file.ts in TypeScript): keys of Temporal's samples
encryption codec, imported so that payloads they sealed keep opening while workers move to the
envelope. Decrypt-only by construction: a file of its own (never the keyring, so a legacy key can
never become a primary, and teams on AWS KMS migrate the same way), JSON, mode 0600 like the keyring.

::

    { "format": "temporal-envelope-legacy-keys/v1",
      "keys": [ { "id": "<the encryption-key-id the samples wrote>", "kind": "samples-aes-256-gcm",
                  "state": "decrypt-only", "added": "2026-11-29T10:00:00.000Z",
                  "material": "<base64, 32 bytes>" } ] }

This module only reads it: ``temporal-envelope keys import-legacy`` and ``keys retire`` (the
TypeScript CLI) write it. Fields it does not know are kept, as the TypeScript schema keeps them.
"""

from __future__ import annotations

import json
import os
import re
import stat
import sys
from datetime import datetime
from typing import Any, Final

from ..primitives.errors import KeyringError
from ..primitives.samples_format import SAMPLES_KEY_KIND
from .key_file_rules import decode_key_bytes
from .keyring_file import _errno_name

LEGACY_KEYS_FORMAT: Final = "temporal-envelope-legacy-keys/v1"
DEFAULT_LEGACY_KEYS_PATH: Final = os.path.join(os.path.expanduser("~"), ".temporal-envelope", "legacy-keys.json")

#: Whatever the team configured in the samples codec: any text but control characters (as the
#: TypeScript schema: at most 256 UTF-16 code units).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAX_ID_UNITS: Final = 256
_ISO_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})?)?", re.ASCII
)

LegacyKeysDocument = dict[str, Any]


def read_legacy_keys(path: str, *, allow_insecure_permissions: bool = False) -> LegacyKeysDocument:
    """Read and validate a legacy key file; refuses one other users can read, as the keyring does.
    KeyringError names the file and what is wrong with it."""
    what = f"legacy key file {path}"
    try:
        st = os.stat(path)
    except FileNotFoundError as err:
        raise KeyringError(f'{what} does not exist; create it with "temporal-envelope keys import-legacy"', cause=err) from None
    except OSError as err:
        raise KeyringError(f"{what} cannot be read: {_errno_name(err)}", cause=err) from None
    if sys.platform != "win32" and (st.st_mode & 0o077) != 0 and not allow_insecure_permissions:
        raise KeyringError(f"{what} is readable by other users (mode {stat.S_IMODE(st.st_mode):o}); run chmod 600 on it")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as err:
        name = _errno_name(err) if isinstance(err, OSError) else "not UTF-8"
        raise KeyringError(f"{what} cannot be read: {name}", cause=err) from None
    try:
        doc = json.loads(text)
    except ValueError:
        raise KeyringError(f"{what} is not valid JSON") from None
    return validate_legacy_keys(doc, path)


def validate_legacy_keys(doc: object, path: str) -> LegacyKeysDocument:
    """The document if it is a valid legacy key file; else KeyringError naming every bad field."""
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise KeyringError(f"legacy key file {path}: (top level): expected a JSON object")
    if doc.get("format") != LEGACY_KEYS_FORMAT:
        problems.append(f"format: expected {json.dumps(LEGACY_KEYS_FORMAT)}")
    keys = doc.get("keys")
    if not isinstance(keys, list):
        problems.append("keys: expected an array")
        keys = []
    seen: set[str] = set()
    for i, entry in enumerate(keys):
        at = f"keys.{i}"
        if not isinstance(entry, dict):
            problems.append(f"{at}: expected an object")
            continue
        problems.extend(f"{at}.{p}" for p in _entry_problems(entry))
        key_id = entry.get("id")
        if isinstance(key_id, str):
            if key_id in seen:
                problems.append(f"{at}.id: {json.dumps(key_id)} appears twice")
            seen.add(key_id)
    if problems:
        raise KeyringError(f"legacy key file {path}: {'; '.join(problems)}")
    return doc


def _entry_problems(entry: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    key_id = entry.get("id")
    if not isinstance(key_id, str):
        problems.append("id: expected a string")
    elif key_id == "":
        problems.append("id: expected a non-empty key id")
    elif len(key_id.encode("utf-16-le", "surrogatepass")) // 2 > _MAX_ID_UNITS:
        problems.append(f"id: expected at most {_MAX_ID_UNITS} characters")
    elif _CONTROL.search(key_id):
        problems.append("id: expected no control characters")
    if entry.get("kind") != SAMPLES_KEY_KIND:
        problems.append(f"kind: expected {json.dumps(SAMPLES_KEY_KIND)}")
    state = entry.get("state")
    if state not in ("decrypt-only", "retired"):
        problems.append('state: expected "decrypt-only" or "retired"')
    if not _is_iso_time(entry.get("added")):
        problems.append("added: expected an ISO date string")
    if "retired" in entry and not _is_iso_time(entry["retired"]):
        problems.append("retired: expected an ISO date string")
    if "material" in entry:
        material = entry["material"]
        if not isinstance(material, str) or decode_key_bytes(material, 32)[1] != "":
            problems.append("material: expected base64 of 32 bytes")
    elif state != "retired":
        problems.append("material: is missing but the key is not retired")
    return problems


def _is_iso_time(value: object) -> bool:
    """An ISO-8601 date or date-time naming a real calendar time, as the CLI writes ``added`` and
    ``retired``. A pattern, not ``datetime.fromisoformat``: before 3.11 that refuses a trailing Z."""
    if not isinstance(value, str):
        return False
    m = _ISO_TIME.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in m.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return False
    return True


def decode_legacy_material(material: str) -> bytearray:
    """A legacy key's 32 bytes, in a bytearray its owner wipes."""
    return bytearray(decode_key_bytes(material, 32)[0])
