"""The example workflow the cross-language end-to-end test drives on a Python worker. Only
temporalio imports here: the SDK's sandbox re-imports this module for every run."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

APPROVAL_TIMEOUT = timedelta(minutes=10)


@workflow.defn(name="PolyglotPyGrant")
class PolyglotPyGrant:
    """Waits for the signal ``approve``, then calls ``issueCredential`` with its input. Its input,
    the signal, the activity's input and result and its own result all pass the codec; the warrant
    header reaches the activity sealed (HeaderSealingWorkerInterceptor)."""

    def __init__(self) -> None:
        self._approved = False
        self._approval: Any = None

    @workflow.run
    async def run(self, request: dict[str, Any]) -> dict[str, Any]:
        try:
            await workflow.wait_condition(lambda: self._approved, timeout=APPROVAL_TIMEOUT)
        except asyncio.TimeoutError:
            raise ApplicationError("no approval in time", type="ApprovalTimeout", non_retryable=True) from None
        issued: dict[str, Any] = await workflow.execute_activity(
            "issueCredential",
            request,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=RetryPolicy(maximum_attempts=2, initial_interval=timedelta(milliseconds=100)),
        )
        return {"stage": "granted", "workflowId": workflow.info().workflow_id, "approval": self._approval, **issued}

    @workflow.signal(name="approve")
    def approve(self, approval: Any = None) -> None:
        self._approval = approval
        self._approved = True
