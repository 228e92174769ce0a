"""Activities the integration tests run (outside the workflow sandbox)."""

from __future__ import annotations

from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from temporal_envelope import current_warrant


@activity.defn(name="echoSecret")
async def echo_secret(req: dict[str, Any]) -> dict[str, Any]:
    return {"seen": req["secret"]}


@activity.defn(name="failWithSecret")
async def fail_with_secret(req: dict[str, Any]) -> None:
    raise ApplicationError(f"mailbox {req['email']} rejected the grant notice", type="NotificationFailed", non_retryable=True)


@activity.defn(name="actUnderWarrant")
async def act_under_warrant(req: dict[str, Any]) -> dict[str, Any]:
    return {"actingFor": current_warrant(), "resource": req["resource"]}


ALL = [echo_secret, fail_with_secret, act_under_warrant]
