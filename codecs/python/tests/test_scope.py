"""The decided scope rules (BRIEF, "Scope rules every decoder applies") and scope validation."""

from __future__ import annotations

import pytest

from temporal_envelope.primitives import MalformedPayloadError, Scope, ScopeMismatchError, check_scope, is_schedule_run, make_scope


def check(sealed: Scope, expected: Scope, *, accept_namespace_scoped: bool = False, schedule_runs: bool = True) -> None:
    check_scope(sealed, expected, accept_namespace_scoped=accept_namespace_scoped, schedule_runs=schedule_runs)


def test_another_namespace_is_a_mismatch_even_without_a_workflow() -> None:
    with pytest.raises(ScopeMismatchError, match="namespace"):
        check(Scope("a", "wf"), Scope("b", "wf"))
    with pytest.raises(ScopeMismatchError):
        check(Scope("a"), Scope("b"))


def test_a_namespace_only_context_accepts_any_payload_of_its_namespace() -> None:
    check(Scope("ns", "wf-1"), Scope("ns"))
    check(Scope("ns"), Scope("ns"))


def test_a_workflow_payload_opens_only_in_its_workflow() -> None:
    check(Scope("ns", "wf-1"), Scope("ns", "wf-1"))
    with pytest.raises(ScopeMismatchError, match="wf-1.*wf-2"):
        check(Scope("ns", "wf-1"), Scope("ns", "wf-2"))


def test_namespace_scoped_payloads_are_refused_in_a_workflow_unless_accepted() -> None:
    with pytest.raises(ScopeMismatchError, match="accept_namespace_scoped"):
        check(Scope("ns"), Scope("ns", "wf"))
    check(Scope("ns"), Scope("ns", "wf"), accept_namespace_scoped=True)


@pytest.mark.parametrize(
    "run_id",
    ["nightly-2026-11-25T15:14:31Z", "nightly-2024-02-29T00:00:00Z", "nightly-1999-12-31T23:59:59Z"],
)
def test_a_schedule_run_opens_its_actions_payloads(run_id: str) -> None:
    check(Scope("ns", "nightly"), Scope("ns", run_id))
    with pytest.raises(ScopeMismatchError):
        check(Scope("ns", "nightly"), Scope("ns", run_id), schedule_runs=False)


@pytest.mark.parametrize(
    "run_id",
    [
        "nightly-2026-11-25T15:14:31.000Z",  # fractions
        "nightly-2026-11-25T15:14:31+00:00",  # not Z
        "nightly-2026-11-25 15:14:31Z",
        "nightly-2026-02-30T00:00:00Z",  # no such day
        "nightly-2025-02-29T00:00:00Z",  # not a leap year
        "nightly-2026-11-25T24:00:00Z",
        "nightly-2026-11-25T15:14:60Z",
        "nightly-2026-11-25T15:14:31Zx",
        "nightly2026-11-25T15:14:31Z",
        "nightly-x-2026-11-25T15:14:31Z",
        "nightly-２０２６-11-25T15:14:31Z",  # full-width digits are not ASCII digits
        "nightly-2026-13-45T99:99:99Z",
        "nightly-0000-01-01T00:00:00Z",  # no year 0 (the same range in every codec)
        "nightly-2100-02-29T00:00:00Z",  # 2100 is not a leap year
        "nightly-2026-11-25T5:14:31Z",
        "nightly-2026-11-25T15:14:31Z-2026-11-25T15:14:32Z",  # a run of a run
    ],
)
def test_anything_else_that_looks_like_a_run_is_a_mismatch(run_id: str) -> None:
    assert not is_schedule_run(run_id, "nightly")
    with pytest.raises(ScopeMismatchError):
        check(Scope("ns", "nightly"), Scope("ns", run_id))


def test_a_run_of_an_action_id_that_ends_in_a_time() -> None:
    # Seen against Temporal Server 1.32: the server appends another time.
    check(Scope("ns", "n-2026-11-25T15:14:31Z"), Scope("ns", "n-2026-11-25T15:14:31Z-2026-11-29T18:27:31Z"))


def test_ids_compare_exactly() -> None:
    with pytest.raises(ScopeMismatchError):
        check(Scope("ns", "Wf"), Scope("ns", "wf"))
    with pytest.raises(ScopeMismatchError):
        check(Scope("ns", "\ufeffwf"), Scope("ns", "wf"))
    with pytest.raises(ScopeMismatchError):
        check(Scope("ns", "wf"), Scope("ns", "wf\x00"))
    with pytest.raises(ScopeMismatchError):  # NFC vs NFD: different bytes, different workflow
        check(Scope("ns", "caf\u00e9"), Scope("ns", "cafe\u0301"))


@pytest.mark.parametrize(
    ("namespace", "workflow_id", "why"),
    [
        ("", None, "non-empty"),
        ("ns", "", "non-empty"),
        ("n" * 1025, None, "at most 1024 bytes"),
        ("ns", "é" * 513, "at most 1024 bytes"),
        ("ns", "wf-\ud800", "not valid Unicode"),
        ("\udfff", None, "not valid Unicode"),
    ],
)
def test_make_scope_refuses_what_cannot_be_sealed(namespace: str, workflow_id: str | None, why: str) -> None:
    with pytest.raises(MalformedPayloadError, match=why):
        make_scope(namespace, workflow_id)


def test_make_scope_keeps_a_leading_bom_and_the_byte_limit_is_inclusive() -> None:
    assert make_scope("ns", "\ufeffwf").workflow_id == "\ufeffwf"
    assert make_scope("n" * 1024, "é" * 512).namespace == "n" * 1024
