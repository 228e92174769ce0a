/**
 * Which wire-format versions this build reads and writes, in one place: version 1
 * (primitives/format.ts, a KMS data key per workflow) and version 2 (primitives/format-v2.ts, data
 * keys derived from a branch key). The codec, the codec server's authorization and `keys usage`
 * read headers through here; a data key's wrapped form decides which version a payload is sealed in.
 */
import type { Payload } from '@temporalio/common';
import type { AeadAlgorithm } from './aead.js';
import { unpackBranchWrapped } from './branch-key.js';
import { MalformedPayloadError } from './errors.js';
import { FORMAT_VERSION, META, additionalDataOf, isEnvelopePayload, parseHeader, sealTemplate, text, type Compression, type EnvelopeHeader } from './format.js';
import { FORMAT_VERSION_2, additionalDataOfV2, branchWrappedOf, parseHeaderV2, sealTemplateV2, type EnvelopeHeaderV2 } from './format-v2.js';
import type { Scope } from './scope.js';

export type SealedHeader = EnvelopeHeader | EnvelopeHeaderV2;

/**
 * Read and validate the header of a payload in our format, any version this build reads. Version
 * 2 goes to its own parser; everything else to version 1's, which answers UNSUPPORTED_FORMAT for a
 * version it does not know (as a version-1-only reader answers a version-2 payload).
 */
export function parseSealedHeader(payload: Payload): { header: SealedHeader; box: Uint8Array } {
  const meta = payload.metadata;
  if (meta == null || typeof meta !== 'object') throw new MalformedPayloadError('payload "metadata" is missing');
  if (text(meta, META.version, 16) === FORMAT_VERSION_2) return parseHeaderV2(payload);
  const read = parseHeader(payload);
  // The in-process form of a branch-derived key must come only from a version-2 header.
  if (unpackBranchWrapped(read.header.wrappedDek) !== undefined) throw new MalformedPayloadError(`metadata "${META.wrappedDek}" is not a version-1 wrapped data key`);
  return read;
}

/** The wrapped key a KeyProvider unwraps for this header: v1's wrapped DEK, or v2's branch key and salt together. */
export function wrappedKeyOf(header: SealedHeader): Uint8Array {
  return header.version === FORMAT_VERSION_2 ? branchWrappedOf(header) : header.wrappedDek;
}

/** The additional data a payload was sealed with, from its (validated) metadata bytes. */
export function additionalDataFor(header: SealedHeader, payload: Payload): Uint8Array {
  return header.version === FORMAT_VERSION_2 ? additionalDataOfV2(payload) : additionalDataOf(payload);
}

/**
 * Metadata and additional data for sealing with a leased data key: version 2 when the key was
 * derived from a branch key (its wrapped form says so), else version 1. Memoised per data key.
 */
export function sealTemplateFor(
  keyId: string,
  wrapped: Uint8Array,
  scope: Scope,
  algorithm: AeadAlgorithm,
  compression: Compression | undefined,
): { readonly aad: Uint8Array; readonly metadata: Readonly<Record<string, Uint8Array>> } {
  return sealTemplateV2(keyId, wrapped, scope, algorithm, compression) ?? sealTemplate({ version: FORMAT_VERSION, algorithm, keyId, scope, wrappedDek: wrapped, compression });
}

/** What a sealed payload's header says without opening it; `wrappedBranchKey` for version 2 only. */
export interface PeekedPayload {
  scope: Scope;
  keyId: string;
  version: SealedHeader['version'];
  wrappedBranchKey?: Uint8Array;
}

/** The header of a sealed payload (any version) without a key: for `keys usage`, which counts by KEK and by branch key. */
export function peekSealed(payload: Payload): PeekedPayload | undefined {
  if (!isEnvelopePayload(payload)) return undefined;
  try {
    const { header } = parseSealedHeader(payload);
    return { scope: header.scope, keyId: header.keyId, version: header.version, ...(header.version === FORMAT_VERSION_2 ? { wrappedBranchKey: header.wrappedBranchKey } : {}) };
  } catch {
    return undefined;
  }
}

/** Scope and key id of a sealed payload (any version) without opening it: for authorization before any KMS call. */
export function peekScope(payload: Payload): { scope: Scope; keyId: string } | undefined {
  const peeked = peekSealed(payload);
  return peeked === undefined ? undefined : { scope: peeked.scope, keyId: peeked.keyId };
}
