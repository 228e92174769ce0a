"""The local keyring file, the same JSON document the TypeScript side reads and writes
(keys/keyring-file.ts): mode 0600, versioned KEKs of which exactly one is primary.

::

    { "format": "temporal-envelope-keyring/v1",
      "keys": [ { "id": "local-1-3f9a0c1d", "version": 1, "state": "primary",
                  "created": "2026-11-24T10:00:00.000Z", "material": "<base64, 32 bytes>" } ] }

Writes go to a temporary file renamed over the old one, so a watching worker never reads half a keyring.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import secrets
import stat
import sys
from datetime import datetime, timezone
from typing import Any, Final

from ..primitives.errors import KeyringError
from .key_file_rules import INSTANT_PROBLEM, bom_note, decode_key_bytes, is_iso_instant, without_bom

KEYRING_FORMAT: Final = "temporal-envelope-keyring/v1"
_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}", re.ASCII)

KeyringDocument = dict[str, Any]


def read_keyring(path: str, *, allow_insecure_permissions: bool = False) -> KeyringDocument:
    """Read and validate a keyring file. KeyringError names the file and what is wrong with it."""
    try:
        st = os.stat(path)
    except OSError as err:
        raise KeyringError(f"keyring {path} cannot be read: {_errno_name(err)}", cause=err) from None
    if stat.S_ISDIR(st.st_mode):
        raise KeyringError(f"keyring {path} is a directory, expected a keyring file")
    if sys.platform != "win32" and (st.st_mode & 0o077) != 0 and not allow_insecure_permissions:
        raise KeyringError(
            f"keyring {path} is readable by other users (mode {stat.S_IMODE(st.st_mode):o}); run chmod 600 on it"
        )
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as err:
        raise KeyringError(f"keyring {path} cannot be read: {_errno_name(err)}", cause=err) from None
    body, had_bom = without_bom(text)
    try:
        doc = json.loads(body)
    except ValueError:
        raise KeyringError(f"keyring {path} is not valid JSON{bom_note(had_bom)}") from None
    return validate_keyring(doc, path)


def validate_keyring(doc: object, path: str) -> KeyringDocument:
    def fail(what: str) -> KeyringError:
        return KeyringError(f"keyring {path}: {what}")

    if not isinstance(doc, dict):
        raise fail("expected a JSON object")
    if doc.get("format") != KEYRING_FORMAT:
        raise fail(f'"format" expected {json.dumps(KEYRING_FORMAT)}')
    keys = doc.get("keys")
    if not isinstance(keys, list) or len(keys) == 0:
        raise fail('"keys" expected a non-empty array')
    seen: set[str] = set()
    primaries = 0
    for i, entry in enumerate(keys):
        if not isinstance(entry, dict):
            raise fail(f"keys[{i}] expected an object")
        key_id = entry.get("id")
        if not isinstance(key_id, str) or _ID.fullmatch(key_id) is None:
            raise fail(f"keys[{i}].id expected 1-128 of [A-Za-z0-9._:-]")
        if key_id in seen:
            raise fail(f"keys[{i}].id {json.dumps(key_id)} appears twice")
        seen.add(key_id)
        version = entry.get("version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise fail(f"keys[{i}].version expected a whole number >= 1")
        state = entry.get("state")
        if state not in ("primary", "decrypt-only", "retired"):
            raise fail(f"keys[{i}].state expected primary, decrypt-only or retired")
        if state == "primary":
            primaries += 1
        if not is_iso_instant(entry.get("created")):
            raise fail(f"keys[{i}].created {INSTANT_PROBLEM}")
        material = entry.get("material")
        if material is not None:
            if not isinstance(material, str):
                raise fail(f"keys[{i}].material expected base64 of 32 bytes")
            problem = decode_key_bytes(material, 32)[1]
            if problem:
                raise fail(f"keys[{i}].material {problem}")
        elif state != "retired":
            raise fail(f"keys[{i}].material is missing but the key is {state}")
        if "retired" in entry and not is_iso_instant(entry["retired"]):
            raise fail(f"keys[{i}].retired {INSTANT_PROBLEM}")
    if primaries != 1:
        raise fail(f'expected exactly one key with state "primary", found {primaries}')
    return doc


def decode_material(material: str) -> bytearray:
    """A KEK's bytes (validated material), in a bytearray its owner wipes."""
    return bytearray(decode_key_bytes(material, 32)[0])


def new_key_entry(version: int, now: datetime | None = None) -> dict[str, Any]:
    moment = now or datetime.now(timezone.utc)
    return {
        "id": f"local-{version}-{secrets.token_hex(4)}",
        "version": version,
        "state": "primary",
        "created": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
        "material": base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def new_keyring_document() -> KeyringDocument:
    return {"format": KEYRING_FORMAT, "keys": [new_key_entry(1)]}


def write_keyring(path: str, doc: KeyringDocument) -> None:
    """Write atomically with mode 0600 (temporary file, fsync, rename)."""
    validate_keyring(doc, path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(doc, indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def _errno_name(err: OSError) -> str:
    return errno.errorcode.get(err.errno or 0, "error")
