"""The refused-payload marker (primitives/refused-marker.ts in TypeScript).

A codec with ``mark_refused_in_workflow`` returns it, in a workflow context, for a payload it refuses
for good (plaintext under require_encryption, SCOPE_MISMATCH, tampered, …) instead of raising. A
raise fails the whole workflow task, which Temporal retries forever: one bad signal from anyone with
signal permission would stall the workflow. The marker's encoding is one no payload converter knows,
so converting it fails where the payload is used: the Python SDK then drops a signal ("Failed
deserializing signal input … dropping the signal"), rejects an update, and fails the workflow task
for the workflow's input or an activity's or child's result. Everything but signals and updates
still fails closed. It carries the refusal's code and message (ids, never plaintext) and no data.
"""

from __future__ import annotations

from typing import Final

from temporalio.api.common.v1 import Payload

REFUSED_ENCODING: Final = "binary/envelope-refused"
META_REFUSED_CODE: Final = "envelope-refused-code"
META_REFUSED_REASON: Final = "envelope-refused-reason"


def refused_marker(code: str, reason: str) -> Payload:
    """The marker standing in for a refused payload."""
    return Payload(
        metadata={
            "encoding": REFUSED_ENCODING.encode(),
            META_REFUSED_CODE: code.encode(),
            META_REFUSED_REASON: reason.encode(),
        }
    )


def read_refused_marker(payload: Payload) -> tuple[str, str] | None:
    """The (code, reason) a marker carries, or None when ``payload`` is not a marker."""
    if payload.metadata.get("encoding") != REFUSED_ENCODING.encode():
        return None
    meta = payload.metadata
    return meta.get(META_REFUSED_CODE, b"").decode(), meta.get(META_REFUSED_REASON, b"").decode()
