/**
 * The temporal-envelope wire format, version 1. Documented for humans in docs/wire-format.md; the
 * known-answer vectors in test/vectors/ pin it.
 *
 *   Temporal Server <--> Wire <--> EnvelopeCodec <--> PayloadConverter <--> User code
 *                          ^ sealed payload: everything below is what history stores
 *
 * metadata (UTF-8 unless noted)
 *   encoding               "binary/encrypted"            (Temporal's convention for encrypted payloads)
 *   encryption-key-id      KEK id that wrapped the DEK   (e.g. "local-2-a1b2c3" or a KMS key ARN/alias)
 *   envelope-version       "1"
 *   envelope-alg           "AES-256-GCM" | "XCHACHA20-POLY1305"
 *   envelope-namespace     namespace the payload is sealed to
 *   envelope-workflow-id   workflow id it is sealed to (absent: namespace scope)
 *   envelope-dek           the wrapped data key (raw bytes, provider-specific)
 *   envelope-compression   "deflate" when the plaintext was compressed before sealing (absent: none)
 * data
 *   nonce ‖ ciphertext ‖ tag   of the original Payload (metadata and data) serialized with
 *                              temporal.api.common.v1.Payload, optionally deflated first
 *
 * Additional data binds every metadata field above to the ciphertext: changing any of them, or
 * moving the payload to another scope, fails authentication.
 */
import type { Payload } from '@temporalio/common';
import { isAeadAlgorithm, type AeadAlgorithm } from './aead.js';
import { bytesEqualString, lengthPrefixed, utf8, utf8Strict } from './bytes.js';
import { MalformedPayloadError, UnsupportedFormatError } from './errors.js';
import { MAX_SCOPE_FIELD_BYTES, makeScope, workflowField, type Scope } from './scope.js';

export const ENCODING = 'binary/encrypted';
export const FORMAT_VERSION = '1';

export const META = {
  encoding: 'encoding',
  keyId: 'encryption-key-id',
  version: 'envelope-version',
  algorithm: 'envelope-alg',
  namespace: 'envelope-namespace',
  workflowId: 'envelope-workflow-id',
  wrappedDek: 'envelope-dek',
  compression: 'envelope-compression',
} as const;

export type Compression = 'deflate';

/** Everything in a sealed payload except the box itself. All of it is authenticated. */
export interface EnvelopeHeader {
  readonly version: typeof FORMAT_VERSION;
  readonly algorithm: AeadAlgorithm;
  readonly keyId: string;
  readonly scope: Scope;
  readonly wrappedDek: Uint8Array;
  readonly compression?: Compression | undefined;
}

const AAD_LABEL = 'temporal-envelope/v1/payload';
const MAX_KEY_ID_BYTES = 2048;
const MAX_WRAPPED_DEK_BYTES = 4096;

const AAD_LABEL_BYTES = utf8.encode(AAD_LABEL);
const EMPTY = new Uint8Array(0);

/** Additional data: a label, then each field length-prefixed (u32 BE) so no two headers serialize alike. */
export function additionalData(header: EnvelopeHeader): Uint8Array {
  return aadFromFields(
    utf8.encode(header.algorithm),
    utf8.encode(header.keyId),
    utf8.encode(header.scope.namespace),
    header.scope.workflowId === undefined ? undefined : utf8.encode(header.scope.workflowId),
    header.wrappedDek,
    header.compression === undefined ? EMPTY : utf8.encode(header.compression),
  );
}

/**
 * The same additional data, from a sealed payload's metadata bytes as they are (after parseHeader
 * has validated them). For every payload we seal these bytes are exactly the UTF-8 of the header's
 * strings, so both functions agree; reading the bytes directly spares re-encoding on every decode.
 */
export function additionalDataOf(payload: Payload): Uint8Array {
  const meta = payload.metadata!;
  return aadFromFields(meta[META.algorithm]!, meta[META.keyId]!, meta[META.namespace]!, meta[META.workflowId] ?? undefined, meta[META.wrappedDek]!, meta[META.compression] ?? EMPTY);
}

function aadFromFields(algorithm: Uint8Array, keyId: Uint8Array, namespace: Uint8Array, workflowId: Uint8Array | undefined, wrappedDek: Uint8Array, compression: Uint8Array): Uint8Array {
  return lengthPrefixed([
    AAD_LABEL_BYTES,
    algorithm,
    keyId,
    namespace,
    workflowField(workflowId),
    wrappedDek,
    compression,
  ]);
}

export interface SealTemplate {
  readonly header: EnvelopeHeader;
  readonly aad: Uint8Array;
  readonly metadata: Readonly<Record<string, Uint8Array>>;
}

// One data key seals many payloads with the same header: its additional data and metadata bytes are
// computed once per (wrapped key, compression) and shared. Keyed by the wrapped key's identity, which
// the DEK cache keeps for the key's lifetime; the entry goes when the key does.
const templates = new WeakMap<Uint8Array, SealTemplate[]>();

