"""Real servers on loopback, started and stopped by the tests that need them: the Temporal dev
server and moto's AWS-compatible KMS. A missing binary is a failure naming the set-up step, never
a skip, and the SDK is never asked to download a server."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client

from .paths import MOTO_BIN, SETUP_HINT, TEMPORAL_BIN


def loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _require(binary: Path, what: str) -> None:
    if not binary.exists():
        raise RuntimeError(f"{what} not found at {binary}: {SETUP_HINT}")


def _stop(proc: subprocess.Popen[bytes], grace: float) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


@dataclass
class DevServer:
    address: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        _stop(self.proc, 10)


def start_dev_server(ready_timeout: float = 90) -> DevServer:
    _require(TEMPORAL_BIN, "Temporal CLI")
    port = loopback_port()
    args = [str(TEMPORAL_BIN), "server", "start-dev", "--headless", "--ip", "127.0.0.1", "--port", str(port), "--log-level", "error"]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    address = f"127.0.0.1:{port}"
    server = DevServer(address, proc)

    async def ready() -> None:
        client = await Client.connect(address)
        await client.workflow_service.get_system_info(GetSystemInfoRequest())

    deadline = time.monotonic() + ready_timeout
    last: BaseException | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"temporal server start-dev exited with {proc.returncode}: {err[-2000:]}")
        try:
            asyncio.run(asyncio.wait_for(ready(), 5))
            return server
        except Exception as e:
            last = e
            time.sleep(0.25)
    server.stop()
    raise RuntimeError(f"temporal dev server at {address} not ready after {ready_timeout} s: {last}")


@dataclass
class Moto:
    endpoint: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        _stop(self.proc, 5)


def start_moto(ready_timeout: float = 60) -> Moto:
    _require(MOTO_BIN, "moto_server")
    port = loopback_port()
    proc = subprocess.Popen(
        [str(MOTO_BIN), "-H", "127.0.0.1", "-p", str(port)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"moto_server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=2):
                return Moto(endpoint, proc)
        except urllib.error.HTTPError as err:
            if err.code < 500:
                return Moto(endpoint, proc)
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    _stop(proc, 5)
    raise RuntimeError(f"moto_server at {endpoint} not ready after {ready_timeout} s")
