"""Against a real `temporal server start-dev` (the binary in .venv/bin): what the stored history
holds when a Python client and worker use the codec, fetched raw, without any codec."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from temporalio.api.common.v1 import Payload, Payloads, WorkflowExecution
from temporalio.api.workflowservice.v1 import SignalWorkflowExecutionRequest
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent
from temporalio.client import Client, Interceptor, OutboundInterceptor, StartWorkflowInput, WorkflowFailureError, WorkflowHandle
from temporalio.converter import PayloadConverter, WorkflowSerializationContext
from temporalio.worker import Worker

from support import e2e_activities
from support.e2e_workflows import FailingGrant, SecretRoundTrip, WarrantedGrant
from support.providers import ScriptedProvider
from support.history import history_bytes, payloads_in, raw_history
from support.paths import REPO_ROOT
from support.servers import DevServer
from temporal_envelope import (
    EnvelopeCodec,
    HeaderSealingClientInterceptor,
    HeaderSealingWorkerInterceptor,
    LocalKeyring,
    envelope_data_converter,
)
from temporal_envelope.primitives import KmsUnavailableError

WORKFLOWS = [SecretRoundTrip, FailingGrant, WarrantedGrant]


def canary() -> str:
    return f"CANARY-{uuid.uuid4().hex}"


@asynccontextmanager
async def running(
    dev_server: DevServer, codec: EnvelopeCodec, *, warrant_for: Callable[[str], Any] = lambda _: None
) -> AsyncIterator[tuple[Client, str]]:
    """A client and a worker on a task queue of their own, both with the codec and header sealing."""
    client = await Client.connect(
        dev_server.address,
        data_converter=envelope_data_converter(codec),
        interceptors=[HeaderSealingClientInterceptor(codec, "default", warrant_for)],
    )
    queue = f"py-e2e-{uuid.uuid4().hex[:8]}"
    async with Worker(
        client,
        task_queue=queue,
        workflows=WORKFLOWS,
        activities=e2e_activities.ALL,
        interceptors=[HeaderSealingWorkerInterceptor(codec)],
    ):
        yield client, queue


async def plain_client(dev_server: DevServer, interceptors: list[Interceptor] | None = None) -> Client:
    """No codec: what an operator with history access, or an attacker with signal permission, has."""
    return await Client.connect(dev_server.address, interceptors=interceptors or [])


def assert_sealed_to(events: list[HistoryEvent], workflow_id: str, *secrets: str, version: bytes = b"1") -> list[tuple[str, Payload]]:
    raw = history_bytes(events)
    for secret in secrets:
        assert secret.encode() not in raw, f"{secret} found in raw history"
    found = [(f"event {e.event_id} {EventType.Name(e.event_type)}{path}", p) for e in events for path, p in payloads_in(e)]
    assert found, "history holds no payloads at all"
    for where, p in found:
        assert p.metadata.get("encoding") == b"binary/encrypted", f"{where} is {p.metadata.get('encoding')!r}"
        assert p.metadata.get("envelope-version") == version, where
        assert p.metadata.get("envelope-namespace") == b"default", where
        assert p.metadata.get("envelope-workflow-id") == workflow_id.encode(), f"{where} sealed to {p.metadata.get('envelope-workflow-id')!r}"
    return found


async def wait_for_event(client: Client, workflow_id: str, event_type: int, timeout: float = 30) -> HistoryEvent:
    async def poll() -> HistoryEvent:
        while True:
            for e in await raw_history(client, workflow_id):
                if e.event_type == event_type:
                    return e
            await asyncio.sleep(0.2)

    return await asyncio.wait_for(poll(), timeout)


async def test_history_holds_no_plaintext_and_every_payload_is_sealed_to_its_workflow(dev_server: DevServer, keyring_file: Path) -> None:
    codec = EnvelopeCodec(LocalKeyring.open(str(keyring_file)), require_encryption=True)
    secret, signal, warrant = canary(), canary(), canary()
    async with running(dev_server, codec, warrant_for=lambda _: warrant) as (client, queue):
        wf_id = f"grant-{uuid.uuid4().hex[:8]}"
        handle: WorkflowHandle[Any, Any] = await client.start_workflow(
            "SecretRoundTrip", {"secret": secret}, id=wf_id, task_queue=queue, memo={"note": secret}
        )
        await handle.signal("proceed", signal)
        result = await asyncio.wait_for(handle.result(), 60)
    assert result == {"activity": {"seen": secret}, "signal": signal}
    events = await raw_history(await plain_client(dev_server), wf_id)
    found = assert_sealed_to(events, wf_id, secret, signal, warrant)
    kinds = {where.split(" ")[2].split(".")[0] for where, _ in found}
    assert {
        "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
        "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED",
        "EVENT_TYPE_ACTIVITY_TASK_COMPLETED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
    } <= kinds
    assert any(".memo." in where for where, _ in found) and any(".header." in where for where, _ in found)


async def test_with_branch_keys_history_holds_format_v2_sealed_to_each_workflow_for_one_kek_call(
    dev_server: DevServer, keyring_file: Path
) -> None:
    """key_hierarchy="branch": three workflows, client and worker sharing one codec, one call to the
    KEK provider in all (the namespace's branch key); every payload in history is version 2, sealed
    to its own workflow with a data key of its own, and opens in a per-workflow codec."""
    kek = ScriptedProvider(LocalKeyring.open(str(keyring_file)))
    codec = EnvelopeCodec(kek, key_hierarchy="branch", require_encryption=True)
    secrets = [canary() for _ in range(3)]
    ids = [f"branch-{uuid.uuid4().hex[:8]}" for _ in secrets]
    async with running(dev_server, codec, warrant_for=lambda _: canary()) as (client, queue):
        for wf_id, secret in zip(ids, secrets):
            handle: WorkflowHandle[Any, Any] = await client.start_workflow("SecretRoundTrip", {"secret": secret}, id=wf_id, task_queue=queue)
            await handle.signal("proceed", secret)
            assert await asyncio.wait_for(handle.result(), 60) == {"activity": {"seen": secret}, "signal": secret}
    assert (kek.generate_calls, kek.decrypt_calls) == (1, 0)
    plain = await plain_client(dev_server)
    branch_keys, salts = set(), {}
    for wf_id, secret in zip(ids, secrets):
        found = assert_sealed_to(await raw_history(plain, wf_id), wf_id, secret, version=b"2")
        branch_keys |= {p.metadata["envelope-branch-key"] for _, p in found}
        salts[wf_id] = {p.metadata["envelope-dek-salt"] for _, p in found}
        reader = EnvelopeCodec(LocalKeyring.open(str(keyring_file)))
        opened = await reader.decode_in_scope([p for _, p in found], None)
        assert all(o.metadata.get("encoding") != b"binary/encrypted" for o in opened)
    assert len(branch_keys) == 1
    assert not (salts[ids[0]] & salts[ids[1]]) and not (salts[ids[1]] & salts[ids[2]])


async def test_require_encryption_refuses_a_plaintext_signal(
    dev_server: DevServer, keyring_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    codec = EnvelopeCodec(LocalKeyring.open(str(keyring_file)), require_encryption=True)
    injected = canary()
    async with running(dev_server, codec) as (client, queue):
        wf_id = f"grant-{uuid.uuid4().hex[:8]}"
        handle: WorkflowHandle[Any, Any] = await client.start_workflow("SecretRoundTrip", {"secret": "s"}, id=wf_id, task_queue=queue)
        attacker = await plain_client(dev_server)
        await attacker.get_workflow_handle(wf_id).signal("proceed", injected)
        failed = await wait_for_event(client, wf_id, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        failure = failed.workflow_task_failed_event_attributes.failure
        # Our own error stays readable (it carries only a code), so the worker could report it.
        assert failure.message.startswith("PLAINTEXT_REJECTED")
        assert failure.application_failure_info.type == "PlaintextRejectedError"
        assert injected not in failure.message
        events = await raw_history(attacker, wf_id)
        assert not any(e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED for e in events)
        await handle.terminate("test over")
    # The worker logged the refused task (the SDK logs activation failures), never the payload.
    assert "PLAINTEXT_REJECTED" in caplog.text and injected not in caplog.text


async def test_with_mark_refused_in_workflow_a_refused_signal_is_dropped_and_the_workflow_runs_on(
    dev_server: DevServer, keyring_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A plaintext signal and one sealed for another workflow (copied from its history) are dropped:
    no failed workflow task, the workflow keeps running and takes a good signal after them. Input
    the codec refuses still fails the workflow task."""
    caplog.set_level(logging.INFO)
    codec = EnvelopeCodec(LocalKeyring.open(str(keyring_file)), require_encryption=True, mark_refused_in_workflow=True)
    injected = canary()
    async with running(dev_server, codec) as (client, queue):
        wf_id = f"grant-{uuid.uuid4().hex[:8]}"
        handle: WorkflowHandle[Any, Any] = await client.start_workflow("SecretRoundTrip", {"secret": "s"}, id=wf_id, task_queue=queue)
        [for_other] = await codec.with_context(WorkflowSerializationContext(namespace="default", workflow_id="another-workflow")).encode(
            [PayloadConverter.default.to_payload(injected)]
        )
        attacker = await plain_client(dev_server)
        await attacker.get_workflow_handle(wf_id).signal("proceed", injected)
        await attacker.workflow_service.signal_workflow_execution(
            SignalWorkflowExecutionRequest(
                namespace="default",
                workflow_execution=WorkflowExecution(workflow_id=wf_id),
                signal_name="proceed",
                input=Payloads(payloads=[for_other]),
            )
        )

        async def both_handled() -> None:
            while True:
                kinds = [e.event_type for e in await raw_history(attacker, wf_id)]
                signalled = [i for i, k in enumerate(kinds) if k == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED]
                if len(signalled) == 2 and EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in kinds[signalled[-1] :]:
                    return
                await asyncio.sleep(0.2)

        await asyncio.wait_for(both_handled(), 30)
        kinds = [e.event_type for e in await raw_history(attacker, wf_id)]
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in kinds
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in kinds
        await handle.signal("proceed", "good")
        assert await asyncio.wait_for(handle.result(), 60) == {"activity": {"seen": "s"}, "signal": "good"}
        assert EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED not in [e.event_type for e in await raw_history(attacker, wf_id)]

        # Input it refuses: the workflow task fails, as without the option; the workflow never runs.
        bad_id = f"grant-{uuid.uuid4().hex[:8]}"
        bad = await attacker.start_workflow("SecretRoundTrip", {"secret": injected}, id=bad_id, task_queue=queue)
        await wait_for_event(client, bad_id, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        assert EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED not in [e.event_type for e in await raw_history(attacker, bad_id)]
        await bad.terminate("test over")
    assert "dropping the signal" in caplog.text and "PLAINTEXT_REJECTED" in caplog.text and "SCOPE_MISMATCH" in caplog.text
    assert injected not in caplog.text


async def test_a_signal_that_arrives_while_kms_is_down_fails_the_task_and_is_delivered_after(
    dev_server: DevServer, keyring_file: Path
) -> None:
    """temporalio decodes a whole activation before running it (worker/_workflow.py,
    _handle_activation -> decode_activation) and fails the workflow task on a codec error that is
    not a non-retryable ApplicationError (ours never are). So a signal whose data key needs KMS
    while KMS is down is not lost, unlike in the Go SDK without codec.SignalInterceptor: the task
    fails, Temporal retries it, and once KMS answers the workflow receives the signal."""
    kms = ScriptedProvider(LocalKeyring.open(str(keyring_file)))
    sent = canary()
    async with running(dev_server, EnvelopeCodec(kms, require_encryption=True)) as (client, queue):
        wf_id = f"kms-signal-{uuid.uuid4().hex[:8]}"
        handle: WorkflowHandle[Any, Any] = await client.start_workflow("SecretRoundTrip", {"secret": "s"}, id=wf_id, task_queue=queue)
        await wait_for_event(client, wf_id, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)
        kms.fail = KmsUnavailableError("KMS Decrypt timed out (test outage)")
        # Another process seals the signal with a data key of its own: the worker must ask KMS.
        other = await Client.connect(dev_server.address, data_converter=envelope_data_converter(EnvelopeCodec(LocalKeyring.open(str(keyring_file)))))
        await other.get_workflow_handle(wf_id).signal("proceed", sent)
        failed = await wait_for_event(client, wf_id, EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED)
        assert failed.workflow_task_failed_event_attributes.failure.message.startswith("KMS_UNAVAILABLE")
        kms.fail = None
        assert await asyncio.wait_for(handle.result(), 60) == {"activity": {"seen": "s"}, "signal": sent}
        assert kms.decrypt_calls >= 2  # refused during the outage, answered after


async def test_a_keyring_rotation_reaches_the_running_worker(dev_server: DevServer, keyring_file: Path) -> None:
    ring = LocalKeyring.open(str(keyring_file), watch_interval_seconds=0.2)
    old_kek = ring.primary_key_id()
    codec = EnvelopeCodec(ring)
    async with running(dev_server, codec) as (client, queue):
        before = f"rot-a-{uuid.uuid4().hex[:8]}"
        handle_a: WorkflowHandle[Any, Any] = await client.start_workflow("SecretRoundTrip", {"secret": "a"}, id=before, task_queue=queue)
        rotated = rotate_with_the_cli(keyring_file)
        assert rotated["previous"]["id"] == old_kek
        new_kek = rotated["primary"]["id"]
        await asyncio.sleep(0.5)
        after = f"rot-b-{uuid.uuid4().hex[:8]}"
        handle_b: WorkflowHandle[Any, Any] = await client.start_workflow("SecretRoundTrip", {"secret": "b"}, id=after, task_queue=queue)
        for handle in (handle_a, handle_b):
            await handle.signal("proceed", "go")
            await asyncio.wait_for(handle.result(), 60)
    plain = await plain_client(dev_server)
    history_a, history_b = await raw_history(plain, before), await raw_history(plain, after)
    assert kek_of(history_a[0]) == old_kek.encode()  # sealed before the rotation
    assert kek_of(history_a[-1]) == new_kek.encode()  # the same running workflow, after it
    assert {p.metadata["encryption-key-id"] for e in history_b for _, p in payloads_in(e)} == {new_kek.encode()}
    # The decrypt-only KEK still opens what it sealed, for a codec that never saw those keys.
    fresh = EnvelopeCodec(ring)
    [opened] = await fresh.decode([next(p for _, p in payloads_in(history_a[0]))])
    assert PayloadConverter.default.from_payload(opened) == {"secret": "a"}


def rotate_with_the_cli(keyring: Path) -> dict[str, Any]:
    """`temporal-envelope keys rotate`, the real CLI: the file is rewritten as operators rewrite it."""
    npx = shutil.which("npx")
    if npx is None:
        raise RuntimeError("npx not found: the rotation test runs the TypeScript CLI (needs Node.js and `npm ci`)")
    proc = subprocess.run(
        [npx, "tsx", "src/cli/main.ts", "keys", "rotate", "--keyring", str(keyring), "--json"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out: dict[str, Any] = json.loads(proc.stdout)
    return out


def kek_of(event: HistoryEvent) -> bytes:
    [(_, p), *_] = list(payloads_in(event))
    return p.metadata["encryption-key-id"]


async def test_failure_messages_are_sealed_and_readable_with_the_codec(dev_server: DevServer, keyring_file: Path) -> None:
    codec = EnvelopeCodec(LocalKeyring.open(str(keyring_file)))
    email = f"{canary()}@example.com"
    async with running(dev_server, codec) as (client, queue):
        wf_id = f"grant-{uuid.uuid4().hex[:8]}"
        with pytest.raises(WorkflowFailureError) as caught:
            await asyncio.wait_for(client.execute_workflow("FailingGrant", {"email": email}, id=wf_id, task_queue=queue), 60)
    # Read through the codec, the messages are all there.
    chain = []
    err: BaseException | None = caught.value.cause
    while err is not None:
        chain.append(str(err))
        err = err.__cause__
    assert f"grant for {email} failed" in chain[0]
    assert any(f"mailbox {email} rejected" in m for m in chain)
    events = await raw_history(await plain_client(dev_server), wf_id)
    assert_sealed_to(events, wf_id, email)
    failed = next(e for e in events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED)
    failure = failed.workflow_execution_failed_event_attributes.failure
    assert failure.message == "Encoded failure" and failure.encoded_attributes.metadata["encoding"] == b"binary/encrypted"
    activity_failed = next(e for e in events if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED)
    assert activity_failed.activity_task_failed_event_attributes.failure.message == "Encoded failure"


class PlaintextWarrant(Interceptor):
    """Puts a plaintext warrant header on a start, as a client without our interceptor could."""

    def __init__(self, warrant: str) -> None:
        self.warrant = warrant

    def intercept_client(self, next: OutboundInterceptor) -> OutboundInterceptor:
        warrant = self.warrant

        class Outbound(OutboundInterceptor):
            async def start_workflow(self, input: StartWorkflowInput) -> WorkflowHandle[Any, Any]:
                input.headers = {**input.headers, "warrant": PayloadConverter.default.to_payload(warrant)}
                return await super().start_workflow(input)

        return Outbound(next)


async def test_the_warrant_header_is_sealed_end_to_end_and_a_plaintext_one_refused(dev_server: DevServer, keyring_file: Path) -> None:
    codec = EnvelopeCodec(LocalKeyring.open(str(keyring_file)))
    warrant = f"warrant:{canary()}"
    async with running(dev_server, codec, warrant_for=lambda _: warrant) as (client, queue):
        wf_id = f"grant-{uuid.uuid4().hex[:8]}"
        result = await asyncio.wait_for(client.execute_workflow("WarrantedGrant", {"resource": "db"}, id=wf_id, task_queue=queue), 60)
        assert result == {"actingFor": warrant, "resource": "db"}
        events = await raw_history(await plain_client(dev_server), wf_id)
        found = assert_sealed_to(events, wf_id, warrant)
        headers = [where for where, _ in found if ".header.fields[warrant]" in where]
        assert any("WORKFLOW_EXECUTION_STARTED" in w for w in headers) and any("ACTIVITY_TASK_SCHEDULED" in w for w in headers)

        forged = f"warrant:{canary()}"
        forger = await Client.connect(dev_server.address, data_converter=envelope_data_converter(codec), interceptors=[PlaintextWarrant(forged)])
        refused = await asyncio.wait_for(
            forger.execute_workflow("WarrantedGrant", {"resource": "db"}, id=f"forged-{uuid.uuid4().hex[:8]}", task_queue=queue), 60
        )
        assert refused["refused"] == "PlaintextRejectedError"
