"""Shared fixtures: one Temporal dev server and one moto KMS endpoint per test session, started on
free loopback ports and stopped at the end; keyring files in a temporary directory."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.servers import DevServer, Moto, start_dev_server, start_moto
from temporal_envelope.keys import new_keyring_document, write_keyring


@pytest.fixture(scope="session")
def dev_server() -> Iterator[DevServer]:
    server = start_dev_server()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    server = start_moto()
    # moto accepts any credentials; boto3 needs some to sign with.
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def keyring_file(tmp_path: Path) -> Path:
    """A fresh keyring file, mode 0600, one primary KEK."""
    path = tmp_path / "keyring.json"
    write_keyring(str(path), new_keyring_document())
    return path


def read_json(path: Path) -> object:
    return json.loads(path.read_text(encoding="utf-8"))
