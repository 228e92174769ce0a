"""Codec micro-benchmark in the shape of bench/codec.bench.ts: encode+decode round trips of
1 KB ×10 and 1 MB ×1 payloads, envelope AES-256-GCM and XChaCha20-Poly1305 against a static-key
AES-GCM codec shaped like Temporal's samples codec, measured in the same run, sides interleaved
(A B C A B C …) and medians taken, printed as ratios to that baseline.

    python -m temporal_envelope.bench            # ~1 min
    python -m temporal_envelope.bench --quick    # a few seconds (smoke test; no timing assertions anywhere)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence

import cryptography
import nacl
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec, WorkflowSerializationContext

from .codec.envelope_codec import EnvelopeCodec
from .keys.keyring_file import new_keyring_document
from .keys.local_keyring import LocalKeyring

WORKFLOWS = 100
BASELINE = "static-key AES-GCM (baseline)"


class StaticKeyCodec(PayloadCodec):
    """The baseline: what Temporal's encryption samples do. One static AES-256-GCM key, the whole
    Payload serialized and sealed as nonce(12) ‖ ciphertext ‖ tag, ``encoding`` and
    ``encryption-key-id`` in metadata. No envelope, no per-workflow keys, no additional data."""

    def __init__(self, key: bytes | None = None, key_id: str = "static-1") -> None:
        self._aes = AESGCM(key or os.urandom(32))
        self._key_id = key_id.encode()

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            nonce = os.urandom(12)
            data = nonce + self._aes.encrypt(nonce, p.SerializeToString(), None)
            out.append(Payload(metadata={"encoding": b"binary/encrypted", "encryption-key-id": self._key_id}, data=data))
        return out

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        out = []
        for p in payloads:
            plain = self._aes.decrypt(p.data[:12], p.data[12:], None)
            out.append(Payload.FromString(plain))
        return out


def payload_of(size: int, i: int) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=bytes([97 + i % 26]) * size)


def context(i: int) -> WorkflowSerializationContext:
    return WorkflowSerializationContext(namespace="default", workflow_id=f"bench-wf-{i % WORKFLOWS}")


def bound(codec: PayloadCodec, i: int) -> PayloadCodec:
    # The SDK binds a codec to each operation's context; the baseline ignores contexts.
    return codec.with_context(context(i)) if isinstance(codec, EnvelopeCodec) else codec


async def ops_per_second(fn: Callable[[], Awaitable[None]], seconds: float) -> float:
    ops = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        await fn()
        ops += 1
        elapsed = time.perf_counter() - start
    return ops / elapsed


async def interleaved(sides: dict[str, Callable[[], Awaitable[None]]], rounds: int, seconds: float) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in sides}
    for fn in sides.values():
        await ops_per_second(fn, min(0.2, seconds))  # warm-up
    for _ in range(rounds):
        for name, fn in sides.items():
            samples[name].append(await ops_per_second(fn, seconds))
    return {k: statistics.median(v) for k, v in samples.items()}


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths))

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


async def run(quick: bool) -> list[dict[str, object]]:
    rounds, seconds = (2, 0.06) if quick else (5, 0.4)
    ring = LocalKeyring.from_document(new_keyring_document())
    impls: dict[str, PayloadCodec] = {
        BASELINE: StaticKeyCodec(),
        "envelope AES-256-GCM": EnvelopeCodec(ring),
        "envelope XChaCha20-Poly1305": EnvelopeCodec(ring, algorithm="XCHACHA20-POLY1305"),
    }
    # The implementations must agree before anything is timed.
    for name, codec in impls.items():
        p = payload_of(1024, 3)
        c = bound(codec, 3)
        [back] = await c.decode(await c.encode([p]))
        if back != p:
            raise SystemExit(f"{name} does not round-trip")
    # Warm every workflow's data key once (what a running worker has).
    for i in range(WORKFLOWS):
        for codec in impls.values():
            await bound(codec, i).encode([payload_of(10, i)])

    results: list[dict[str, object]] = []
    for size, batch in [(1024, 10), (1024 * 1024, 1)]:
        payloads = [payload_of(size, i) for i in range(batch)]
        counter = 0

        def round_trip(codec: PayloadCodec) -> Callable[[], Awaitable[None]]:
            async def once() -> None:
                nonlocal counter
                c = bound(codec, counter)
                counter += 1
                back = await c.decode(await c.encode(payloads))
                if len(back) != batch:
                    raise SystemExit("lost a payload")

            return once

        ops = await interleaved({k: round_trip(c) for k, c in impls.items()}, rounds, seconds)
        base = ops[BASELINE]
        results.append({"size": size, "batch": batch, "ops": ops, "ratio": {k: v / base for k, v in ops.items()}})
    return results


def human(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m temporal_envelope.bench", description="codec round-trip ratios to a static-key AES-GCM baseline")
    parser.add_argument("--quick", action="store_true", help="a few seconds instead of about a minute")
    args = parser.parse_args(argv)
    results = asyncio.run(run(args.quick))
    names = list(results[0]["ops"])  # type: ignore[call-overload]
    print(
        f"python {platform.python_version()}, cryptography {cryptography.__version__}, pynacl {nacl.__version__}; "
        f"codec round trip (encode + decode) per batch, ops/s and ratio to the baseline "
        f"({'quick, ' if args.quick else ''}interleaved rounds, medians)"
    )
    rows = []
    for r in results:
        ops: dict[str, float] = r["ops"]  # type: ignore[assignment]
        ratio: dict[str, float] = r["ratio"]  # type: ignore[assignment]
        rows.append([f"{human(r['size'])} x{r['batch']}", *[c for k in names for c in (f"{ops[k]:.0f}", f"{ratio[k]:.2f}")]])  # type: ignore[arg-type]
    print(table(["payloads", *[c for k in names for c in (k, "ratio")]], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
