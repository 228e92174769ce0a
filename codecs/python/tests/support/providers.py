"""Key providers for tests: a wrapper that counts calls, adds latency and fails on demand."""

from __future__ import annotations

import asyncio

from temporal_envelope.keys import GeneratedDataKey, KekInfo, KeyProvider
from temporal_envelope.keys.provider import wraps_branch_keys
from temporal_envelope.primitives import Scope


class ScriptedProvider:
    """Forwards to ``inner``, counting calls; ``delay`` seconds of latency; ``fail`` raised while set."""

    def __init__(self, inner: KeyProvider, delay: float = 0.0) -> None:
        self.inner = inner
        self.delay = delay
        self.fail: BaseException | None = None
        self.generated: list[GeneratedDataKey] = []
        self.generate_calls = 0
        self.decrypt_calls = 0

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def wraps_branch_keys(self) -> bool:
        # A wrapper passes its provider's branch-key wrapping on (keys/provider.py).
        return wraps_branch_keys(self.inner)

    def primary_key_id(self) -> str:
        return self.inner.primary_key_id()

    def handles(self, key_id: str) -> bool:
        return self.inner.handles(key_id)

    async def generate_data_key(self, scope: Scope) -> GeneratedDataKey:
        self.generate_calls += 1
        await self._wait()
        dk = await self.inner.generate_data_key(scope)
        self.generated.append(dk)
        return dk

    async def decrypt_data_key(self, key_id: str, wrapped: bytes, scope: Scope) -> bytearray:
        self.decrypt_calls += 1
        await self._wait()
        return await self.inner.decrypt_data_key(key_id, wrapped, scope)

    async def list_keys(self) -> list[KekInfo]:
        return await self.inner.list_keys()

    async def check_ready(self) -> None:
        await self.inner.check_ready()

    def close(self) -> None:
        self.inner.close()

    async def _wait(self) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
