/**
 * The temporal-envelope wire format, version 1 (version 2, branch-derived data keys, is format-v2.ts;
 * format-versions.ts reads either). Documented for humans in docs/wire-format.md; the
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

const AAD_LABEL_BYTES = utf8.encode('temporal-envelope/v1/payload');
export const MAX_KEY_ID_BYTES = 2048;
const MAX_WRAPPED_DEK_BYTES = 4096;
const EMPTY = new Uint8Array(0);

/** Additional data: a label, then each field length-prefixed (u32 BE) so no two headers serialize alike. */
export function additionalData(header: EnvelopeHeader): Uint8Array {
  return headerAad(AAD_LABEL_BYTES, utf8.encode(header.algorithm), utf8.encode(header.keyId), scopeBytes(header.scope), [header.wrappedDek], compressionBytes(header.compression));
}

/**
 * The same additional data, from a sealed payload's metadata bytes as they are (after parseHeader
 * has validated them). For every payload we seal these bytes are exactly the UTF-8 of the header's
 * strings, so both functions agree; reading the bytes directly spares re-encoding on every decode.
 */
export function additionalDataOf(payload: Payload): Uint8Array {
  const meta = payload.metadata!;
  return headerAad(AAD_LABEL_BYTES, meta[META.algorithm]!, meta[META.keyId]!, [meta[META.namespace]!, meta[META.workflowId] ?? undefined], [meta[META.wrappedDek]!], meta[META.compression] ?? EMPTY);
}

/**
 * Every version's additional data (format-v2.ts's too): the version's label, algorithm, key id,
 * namespace, workflow field, the fields of its wrapped key, compression, each length-prefixed.
 */
export function headerAad(
  label: Uint8Array,
  algorithm: Uint8Array,
  keyId: Uint8Array,
  [namespace, workflowId]: readonly [Uint8Array, Uint8Array | undefined],
  keyFields: readonly Uint8Array[],
  compression: Uint8Array,
): Uint8Array {
  return lengthPrefixed([label, algorithm, keyId, namespace, workflowField(workflowId), ...keyFields, compression]);
}

export function scopeBytes(scope: Scope): [Uint8Array, Uint8Array | undefined] {
  return [utf8.encode(scope.namespace), scope.workflowId === undefined ? undefined : utf8.encode(scope.workflowId)];
}

export function compressionBytes(compression: Compression | undefined): Uint8Array {
  return compression === undefined ? EMPTY : utf8.encode(compression);
}

/** What every version's sealing template has: the header it was made for, its additional data and metadata. */
export interface SealTemplateOf<H extends CommonHeader> {
  readonly header: H;
  readonly aad: Uint8Array;
  readonly metadata: Readonly<Record<string, Uint8Array>>;
}
export type SealTemplate = SealTemplateOf<EnvelopeHeader>;

/** The header fields every version has. */
export type CommonHeader = Pick<EnvelopeHeader, 'algorithm' | 'keyId' | 'scope' | 'compression'>;

/**
 * One data key seals many payloads with the same header: its additional data and metadata bytes are
 * computed once per (wrapped key, compression) and shared. Keyed by the wrapped key's identity, which
 * the DEK cache keeps for the key's lifetime; the entry goes when the key does. format-v2.ts keeps
 * its own.
 */
export class TemplateMemo<H extends CommonHeader> {
  private readonly byKey = new WeakMap<Uint8Array, SealTemplateOf<H>[]>();

  find(wrapped: Uint8Array, h: CommonHeader): SealTemplateOf<H> | undefined {
    return this.byKey
      .get(wrapped)
      ?.find((t) => t.header.algorithm === h.algorithm && t.header.keyId === h.keyId && t.header.compression === h.compression && t.header.scope.namespace === h.scope.namespace && t.header.scope.workflowId === h.scope.workflowId);
  }

  add(wrapped: Uint8Array, t: SealTemplateOf<H>): SealTemplateOf<H> {
    const list = this.byKey.get(wrapped) ?? [];
    if (list.length < 4) list.push(t);
    this.byKey.set(wrapped, list);
    return t;
  }
}

