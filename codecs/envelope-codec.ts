/**
 *   Temporal Server <--> Wire <--> EnvelopeCodec <--> PayloadConverter <--> User code
 *
 * EnvelopeCodec seals each payload with the data key (DEK) of the workflow it belongs to; the DEK
 * is wrapped by a key-encryption key (KEK) from a KeyProvider and travels, wrapped, inside the
 * payload. See primitives/format.ts for the bytes and docs/wire-format.md for the rules.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import proto from '@temporalio/proto';
import { DataKeyCache, type DekCacheLimits } from '../keys/dek-cache.js';
import type { KeyObserver, KeyProvider } from '../keys/key-provider.js';
import { legacyKeyringOf, type LegacyKeyring } from '../keys/legacy-keyring.js';
import { ProviderSet } from '../keys/provider-set.js';
import { aeadSuite, isAeadAlgorithm, openSealed, sealWithRandomNonce, type AeadAlgorithm } from '../primitives/aead.js';
import { InvalidConfigError, MalformedPayloadError, PlaintextRejectedError, ScopeMismatchError } from '../primitives/errors.js';
import { FORMAT_VERSION, additionalDataOf, buildSealedPayload, isEncryptedEncoding, isEnvelopePayload, parseHeader, sealTemplate, type Compression, type EnvelopeHeader } from '../primitives/format.js';
import { SAMPLES_AAD, samplesKeyIdOf } from '../primitives/samples-format.js';
import { scopeFromContext, type Scope } from '../primitives/scope.js';

const ProtoPayload = proto.temporal.api.common.v1.Payload;

export interface EnvelopeCodecOptions {
  /** KEK providers. The first one's primary wraps new data keys; any of them may unwrap. */
  keyProviders: KeyProvider | readonly KeyProvider[];
  /** Namespace for payloads coded without a serialization context. Default "default". */
  defaultNamespace?: string;
  /** Default "AES-256-GCM". Decode reads every supported algorithm regardless. */
  algorithm?: AeadAlgorithm;
  /**
   * Deflate payloads before sealing. Off by default: compressed length reveals something about the
   * plaintext (an attacker who controls part of a payload can probe the rest, as in CRIME/BREACH).
   */
  compression?: Compression | false;
  /** Only compress payloads at least this large (bytes). Default 1024. */
  compressionMinBytes?: number;
  /**
   * Fail closed: refuse to decode a payload that is not encrypted. Stops someone with signal
   * permission but no key access from injecting plaintext input into a workflow. Default false.
   */
  requireEncryption?: boolean;
  /**
   * Reject namespace-scoped payloads (sealed without a workflow id, e.g. through the UI's /encode)
   * when decoding in a workflow context. Default false: the UI's "start/signal with input" needs them.
   */
  strictWorkflowScope?: boolean;
  cache?: DekCacheLimits;
  /**
   * Keys of the Temporal samples' encryption codec (`keys import-legacy`): payloads in the samples'
   * format whose `encryption-key-id` names one of them are opened (decrypt-only; they are bound to
   * no scope, see SECURITY.md). Default: the legacy keyring a provider from openKeyProviders
   * carries (its `legacyKeys` option), else none.
   */
  legacyKeys?: LegacyKeyring | undefined;
  observer?: KeyObserver;
  clock?: () => number;
  /** Nonce source; only tests and known-answer vectors replace it. */
  random?: (n: number) => Uint8Array;
}

export interface DecodeOptions {
  /**
   * Return payloads this codec cannot open (not ours, refused, failed) as they came, with their
   * outcome, instead of throwing at the first failure. The codec server uses it so the UI still
   * renders the rest. Plaintext then passes even with `requireEncryption`.
   */
  passThroughUnopenable?: boolean;
  /** Refuse (SCOPE_MISMATCH) payloads not sealed for this scope, as decode() does for its context's scope. */
  expectedScope?: Scope;
  /**
   * Which payloads of ours the caller may see. Called once per batch, before any key is touched,
   * with the sealed scope and key id of every payload of ours whose header reads; returns one
   * verdict per entry. A refused payload comes back as it came, with status "denied". May throw to
   * refuse the whole batch (the codec server's `onDeny: forbid`): then nothing is opened.
   */
  authorize?: (sealed: readonly SealedPayloadInfo[]) => readonly boolean[];
  /**
   * The same for payloads in the Temporal samples' format under a configured legacy key: they name
   * a key id and nothing else (no namespace, no workflow). Called once per batch when there are
   * any. Without it, when `authorize` is given, they are all refused ("denied"): a caller that
   * authorizes by scope has not said what to do with payloads that have none. May throw.
   */
  authorizeLegacy?: (legacy: readonly LegacyPayloadInfo[]) => readonly boolean[];
}

