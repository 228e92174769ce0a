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
import type { AeadAlgorithm } from './aead.js';
import { DEK_SALT_BYTES, packBranchWrapped, unpackBranchWrapped } from './branch-key.js';
import { utf8 } from './bytes.js';
import { MalformedPayloadError, UnsupportedFormatError } from './errors.js';
import {
  META,
  TemplateMemo,
  bytes,
  compressionBytes,
  headerAad,
  readBox,
  readCommonFields,
  readCompression,
  scopeBytes,
  sealedMetadata,
  text,
  type CommonHeader,
  type Compression,
  type SealTemplateOf,
} from './format.js';
import type { Scope } from './scope.js';

export const FORMAT_VERSION_2 = '2';

export const META_V2 = {
  branchKey: 'envelope-branch-key',
  dekSalt: 'envelope-dek-salt',
} as const;

export interface EnvelopeHeaderV2 extends CommonHeader {
  readonly version: typeof FORMAT_VERSION_2;
  readonly wrappedBranchKey: Uint8Array;
  readonly dekSalt: Uint8Array;
}

const AAD_LABEL_BYTES = utf8.encode('temporal-envelope/v2/payload');
const MAX_WRAPPED_BRANCH_KEY_BYTES = 4096;
const EMPTY = new Uint8Array(0);

export function additionalDataV2(h: EnvelopeHeaderV2): Uint8Array {
  return headerAad(AAD_LABEL_BYTES, utf8.encode(h.algorithm), utf8.encode(h.keyId), scopeBytes(h.scope), [h.wrappedBranchKey, h.dekSalt], compressionBytes(h.compression));
}

/** The same additional data from a validated payload's metadata bytes as they are (see additionalDataOf in format.ts). */
export function additionalDataOfV2(payload: Payload): Uint8Array {
  const meta = payload.metadata!;
  return headerAad(AAD_LABEL_BYTES, meta[META.algorithm]!, meta[META.keyId]!, [meta[META.namespace]!, meta[META.workflowId] ?? undefined], [meta[META_V2.branchKey]!, meta[META_V2.dekSalt]!], meta[META.compression] ?? EMPTY);
}

/**
 * Read and validate a version-2 header. Checks in this order (every codec the same, so a header
 * with several faults fails alike everywhere): version, no `envelope-dek`, algorithm, key id,
 * namespace, workflow id (as version 1 reads them), branch key, salt, compression, data.
 */
export function parseHeaderV2(payload: Payload): { header: EnvelopeHeaderV2; box: Uint8Array } {
  const meta = payload.metadata;
  if (meta == null || typeof meta !== 'object') throw new MalformedPayloadError('payload "metadata" is missing');
  const version = text(meta, META.version, 16);
  if (version !== FORMAT_VERSION_2) throw new UnsupportedFormatError(`"${META.version}" expected ${FORMAT_VERSION_2}, got ${JSON.stringify(version.slice(0, 16))}`);
  // A version-1 header relabelled: not a version-2 payload, and not one we could tell apart from one.
  if (meta[META.wrappedDek] != null) throw new UnsupportedFormatError(`version 2 carries no "${META.wrappedDek}": a version-1 header labelled 2`);
  const { algorithm, keyId, scope } = readCommonFields(meta);
  const wrappedBranchKey = bytes(meta, META_V2.branchKey, MAX_WRAPPED_BRANCH_KEY_BYTES);
  const dekSalt = bytes(meta, META_V2.dekSalt, DEK_SALT_BYTES);
  if (dekSalt.length !== DEK_SALT_BYTES) throw new MalformedPayloadError(`metadata "${META_V2.dekSalt}" expected ${DEK_SALT_BYTES} bytes, got ${dekSalt.length}`);
  const compression = readCompression(meta);
  return { header: { version: FORMAT_VERSION_2, algorithm, keyId, scope, wrappedBranchKey, dekSalt, compression }, box: readBox(payload) };
}

/** The in-process wrapped key (primitives/branch-key.ts) a version-2 header stands for. */
export function branchWrappedOf(header: EnvelopeHeaderV2): Uint8Array {
  return packBranchWrapped(header.wrappedBranchKey, header.dekSalt);
}

export type SealTemplateV2 = SealTemplateOf<EnvelopeHeaderV2>;

const templates = new TemplateMemo<EnvelopeHeaderV2>();

/**
 * Metadata and additional data for sealing with a branch-derived data key, memoised per data key,
 * or undefined when `wrapped` is a version-1 wrapped data key (then format.ts's sealTemplate applies).
 */
export function sealTemplateV2(keyId: string, wrapped: Uint8Array, scope: Scope, algorithm: AeadAlgorithm, compression: Compression | undefined): SealTemplateV2 | undefined {
  const common = { algorithm, keyId, scope, compression };
  const memo = templates.find(wrapped, common);
  if (memo !== undefined) return memo;
  const pair = unpackBranchWrapped(wrapped);
  if (pair === undefined) return undefined;
  const header: EnvelopeHeaderV2 = { version: FORMAT_VERSION_2, ...common, wrappedBranchKey: Uint8Array.from(pair.wrappedBranchKey), dekSalt: Uint8Array.from(pair.dekSalt) };
  const metadata = sealedMetadata(FORMAT_VERSION_2, header, { [META_V2.branchKey]: header.wrappedBranchKey, [META_V2.dekSalt]: header.dekSalt });
  return templates.add(wrapped, { header, aad: additionalDataV2(header), metadata });
}