/** A sealed payload's metadata in every version: the common fields, with the version's wrapped-key fields after the namespace. */
export function sealedMetadata(version: string, h: CommonHeader, keyFields: Readonly<Record<string, Uint8Array>>): Record<string, Uint8Array> {
  const metadata: Record<string, Uint8Array> = {
    [META.encoding]: utf8.encode(ENCODING),
    [META.keyId]: utf8.encode(h.keyId),
    [META.version]: utf8.encode(version),
    [META.algorithm]: utf8.encode(h.algorithm),
    [META.namespace]: utf8.encode(h.scope.namespace),
    ...keyFields,
  };
  if (h.scope.workflowId !== undefined) metadata[META.workflowId] = utf8.encode(h.scope.workflowId);
  if (h.compression !== undefined) metadata[META.compression] = utf8.encode(h.compression);
  return metadata;
}

const templates = new TemplateMemo<EnvelopeHeader>();

/** Additional data and metadata for sealing under `header`, memoised per data key. */
export function sealTemplate(header: EnvelopeHeader): SealTemplate {
  return (
    templates.find(header.wrappedDek, header) ??
    templates.add(header.wrappedDek, { header: { ...header }, aad: additionalData(header), metadata: sealedMetadata(header.version, header, { [META.wrappedDek]: header.wrappedDek }) })
  );
}

export function buildSealedPayload(template: Pick<SealTemplate, 'metadata'>, box: Uint8Array): Payload {
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
  const { algorithm, keyId, scope } = readCommonFields(meta);
  const wrappedDek = bytes(meta, META.wrappedDek, MAX_WRAPPED_DEK_BYTES);
  const compression = readCompression(meta);
  return { header: { version: FORMAT_VERSION, algorithm, keyId, scope, wrappedDek, compression }, box: readBox(payload) };
}

type Metadata = Record<string, Uint8Array | null | undefined>;

/** Algorithm, key id and scope, read and validated alike in every version (in this order, after the version). */
export function readCommonFields(meta: Metadata): Pick<EnvelopeHeader, 'algorithm' | 'keyId' | 'scope'> {
  const algorithm = text(meta, META.algorithm, 64);
  if (!isAeadAlgorithm(algorithm)) {
    throw new UnsupportedFormatError(`"${META.algorithm}" ${JSON.stringify(algorithm)} is not supported`);
  }
  const keyId = text(meta, META.keyId, MAX_KEY_ID_BYTES);
  const namespace = text(meta, META.namespace, MAX_SCOPE_FIELD_BYTES);
  const workflowId = meta[META.workflowId] == null ? undefined : text(meta, META.workflowId, MAX_SCOPE_FIELD_BYTES);
  return { algorithm, keyId, scope: makeScope(namespace, workflowId) };
}

/** The compression field (after the wrapped key's fields, in every version). */
export function readCompression(meta: Metadata): Compression | undefined {
  if (meta[META.compression] == null) return undefined;
  const c = text(meta, META.compression, 32);
  if (c !== 'deflate') throw new UnsupportedFormatError(`"${META.compression}" ${JSON.stringify(c)} is not supported`);
  return c;
}

export function readBox(payload: Payload): Uint8Array {
  const box = payload.data;
  if (!(box instanceof Uint8Array)) throw new MalformedPayloadError('payload "data" expected bytes');
  return box;
}

/** A metadata field's bytes: present, not empty, at most `max` long (format-v2.ts reads its fields the same way). */
export function bytes(meta: Metadata, key: string, max: number): Uint8Array {
  const v = meta[key];
  if (!(v instanceof Uint8Array)) throw new MalformedPayloadError(`metadata "${key}" is missing`);
  if (v.length === 0) throw new MalformedPayloadError(`metadata "${key}" is empty`);
  if (v.length > max) throw new MalformedPayloadError(`metadata "${key}" expected at most ${max} bytes, got ${v.length}`);
  return v;
}

/** A metadata field as strict UTF-8. */
export function text(meta: Metadata, key: string, max: number): string {
  const v = bytes(meta, key, max);
  try {
    return utf8Strict.decode(v);
  } catch {
    throw new MalformedPayloadError(`metadata "${key}" is not valid UTF-8`);
  }
}

