"""The key-file rules of issue 15, item 10, as test/key-files.test.ts pins them in TypeScript and
codecs/go/keys/key_file_rules_test.go in Go: canonical base64 key bytes, ISO-8601 instants, a
directory named as one, a byte order mark ignored."""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from temporal_envelope.keys import LocalKeyring, new_keyring_document, read_keyring, read_kms_key_config
from temporal_envelope.keys.keyring_file import validate_keyring
from temporal_envelope.primitives import KeyringError

INSTANT = "expected an ISO-8601 instant like 2026-11-24T10:00:00.000Z"
MATERIAL = base64.b64encode(bytes([7]) * 32).decode()
BOM = "\ufeff"


def keyring_with(**entry: object) -> dict[str, Any]:
    doc = new_keyring_document()
    doc["keys"][0].update(entry)
    return doc


def write(path: Path, text: str) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    return path


JUNK = {
    "a line break inside": MATERIAL[:20] + "\n" + MATERIAL[20:],
    "spaces inside": MATERIAL[:20] + "  " + MATERIAL[20:],
    "a stray character": MATERIAL[:20] + "!" + MATERIAL[20:],
    "no padding": MATERIAL.rstrip("="),
    "the base64url alphabet": base64.urlsafe_b64encode(bytes([0xFB]) * 32).decode().rstrip("="),
    "bits set past the last byte": MATERIAL[:42] + "d=",
    "text after the padding": MATERIAL + "AAAA",
}


def test_canonical_material_is_accepted() -> None:
    validate_keyring(keyring_with(material=MATERIAL), "/k.json")


@pytest.mark.parametrize("why", sorted(JUNK))
def test_key_material_must_be_canonical_base64(why: str) -> None:
    with pytest.raises(KeyringError) as err:
        validate_keyring(keyring_with(material=JUNK[why]), "/k.json")
    assert err.value.message == (
        "keyring /k.json: keys[0].material expected canonical base64 of 32 bytes (standard alphabet, = padding, no whitespace or other characters)"
    )


def test_key_material_of_another_length_names_it() -> None:
    with pytest.raises(KeyringError, match=r"keys\[0\]\.material expected base64 of 32 bytes, got 31$"):
        validate_keyring(keyring_with(material=base64.b64encode(bytes(31)).decode()), "/k.json")


@pytest.mark.parametrize("created", ["2026-11-24T10:00:00.000Z", "2026-11-24T10:00:00Z", "2024-02-29T23:59:59.123456789+05:30", "2026-11-24T10:00:00-08:00"])
def test_instants_are_accepted(created: str) -> None:
    validate_keyring(keyring_with(created=created), "/k.json")


BAD_TIMES: list[object] = [
    "yesterday", "", "2026", "2026-11-24", "2026-11-24 10:00:00Z", "2026-11-24T10:00:00", "2026-02-30T00:00:00Z",
    "2025-02-29T00:00:00Z", "2026-11-24T24:00:00Z", "2026-11-24T10:60:00Z", "2026-11-24T10:00:00+25:00",
    "Tue, 24 Nov 2026 10:00:00 GMT", "2026-11-24t10:00:00z", "+2026-11-24T10:00:00Z", "2026-11-24T10:00:00Z\n", 1764000000000,
]  # fmt: skip


@pytest.mark.parametrize("created", BAD_TIMES)
def test_created_must_be_an_instant(created: object) -> None:
    with pytest.raises(KeyringError, match=re.escape(f"keyring /k.json: keys[0].created {INSTANT}")):
        validate_keyring(keyring_with(created=created), "/k.json")


def test_retired_must_be_an_instant() -> None:
    with pytest.raises(KeyringError, match=re.escape(f"keys[0].retired {INSTANT}")):
        validate_keyring(keyring_with(retired="last week"), "/k.json")


def test_a_directory_at_the_path_is_called_one(tmp_path: Path) -> None:
    directory = tmp_path / "keyring.json"
    directory.mkdir(mode=0o755)
    with pytest.raises(KeyringError) as err:
        read_keyring(str(directory))
    assert err.value.message == f"keyring {directory} is a directory, expected a keyring file"
    with pytest.raises(KeyringError) as err:
        read_kms_key_config(str(directory))
    assert err.value.message == f"key config {directory} is a directory, expected a key config file"


