"""A payload sealed by any of our codecs opens in all of them (test/cross-language/README.md):
Python's vector file verified by the TypeScript tool, TypeScript's by Python's, KMS-wrapped data
keys included, against moto on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from support.paths import REPO_ROOT, TS_VECTORS_TOOL
from support.servers import Moto


@pytest.fixture(scope="module")
def kms_key(moto: Moto) -> str:
    client = boto3.client("kms", region_name="us-east-1", endpoint_url=moto.endpoint, aws_access_key_id="testing", aws_secret_access_key="testing")
    arn: str = client.create_key(Description="cross-language vectors")["KeyMetadata"]["Arn"]
    return arn


def run(args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    return subprocess.run(args, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=180, check=False)


def typescript_tool(*args: str) -> subprocess.CompletedProcess[str]:
    npx = shutil.which("npx")
    if npx is None:
        raise RuntimeError("npx not found: the TypeScript vector tool needs Node.js and `npm ci`")
    return run([npx, "tsx", str(TS_VECTORS_TOOL), *args])


def python_tool(*args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "temporal_envelope.vectors", *args])


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr[-3000:]}"
    out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


def expected_counts(path: Path) -> tuple[int, int]:
    doc = json.loads(path.read_text(encoding="utf-8"))
    return len(doc["valid"]), len(doc["invalid"])


def test_python_sealed_vectors_open_in_typescript(moto: Moto, kms_key: str, tmp_path: Path) -> None:
    out = tmp_path / "python-vectors.json"
    gen = python_tool("generate", "--out", str(out), "--kms-endpoint", moto.endpoint, "--kms-key", kms_key)
    assert gen.returncode == 0, gen.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["generator"] == "python" and doc["kms"]["keyId"] == kms_key
    assert {v["provider"] for v in doc["valid"]} == {"local", "aws-kms"}
    assert (out.stat().st_mode & 0o777) == 0o600
    result = summary(typescript_tool("verify", str(out), "--kms-endpoint", moto.endpoint))
    assert result["failures"] == []
    assert (result["opened"], result["rejected"]) == expected_counts(out)
    assert result["verifier"] == "typescript" and result["generator"] == "python"


def test_typescript_sealed_vectors_open_in_python(moto: Moto, kms_key: str, tmp_path: Path) -> None:
    out = tmp_path / "typescript-vectors.json"
    gen = typescript_tool("generate", "--out", str(out), "--kms-endpoint", moto.endpoint, "--kms-key", kms_key)
    assert gen.returncode == 0, gen.stderr
    assert any(v["provider"] == "aws-kms" for v in json.loads(out.read_text(encoding="utf-8"))["valid"])
    result = summary(python_tool("verify", str(out), "--kms-endpoint", moto.endpoint))
    assert result["failures"] == []
    assert (result["opened"], result["rejected"]) == expected_counts(out)
    assert result["verifier"] == "python" and result["generator"] == "typescript"


def test_python_branch_key_vectors_open_in_typescript(moto: Moto, kms_key: str, tmp_path: Path) -> None:
    """Format v2 (--hierarchy branch): every valid vector version 2, local and KMS-wrapped branch keys."""
    out = tmp_path / "python-branch.json"
    gen = python_tool("generate", "--out", str(out), "--hierarchy", "branch", "--kms-endpoint", moto.endpoint, "--kms-key", kms_key)
    assert gen.returncode == 0, gen.stderr
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["hierarchy"] == "branch" and {v["provider"] for v in doc["valid"]} == {"local", "aws-kms"}
    for v in doc["valid"]:
        assert v["sealed"]["metadata"]["envelope-version"] == "Mg=="  # "2"
        assert "envelope-branch-key" in v["sealed"]["metadata"] and "envelope-dek" not in v["sealed"]["metadata"]
    assert "KMS-wrapped branch key altered" in {v["name"] for v in doc["invalid"]}
    result = summary(typescript_tool("verify", str(out), "--kms-endpoint", moto.endpoint))
    assert result["failures"] == []
    assert (result["opened"], result["rejected"]) == expected_counts(out)


def test_typescript_branch_key_vectors_open_in_python(moto: Moto, kms_key: str, tmp_path: Path) -> None:
    out = tmp_path / "typescript-branch.json"
    gen = typescript_tool("generate", "--out", str(out), "--hierarchy", "branch", "--kms-endpoint", moto.endpoint, "--kms-key", kms_key)
    assert gen.returncode == 0, gen.stderr
    assert json.loads(out.read_text(encoding="utf-8"))["hierarchy"] == "branch"
    result = summary(python_tool("verify", str(out), "--kms-endpoint", moto.endpoint))
    assert result["failures"] == []
    assert (result["opened"], result["rejected"]) == expected_counts(out)
    assert result["verifier"] == "python" and result["generator"] == "typescript"


def test_verify_fails_loudly_on_a_vector_that_does_not_hold(tmp_path: Path) -> None:
    out = tmp_path / "local-only.json"
    assert python_tool("generate", "--out", str(out)).returncode == 0
    doc = json.loads(out.read_text(encoding="utf-8"))
    doc["invalid"][0]["code"] = "UNKNOWN_KEY"  # a flipped tag is TAMPERED_CIPHERTEXT, not this
    out.write_text(json.dumps(doc), encoding="utf-8")
    proc = python_tool("verify", str(out))
    assert proc.returncode == 1
    assert "expected UNKNOWN_KEY" in json.loads(proc.stdout)["failures"][0]


def test_python_and_typescript_tools_write_the_same_cases(tmp_path: Path) -> None:
    # Name for name, so a case added to one tool (the id and schedule-run cases, say) is added to all.
    names: dict[str, tuple[list[str], list[str]]] = {}
    for tool, generate in (("python", python_tool), ("typescript", typescript_tool)):
        out = tmp_path / f"{tool}.json"
        assert generate("generate", "--out", str(out)).returncode == 0
        doc = json.loads(out.read_text(encoding="utf-8"))
        names[tool] = ([v["name"] for v in doc["valid"]], [v["name"] for v in doc["invalid"]])
    assert names["python"] == names["typescript"]
    assert "schedule action opened in its run" in names["python"][0]
