/**
 * The key hierarchy of format v2 (docs/wire-format.md, "Version 2"): a branch key per namespace,
 * wrapped by a KEK with a context of its own, from which each workflow's data key is derived
 * locally. Pure functions and constants; the cache and the KMS calls are keys/branch-key-provider.ts.
 *
 *   BK  = 32 random bytes, wrapped by the KEK:
 *           AWS KMS        EncryptionContext {"temporal-namespace": ns, "temporal-key-use": "branch-key"}
 *           local keyring  AES-256-GCM, additional data lengthPrefixed(["temporal-envelope/v2/branch-key", kekId, ns])
 *   DEK = HKDF-SHA256(ikm = BK, salt = dekSalt (32 random bytes),
 *                     info = lengthPrefixed(["temporal-envelope/v2/dek", ns, 0x00 | 0x01‖workflowId]), L = 32)
 */
import { bytesEqualString, lengthPrefixed, utf8 } from './bytes.js';
import { hkdfSha256 } from './hkdf.js';
import { makeScope, scopeFields, scopeToEncryptionContext, type Scope } from './scope.js';

export const BRANCH_KEY_BYTES = 32;
export const DEK_SALT_BYTES = 32;

/** How new data keys are made: one KMS data key per workflow (format v1), or derived from a branch key per namespace (format v2). */
export type KeyHierarchy = 'per-workflow' | 'branch';
export const KEY_HIERARCHIES: readonly KeyHierarchy[] = ['per-workflow', 'branch'];

export function isKeyHierarchy(value: unknown): value is KeyHierarchy {
  return value === 'per-workflow' || value === 'branch';
}

/**
 * What a branch key is wrapped for: a namespace, marked as a branch key so a KEK provider binds it
 * to a context no data key ever has. It travels through the KeyProvider interface where a scope
 * does, so every wrapper in between (retries, counting) passes it on untouched; KEK providers tell
 * it apart with isBranchKeyScope.
 */
export interface BranchKeyScope extends Scope {
  readonly keyUse: 'branch-key';
  readonly workflowId?: undefined;
}

export function branchKeyScope(namespace: string): BranchKeyScope {
  return Object.freeze({ namespace: makeScope(namespace).namespace, keyUse: 'branch-key' as const });
}

export function isBranchKeyScope(scope: Scope): scope is BranchKeyScope {
  return (scope as Partial<BranchKeyScope>).keyUse === 'branch-key';
}

/** The AWS KMS EncryptionContext for a data key's scope or a branch key's. */
export function kmsEncryptionContext(scope: Scope): Record<string, string> {
  return isBranchKeyScope(scope) ? { 'temporal-namespace': scope.namespace, 'temporal-key-use': 'branch-key' } : scopeToEncryptionContext(scope);
}

const DEK_INFO_LABEL = utf8.encode('temporal-envelope/v2/dek');

/** A workflow scope's data key, derived from its namespace's branch key and the payload's salt. No KMS call. */
export function deriveBranchDataKey(branchKey: Uint8Array, dekSalt: Uint8Array, scope: Scope): Uint8Array {
  if (branchKey.length !== BRANCH_KEY_BYTES) throw new TypeError(`"branchKey" expected ${BRANCH_KEY_BYTES} bytes, got ${branchKey.length}`);
  if (dekSalt.length !== DEK_SALT_BYTES) throw new TypeError(`"dekSalt" expected ${DEK_SALT_BYTES} bytes, got ${dekSalt.length}`);
  return hkdfSha256(branchKey, dekSalt, lengthPrefixed([DEK_INFO_LABEL, ...scopeFields(scope)]), 32);
}

/**
 * A branch-derived data key's wrapped form inside a process: the wrapped branch key and the salt,
 * in the one `wrapped` byte string the KeyProvider interface and the data-key cache carry. It is
 * never written to the wire as such: the format layer writes its halves as `envelope-branch-key`
 * and `envelope-dek-salt` (format v2), and rebuilds it from them when opening. The label keeps it
 * apart from any wrapped data key of format v1 (a KMS ciphertext blob, or a nonce-first local wrap).
 */
const PAIR_LABEL = 'temporal-envelope/v2/branch-wrapped';

export interface BranchWrapped {
  readonly wrappedBranchKey: Uint8Array;
  readonly dekSalt: Uint8Array;
}

export function packBranchWrapped(wrappedBranchKey: Uint8Array, dekSalt: Uint8Array): Uint8Array {
  return lengthPrefixed([utf8.encode(PAIR_LABEL), wrappedBranchKey, dekSalt]);
}

/** The halves of a packed branch-wrapped key, or undefined for anything else (a format-v1 wrapped data key). Views, not copies. */
export function unpackBranchWrapped(wrapped: Uint8Array): BranchWrapped | undefined {
  const fields = splitLengthPrefixed(wrapped);
  if (fields?.length !== 3 || !bytesEqualString(fields[0]!, PAIR_LABEL)) return undefined;
  const [, wrappedBranchKey, dekSalt] = fields as [Uint8Array, Uint8Array, Uint8Array];
  if (wrappedBranchKey.length === 0 || dekSalt.length !== DEK_SALT_BYTES) return undefined;
  return { wrappedBranchKey, dekSalt };
}

function splitLengthPrefixed(bytes: Uint8Array): Uint8Array[] | undefined {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length || out.length === 3) return undefined;
    const n = view.getUint32(offset);
    if (offset + 4 + n > bytes.length) return undefined;
    out.push(bytes.subarray(offset + 4, offset + 4 + n));
    offset += 4 + n;
  }
  return out;
}
