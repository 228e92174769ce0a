"""The example programs as the cross-language end-to-end test will run them: examples/worker.py
and examples/client.py as separate processes against the dev server, on the local keyring and on
AWS KMS (moto)."""

from __future__ import annotations

import asyncio
import json
import os
import select
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from temporalio.client import Client

from support.history import payloads_in, raw_history
from support.paths import EXAMPLES
from support.servers import DevServer, Moto


@contextmanager
def example_worker(args: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "worker.py"), *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                line = proc.stdout.readline()
                if line.startswith("worker polling"):
                    break
        assert line.startswith("worker polling"), f"worker did not start: {proc.stderr.read() if proc.poll() is not None and proc.stderr else line}"
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def run_client(args: list[str], env: dict[str, str]) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / "client.py"), *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result: dict[str, object] = json.loads(proc.stdout)
    return result


def key_flags(kind: str, tmp_path: Path, moto: Moto | None) -> list[str]:
    if kind == "local":
        keyring = tmp_path / "keyring.json"
        return ["--keyring", str(keyring)]
    assert moto is not None
    kms = boto3.client("kms", region_name="us-east-1", endpoint_url=moto.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    arn = kms.create_key(Description="examples")["KeyMetadata"]["Arn"]
    config = tmp_path / "aws-kms-keys.json"
    config.write_text(json.dumps({"format": "temporal-envelope-kms-keys/v1", "keys": [{"keyId": arn, "state": "primary", "added": "2026-11-29T00:00:00.000Z"}]}))
    return ["--kms-key-config", str(config), "--kms-endpoint", moto.endpoint]


@pytest.mark.parametrize(("kind", "worker_hierarchy"), [("local", None), ("aws-kms", None), ("aws-kms", "branch")])
def test_the_example_worker_and_client(kind: str, worker_hierarchy: str | None, dev_server: DevServer, moto: Moto, tmp_path: Path) -> None:
    """With worker_hierarchy "branch" the worker seals format v2 (TEMPORAL_ENVELOPE_KEY_HIERARCHY)
    while the client seals v1: a fleet switching one process at a time, each opening the other's."""
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}
    env.pop("TEMPORAL_ENVELOPE_KEYRING", None)
    env.pop("TEMPORAL_ENVELOPE_KEY_HIERARCHY", None)
    worker_env = env if worker_hierarchy is None else {**env, "TEMPORAL_ENVELOPE_KEY_HIERARCHY": worker_hierarchy}
    keys = key_flags(kind, tmp_path, moto if kind == "aws-kms" else None)
    queue = f"polyglot-py-{uuid.uuid4().hex[:6]}"
    common = ["--address", dev_server.address, "--task-queue", queue, *keys]
    warrant = f"act-for:ada:{uuid.uuid4().hex}"
    workflow_id = f"polyglot-py-{uuid.uuid4().hex[:8]}"
    with example_worker([*common, "--require-encryption"], worker_env):
        result = run_client(
            [*common, "--workflow-id", workflow_id, "--arg", json.dumps({"email": "ada@example.com"}), "--warrant", warrant,
             "--signal", "approve", "--signal-arg", json.dumps({"approver": "bob"})],
            env,
        )
    assert result["stage"] == "granted" and result["for"] == "ada@example.com" and result["actingFor"] == warrant
    assert str(result["credential"]).startswith("cred_") and result["approval"] == {"approver": "bob"}
    assert result["workflowId"] == workflow_id

    async def history_is_sealed() -> None:
        events = await raw_history(await Client.connect(dev_server.address), workflow_id)
        found = [p for e in events for _, p in payloads_in(e)]
        assert found and all(p.metadata["envelope-workflow-id"] == workflow_id.encode() for p in found)
        versions = {p.metadata["envelope-version"] for p in found}
        assert versions == ({b"1"} if worker_hierarchy is None else {b"1", b"2"})
        raw = b"".join(e.SerializeToString() for e in events)
        assert warrant.encode() not in raw and b"ada@example.com" not in raw and str(result["credential"]).encode() not in raw

    asyncio.run(history_is_sealed())
