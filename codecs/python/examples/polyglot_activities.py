"""The example activity, run outside the workflow sandbox."""

from __future__ import annotations

import secrets
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from temporal_envelope import current_warrant


@activity.defn(name="issueCredential")
async def issue_credential(request: dict[str, Any]) -> dict[str, Any]:
    """Issues a (made-up) credential for ``request["email"]`` under the warrant the workflow was
    started with, which arrives sealed in the ``warrant`` header and is opened here."""
    warrant = current_warrant()
    if warrant is None:
        raise ApplicationError("no warrant: refusing to issue a credential without authority", type="NoWarrant", non_retryable=True)
    email = request.get("email") if isinstance(request, dict) else None
    if not isinstance(email, str):
        raise ApplicationError('input expected an "email" string', type="BadRequest", non_retryable=True)
    return {"credential": "cred_" + secrets.token_urlsafe(18), "for": email, "actingFor": warrant}
