"""One named header sealed end to end (examples/warrant.ts in TypeScript).

Headers are where warrant-style authorization carries its delegation tokens, and the SDKs leave
headers out of the codec by default (TypeScript never encodes them; Python only with
``header_codec_behavior=CODEC``, which TypeScript and Go workers cannot read). These interceptors
close the gap for one header, in the same way in every language of the fleet:

- client: seal the header value with the codec, under the started workflow's own scope;
- workflow: pass it on, still sealed, to every activity the workflow schedules;
- activity: open it with the activity's serialization context and expose it to the activity
  through ``current_header()`` / ``current_warrant()``.

A header that arrives unsealed is refused (PLAINTEXT_REJECTED): a plaintext warrant can be forged
by anyone who can start a workflow.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import Any, Final

import temporalio.activity
import temporalio.client
import temporalio.worker
import temporalio.workflow
from temporalio.api.common.v1 import Payload
from temporalio.converter import ActivitySerializationContext, PayloadConverter, WorkflowSerializationContext

from ..primitives.errors import PlaintextRejectedError
from ..primitives.wire_format import is_envelope_payload
from .envelope_codec import EnvelopeCodec

#: The header the examples and the TypeScript example carry (examples/types.ts WARRANT_HEADER).
WARRANT_HEADER: Final = "warrant"

_opened: ContextVar[Mapping[str, Payload]] = ContextVar("temporal_envelope_opened_headers", default={})


def current_header(name: str = WARRANT_HEADER) -> Payload | None:
    """Inside an activity: the named header, opened; None if the workflow was started without it."""
    return _opened.get().get(name)


def current_warrant(name: str = WARRANT_HEADER) -> str | None:
    """Inside an activity: the warrant string the workflow was started with, opened."""
    payload = current_header(name)
    if payload is None:
        return None
    value = PayloadConverter.default.from_payload(payload, str)
    if not isinstance(value, str):
        raise TypeError(f'header "{name}" expected a string value')
    return value


class HeaderSealingClientInterceptor(temporalio.client.Interceptor):
    """Client side: seal ``value_for(workflow_id)`` (any JSON value; None: no header) into header
    ``header`` of every workflow started, under that workflow's scope in ``namespace``."""

    def __init__(
        self,
        codec: EnvelopeCodec,
        namespace: str,
        value_for: Callable[[str], Any],
        *,
        header: str = WARRANT_HEADER,
    ) -> None:
        self.codec = codec
        self.namespace = namespace
        self.value_for = value_for
        self.header = header

    def intercept_client(self, next: temporalio.client.OutboundInterceptor) -> temporalio.client.OutboundInterceptor:
        return _SealingOutbound(next, self)


class _SealingOutbound(temporalio.client.OutboundInterceptor):
    def __init__(self, next: temporalio.client.OutboundInterceptor, owner: HeaderSealingClientInterceptor) -> None:
        super().__init__(next)
        self._owner = owner

    async def start_workflow(self, input: temporalio.client.StartWorkflowInput) -> temporalio.client.WorkflowHandle[Any, Any]:
        o = self._owner
        value = o.value_for(input.id)
        if value is not None:
            codec = o.codec.with_context(WorkflowSerializationContext(namespace=o.namespace, workflow_id=input.id))
            [sealed] = await codec.encode([PayloadConverter.default.to_payload(value)])
            input.headers = {**input.headers, o.header: sealed}
        return await super().start_workflow(input)


class HeaderSealingWorkerInterceptor(temporalio.worker.Interceptor):
    """Worker side: workflows pass the sealed header to their activities; activities open it."""

    def __init__(self, codec: EnvelopeCodec, *, header: str = WARRANT_HEADER) -> None:
        self.codec = codec
        self.header = header
        self._workflow_class = _workflow_interceptor_for(header)

    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _OpeningActivityInbound(next, self.codec, self.header)

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return self._workflow_class


class _OpeningActivityInbound(temporalio.worker.ActivityInboundInterceptor):
    def __init__(self, next: temporalio.worker.ActivityInboundInterceptor, codec: EnvelopeCodec, header: str) -> None:
        super().__init__(next)
        self._codec = codec
        self._header = header

    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        sealed = input.headers.get(self._header)
        if sealed is None:
            return await super().execute_activity(input)
        if not is_envelope_payload(sealed):
            raise PlaintextRejectedError(f'header "{self._header}" arrived unsealed; refusing it')
        info = temporalio.activity.info()
        context = ActivitySerializationContext(
            namespace=info.namespace,
            activity_id=info.activity_id,
            activity_type=info.activity_type,
            activity_task_queue=info.task_queue,
            workflow_id=info.workflow_id,
            workflow_type=info.workflow_type,
            is_local=info.is_local,
        )
        [opened] = await self._codec.with_context(context).decode([sealed])
        token = _opened.set({**_opened.get(), self._header: opened})
        try:
            return await super().execute_activity(input)
        finally:
            _opened.reset(token)


def _workflow_interceptor_for(header: str) -> type[temporalio.worker.WorkflowInboundInterceptor]:
    # The SDK instantiates this class once per workflow run, so the header it holds is that run's.
    # It stays sealed in the workflow: the workflow never needs to read it, only to pass it on.

    class _CarryingOutbound(temporalio.worker.WorkflowOutboundInterceptor):
        def __init__(self, next: temporalio.worker.WorkflowOutboundInterceptor, inbound: _CarryingInbound) -> None:
            super().__init__(next)
            self._inbound = inbound

        def start_activity(self, input: temporalio.worker.StartActivityInput) -> temporalio.workflow.ActivityHandle[Any]:
            sealed = self._inbound.sealed
            if sealed is not None:
                input.headers = {**input.headers, header: sealed}
            return super().start_activity(input)

        def start_local_activity(
            self, input: temporalio.worker.StartLocalActivityInput
        ) -> temporalio.workflow.ActivityHandle[Any]:
            sealed = self._inbound.sealed
            if sealed is not None:
                input.headers = {**input.headers, header: sealed}
            return super().start_local_activity(input)

    class _CarryingInbound(temporalio.worker.WorkflowInboundInterceptor):
        sealed: Payload | None = None

        def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
            super().init(_CarryingOutbound(outbound, self))

        async def execute_workflow(self, input: temporalio.worker.ExecuteWorkflowInput) -> Any:
            self.sealed = input.headers.get(header)
            return await super().execute_workflow(input)

    return _CarryingInbound