/** A payload in the samples' format under a configured legacy key, as authorizeLegacy sees it. */
export interface LegacyPayloadInfo {
  readonly index: number;
  readonly keyId: string;
}

/** What a sealed payload's header says, readable without any key. */
export interface SealedPayloadInfo {
  /** Its position in the batch. */
  readonly index: number;
  readonly scope: Scope;
  readonly keyId: string;
}

/**
 * One payload's outcome. `payload` is the opened payload when "decoded", else the payload as it
 * came: "passthrough" (not ours: not binary/encrypted, or binary/encrypted without our
 * envelope-version), "denied" (ours, refused by `authorize`) or "failed" (ours, could not be opened:
 * `error` says why). `scope` and `keyId` are set whenever the header was read.
 */
export interface DecodeResult {
  readonly payload: Payload;
  readonly status: 'decoded' | 'passthrough' | 'denied' | 'failed';
  readonly scope?: Scope | undefined;
  readonly keyId?: string | undefined;
  /** True for a payload in the Temporal samples' format under a legacy key (it has no scope). */
  readonly legacy?: boolean | undefined;
  readonly error?: Error | undefined;
}

/** A payload of ours whose header was read, waiting to be opened. */
interface ReadPayload {
  readonly payload: Payload;
  readonly status: 'sealed';
  readonly header: EnvelopeHeader;
  readonly box: Uint8Array;
}

/** A payload in the samples' format whose key id names a configured legacy key. */
interface ReadLegacyPayload {
  readonly payload: Payload;
  readonly status: 'legacy';
  readonly keyId: string;
}

export class EnvelopeCodec implements PayloadCodec {
  readonly keys: DataKeyCache;
  private readonly defaultNamespace: string;
  private readonly algorithm: AeadAlgorithm;
  private readonly compression: Compression | undefined;
  private readonly compressionMinBytes: number;
  private readonly requireEncryption: boolean;
  private readonly strictWorkflowScope: boolean;
  private readonly random: ((n: number) => Uint8Array) | undefined;
  private readonly legacyKeys: LegacyKeyring | undefined;

  constructor(options: EnvelopeCodecOptions) {
    const providers = Array.isArray(options.keyProviders) ? [...(options.keyProviders as readonly KeyProvider[])] : [options.keyProviders as KeyProvider];
    if (providers.length === 0) throw new InvalidConfigError('codec "keyProviders" expected at least one key provider');
    this.defaultNamespace = options.defaultNamespace ?? 'default';
    if (typeof this.defaultNamespace !== 'string' || this.defaultNamespace === '') {
      throw new InvalidConfigError('codec "defaultNamespace" expected a non-empty string');
    }
    this.algorithm = options.algorithm ?? 'AES-256-GCM';
    if (!isAeadAlgorithm(this.algorithm)) throw new InvalidConfigError(`codec "algorithm" expected AES-256-GCM or XCHACHA20-POLY1305, got ${JSON.stringify(this.algorithm)}`);
    if (options.compression !== undefined && options.compression !== false && options.compression !== 'deflate') {
      throw new InvalidConfigError(`codec "compression" expected "deflate" or false, got ${JSON.stringify(options.compression)}`);
    }
    this.compression = options.compression === 'deflate' ? 'deflate' : undefined;
    this.compressionMinBytes = options.compressionMinBytes ?? 1024;
    this.requireEncryption = options.requireEncryption ?? false;
    this.strictWorkflowScope = options.strictWorkflowScope ?? false;
    this.random = options.random;
    this.legacyKeys = options.legacyKeys ?? providers.map(legacyKeyringOf).find((k) => k !== undefined);
    this.keys = new DataKeyCache(new ProviderSet(providers), {
      ...options.cache,
      ...(options.observer ? { observer: options.observer } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      cipherMessageLimit: aeadSuite(this.algorithm).maxMessagesPerKey,
    });
  }

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return this.encodeInScope(payloads, scopeFromContext(context, this.defaultNamespace));
  }

