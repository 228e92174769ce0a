"""The 14 error codes are the same in every language: this fails if Python drifts from primitives/errors.ts."""

from __future__ import annotations

import re

from support.paths import REPO_ROOT
from temporal_envelope import primitives
from temporal_envelope.primitives import ERROR_CODES, EnvelopeError, KmsUnavailableError, is_envelope_error


def _subclasses() -> list[type[EnvelopeError]]:
    return [c for c in vars(primitives).values() if isinstance(c, type) and issubclass(c, EnvelopeError) and c is not EnvelopeError]


def test_codes_match_the_typescript_error_list() -> None:
    ts = (REPO_ROOT / "primitives" / "errors.ts").read_text(encoding="utf-8")
    union = re.search(r"export type EnvelopeErrorCode =([^;]+);", ts)
    assert union is not None
    assert ERROR_CODES == frozenset(re.findall(r"'([A-Z_]+)'", union.group(1)))
    assert len(ERROR_CODES) == 14


def test_one_class_per_code_and_retryable_only_where_typescript_says() -> None:
    classes = _subclasses()
    assert sorted(c.code for c in classes) == sorted(ERROR_CODES)
    assert {c.code for c in classes if c.retryable} == {"KMS_UNAVAILABLE", "KEY_LIMIT_EXCEEDED", "STORE_UNAVAILABLE"}


def test_message_names_the_code_and_the_cause_is_kept() -> None:
    cause = OSError("connection refused")
    err = KmsUnavailableError("KMS Decrypt with alias/x failed", cause=cause)
    assert str(err) == "KMS_UNAVAILABLE: KMS Decrypt with alias/x failed"
    assert err.__cause__ is cause and err.retryable


def test_recognised_by_shape_for_a_second_copy_of_the_package() -> None:
    class Foreign(Exception):
        code = "SCOPE_MISMATCH"
        retryable = False

    assert is_envelope_error(Foreign("x"))
    assert not is_envelope_error(ValueError("x"))
