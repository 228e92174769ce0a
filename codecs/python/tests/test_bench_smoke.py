"""The micro-benchmark runs and prints its ratios (no timing assertions: figures are for people)."""

from __future__ import annotations

import re
import subprocess
import sys


def test_quick_bench_prints_a_ratio_per_implementation_and_size() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "temporal_envelope.bench", "--quick"], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    rows = [line for line in proc.stdout.splitlines() if re.match(r"^(1 KB x10|1 MB x1)\s", line)]
    assert len(rows) == 2
    for row in rows:
        cells = row.split()
        ratios = [float(c) for c in cells[4::2]]  # "1 KB x10", then ops/s and ratio per implementation
        assert len(ratios) == 3 and ratios[0] == 1.0 and all(r > 0 for r in ratios)
