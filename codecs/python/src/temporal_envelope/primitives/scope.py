"""What a payload is sealed to, and the rules a decoder applies to it.

A scope is always a namespace, and a workflow id when the SDK said which workflow the payload
belongs to. The scope picks the data key and is bound into the AEAD's additional data, so a payload
cut from one workflow fails to open in another.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime

from .errors import MalformedPayloadError, ScopeMismatchError

MAX_FIELD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Scope:
    namespace: str
    #: None for namespace-scoped payloads (e.g. the Temporal UI's /encode, which knows only the namespace).
    workflow_id: str | None = None


def _checked_utf8(name: str, value: object, *, when: str = "") -> bytes:
    if not isinstance(value, str) or value == "":
        raise MalformedPayloadError(f'scope "{name}" expected a non-empty string{when}')
    try:
        # Strict UTF-8: a lone surrogate cannot be written to a payload header, so refuse it here.
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedPayloadError(f'scope "{name}" is not valid Unicode (lone surrogate)') from None
    if len(encoded) > MAX_FIELD_BYTES:
        raise MalformedPayloadError(f'scope "{name}" expected at most {MAX_FIELD_BYTES} bytes, got {len(encoded)}')
    return encoded


def make_scope(namespace: str, workflow_id: str | None = None) -> Scope:
    """A validated scope. Raises MalformedPayloadError naming the field that is empty, too long or not Unicode."""
    _checked_utf8("namespace", namespace)
    if workflow_id is not None:
        _checked_utf8("workflowId", workflow_id, when=" when present")
    return Scope(namespace, workflow_id)


def scope_key(scope: Scope) -> str:
    """A string for maps: fields length-prefixed so no two scopes collide."""
    wf = "-" if scope.workflow_id is None else f"{len(scope.workflow_id)}:{scope.workflow_id}"
    return f"{len(scope.namespace)}:{scope.namespace}|{wf}"


def scope_fields(scope: Scope) -> tuple[bytes, bytes]:
    """A scope as the two fields every length-prefixed label binds: the namespace, then the workflow
    id after a presence flag (``0x00`` none, ``0x01`` ‖ id), so "no workflow id" differs from any id."""
    workflow = b"\x00" if scope.workflow_id is None else b"\x01" + scope.workflow_id.encode()
    return scope.namespace.encode(), workflow


def scope_to_encryption_context(scope: Scope) -> dict[str, str]:
    """The scope as an AWS KMS EncryptionContext (the same keys as the TypeScript codec)."""
    ctx = {"temporal-namespace": scope.namespace}
    if scope.workflow_id is not None:
        ctx["temporal-workflow-id"] = scope.workflow_id
    return ctx


_SCHEDULE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z", re.ASCII)


def is_schedule_run(workflow_id: str, sealed_workflow_id: str) -> bool:
    """Whether ``workflow_id`` is the id the Temporal server gives a run a schedule started from an
    action with workflow id ``sealed_workflow_id``: ``<id>-<YYYY-MM-DDTHH:MM:SSZ>``, a real UTC time."""
    prefix = sealed_workflow_id + "-"
    if not workflow_id.startswith(prefix):
        return False
    stamp = workflow_id[len(prefix):]
    if _SCHEDULE_TIME.fullmatch(stamp) is None:
        return False
    try:
        datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


def check_scope(sealed: Scope, expected: Scope, *, accept_namespace_scoped: bool, schedule_runs: bool) -> None:
    """The decided scope rules (BRIEF: "Scope rules every decoder applies").

    1. Another namespace: SCOPE_MISMATCH.
    2. A namespace-only context (no workflow id): accept.
    3. A workflow-scoped payload opens in its own workflow, or (``schedule_runs``) in a run a
       schedule started from it; otherwise SCOPE_MISMATCH.
    4. A namespace-scoped payload in a workflow context: SCOPE_MISMATCH unless ``accept_namespace_scoped``.

    Strings are compared exactly; both come from strict UTF-8, so this is a byte comparison.
    """
    if sealed.namespace != expected.namespace:
        raise ScopeMismatchError(
            f"payload sealed for namespace {_quote(sealed.namespace)} cannot be decoded in namespace {_quote(expected.namespace)}"
        )
    if expected.workflow_id is None:
        return
    if sealed.workflow_id is None:
        if accept_namespace_scoped:
            return
        raise ScopeMismatchError(
            f"namespace-scoped payload rejected in workflow {_quote(expected.workflow_id)} (accept_namespace_scoped is off)"
        )
    if sealed.workflow_id == expected.workflow_id:
        return
    if schedule_runs and is_schedule_run(expected.workflow_id, sealed.workflow_id):
        return
    raise ScopeMismatchError(
        f"payload sealed for workflow {_quote(sealed.workflow_id)} cannot be decoded in workflow {_quote(expected.workflow_id)}"
    )


def _quote(s: str) -> str:
    # JSON-style quoting keeps control characters in ids from breaking a log line.
    return json.dumps(s, ensure_ascii=False)