def test_a_byte_order_mark_at_the_start_is_ignored(tmp_path: Path) -> None:
    doc = new_keyring_document()
    ring = write(tmp_path / "bom.json", BOM + json.dumps(doc, indent=2) + "\n")
    assert ring.read_bytes()[:3] == b"\xef\xbb\xbf"
    assert read_keyring(str(ring))["keys"][0]["id"] == doc["keys"][0]["id"]
    broken = write(tmp_path / "bom-broken.json", BOM + '{ "format": ')
    with pytest.raises(KeyringError) as err:
        read_keyring(str(broken))
    assert err.value.message == f"keyring {broken} is not valid JSON (after the UTF-8 byte order mark at its start, which is ignored)"
    plain = write(tmp_path / "broken.json", '{ "format": ')
    with pytest.raises(KeyringError) as err:
        read_keyring(str(plain))
    assert err.value.message == f"keyring {plain} is not valid JSON"
    with pytest.raises(KeyringError, match="after the UTF-8 byte order mark"):
        read_keyring(str(write(tmp_path / "bom-twice.json", BOM + BOM + json.dumps(doc))))

    kms_yaml = write(tmp_path / "kms.yaml", BOM + "format: temporal-envelope-kms-keys/v1\nkeys:\n  - { keyId: alias/a, state: primary, added: 2026-01-01T00:00:00Z }\n")
    assert read_kms_key_config(str(kms_yaml))["keys"][0]["keyId"] == "alias/a"
    kms_json = write(tmp_path / "kms.json", BOM + json.dumps({"format": "temporal-envelope-kms-keys/v1", "keys": [{"keyId": "alias/a", "state": "primary", "added": "2026-01-01T00:00:00Z"}]}))
    assert read_kms_key_config(str(kms_json))["keys"][0]["keyId"] == "alias/a"


def test_kms_key_config_times_must_be_instants_in_json_and_yaml(tmp_path: Path) -> None:
    # YAML reads an unquoted date as a timestamp; the rule still sees what the file says.
    date_yaml = write(tmp_path / "date.yaml", "format: temporal-envelope-kms-keys/v1\nkeys:\n  - { keyId: alias/a, state: primary, added: 2026-01-01 }\n")
    with pytest.raises(KeyringError, match=re.escape(f"keys[0].added {INSTANT}")):
        read_kms_key_config(str(date_yaml))
    date_json = write(tmp_path / "date.json", json.dumps({"format": "temporal-envelope-kms-keys/v1", "keys": [{"keyId": "alias/a", "state": "primary", "added": "2026-01-01"}]}))
    with pytest.raises(KeyringError, match=re.escape(f"keys[0].added {INSTANT}")):
        read_kms_key_config(str(date_json))
    demoted = write(
        tmp_path / "demoted.json",
        json.dumps(
            {
                "format": "temporal-envelope-kms-keys/v1",
                "keys": [
                    {"keyId": "alias/a", "state": "primary", "added": "2026-01-01T00:00:00Z"},
                    {"keyId": "alias/b", "state": "decrypt-only", "added": "2025-01-01T00:00:00Z", "demoted": "2026-13-01T00:00:00Z"},
                ],
            }
        ),
    )
    with pytest.raises(KeyringError, match=re.escape(f"keys[1].demoted {INSTANT}")):
        read_kms_key_config(str(demoted))
    ok = write(
        tmp_path / "ok.yaml",
        "format: temporal-envelope-kms-keys/v1\nkeys:\n"
        "  - { keyId: alias/a, state: primary, added: 2026-01-01T00:00:00.000Z }\n"
        '  - { keyId: alias/b, state: decrypt-only, added: "2025-01-01T00:00:00Z", demoted: 2026-01-01T00:00:00+01:00 }\n',
    )
    assert len(read_kms_key_config(str(ok))["keys"]) == 2


async def test_a_keyring_made_world_readable_is_noticed_without_a_write(keyring_file: Path) -> None:
    ring = LocalKeyring.open(str(keyring_file), watch_interval_seconds=3600)
    keyring_file.chmod(0o644)
    # chmod changes no modification time: the stamp must see the mode.
    with pytest.raises(KeyringError, match=r"readable by other users \(mode 644\)"):
        await ring.check_ready()
    keyring_file.chmod(0o600)
    await ring.check_ready()


async def test_a_failing_reload_warns_once_per_distinct_failure(keyring_file: Path) -> None:
    warnings: list[str] = []
    ring = LocalKeyring.open(str(keyring_file), watch_interval_seconds=0.001, warn=warnings.append)
    keyring_file.chmod(0o644)
    for _ in range(5):
        os.utime(keyring_file)  # a due check that finds the file changed, every time
        await _tick()
        ring.handles(ring.primary_key_id())
    assert len([w for w in warnings if "readable by other users" in w]) == 1
    keyring_file.chmod(0o600)


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.01)
