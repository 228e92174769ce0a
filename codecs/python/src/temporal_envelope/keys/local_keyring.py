"""The embedded, zero-config KEK provider (keys/local-keyring.ts in TypeScript).

KEKs live in a local JSON file and wrap data keys with AES-256-GCM, the scope bound as additional
data (``temporal-envelope/v1/dek ‖ KEK id ‖ namespace ‖ workflow flag+id``, length-prefixed). For
development and single-host set-ups; in production the KEK belongs in a KMS.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from ..primitives.aead import RandomSource, open_sealed, seal_with_random_nonce
from ..primitives.errors import KeyringError, KeyRetiredError, MalformedPayloadError, UnknownKeyError
from ..primitives.length_prefixed import length_prefixed
from ..primitives.scope import Scope
from .keyring_file import (
    KeyringDocument,
    decode_material,
    new_keyring_document,
    read_keyring,
    validate_keyring,
    write_keyring,
)
from .file_poll import FilePoll, file_stamp
from .provider import GeneratedDataKey, KekInfo, KekState

DEFAULT_KEYRING_PATH: Final = os.path.join(os.path.expanduser("~"), ".temporal-envelope", "keyring.json")
WRAP_LABEL: Final = b"temporal-envelope/v1/dek"
_MEMORY: Final = "(memory)"

logger = logging.getLogger("temporal_envelope")


@dataclass(slots=True)
class _Kek:
    id: str
    version: int
    state: KekState
    created: str
    material: bytearray | None


def wrap_aad(key_id: str, scope: Scope) -> bytes:
    workflow = b"\x00" if scope.workflow_id is None else b"\x01" + scope.workflow_id.encode()
    return length_prefixed((WRAP_LABEL, key_id.encode(), scope.namespace.encode(), workflow))


class LocalKeyring:
    """KEKs from a keyring file. A rotation written to the file (``temporal-envelope keys rotate``)
    reaches a running worker without a restart: the file's modification time is checked on use, at
    most every ``watch_interval_seconds``, and a changed file is read again. A file that fails to
    read keeps the keys already loaded (a warning is logged) so a half-edited file cannot stop a worker."""

    name = "local"

    def __init__(
        self,
        path: str,
        doc: KeyringDocument,
        *,
        watch_interval_seconds: float = 2.0,
        allow_insecure_permissions: bool = False,
        warn: Callable[[str], None] | None = None,
        random: RandomSource = os.urandom,
    ) -> None:
        self.path = path
        self._random = random
        self._warn = warn or logger.warning
        self._allow_insecure = allow_insecure_permissions
        self._lock = threading.Lock()
        self._keks: dict[str, _Kek] = {}
        self._primary: _Kek
        self._poll: FilePoll | None = None if path == _MEMORY else FilePoll(path, watch_interval_seconds, file_stamp(path))
        self._load(doc)

    @classmethod
    def open(
        cls,
        path: str | None = None,
        *,
        create: bool = True,
        watch_interval_seconds: float = 2.0,
        allow_insecure_permissions: bool = False,
        warn: Callable[[str], None] | None = None,
        random: RandomSource = os.urandom,
    ) -> LocalKeyring:
        """Open a keyring file (default ``~/.temporal-envelope/keyring.json``), creating it with one
        primary KEK when missing unless ``create`` is False. ``watch_interval_seconds`` 0 turns
        reloading off."""
        file = os.path.abspath(path or DEFAULT_KEYRING_PATH)
        say = warn or logger.warning
        if not os.path.exists(file):
            if not create:
                raise KeyringError(f'keyring {file} does not exist; create it with "temporal-envelope keys init"')
            write_keyring(file, new_keyring_document())
            say(
                f"temporal-envelope: created a local development keyring at {file}. "
                "Its keys are only as safe as that file: use a KMS in production."
            )
        stamp = file_stamp(file)
        doc = read_keyring(file, allow_insecure_permissions=allow_insecure_permissions)
        ring = cls(
            file,
            doc,
            watch_interval_seconds=watch_interval_seconds,
            allow_insecure_permissions=allow_insecure_permissions,
            warn=warn,
            random=random,
        )
        if ring._poll is not None:
            ring._poll.accept(stamp)
        return ring

    @classmethod
    def from_document(cls, doc: KeyringDocument, *, random: RandomSource = os.urandom) -> LocalKeyring:
        """A keyring from a document in memory (tests, known-answer vectors); never reloads."""
        return cls(_MEMORY, validate_keyring(doc, _MEMORY), watch_interval_seconds=0, random=random)

    # -- KeyProvider -----------------------------------------------------------------------------

    def primary_key_id(self) -> str:
        self._maybe_reload()
        return self._primary.id

    def handles(self, key_id: str) -> bool:
        self._maybe_reload()
        if key_id not in self._keks:
            # It may name a KEK `keys rotate` wrote a moment ago, already sealing in a process that
            # read the file first: look at the file now rather than at the next due check.
            self._maybe_reload(now=True)
        return key_id in self._keks

    async def generate_data_key(self, scope: Scope) -> GeneratedDataKey:
        self._maybe_reload()
        kek = self._primary
        plaintext = bytearray(self._random(32))
        wrapped = seal_with_random_nonce("AES-256-GCM", self._material(kek), bytes(plaintext), wrap_aad(kek.id, scope), self._random)
        return GeneratedDataKey(plaintext=plaintext, wrapped=wrapped, key_id=kek.id)

    async def decrypt_data_key(self, key_id: str, wrapped: bytes, scope: Scope) -> bytearray:
        if not self.handles(key_id):
            raise UnknownKeyError(f"key {key_id!r} is not in keyring {self.path}")
        kek = self._keks[key_id]
        if kek.state == "retired":
            raise KeyRetiredError(f"key {key_id!r} is retired and no longer decrypts")
        dek = bytearray(open_sealed("AES-256-GCM", self._material(kek), wrapped, wrap_aad(kek.id, scope)))
        if len(dek) != 32:
            dek[:] = bytes(len(dek))
            raise MalformedPayloadError(f"wrapped data key expected 32 bytes inside, got {len(dek)}")
        return dek

    async def list_keys(self) -> list[KekInfo]:
        self._maybe_reload()
        return [
            KekInfo(id=k.id, provider=self.name, state=k.state, created=k.created)
            for k in sorted(self._keks.values(), key=lambda k: k.version)
        ]

    async def check_ready(self) -> None:
        self.reload_if_changed()
        self._material(self._primary)

    def close(self) -> None:
        """Nothing to stop: reloading is driven by use, not by a timer."""

    # -- reloading -------------------------------------------------------------------------------

    def reload(self) -> None:
        """Read the file now. Raises KeyringError if it is unreadable, unsafe or invalid."""
        if self._poll is None:
            return
        stamp = file_stamp(self.path)
        self._load(read_keyring(self.path, allow_insecure_permissions=self._allow_insecure))
        self._poll.accept(stamp)

    def reload_if_changed(self) -> bool:
        if self._poll is None or self._poll.changed_now() is None:
            return False
        self.reload()
        return True

    def _maybe_reload(self, *, now: bool = False) -> None:
        if self._poll is None or self._poll.poll(now=now) is None:
            return
        try:
            self.reload()
        except KeyringError as err:
            self._warn(f"temporal-envelope: keyring reload failed, keeping the loaded keys: {err}")

    def _load(self, doc: KeyringDocument) -> None:
        keks: dict[str, _Kek] = {}
        primary: _Kek | None = None
        for entry in doc["keys"]:
            material = entry.get("material")
            kek = _Kek(
                id=entry["id"],
                version=entry["version"],
                state=entry["state"],
                created=entry["created"],
                material=None if material is None else decode_material(material),
            )
            keks[kek.id] = kek
            if kek.state == "primary":
                primary = kek
        if primary is None:
            raise KeyringError(f"keyring {self.path} has no primary key")
        with self._lock:
            old = self._keks
            self._keks = keks
            self._primary = primary
        for k in old.values():
            if k.material is not None:
                k.material[:] = bytes(len(k.material))

    def _material(self, kek: _Kek) -> bytearray:
        if kek.material is None:
            raise KeyRetiredError(f"key {kek.id!r} was destroyed")
        return kek.material

