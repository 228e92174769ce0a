"""The keys of Temporal's samples encryption codec (keys/legacy-keyring.ts in TypeScript), held for
decrypting old payloads only. Nothing here seals: the codec never writes the samples' format."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from ..primitives.errors import KeyringError, KeyRetiredError, UnknownKeyError
from .file_poll import FilePoll, file_stamp
from .legacy_key_file import (
    DEFAULT_LEGACY_KEYS_PATH,
    LegacyKeysDocument,
    decode_legacy_material,
    read_legacy_keys,
    validate_legacy_keys,
)

_MEMORY: Final = "(memory)"

logger = logging.getLogger("temporal_envelope")

LegacyKeyState = Literal["decrypt-only", "retired"]


@dataclass(frozen=True, slots=True)
class LegacyKeyInfo:
    id: str
    kind: str
    state: LegacyKeyState
    added: str
    retired: str | None
    destroyed: bool


@dataclass(slots=True)
class _LegacyKey:
    info: LegacyKeyInfo
    material: bytearray | None


class LegacyKeyring:
    """Legacy keys from a legacy key file. A ``keys retire`` (or ``keys import-legacy``) written to
    the file reaches a running worker without a restart: the file's modification time is checked on
    use, at most every ``watch_interval_seconds``, as the local keyring's is. A file that fails to
    read then keeps the keys already loaded (a warning is logged)."""

    def __init__(
        self,
        path: str,
        doc: LegacyKeysDocument,
        *,
        watch_interval_seconds: float = 2.0,
        allow_insecure_permissions: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.path = path
        self._warn = warn or logger.warning
        self._allow_insecure = allow_insecure_permissions
        self._lock = threading.Lock()
        self._keys: dict[str, _LegacyKey] = {}
        self._poll: FilePoll | None = None if path == _MEMORY else FilePoll(path, watch_interval_seconds, file_stamp(path))
        self._load(doc)

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str] | None = None,
        *,
        watch_interval_seconds: float = 2.0,
        allow_insecure_permissions: bool = False,
        warn: Callable[[str], None] | None = None,
    ) -> LegacyKeyring:
        """Open a legacy key file (default ``~/.temporal-envelope/legacy-keys.json``). Never creates
        one: KeyringError when it is missing, unsafe or invalid. ``watch_interval_seconds`` 0 turns
        reloading off."""
        file = os.path.abspath(os.fspath(path if path is not None else DEFAULT_LEGACY_KEYS_PATH))
        stamp = file_stamp(file)
        doc = read_legacy_keys(file, allow_insecure_permissions=allow_insecure_permissions)
        ring = cls(
            file,
            doc,
            watch_interval_seconds=watch_interval_seconds,
            allow_insecure_permissions=allow_insecure_permissions,
            warn=warn,
        )
        if ring._poll is not None:
            ring._poll.accept(stamp)
        return ring

    @classmethod
    def from_document(cls, doc: LegacyKeysDocument) -> LegacyKeyring:
        """From a document in memory (tests); never reloads."""
        return cls(_MEMORY, validate_legacy_keys(doc, _MEMORY), watch_interval_seconds=0)

    def knows(self, key_id: str) -> bool:
        """Whether ``key_id`` names a key in this file, usable or retired: its payloads are ours to answer for."""
        self._maybe_reload()
        return key_id in self._keys

    def material(self, key_id: str) -> bytearray:
        """A copy of the key's 32 bytes; the caller wipes it. KEY_RETIRED for a retired (or
        destroyed) key, UNKNOWN_KEY for an id not in the file."""
        self._maybe_reload()
        with self._lock:
            k = self._keys.get(key_id)
            if k is None:
                raise UnknownKeyError(f"legacy key {key_id!r} is not in {self.path}")
            if k.info.state == "retired" or k.material is None:
                destroyed = " and destroyed" if k.material is None else ""
                raise KeyRetiredError(f"legacy key {key_id!r} is retired{destroyed} and no longer decrypts")
            return bytearray(k.material)

    def list_keys(self) -> list[LegacyKeyInfo]:
        self._maybe_reload()
        return [k.info for k in self._keys.values()]

    async def check_ready(self) -> None:
        """Read the file again now if it changed (a readiness probe): raises if it no longer reads."""
        if self._poll is not None and self._poll.changed_now() is not None:
            self.reload()

    def close(self) -> None:
        """Nothing to stop: reloading is driven by use, not by a timer."""

    # -- reloading -------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the file now. Raises KeyringError if it is unreadable, unsafe or invalid."""
        if self._poll is None:
            return
        stamp = file_stamp(self.path)
        self._load(read_legacy_keys(self.path, allow_insecure_permissions=self._allow_insecure))
        self._poll.accept(stamp)

    def _maybe_reload(self) -> None:
        if self._poll is None or self._poll.poll() is None:
            return
        try:
            self.reload()
        except KeyringError as err:
            self._warn(f"temporal-envelope: legacy key file reload failed, keeping the loaded keys: {err}")

    def _load(self, doc: LegacyKeysDocument) -> None:
        keys: dict[str, _LegacyKey] = {}
        for e in doc["keys"]:
            material = e.get("material")
            keys[e["id"]] = _LegacyKey(
                info=LegacyKeyInfo(
                    id=e["id"],
                    kind=e["kind"],
                    state=e["state"],
                    added=e["added"],
                    retired=e.get("retired"),
                    destroyed=material is None,
                ),
                material=None if material is None else decode_legacy_material(material),
            )
        with self._lock:
            old = self._keys
            self._keys = keys
        for k in old.values():
            if k.material is not None:
                k.material[:] = bytes(len(k.material))
