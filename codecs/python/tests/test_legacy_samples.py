"""Migrating from Temporal's samples encryption codec (docs/key-management.md "Migrating from the
Temporal samples codec"; test/legacy-samples.test.ts in TypeScript): payloads the samples-python
codec sealed open under a legacy key from the legacy key file the TypeScript CLI writes, everything
new is sealed in the envelope, and every failure has the code the other codecs give it."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadConverter, WorkflowSerializationContext

from support.paths import EXAMPLES, REPO_ROOT
from support.legacy_keys import legacy_doc, write_private
from support.samples_codec import SAMPLES_KEY, SAMPLES_KEY_ID, SamplesEncryptionCodec
from temporal_envelope import EnvelopeCodec, LegacyKeyring, LocalKeyring, open_legacy_keyring
from temporal_envelope.keys import LEGACY_KEYS_FORMAT, new_keyring_document, read_legacy_keys
from temporal_envelope.primitives import (
    InvalidConfigError,
    KeyringError,
    KeyRetiredError,
    MalformedPayloadError,
    PlaintextRejectedError,
    TamperedCiphertextError,
    UnknownKeyError,
    samples_key_id_of,
)

RING = LocalKeyring.from_document(new_keyring_document())


def wf(workflow_id: str) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=workflow_id)


def payload(value: object) -> Payload:
    return PayloadConverter.default.to_payload(value)


def value(p: Payload) -> object:
    return PayloadConverter.default.from_payload(p)


async def sampled(*values: object, key_id: str = SAMPLES_KEY_ID) -> list[Payload]:
    return await SamplesEncryptionCodec(key_id).encode([payload(v) for v in values])


CODEC = EnvelopeCodec(RING, legacy_keys=LegacyKeyring.from_document(legacy_doc()), require_encryption=True)


# -- the format ----------------------------------------------------------------------------------


async def test_the_samples_format_is_what_samples_python_writes() -> None:
    original = payload({"token": "dlg_tok_legacy"})
    [p] = await SamplesEncryptionCodec().encode([original])
    assert sorted(p.metadata) == ["encoding", "encryption-key-id"]
    assert samples_key_id_of(p) == SAMPLES_KEY_ID
    assert len(p.data) == 12 + len(original.SerializeToString()) + 16
    # Exactly nonce ‖ AES-256-GCM(serialized Payload, no additional data) ‖ tag.
    assert AESGCM(SAMPLES_KEY).decrypt(p.data[:12], p.data[12:], None) == original.SerializeToString()
    assert (await SamplesEncryptionCodec().decode([p]))[0] == original


async def test_samples_key_id_of_reads_only_the_samples_shape() -> None:
    [p] = await sampled("x")
    [ours] = await EnvelopeCodec(RING).encode([payload("x")])
    assert samples_key_id_of(ours) is None  # envelope-version: ours
    assert samples_key_id_of(payload("x")) is None  # not encrypted
    for bad in [b"", b"\xff\xfe", b"k" * 2049]:
        q = Payload()
        q.CopyFrom(p)
        q.metadata["encryption-key-id"] = bad
        assert samples_key_id_of(q) is None
    del p.metadata["encryption-key-id"]
    assert samples_key_id_of(p) is None


# -- the codec -----------------------------------------------------------------------------------


async def test_opens_samples_payloads_in_any_workflow_and_seals_new_ones_in_the_envelope() -> None:
    old = await sampled({"token": "dlg_tok_legacy"}, "second")
    codec = CODEC.with_context(wf("any-workflow"))
    assert [value(p) for p in await codec.decode(old)] == [{"token": "dlg_tok_legacy"}, "second"]
    [fresh] = await codec.encode([payload("new")])
    assert fresh.metadata["envelope-version"] == b"1"
    assert samples_key_id_of(fresh) is None
    # One history holds both: a batch of old and new opens.
    assert [value(p) for p in await codec.decode([old[0], fresh])] == [{"token": "dlg_tok_legacy"}, "new"]
    # Without a context too (no scope check applies to them either way).
    assert value((await CODEC.decode([old[1]]))[0]) == "second"


async def test_an_unknown_key_id_is_not_ours() -> None:
    [foreign] = await sampled("x", key_id="someone-elses-key")
    with pytest.raises(PlaintextRejectedError, match="not a configured legacy key"):
        await CODEC.with_context(wf("w")).decode([foreign])
    lenient = EnvelopeCodec(RING, legacy_keys=LegacyKeyring.from_document(legacy_doc()))
    assert (await lenient.with_context(wf("w")).decode([foreign]))[0] is foreign
    # Without a legacy keyring, samples payloads are not ours, as before.
    [mine] = await sampled("y")
    assert (await EnvelopeCodec(RING).with_context(wf("w")).decode([mine]))[0] is mine
    with pytest.raises(PlaintextRejectedError, match=r"no envelope-version\), and this codec requires encryption"):
        await EnvelopeCodec(RING, require_encryption=True).decode([mine])


async def test_altered_bytes_or_a_wrong_key_are_tampered() -> None:
    [p] = await sampled({"token": "dlg_tok_legacy"})
    for i in (0, 20, len(p.data) - 1):  # nonce, ciphertext, tag
        altered = Payload()
        altered.CopyFrom(p)
        data = bytearray(p.data)
        data[i] ^= 1
        altered.data = bytes(data)
        with pytest.raises(TamperedCiphertextError):
            await CODEC.decode([altered])
    wrong = EnvelopeCodec(RING, legacy_keys=LegacyKeyring.from_document(legacy_doc(material=bytes([7]) * 32)))
    with pytest.raises(TamperedCiphertextError):
        await wrong.decode([p])
    short = Payload()
    short.CopyFrom(p)
    short.data = p.data[:27]
    with pytest.raises(TamperedCiphertextError, match="at least 28 bytes, got 27"):
        await CODEC.decode([short])


async def test_retired_key_missing_data_and_a_non_payload_inside() -> None:
    [p] = await sampled("x")
    retired = EnvelopeCodec(RING, legacy_keys=LegacyKeyring.from_document(legacy_doc("retired")))
    with pytest.raises(KeyRetiredError, match="is retired and no longer decrypts"):
        await retired.decode([p])
    destroyed = EnvelopeCodec(RING, legacy_keys=LegacyKeyring.from_document(legacy_doc("retired", material=None)))
    with pytest.raises(KeyRetiredError, match="retired and destroyed"):
        await destroyed.decode([p])
    no_data = Payload(metadata=dict(p.metadata))
    with pytest.raises(MalformedPayloadError, match='"data" is missing'):
        await CODEC.decode([no_data])
    nonce = os.urandom(12)
    not_a_payload = Payload(metadata=dict(p.metadata), data=nonce + AESGCM(SAMPLES_KEY).encrypt(nonce, b"\xff\xff\xff", None))
    with pytest.raises(MalformedPayloadError, match="not a temporal.api.common.v1.Payload"):
        await CODEC.decode([not_a_payload])


async def test_the_key_id_matches_byte_for_byte() -> None:
    bom = "\ufeffkey"
    [p] = await sampled("bom", key_id=bom)
    exact = EnvelopeCodec(RING, legacy_keys=LegacyKeyring.from_document(legacy_doc(key_id=bom)), require_encryption=True)
    assert value((await exact.decode([p]))[0]) == "bom"
    stripped = EnvelopeCodec(RING, legacy_keys=LegacyKeyring.from_document(legacy_doc(key_id="key")), require_encryption=True)
    with pytest.raises(PlaintextRejectedError):
        await stripped.decode([p])


def test_the_option_takes_a_path_or_a_legacy_keyring(tmp_path: Path) -> None:
    with pytest.raises(InvalidConfigError, match='codec "legacy_keys" expected a legacy key file path or a LegacyKeyring, got int'):
        EnvelopeCodec(RING, legacy_keys=7)  # type: ignore[arg-type]
    with pytest.raises(InvalidConfigError):
        EnvelopeCodec(RING, legacy_keys="")
    missing = tmp_path / "nope.json"
    with pytest.raises(KeyringError, match=f'legacy key file {missing} does not exist; create it with "temporal-envelope keys import-legacy"'):
        EnvelopeCodec(RING, legacy_keys=missing)


# -- the legacy key file -------------------------------------------------------------------------


async def test_a_path_opens_the_file_and_a_change_reaches_a_running_codec(tmp_path: Path) -> None:
    file = write_private(tmp_path / "legacy-keys.json", legacy_doc())
    [p] = await sampled("x")
    ring = LegacyKeyring.open(file, watch_interval_seconds=0.01)
    codec = EnvelopeCodec(RING, legacy_keys=ring)
    assert value((await codec.decode([p]))[0]) == "x"
    assert value((await EnvelopeCodec(RING, legacy_keys=str(file)).decode([p]))[0]) == "x"
    write_private(file, legacy_doc("retired", material=None))
    await _after_interval()
    with pytest.raises(KeyRetiredError):
        await codec.decode([p])
    [info] = ring.list_keys()
    assert (info.id, info.state, info.destroyed, info.retired) == (SAMPLES_KEY_ID, "retired", True, "2026-11-20T00:00:00.000Z")


async def test_a_broken_file_keeps_the_loaded_keys_and_warns(tmp_path: Path) -> None:
    file = write_private(tmp_path / "legacy-keys.json", legacy_doc())
    warnings: list[str] = []
    codec = EnvelopeCodec(RING, legacy_keys=LegacyKeyring.open(file, watch_interval_seconds=0.01, warn=warnings.append))
    [p] = await sampled("x")
    write_private(file, "{ half a file")
    await _after_interval()
    assert value((await codec.decode([p]))[0]) == "x"
    assert warnings and "legacy key file reload failed, keeping the loaded keys" in warnings[0]
    assert base64.b64encode(SAMPLES_KEY).decode() not in "".join(warnings)


async def test_check_ready_reads_a_changed_file_at_once_and_raises_when_it_no_longer_reads(tmp_path: Path) -> None:
    file = write_private(tmp_path / "legacy-keys.json", legacy_doc())
    ring = LegacyKeyring.open(file, watch_interval_seconds=3600)
    [p] = await sampled("x")
    codec = EnvelopeCodec(RING, legacy_keys=ring)
    write_private(file, legacy_doc("retired"))
    assert value((await codec.decode([p]))[0]) == "x"  # the next due check is an hour away
    await ring.check_ready()
    with pytest.raises(KeyRetiredError):
        await codec.decode([p])
    write_private(file, {"format": LEGACY_KEYS_FORMAT})
    with pytest.raises(KeyringError, match="keys: expected an array"):
        await ring.check_ready()


def test_a_file_other_users_can_read_is_refused_naming_it(tmp_path: Path) -> None:
    file = write_private(tmp_path / "legacy-keys.json", legacy_doc())
    file.chmod(0o640)
    with pytest.raises(KeyringError, match=rf"legacy key file {file} is readable by other users \(mode 640\); run chmod 600 on it"):
        LegacyKeyring.open(file)
    assert LegacyKeyring.open(file, allow_insecure_permissions=True).knows(SAMPLES_KEY_ID)


def _entry(d: dict[str, Any]) -> dict[str, Any]:
    entry: dict[str, Any] = d["keys"][0]
    return entry


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="temporal-envelope-keyring/v1"), 'format: expected "temporal-envelope-legacy-keys/v1"'),
        (lambda d: d.update(keys={}), "keys: expected an array"),
        (lambda d: _entry(d).update(id=""), "keys.0.id: expected a non-empty key id"),
        (lambda d: _entry(d).update(id="x" * 257), "keys.0.id: expected at most 256 characters"),
        (lambda d: _entry(d).update(id="tab\there"), "keys.0.id: expected no control characters"),
        (lambda d: _entry(d).update(kind="aws-kms"), 'keys.0.kind: expected "samples-aes-256-gcm"'),
        (lambda d: _entry(d).update(state="primary"), 'keys.0.state: expected "decrypt-only" or "retired"'),
        (lambda d: _entry(d).update(added="yesterday"), "keys.0.added: expected an ISO date string"),
        (lambda d: _entry(d).update(retired="2026-02-30T00:00:00Z"), "keys.0.retired: expected an ISO date string"),
        (lambda d: _entry(d).update(material=base64.b64encode(b"k" * 31).decode()), "keys.0.material: expected base64 of 32 bytes"),
        (lambda d: _entry(d).pop("material"), "keys.0.material: is missing but the key is not retired"),
        (lambda d: d["keys"].append(dict(_entry(d))), 'keys.1.id: "test-key-id" appears twice'),
    ],
)
def test_an_invalid_file_is_refused_naming_the_field(tmp_path: Path, mutate: Any, message: str) -> None:
    doc = legacy_doc()
    mutate(doc)
    file = write_private(tmp_path / "legacy-keys.json", doc)
    with pytest.raises(KeyringError, match=f"legacy key file {file}: .*{_re(message)}"):
        read_legacy_keys(str(file))


def test_what_the_schema_allows(tmp_path: Path) -> None:
    # An empty file, a retired key without material, an id with spaces and non-ASCII, unknown fields.
    write_private(tmp_path / "empty.json", {"format": LEGACY_KEYS_FORMAT, "keys": []})
    assert LegacyKeyring.open(tmp_path / "empty.json").list_keys() == []
    doc = legacy_doc("retired", key_id="Team key ✓ 2024", material=None)
    doc["comment"] = "written by a newer version"
    _entry(doc)["note"] = "kept"
    write_private(tmp_path / "k.json", doc)
    assert read_legacy_keys(str(tmp_path / "k.json")) == doc
    assert LegacyKeyring.open(tmp_path / "k.json").knows("Team key ✓ 2024")
    with pytest.raises(UnknownKeyError):
        LegacyKeyring.open(tmp_path / "k.json").material("other")


def test_open_legacy_keyring_reads_the_cli_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    file = write_private(tmp_path / "legacy-keys.json", legacy_doc())
    monkeypatch.delenv("TEMPORAL_ENVELOPE_LEGACY_KEYS", raising=False)
    assert open_legacy_keyring() is None
    monkeypatch.setenv("TEMPORAL_ENVELOPE_LEGACY_KEYS", str(file))
    ring = open_legacy_keyring()
    assert ring is not None and ring.path == str(file) and ring.knows(SAMPLES_KEY_ID)


def test_the_example_programs_take_legacy_keys_and_refuse_an_unsafe_file_at_start(tmp_path: Path, keyring_file: Path) -> None:
    file = write_private(tmp_path / "legacy-keys.json", legacy_doc())
    file.chmod(0o644)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "worker.py"), "--address", "127.0.0.1:1", "--keyring", str(keyring_file), "--legacy-keys", str(file)],
        env={k: v for k, v in os.environ.items() if k != "TEMPORAL_ENVELOPE_LEGACY_KEYS"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode != 0
    assert f"KEYRING_ERROR: legacy key file {file} is readable by other users" in proc.stderr


# -- the TypeScript CLI writes, Python reads -----------------------------------------------------


def cli(*args: str, home: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    if npx is None:
        raise RuntimeError("npx not found: the TypeScript CLI needs Node.js and `npm ci`")
    return subprocess.run(
        [npx, "tsx", "src/cli/main.ts", *args],
        cwd=REPO_ROOT,
        env={**os.environ, "HOME": str(home), **(env or {})},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


async def test_a_legacy_key_file_written_by_the_typescript_cli(tmp_path: Path) -> None:
    file = tmp_path / "te" / "legacy-keys.json"
    flags = ["--legacy-keys", str(file), "--keyring", str(tmp_path / "te" / "keyring.json")]
    imported = cli("keys", "import-legacy", "--id", SAMPLES_KEY_ID, "--material-env", "SAMPLES_KEY", *flags, home=tmp_path, env={"SAMPLES_KEY": SAMPLES_KEY.decode()})
    assert imported.returncode == 0, imported.stderr
    assert SAMPLES_KEY.decode() not in imported.stdout + imported.stderr
    assert stat.S_IMODE(file.stat().st_mode) == 0o600

    old = await sampled({"token": "dlg_tok_legacy"})
    ring = LegacyKeyring.open(file, watch_interval_seconds=0.01)
    [info] = ring.list_keys()
    assert (info.id, info.kind, info.state, info.destroyed) == (SAMPLES_KEY_ID, "samples-aes-256-gcm", "decrypt-only", False)
    codec = EnvelopeCodec(RING, legacy_keys=ring, require_encryption=True).with_context(wf("migrated"))
    assert value((await codec.decode(old))[0]) == {"token": "dlg_tok_legacy"}

    retired = cli("keys", "retire", SAMPLES_KEY_ID, "--force", "--destroy", "--yes", *flags, home=tmp_path)
    assert retired.returncode == 0, retired.stderr
    await _after_interval()
    with pytest.raises(KeyRetiredError, match="retired and destroyed"):
        await codec.decode(old)


# The TypeScript side of the same payloads: its samples stand-in (test/support/samples-codec.ts)
# seals one for Python to open, and its EnvelopeCodec opens the one Python's stand-in sealed.
_TS_BOTH_WAYS = """
const { SamplesEncryptionCodec, SAMPLES_KEY_TEXT } = await import('./test/support/samples-codec.ts');
const { EnvelopeCodec, LegacyKeyring, LocalKeyring } = await import('./codecs/index.ts');
const { newKeyringDocument } = await import('./keys/keyring-file.ts');
const b64 = (u) => Buffer.from(u).toString('base64');
const utf8 = new TextEncoder();
const [sealed] = await (await SamplesEncryptionCodec.create('test-key-id')).encode([
  { metadata: { encoding: utf8.encode('json/plain') }, data: utf8.encode(JSON.stringify({ from: 'typescript' })) },
]);
const legacy = LegacyKeyring.fromDocument({ format: 'temporal-envelope-legacy-keys/v1', keys: [
  { id: 'test-key-id', kind: 'samples-aes-256-gcm', state: 'decrypt-only', added: '2026-11-01T00:00:00.000Z', material: b64(utf8.encode(SAMPLES_KEY_TEXT)) },
] });
const codec = new EnvelopeCodec({ keyProviders: LocalKeyring.fromDocument(newKeyringDocument()), legacyKeys: legacy, requireEncryption: true });
const fromPython = JSON.parse(process.env.PY_PAYLOAD);
const [opened] = await codec.decode([{
  metadata: Object.fromEntries(Object.entries(fromPython.metadata).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(fromPython.data, 'base64'),
}], { type: 'workflow', namespace: 'default', workflowId: 'w' });
console.log(JSON.stringify({
  sealed: { metadata: Object.fromEntries(Object.entries(sealed.metadata).map(([k, v]) => [k, b64(v)])), data: b64(sealed.data) },
  opened: new TextDecoder().decode(opened.data),
}));
"""


async def test_the_same_payloads_open_in_typescript_and_python() -> None:
    npx = shutil.which("npx")
    if npx is None:
        raise RuntimeError("npx not found: the TypeScript side needs Node.js and `npm ci`")
    [mine] = await sampled({"from": "python"})
    as_json = {"metadata": {k: base64.b64encode(v).decode() for k, v in mine.metadata.items()}, "data": base64.b64encode(mine.data).decode()}
    proc = subprocess.run(
        [npx, "tsx", "--input-type=module", "-e", _TS_BOTH_WAYS],
        cwd=REPO_ROOT,
        env={**os.environ, "PY_PAYLOAD": json.dumps(as_json)},
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert json.loads(out["opened"]) == {"from": "python"}
    theirs = Payload(
        metadata={k: base64.b64decode(v) for k, v in out["sealed"]["metadata"].items()},
        data=base64.b64decode(out["sealed"]["data"]),
    )
    assert value((await CODEC.with_context(wf("w")).decode([theirs]))[0]) == {"from": "typescript"}


def _re(text: str) -> str:
    import re

    return re.escape(text)


async def _after_interval() -> None:
    await asyncio.sleep(0.05)
