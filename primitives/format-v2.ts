/**
 * The temporal-envelope wire format, version 2: data keys derived from a branch key per namespace
 * (primitives/branch-key.ts). Documented in docs/wire-format.md ("Version 2"); the known-answer
 * vectors in test/vectors/envelope-v2.json pin it. Version 1 (primitives/format.ts) is unchanged
 * and keeps opening.
 *
 * metadata (UTF-8 unless noted)
 *   encoding               "binary/encrypted"
 *   encryption-key-id      KEK id that wrapped the branch key ("shred:" + id when crypto-shreddable)
 *   envelope-version       "2"
 *   envelope-alg           "AES-256-GCM" | "XCHACHA20-POLY1305"
 *   envelope-namespace     namespace the payload is sealed to
 *   envelope-workflow-id   workflow id it is sealed to (absent: namespace scope)
 *   envelope-branch-key    the wrapped branch key (raw bytes, provider-specific)
 *   envelope-dek-salt      32 bytes: the HKDF salt of this payload's data key
 *   envelope-compression   "deflate" when the plaintext was compressed before sealing (absent: none)
 *   (no envelope-dek: a version-2 header carrying one is refused as UNSUPPORTED_FORMAT)
 * data
 *   nonce ‖ ciphertext ‖ tag, as in version 1
 * additional data
 *   lengthPrefixed(["temporal-envelope/v2/payload", alg, keyId, namespace, 0x00 | 0x01‖workflowId,
 *                   wrapped branch key, dek salt, compression or empty])
 */
import type { Payload } from '@temporalio/common';
import { isAeadAlgorithm, type AeadAlgorithm } from './aead.js';
import { DEK_SALT_BYTES, packBranchWrapped, unpackBranchWrapped } from './branch-key.js';
import { lengthPrefixed, utf8 } from './bytes.js';
import { MalformedPayloadError, UnsupportedFormatError } from './errors.js';
import { ENCODING, MAX_KEY_ID_BYTES, META, bytes, text, type Compression } from './format.js';
import { makeScope, workflowField, type Scope } from './scope.js';

export const FORMAT_VERSION_2 = '2';

export const META_V2 = {
  branchKey: 'envelope-branch-key',
  dekSalt: 'envelope-dek-salt',
} as const;

export interface EnvelopeHeaderV2 {
  readonly version: typeof FORMAT_VERSION_2;
  readonly algorithm: AeadAlgorithm;
  readonly keyId: string;
  readonly scope: Scope;
  readonly wrappedBranchKey: Uint8Array;
  readonly dekSalt: Uint8Array;
  readonly compression?: Compression | undefined;
}

const AAD_LABEL_BYTES = utf8.encode('temporal-envelope/v2/payload');
const MAX_WRAPPED_BRANCH_KEY_BYTES = 4096;
const EMPTY = new Uint8Array(0);

export function additionalDataV2(header: EnvelopeHeaderV2): Uint8Array {
  return aadFromFields(
    utf8.encode(header.algorithm),
    utf8.encode(header.keyId),
    utf8.encode(header.scope.namespace),
    header.scope.workflowId === undefined ? undefined : utf8.encode(header.scope.workflowId),
    header.wrappedBranchKey,
    header.dekSalt,
    header.compression === undefined ? EMPTY : utf8.encode(header.compression),
  );
}

/** The same additional data from a validated payload's metadata bytes as they are (see additionalDataOf in format.ts). */
export function additionalDataOfV2(payload: Payload): Uint8Array {
  const meta = payload.metadata!;
  return aadFromFields(meta[META.algorithm]!, meta[META.keyId]!, meta[META.namespace]!, meta[META.workflowId] ?? undefined, meta[META_V2.branchKey]!, meta[META_V2.dekSalt]!, meta[META.compression] ?? EMPTY);
}

function aadFromFields(algorithm: Uint8Array, keyId: Uint8Array, namespace: Uint8Array, workflowId: Uint8Array | undefined, wrappedBranchKey: Uint8Array, dekSalt: Uint8Array, compression: Uint8Array): Uint8Array {
  return lengthPrefixed([AAD_LABEL_BYTES, algorithm, keyId, namespace, workflowField(workflowId), wrappedBranchKey, dekSalt, compression]);
}

/**
 * Read and validate a version-2 header. Checks in this order (every codec the same, so a header
 * with several faults fails alike everywhere): version, no `envelope-dek`, algorithm, key id,
 * namespace, workflow id, branch key, salt, compression, data.
 */