/** Additional data and metadata for sealing under `header`, memoised per data key. */
export function sealTemplate(header: EnvelopeHeader): SealTemplate {
  const list = templates.get(header.wrappedDek) ?? [];
  for (const t of list) {
    const h = t.header;
    if (h.algorithm === header.algorithm && h.keyId === header.keyId && h.compression === header.compression && h.scope.namespace === header.scope.namespace && h.scope.workflowId === header.scope.workflowId) return t;
  }
  const metadata: Record<string, Uint8Array> = {
    [META.encoding]: utf8.encode(ENCODING),
    [META.keyId]: utf8.encode(header.keyId),
    [META.version]: utf8.encode(header.version),
    [META.algorithm]: utf8.encode(header.algorithm),
    [META.namespace]: utf8.encode(header.scope.namespace),
    [META.wrappedDek]: header.wrappedDek,
  };
  if (header.scope.workflowId !== undefined) metadata[META.workflowId] = utf8.encode(header.scope.workflowId);
  if (header.compression !== undefined) metadata[META.compression] = utf8.encode(header.compression);
  const t: SealTemplate = { header: { ...header }, aad: additionalData(header), metadata };
  if (list.length < 4) list.push(t);
  templates.set(header.wrappedDek, list);
  return t;
}



export function buildSealedPayload(template: SealTemplate, box: Uint8Array): Payload {
  // A fresh object per payload; its byte arrays are shared with other payloads of the same key and
  // are never written to.
  return { metadata: { ...template.metadata }, data: box };
}

/** Whether a payload claims Temporal's encrypted encoding (ours or anyone's). */
export function isEncryptedEncoding(payload: Payload): boolean {
  const enc = payload.metadata?.[META.encoding];
  return enc != null && bytesEqualString(enc, ENCODING);
}

/** Whether a payload is in this project's format (encrypted encoding plus our version field). */
export function isEnvelopePayload(payload: Payload): boolean {
  return isEncryptedEncoding(payload) && payload.metadata?.[META.version] != null;
}

/**
 * Read and validate the header of a payload in our format. Throws MalformedPayloadError for missing
 * or ill-typed fields, UnsupportedFormatError for a version, algorithm or compression we do not read.
 */
export function parseHeader(payload: Payload): { header: EnvelopeHeader; box: Uint8Array } {
  const meta = payload.metadata;
  if (meta == null || typeof meta !== 'object') throw new MalformedPayloadError('payload "metadata" is missing');
  const version = text(meta, META.version, 16);
  if (version !== FORMAT_VERSION) {
    throw new UnsupportedFormatError(`"${META.version}" expected ${FORMAT_VERSION}, got ${JSON.stringify(version.slice(0, 16))}`);
  }
  const algorithm = text(meta, META.algorithm, 64);
  if (!isAeadAlgorithm(algorithm)) {
    throw new UnsupportedFormatError(`"${META.algorithm}" ${JSON.stringify(algorithm)} is not supported`);
  }
  const keyId = text(meta, META.keyId, MAX_KEY_ID_BYTES);
  const namespace = text(meta, META.namespace, MAX_SCOPE_FIELD_BYTES);
  const workflowId = meta[META.workflowId] == null ? undefined : text(meta, META.workflowId, MAX_SCOPE_FIELD_BYTES);
  const wrappedDek = bytes(meta, META.wrappedDek, MAX_WRAPPED_DEK_BYTES);
  let compression: Compression | undefined;
  if (meta[META.compression] != null) {
    const c = text(meta, META.compression, 32);
    if (c !== 'deflate') throw new UnsupportedFormatError(`"${META.compression}" ${JSON.stringify(c)} is not supported`);
    compression = c;
  }
  const box = payload.data;
  if (!(box instanceof Uint8Array)) throw new MalformedPayloadError('payload "data" expected bytes');
  return {
    header: { version: FORMAT_VERSION, algorithm, keyId, scope: makeScope(namespace, workflowId), wrappedDek, compression },
    box,
  };
}

/** Scope and key id of a sealed payload without opening it (for authorization before any KMS call). */
export function peekScope(payload: Payload): { scope: Scope; keyId: string } | undefined {
  if (!isEnvelopePayload(payload)) return undefined;
  try {
    const { header } = parseHeader(payload);
    return { scope: header.scope, keyId: header.keyId };
  } catch {
    return undefined;
  }
}

function bytes(meta: Record<string, Uint8Array | null | undefined>, key: string, max: number): Uint8Array {
  const v = meta[key];
  if (!(v instanceof Uint8Array)) throw new MalformedPayloadError(`metadata "${key}" is missing`);
  if (v.length === 0) throw new MalformedPayloadError(`metadata "${key}" is empty`);
  if (v.length > max) throw new MalformedPayloadError(`metadata "${key}" expected at most ${max} bytes, got ${v.length}`);
  return v;
}

function text(meta: Record<string, Uint8Array | null | undefined>, key: string, max: number): string {
  const v = bytes(meta, key, max);
  try {
    return utf8Strict.decode(v);
  } catch {
    throw new MalformedPayloadError(`metadata "${key}" is not valid UTF-8`);
  }
}

