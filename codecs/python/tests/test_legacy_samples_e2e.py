"""Against a real `temporal server start-dev`: a workflow started and progressed by a client and
worker on the samples-python codec finishes on a worker that moved to EnvelopeCodec with the
samples' key as a legacy key. Its history then holds both formats: the old payloads still open,
everything written after the switch is sealed in the envelope to the workflow."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from pathlib import Path
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.worker import Worker

from support import e2e_activities
from support.e2e_workflows import SecretRoundTrip
from support.legacy_keys import legacy_doc, write_private
from support.history import history_bytes, payloads_in, raw_history
from support.samples_codec import SAMPLES_KEY, SAMPLES_KEY_ID, SamplesEncryptionCodec
from support.servers import DevServer
from temporal_envelope import EnvelopeCodec, LocalKeyring, envelope_data_converter
from test_temporal_e2e import wait_for_event


async def test_a_samples_codec_workflow_finishes_on_envelope_codec_with_the_legacy_key(dev_server: DevServer, keyring_file: Path, tmp_path: Path) -> None:
    secret, late = f"CANARY-{uuid.uuid4().hex}", f"CANARY-{uuid.uuid4().hex}"
    queue = f"py-legacy-{uuid.uuid4().hex[:8]}"
    wf_id = f"legacy-{uuid.uuid4().hex[:8]}"

    # Before: the team's client and worker on the samples codec start the workflow and run its first task.
    samples = dataclasses.replace(DataConverter.default, payload_codec=SamplesEncryptionCodec())
    old_client = await Client.connect(dev_server.address, data_converter=samples)
    async with Worker(old_client, task_queue=queue, workflows=[SecretRoundTrip], activities=e2e_activities.ALL):
        await old_client.start_workflow("SecretRoundTrip", {"secret": secret}, id=wf_id, task_queue=queue)
        await wait_for_event(old_client, wf_id, EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED)

    # After: the worker and client move to EnvelopeCodec with the samples' key imported.
    legacy_keys = write_private(tmp_path / "legacy-keys.json", legacy_doc())
    codec = EnvelopeCodec(LocalKeyring.open(str(keyring_file)), require_encryption=True, legacy_keys=legacy_keys)
    client = await Client.connect(dev_server.address, data_converter=envelope_data_converter(codec))
    async with Worker(client, task_queue=queue, workflows=[SecretRoundTrip], activities=e2e_activities.ALL):
        handle = client.get_workflow_handle(wf_id)
        await handle.signal("proceed", late)
        result: dict[str, Any] = await asyncio.wait_for(handle.result(), 60)
    assert result == {"activity": {"seen": secret}, "signal": late}

    events = await raw_history(await Client.connect(dev_server.address), wf_id)
    raw = history_bytes(events)
    assert secret.encode() not in raw and late.encode() not in raw
    found = [(EventType.Name(e.event_type), p) for e in events for _, p in payloads_in(e)]
    legacy = [kind for kind, p in found if "envelope-version" not in p.metadata]
    sealed = [kind for kind, p in found if p.metadata.get("envelope-version") == b"1"]
    assert legacy == ["EVENT_TYPE_WORKFLOW_EXECUTION_STARTED"]
    assert {
        "EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED",
        "EVENT_TYPE_ACTIVITY_TASK_SCHEDULED",
        "EVENT_TYPE_ACTIVITY_TASK_COMPLETED",
        "EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED",
    } <= set(sealed)
    assert len(legacy) + len(sealed) == len(found)
    for _, p in found:
        if "envelope-version" in p.metadata:
            assert p.metadata["envelope-workflow-id"] == wf_id.encode()
        else:
            assert p.metadata["encryption-key-id"] == SAMPLES_KEY_ID.encode()
    # The old payload in that history is still the samples codec's own: it opens there too.
    started = next(p for kind, p in found if kind == "EVENT_TYPE_WORKFLOW_EXECUTION_STARTED")
    assert (await SamplesEncryptionCodec(key=SAMPLES_KEY).decode([started]))[0].data == b'{"secret":"' + secret.encode() + b'"}'
