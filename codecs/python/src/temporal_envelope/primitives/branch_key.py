"""The key hierarchy of format v2 (docs/wire-format.md, "Version 2"; primitives/branch-key.ts in
TypeScript): a branch key per namespace, wrapped by a KEK with a context of its own, from which each
workflow's data key is derived locally. Pure functions and constants; the caches and the KMS calls
are keys/branch_key_provider.py.

::

    BK  = 32 random bytes, wrapped by the KEK:
            AWS KMS        EncryptionContext {"temporal-namespace": ns, "temporal-key-use": "branch-key"}
            local keyring  AES-256-GCM, additional data length_prefixed(["temporal-envelope/v2/branch-key", kek_id, ns])
    DEK = HKDF-SHA256(ikm = BK, salt = dek_salt (32 random bytes),
                      info = length_prefixed(["temporal-envelope/v2/dek", ns, 0x00 | 0x01‖workflow_id]), L = 32)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal, NamedTuple, TypeGuard

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .length_prefixed import length_prefixed
from .scope import Scope, make_scope, scope_fields, scope_to_encryption_context

BRANCH_KEY_BYTES: Final = 32
DEK_SALT_BYTES: Final = 32

#: How new data keys are made: one KMS data key per workflow (format v1), or derived from a branch
#: key per namespace (format v2). Only sealing depends on it: every reader opens both versions.
KeyHierarchy = Literal["per-workflow", "branch"]
KEY_HIERARCHIES: Final[tuple[KeyHierarchy, ...]] = ("per-workflow", "branch")


def is_key_hierarchy(value: object) -> TypeGuard[KeyHierarchy]:
    return isinstance(value, str) and value in KEY_HIERARCHIES


@dataclass(frozen=True, slots=True)
class BranchKeyScope(Scope):
    """What a branch key is wrapped for: a namespace, marked so a KEK provider binds it to a context
    no data key ever has. It travels through the KeyProvider interface where a scope does, so
    wrappers in between (counting, retries) pass it on untouched; KEK providers tell it apart with
    ``is_branch_key_scope``. Never equal to a Scope of the same namespace (dataclass equality
    compares classes), so no cache keyed by scope confuses the two."""

    key_use: Literal["branch-key"] = "branch-key"


def branch_key_scope(namespace: str) -> BranchKeyScope:
    return BranchKeyScope(make_scope(namespace).namespace)


def is_branch_key_scope(scope: Scope) -> TypeGuard[BranchKeyScope]:
    return isinstance(scope, BranchKeyScope)


def kms_encryption_context(scope: Scope) -> dict[str, str]:
    """The AWS KMS EncryptionContext for a data key's scope or a branch key's."""
    if is_branch_key_scope(scope):
        return {"temporal-namespace": scope.namespace, "temporal-key-use": "branch-key"}
    return scope_to_encryption_context(scope)


_DEK_INFO_LABEL: Final = b"temporal-envelope/v2/dek"


def derive_branch_data_key(branch_key: bytes | bytearray, dek_salt: bytes, scope: Scope) -> bytearray:
    """A workflow scope's data key, derived from its namespace's branch key and the payload's salt.
    No KMS call. ``cryptography``'s HKDF takes an info of any length (RFC 5869): a 1024-byte
    namespace and workflow id make one over 1024 bytes, which node's hkdfSync would refuse."""
    if len(branch_key) != BRANCH_KEY_BYTES:
        raise TypeError(f'"branch_key" expected {BRANCH_KEY_BYTES} bytes, got {len(branch_key)}')
    if len(dek_salt) != DEK_SALT_BYTES:
        raise TypeError(f'"dek_salt" expected {DEK_SALT_BYTES} bytes, got {len(dek_salt)}')
    info = length_prefixed((_DEK_INFO_LABEL, *scope_fields(scope)))
    return bytearray(HKDF(algorithm=hashes.SHA256(), length=32, salt=bytes(dek_salt), info=info).derive(bytes(branch_key)))


# A branch-derived data key's wrapped form inside a process: the wrapped branch key and the salt in
# the one ``wrapped`` byte string the KeyProvider interface and the DEK cache carry. Never written to
# the wire as such: the format layer writes its halves as envelope-branch-key and envelope-dek-salt
# and rebuilds it from them when opening. The label keeps it apart from any version-1 wrapped key.
_PAIR_LABEL: Final = b"temporal-envelope/v2/branch-wrapped"


class BranchWrapped(NamedTuple):
    wrapped_branch_key: bytes
    dek_salt: bytes


def pack_branch_wrapped(wrapped_branch_key: bytes, dek_salt: bytes) -> bytes:
    return length_prefixed((_PAIR_LABEL, wrapped_branch_key, dek_salt))


def unpack_branch_wrapped(wrapped: bytes) -> BranchWrapped | None:
    """The halves of a packed branch-wrapped key, or None for anything else (a version-1 wrapped data key)."""
    fields: list[bytes] = []
    offset = 0
    while offset < len(wrapped):
        if offset + 4 > len(wrapped) or len(fields) == 3:
            return None
        n = int.from_bytes(wrapped[offset : offset + 4], "big")
        if offset + 4 + n > len(wrapped):
            return None
        fields.append(bytes(wrapped[offset + 4 : offset + 4 + n]))
        offset += 4 + n
    if len(fields) != 3 or fields[0] != _PAIR_LABEL:
        return None
    if len(fields[1]) == 0 or len(fields[2]) != DEK_SALT_BYTES:
        return None
    return BranchWrapped(fields[1], fields[2])
