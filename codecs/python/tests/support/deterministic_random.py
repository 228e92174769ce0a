"""The seeded SHA-256 counter stream of test/support/deterministic-random.ts, so known-answer
vectors re-seal byte for byte. Test-only."""

from __future__ import annotations

import hashlib
from collections.abc import Callable


def deterministic_random(seed: str) -> Callable[[int], bytes]:
    counter = 0
    pool = b""

    def draw(n: int) -> bytes:
        nonlocal counter, pool
        while len(pool) < n:
            # update(seed).update(String(counter)): both UTF-8, concatenated.
            pool += hashlib.sha256(seed.encode() + str(counter).encode()).digest()
            counter += 1
        out, pool = pool[:n], pool[n:]
        return out

    return draw