  /** Seal for an explicit scope (the codec server's /encode, which knows only the namespace). */
  async encodeInScope(payloads: readonly Payload[], scope: Scope): Promise<Payload[]> {
    const out: Payload[] = [];
    for (const payload of payloads) out.push(await this.sealOne(payload, scope));
    return out;
  }

  /**
   * The PayloadCodec contract: payloads that are not ours pass through unchanged (unless
   * `requireEncryption`: PLAINTEXT_REJECTED); the first payload of ours that does not open throws.
   */
  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    const expected = context === undefined ? undefined : scopeFromContext(context, this.defaultNamespace);
    const results = await this.decodeBatch(payloads, { expected, rejectPlaintext: this.requireEncryption, stopAtFailure: true });
    return results.map((r) => r.payload);
  }

  /** Decode with a per-payload outcome (DecodeResult); see DecodeOptions. */
  async decodeDetailed(payloads: readonly Payload[], options: DecodeOptions = {}): Promise<DecodeResult[]> {
    const lenient = options.passThroughUnopenable ?? false;
    return this.decodeBatch(payloads, { expected: options.expectedScope, authorize: options.authorize, authorizeLegacy: options.authorizeLegacy, rejectPlaintext: this.requireEncryption && !lenient, stopAtFailure: !lenient });
  }

  /**
   * The one decode path, for decode(), decodeDetailed() and through it the codec server: read every
   * header once, authorize the batch once, then open what may be opened, in order.
   */
  private async decodeBatch(
    payloads: readonly Payload[],
    options: {
      expected: Scope | undefined;
      authorize?: DecodeOptions['authorize'] | undefined;
      authorizeLegacy?: DecodeOptions['authorizeLegacy'] | undefined;
      rejectPlaintext: boolean;
      stopAtFailure: boolean;
    },
  ): Promise<DecodeResult[]> {
    const read = payloads.map((payload) => this.readHeader(payload, options.rejectPlaintext));
    if (options.authorize || options.authorizeLegacy) {
      const legacy: LegacyPayloadInfo[] = [];
      read.forEach((r, index) => {
        if (r.status === 'legacy') legacy.push({ index, keyId: r.keyId });
      });
      // Fail closed: a caller that authorizes by scope and says nothing about scopeless payloads gets none opened.
      const verdicts = legacy.length === 0 ? [] : options.authorizeLegacy ? options.authorizeLegacy(legacy) : legacy.map(() => false);
      legacy.forEach(({ index, keyId }, i) => {
        if (verdicts[i] !== true) read[index] = { payload: payloads[index]!, status: 'denied', keyId, legacy: true };
      });
    }
    if (options.authorize) {
      const sealed: SealedPayloadInfo[] = [];
      read.forEach((r, index) => {
        if (r.status === 'sealed') sealed.push({ index, scope: r.header.scope, keyId: r.header.keyId });
      });
      const verdicts = sealed.length === 0 ? [] : options.authorize(sealed);
      sealed.forEach(({ index, scope, keyId }, i) => {
        if (verdicts[i] !== true) read[index] = { payload: payloads[index]!, status: 'denied', scope, keyId };
      });
    }
    const results: DecodeResult[] = [];
    for (const r of read) {
      const result = r.status === 'sealed' ? await this.openRead(r, options.expected) : r.status === 'legacy' ? this.openLegacy(r) : r;
      if (result.status === 'failed' && options.stopAtFailure) throw result.error;
      results.push(result);
    }
    return results;
  }

  /** First, no key touched: is the payload ours, and what does its header say? */
  private readHeader(payload: Payload, rejectPlaintext: boolean): ReadPayload | ReadLegacyPayload | DecodeResult {
    if (!isEnvelopePayload(payload)) {
      const legacyId = this.legacyKeys === undefined ? undefined : samplesKeyIdOf(payload);
      if (legacyId !== undefined && this.legacyKeys!.knows(legacyId)) return { payload, status: 'legacy', keyId: legacyId };
      if (!rejectPlaintext) return { payload, status: 'passthrough' };
      const what = isEncryptedEncoding(payload)
        ? `payload is binary/encrypted but not in the temporal-envelope format (no envelope-version)${legacyId === undefined ? '' : ` and its encryption-key-id is not a configured legacy key`}`
        : 'payload is not encrypted';
      return { payload, status: 'failed', error: new PlaintextRejectedError(`${what}, and this codec requires encryption`) };
    }
    try {
      return { payload, status: 'sealed', ...parseHeader(payload) };
    } catch (error) {
      return { payload, status: 'failed', error: error as Error };
    }
  }

  /** Last, for a payload of ours that may be opened: the scope check, the data key, the AEAD. */
  private async openRead(read: ReadPayload, expected: Scope | undefined): Promise<DecodeResult> {
    const { payload, header, box } = read;
    const outcome = { scope: header.scope, keyId: header.keyId };
    try {
      if (expected !== undefined) this.checkScope(header.scope, expected);
      const key = await this.keys.leaseForDecrypt(header.keyId, header.wrappedDek, header.scope);
      let plaintext: Uint8Array;
      try {
        plaintext = openSealed(header.algorithm, key, box, additionalDataOf(payload));
      } finally {
        key.fill(0);
      }
      return { payload: this.unpack(plaintext, header.compression), status: 'decoded', ...outcome };
    } catch (error) {
      return { payload, status: 'failed', error: error as Error, ...outcome };
    }
  }

  /**
   * A payload the samples' codec sealed: AES-256-GCM under the legacy key, no additional data. It is
   * bound to no scope, so there is no scope to check; a configured legacy key is the consent.
   */
  private openLegacy(read: ReadLegacyPayload): DecodeResult {
    const { payload, keyId } = read;
    const outcome = { keyId, legacy: true };
    try {
      const box = payload.data;
      if (!(box instanceof Uint8Array)) throw new MalformedPayloadError('payload "data" expected bytes');
      const key = this.legacyKeys!.material(keyId);
      let plaintext: Uint8Array;
      try {
        plaintext = openSealed('AES-256-GCM', key, box, SAMPLES_AAD);
      } finally {
        key.fill(0);
      }
      return { payload: this.unpack(plaintext, undefined), status: 'decoded', ...outcome };
    } catch (error) {
      return { payload, status: 'failed', error: error as Error, ...outcome };
    }
  }

  private unpack(plaintext: Uint8Array, compression: Compression | undefined): Payload {
    if (compression === 'deflate') {
      try {
        plaintext = inflateRawSync(plaintext, { maxOutputLength: 64 * 1024 * 1024 });
      } catch (cause) {
        throw new MalformedPayloadError('sealed payload did not inflate', { cause });
      }
    }
    try {
      return ProtoPayload.decode(plaintext);
    } catch (cause) {
      throw new MalformedPayloadError('sealed payload is not a temporal.api.common.v1.Payload', { cause });
    }
  }

  private async sealOne(payload: Payload, scope: Scope): Promise<Payload> {
    if (payload === null || typeof payload !== 'object') throw new MalformedPayloadError('payload expected an object');
    let plaintext = ProtoPayload.encode(payload).finish();
    let compression: Compression | undefined;
    if (this.compression !== undefined && plaintext.length >= this.compressionMinBytes) {
      const deflated = deflateRawSync(plaintext);
      if (deflated.length < plaintext.length) {
        plaintext = deflated;
        compression = this.compression;
      }
    }
    const lease = await this.keys.leaseForEncrypt(scope, this.algorithm, plaintext.length);
    try {
      const header: EnvelopeHeader = {
        version: FORMAT_VERSION,
        algorithm: this.algorithm,
        keyId: lease.keyId,
        scope,
        wrappedDek: lease.wrapped,
        compression,
      };
      const template = sealTemplate(header);
      return buildSealedPayload(template, sealWithRandomNonce(this.algorithm, lease.key, plaintext, template.aad, this.random));
    } finally {
      lease.key.fill(0);
    }
  }

  private checkScope(sealed: Scope, expected: Scope): void {
    if (sealed.namespace !== expected.namespace) {
      throw new ScopeMismatchError(
        `payload sealed for namespace ${JSON.stringify(sealed.namespace)} cannot be decoded in namespace ${JSON.stringify(expected.namespace)}`,
      );
    }
    if (expected.workflowId === undefined) return;
    if (sealed.workflowId === undefined) {
      if (this.strictWorkflowScope) {
        throw new ScopeMismatchError(`namespace-scoped payload rejected in workflow ${JSON.stringify(expected.workflowId)} (strictWorkflowScope)`);
      }
      return;
    }
    if (sealed.workflowId !== expected.workflowId) {
      throw new ScopeMismatchError(
        `payload sealed for workflow ${JSON.stringify(sealed.workflowId)} cannot be decoded in workflow ${JSON.stringify(expected.workflowId)}`,
      );
    }
  }
}
