"""Several KEK providers seen as one: the first one's primary wraps, whichever holds the key id unwraps."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from ..primitives.errors import InvalidConfigError, UnknownKeyError
from ..primitives.scope import Scope
from .provider import GeneratedDataKey, KekInfo, KeyProvider


class ProviderSet:
    def __init__(self, providers: Sequence[KeyProvider]) -> None:
        if len(providers) == 0:
            raise InvalidConfigError('codec "key_providers" expected at least one key provider')
        self.providers = tuple(providers)
        self._name = "+".join(p.name for p in self.providers)

    @property
    def name(self) -> str:
        return self._name

    def primary_key_id(self) -> str:
        return self.providers[0].primary_key_id()

    def handles(self, key_id: str) -> bool:
        return any(p.handles(key_id) for p in self.providers)

    async def generate_data_key(self, scope: Scope) -> GeneratedDataKey:
        return await self.providers[0].generate_data_key(scope)

    async def decrypt_data_key(self, key_id: str, wrapped: bytes, scope: Scope) -> bytearray:
        for provider in self.providers:
            if provider.handles(key_id):
                return await provider.decrypt_data_key(key_id, wrapped, scope)
        raise UnknownKeyError(f"no configured key provider holds key {key_id!r}")

    async def list_keys(self) -> list[KekInfo]:
        lists = await asyncio.gather(*(p.list_keys() for p in self.providers))
        return [k for keys in lists for k in keys]

    async def check_ready(self) -> None:
        await asyncio.gather(*(p.check_ready() for p in self.providers))

    def close(self) -> None:
        for p in self.providers:
            p.close()
