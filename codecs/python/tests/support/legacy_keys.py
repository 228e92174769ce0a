"""Legacy key files as `temporal-envelope keys import-legacy` writes them (keys/admin/legacy-keys.ts)."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path
from typing import Any

from support.samples_codec import SAMPLES_KEY, SAMPLES_KEY_ID
from temporal_envelope.keys import LEGACY_KEYS_FORMAT


def legacy_doc(state: str = "decrypt-only", key_id: str = SAMPLES_KEY_ID, material: bytes | None = SAMPLES_KEY) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": key_id, "kind": "samples-aes-256-gcm", "state": state, "added": "2026-11-01T00:00:00.000Z"}
    if state == "retired":
        entry["retired"] = "2026-11-20T00:00:00.000Z"
    if material is not None:
        entry["material"] = base64.b64encode(material).decode()
    return {"format": LEGACY_KEYS_FORMAT, "keys": [entry]}


def write_private(path: Path, doc: object) -> Path:
    """What the CLI leaves: JSON, mode 0600 (written in place here; the CLI renames a new file in)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(doc if isinstance(doc, str) else json.dumps(doc))
    return path
