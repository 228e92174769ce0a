"""The local keyring: the TypeScript file format and mode rules, wraps bound to the scope, and a
rotation picked up from the file without a restart."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from pathlib import Path

import pytest

from temporal_envelope.keys import LocalKeyring, new_keyring_document, read_keyring, write_keyring
from temporal_envelope.keys.keyring_file import new_key_entry
from temporal_envelope.primitives import KeyringError, KeyRetiredError, TamperedCiphertextError, UnknownKeyError, make_scope

SCOPE = make_scope("default", "wf-1")


def rotate(path: Path) -> str:
    """What `temporal-envelope keys rotate` does to the file (keys/keyring-file.ts rotateDocument)."""
    doc = json.loads(path.read_text())
    entry = new_key_entry(max(k["version"] for k in doc["keys"]) + 1)
    for k in doc["keys"]:
        if k["state"] == "primary":
            k["state"] = "decrypt-only"
    doc["keys"].append(entry)
    write_keyring(str(path), doc)
    return str(entry["id"])


def test_open_creates_a_0600_keyring_and_warns_once(tmp_path: Path) -> None:
    warnings: list[str] = []
    path = tmp_path / "dir" / "keyring.json"
    ring = LocalKeyring.open(str(path), warn=warnings.append)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ring.primary_key_id().startswith("local-1-")
    assert len(warnings) == 1 and "use a KMS in production" in warnings[0]
    with pytest.raises(KeyringError, match="does not exist"):
        LocalKeyring.open(str(tmp_path / "missing.json"), create=False)


def test_a_keyring_readable_by_others_is_refused_naming_the_file(keyring_file: Path) -> None:
    keyring_file.chmod(0o644)
    with pytest.raises(KeyringError, match=rf"keyring {keyring_file} is readable by other users \(mode 644\); run chmod 600"):
        LocalKeyring.open(str(keyring_file))
    assert LocalKeyring.open(str(keyring_file), allow_insecure_permissions=True).primary_key_id()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="other"), '"format" expected'),
        (lambda d: d["keys"].clear(), '"keys" expected a non-empty array'),
        (lambda d: d["keys"][0].update(id="bad id!"), r"keys\[0\].id expected"),
        (lambda d: d["keys"][0].update(material="c2hvcnQ="), r"keys\[0\].material expected base64 of 32 bytes"),
        (lambda d: d["keys"][0].update(state="decrypt-only"), 'exactly one key with state "primary", found 0'),
        (lambda d: d["keys"][0].pop("material"), r"keys\[0\].material is missing but the key is primary"),
    ],
)
def test_an_invalid_document_is_refused_naming_the_field(tmp_path: Path, mutate: object, message: str) -> None:
    doc = new_keyring_document()
    mutate(doc)  # type: ignore[operator]
    path = tmp_path / "k.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(doc, f)
    with pytest.raises(KeyringError, match=message):
        read_keyring(str(path))


def test_not_json_is_a_keyring_error(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text("{")
    path.chmod(0o600)
    with pytest.raises(KeyringError, match="is not valid JSON"):
        read_keyring(str(path))


async def test_a_wrapped_key_opens_only_for_its_scope(keyring_file: Path) -> None:
    ring = LocalKeyring.open(str(keyring_file))
    dk = await ring.generate_data_key(SCOPE)
    assert len(dk.wrapped) == 60 and dk.key_id == ring.primary_key_id()
    assert await ring.decrypt_data_key(dk.key_id, dk.wrapped, SCOPE) == dk.plaintext
    for other in [make_scope("default", "wf-2"), make_scope("default"), make_scope("other", "wf-1")]:
        with pytest.raises(TamperedCiphertextError):
            await ring.decrypt_data_key(dk.key_id, dk.wrapped, other)
    with pytest.raises(UnknownKeyError, match=str(keyring_file)):
        await ring.decrypt_data_key("local-9-00000000", dk.wrapped, SCOPE)


async def test_rotation_and_retirement_reach_a_running_keyring(keyring_file: Path) -> None:
    ring = LocalKeyring.open(str(keyring_file), watch_interval_seconds=0.01)
    old = ring.primary_key_id()
    before = await ring.generate_data_key(SCOPE)
    new = rotate(keyring_file)
    await _after_interval()
    assert ring.primary_key_id() == new
    assert (await ring.generate_data_key(SCOPE)).key_id == new
    assert await ring.decrypt_data_key(old, before.wrapped, SCOPE) == before.plaintext  # decrypt-only still opens
    doc = json.loads(keyring_file.read_text())
    next(k for k in doc["keys"] if k["id"] == old)["state"] = "retired"
    write_keyring(str(keyring_file), doc)
    await _after_interval()
    with pytest.raises(KeyRetiredError):
        await ring.decrypt_data_key(old, before.wrapped, SCOPE)


async def test_a_key_rotated_a_moment_ago_opens_before_the_next_due_check(keyring_file: Path) -> None:
    """Another process read the rotated file first and seals with the new KEK; this keyring, whose
    next check is an hour away, looks at the file as soon as it is asked for an id it does not
    hold. One that does not watch its file does not."""
    ring = LocalKeyring.open(str(keyring_file), watch_interval_seconds=3600)
    unwatched = LocalKeyring.open(str(keyring_file), watch_interval_seconds=0)
    new = rotate(keyring_file)
    sealer = LocalKeyring.open(str(keyring_file), watch_interval_seconds=0)
    dk = await sealer.generate_data_key(SCOPE)
    assert dk.key_id == new
    assert not unwatched.handles(new)
    assert await ring.decrypt_data_key(new, dk.wrapped, SCOPE) == dk.plaintext
    assert ring.primary_key_id() == new
    with pytest.raises(UnknownKeyError):
        await ring.decrypt_data_key("local-99-00000000", dk.wrapped, SCOPE)


async def test_a_broken_file_keeps_the_loaded_keys_and_warns(keyring_file: Path) -> None:
    warnings: list[str] = []
    ring = LocalKeyring.open(str(keyring_file), watch_interval_seconds=0.01, warn=warnings.append)
    primary = ring.primary_key_id()
    keyring_file.write_text("{ half a keyring")
    await _after_interval()
    assert ring.primary_key_id() == primary
    assert warnings and "keyring reload failed, keeping the loaded keys" in warnings[0]
    assert "material" not in warnings[0]


async def _after_interval() -> None:
    await asyncio.sleep(0.05)
