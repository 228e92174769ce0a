"""Workflows the integration tests run. Only temporalio imports here: the SDK's sandbox re-imports
this module for every workflow run. Activities are called by name (support/e2e_activities.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

ONCE = RetryPolicy(maximum_attempts=1)


@workflow.defn(name="SecretRoundTrip")
class SecretRoundTrip:
    """Input, signal, activity input and result, workflow result: every kind of payload once."""

    def __init__(self) -> None:
        self._signal: str | None = None

    @workflow.run
    async def run(self, req: dict[str, Any]) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self._signal is not None)
        echoed = await workflow.execute_activity("echoSecret", req, start_to_close_timeout=timedelta(seconds=30))
        return {"activity": echoed, "signal": self._signal}

    @workflow.signal(name="proceed")
    def proceed(self, value: str) -> None:
        self._signal = value


@workflow.defn(name="FailingGrant")
class FailingGrant:
    """An activity failure whose message names the subject, and a workflow failure that does too."""

    @workflow.run
    async def run(self, req: dict[str, Any]) -> None:
        try:
            await workflow.execute_activity("failWithSecret", req, start_to_close_timeout=timedelta(seconds=30), retry_policy=ONCE)
        except ActivityError as err:
            raise ApplicationError(f"grant for {req['email']} failed", type="GrantFailed", non_retryable=True) from err


@workflow.defn(name="WarrantedGrant")
class WarrantedGrant:
    """Runs an activity that reads the sealed warrant header; reports the activity's refusal as data."""

    @workflow.run
    async def run(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            result: dict[str, Any] = await workflow.execute_activity(
                "actUnderWarrant", req, start_to_close_timeout=timedelta(seconds=30), retry_policy=ONCE
            )
            return result
        except ActivityError as err:
            cause = err.cause
            return {"refused": getattr(cause, "type", None), "message": str(cause)}