export function parseHeaderV2(payload: Payload): { header: EnvelopeHeaderV2; box: Uint8Array } {
  const meta = payload.metadata;
  if (meta == null || typeof meta !== 'object') throw new MalformedPayloadError('payload "metadata" is missing');
  const version = text(meta, META.version, 16);
  if (version !== FORMAT_VERSION_2) throw new UnsupportedFormatError(`"${META.version}" expected ${FORMAT_VERSION_2}, got ${JSON.stringify(version.slice(0, 16))}`);
  // A version-1 header relabelled: not a version-2 payload, and not one we could tell apart from one.
  if (meta[META.wrappedDek] != null) throw new UnsupportedFormatError(`version 2 carries no "${META.wrappedDek}": a version-1 header labelled 2`);
  const algorithm = text(meta, META.algorithm, 64);
  if (!isAeadAlgorithm(algorithm)) throw new UnsupportedFormatError(`"${META.algorithm}" ${JSON.stringify(algorithm)} is not supported`);
  const keyId = text(meta, META.keyId, MAX_KEY_ID_BYTES);
  const namespace = text(meta, META.namespace, 1024);
  const workflowId = meta[META.workflowId] == null ? undefined : text(meta, META.workflowId, 1024);
  const wrappedBranchKey = bytes(meta, META_V2.branchKey, MAX_WRAPPED_BRANCH_KEY_BYTES);
  const dekSalt = bytes(meta, META_V2.dekSalt, DEK_SALT_BYTES);
  if (dekSalt.length !== DEK_SALT_BYTES) throw new MalformedPayloadError(`metadata "${META_V2.dekSalt}" expected ${DEK_SALT_BYTES} bytes, got ${dekSalt.length}`);
  let compression: Compression | undefined;
  if (meta[META.compression] != null) {
    const c = text(meta, META.compression, 32);
    if (c !== 'deflate') throw new UnsupportedFormatError(`"${META.compression}" ${JSON.stringify(c)} is not supported`);
    compression = c;
  }
  const box = payload.data;
  if (!(box instanceof Uint8Array)) throw new MalformedPayloadError('payload "data" expected bytes');
  return { header: { version: FORMAT_VERSION_2, algorithm, keyId, scope: makeScope(namespace, workflowId), wrappedBranchKey, dekSalt, compression }, box };
}

/** The in-process wrapped key (primitives/branch-key.ts) a version-2 header stands for. */
export function branchWrappedOf(header: EnvelopeHeaderV2): Uint8Array {
  return packBranchWrapped(header.wrappedBranchKey, header.dekSalt);
}

// As in format.ts: one data key seals many payloads with the same header, so its metadata and
// additional data are built once, keyed by the identity of the wrapped key the cache holds.
const templates = new WeakMap<Uint8Array, SealTemplateV2[]>();

export interface SealTemplateV2 {
  readonly header: EnvelopeHeaderV2;
  readonly aad: Uint8Array;
  readonly metadata: Readonly<Record<string, Uint8Array>>;
}

/**
 * Metadata and additional data for sealing with a branch-derived data key, or undefined when
 * `wrapped` is a version-1 wrapped data key (then format.ts's sealTemplate applies).
 */
export function sealTemplateV2(keyId: string, wrapped: Uint8Array, scope: Scope, algorithm: AeadAlgorithm, compression: Compression | undefined): SealTemplateV2 | undefined {
  const list = templates.get(wrapped);
  for (const t of list ?? []) {
    const h = t.header;
    if (h.algorithm === algorithm && h.keyId === keyId && h.compression === compression && h.scope.namespace === scope.namespace && h.scope.workflowId === scope.workflowId) return t;
  }
  const pair = unpackBranchWrapped(wrapped);
  if (pair === undefined) return undefined;
  const header: EnvelopeHeaderV2 = { version: FORMAT_VERSION_2, algorithm, keyId, scope, wrappedBranchKey: Uint8Array.from(pair.wrappedBranchKey), dekSalt: Uint8Array.from(pair.dekSalt), compression };
  const metadata: Record<string, Uint8Array> = {
    [META.encoding]: utf8.encode(ENCODING),
    [META.keyId]: utf8.encode(keyId),
    [META.version]: utf8.encode(FORMAT_VERSION_2),
    [META.algorithm]: utf8.encode(algorithm),
    [META.namespace]: utf8.encode(scope.namespace),
    [META_V2.branchKey]: header.wrappedBranchKey,
    [META_V2.dekSalt]: header.dekSalt,
  };
  if (scope.workflowId !== undefined) metadata[META.workflowId] = utf8.encode(scope.workflowId);
  if (compression !== undefined) metadata[META.compression] = utf8.encode(compression);
  const t: SealTemplateV2 = { header, aad: additionalDataV2(header), metadata };
  const next = list ?? [];
  if (next.length < 4) next.push(t);
  templates.set(wrapped, next);
  return t;
}
