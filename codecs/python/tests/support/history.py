"""Raw workflow history, fetched straight from the frontend without any codec, and every Payload in it."""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client

PAYLOAD = Payload.DESCRIPTOR.full_name


async def raw_history(client: Client, workflow_id: str, namespace: str = "default") -> list[HistoryEvent]:
    events: list[HistoryEvent] = []
    token = b""
    while True:
        resp = await client.workflow_service.get_workflow_execution_history(
            GetWorkflowExecutionHistoryRequest(
                namespace=namespace, execution=WorkflowExecution(workflow_id=workflow_id), next_page_token=token
            )
        )
        events.extend(resp.history.events)
        token = resp.next_page_token
        if not token:
            return events


def payloads_in(message: Message, path: str = "") -> Iterator[tuple[str, Payload]]:
    """Every Payload anywhere in ``message`` (maps and repeated fields included), with its field path."""
    for field, value in message.ListFields():
        if field.message_type is None:
            continue
        where = f"{path}.{field.name}"
        if field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is None:
                continue
            for key, item in value.items():
                yield from _visit(item, f"{where}[{key}]")
        elif field.is_repeated:
            for i, item in enumerate(value):
                yield from _visit(item, f"{where}[{i}]")
        else:
            yield from _visit(value, where)


def _visit(message: Message, path: str) -> Iterator[tuple[str, Payload]]:
    if message.DESCRIPTOR.full_name == PAYLOAD:
        assert isinstance(message, Payload)
        yield path, message
    else:
        yield from payloads_in(message, path)


def history_bytes(events: list[HistoryEvent]) -> bytes:
    return b"".join(e.SerializeToString() for e in events)
