/**
 *   Temporal Server <--> Wire <--> EnvelopeCodec <--> PayloadConverter <--> User code
 *
 * EnvelopeCodec seals each payload with the data key (DEK) of the workflow it belongs to; the DEK
 * is wrapped by a key-encryption key (KEK) from a KeyProvider and travels, wrapped, inside the
 * payload (format v1), or is derived from a branch key per namespace that travels wrapped instead
 * (format v2, `keyHierarchy: 'branch'`). See primitives/format.ts and format-v2.ts for the bytes
 * and docs/wire-format.md for the rules.
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import type { Payload, PayloadCodec, SerializationContext } from '@temporalio/common';
import proto from '@temporalio/proto';
import { withBranchKeys, type BranchKeyProvider } from '../keys/branch-key-provider.js';
import { DataKeyCache, type DekCacheLimits } from '../keys/dek-cache.js';
import type { KeyObserver, KeyProvider } from '../keys/key-provider.js';
import { legacyKeyringOf, type LegacyKeyring } from '../keys/legacy-keyring.js';
import { ProviderSet } from '../keys/provider-set.js';
import { aeadSuite, isAeadAlgorithm, openSealed, sealWithRandomNonce, type AeadAlgorithm } from '../primitives/aead.js';
import { isKeyHierarchy, type KeyHierarchy } from '../primitives/branch-key.js';
import { EnvelopeError, InvalidConfigError, MalformedPayloadError, PlaintextRejectedError } from '../primitives/errors.js';
import { buildSealedPayload, isEncryptedEncoding, isEnvelopePayload, type Compression } from '../primitives/format.js';
import { additionalDataFor, parseSealedHeader, sealTemplateFor, wrappedKeyOf, type SealedHeader } from '../primitives/format-versions.js';
import { refusedMarker } from '../primitives/refused-marker.js';
import { DEFAULT_SCOPE_RULES, checkScope, type ScopeRules } from '../primitives/scope-rules.js';
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
   * Accept, in a workflow or activity context, payloads sealed for the namespace as a whole (no
   * workflow id): what the codec server's /encode makes for the Temporal UI and for the `temporal`
   * CLI without a target workflow. Default false. Turn it on only where operators start or signal
   * workflows with input from the UI or CLI; the cost: anyone the codec server lets encode
   * namespace-wide payloads can then inject input into any workflow of the namespace, and any
   * namespace-scoped payload copied out of history is accepted anywhere in it. See SECURITY.md.
   */
  acceptNamespaceScoped?: boolean;
  /**
   * Accept, in a run a schedule started (workflow id `S-YYYY-MM-DDTHH:MM:SSZ`), payloads sealed for
   * the schedule action's workflow id S. Default true; turn it off where no schedules are used: it
   * lets someone who may start workflows replay S's payloads into a workflow they name like a run.
   */
  scheduleRuns?: boolean;
  /**
   * For a Worker's codec, with the workflow interceptor module `temporal-envelope/workflow-interceptors`
   * registered: in a workflow context, a payload this codec refuses for good (anything but
   * KMS_UNAVAILABLE and KEY_LIMIT_EXCEEDED) comes back as a refused-payload marker instead of an
   * error. The interceptor drops a signal that carries one (logged, counted) and fails the workflow
   * task for any other position, as before. Without it, a signal the codec refuses (plaintext, or a
   * payload sealed for another workflow) fails every attempt of the workflow task and the workflow
   * is stuck. Default false: a client sharing this codec would get the marker's "Unknown encoding"
   * error instead of the refusal's own. Activity contexts and context-free calls always throw.
   */
  markRefusedInWorkflow?: boolean;
  /**
   * How new data keys are made (docs/key-management.md, "Choosing a key hierarchy").
   * "per-workflow" (default): one KMS data key per workflow per key lifetime (format v1); CloudTrail
   * names each workflow. "branch": one KMS call per namespace per `branchKeyMaxAgeMs`, each
   * workflow's data key derived from that branch key (format v2). Either way every format opens.
   */
  keyHierarchy?: KeyHierarchy;
  /** With keyHierarchy "branch": how long one branch key makes new data keys for a namespace. Default 1 h. */
  branchKeyMaxAgeMs?: number;
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
  /**
   * Open only payloads a worker in this scope would accept (the codec's scope rules: its
   * acceptNamespaceScoped and scheduleRuns), as decode() does for its context's scope; others
   * fail with SCOPE_MISMATCH.
   */
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
  readonly header: SealedHeader;
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
  readonly keyHierarchy: KeyHierarchy;
  private readonly branchLayers: readonly BranchKeyProvider[];
  private readonly defaultNamespace: string;
  private readonly algorithm: AeadAlgorithm;
  private readonly compression: Compression | undefined;
  private readonly compressionMinBytes: number;
  private readonly requireEncryption: boolean;
  private readonly scopeRules: ScopeRules;
  private readonly markRefusedInWorkflow: boolean;
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
    if ('strictWorkflowScope' in options) {
      throw new InvalidConfigError(
        'codec "strictWorkflowScope" was removed: namespace-scoped payloads are now refused in a workflow by default; pass acceptNamespaceScoped: true to accept them (see CHANGELOG.md)',
      );
    }
    this.scopeRules = Object.freeze({
      acceptNamespaceScoped: booleanOption('acceptNamespaceScoped', options.acceptNamespaceScoped, DEFAULT_SCOPE_RULES.acceptNamespaceScoped),
      scheduleRuns: booleanOption('scheduleRuns', options.scheduleRuns, DEFAULT_SCOPE_RULES.scheduleRuns),
    });
    this.markRefusedInWorkflow = booleanOption('markRefusedInWorkflow', options.markRefusedInWorkflow, false);
    this.random = options.random;
    this.legacyKeys = options.legacyKeys ?? providers.map(legacyKeyringOf).find((k) => k !== undefined);
    this.keyHierarchy = options.keyHierarchy ?? 'per-workflow';
    if (!isKeyHierarchy(this.keyHierarchy)) throw new InvalidConfigError(`codec "keyHierarchy" expected "per-workflow" or "branch", got ${JSON.stringify(this.keyHierarchy)}`);
    // Every provider gets the branch-key layer, so this codec opens format v2 whatever it seals;
    // only the first one seals. The layer tells the observer about KMS calls: it alone sees which
    // calls reach KMS (a branch-derived data key does not), so the cache does not tell it again.
    const { onKmsCall, ...cacheObserver } = options.observer ?? {};
    const branch = {
      branchKeyMaxAgeMs: options.branchKeyMaxAgeMs,
      staleGraceMs: options.cache?.staleGraceMs,
      decryptMaxAgeMs: options.cache?.decryptMaxAgeMs,
      maxDecryptEntries: options.cache?.maxDecryptEntries,
      ...(onKmsCall ? { observer: { onKmsCall } } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.random ? { random: options.random } : {}),
    };
    const layered = providers.map((p, i) => withBranchKeys(p, { ...branch, keyHierarchy: i === 0 ? this.keyHierarchy : 'per-workflow' }));
    this.branchLayers = layered.map((l) => l.layer);
    this.keys = new DataKeyCache(new ProviderSet(layered.map((l) => l.provider)), {
      ...options.cache,
      observer: cacheObserver,
      ...(options.clock ? { clock: options.clock } : {}),
      cipherMessageLimit: aeadSuite(this.algorithm).maxMessagesPerKey,
    });
  }

  /**
   * Wipe every key this codec holds (data keys and branch keys) and stop its purge timers. The key
   * providers it was given stay open: they are the caller's to close.
   */
  close(): void {
    this.keys.close();
    for (const layer of this.branchLayers) layer.wipe();
  }

  async encode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    return this.encodeInScope(payloads, scopeFromContext(context, this.defaultNamespace));
  }

  /** Seal for an explicit scope (the codec server's /encode: the namespace, and the target workflow when the caller names one). */
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
    const mark = this.markRefusedInWorkflow && context?.type === 'workflow';
    const results = await this.decodeBatch(payloads, { expected, rejectPlaintext: this.requireEncryption, stopAtFailure: !mark });
    return results.map((r) => (r.status === 'failed' ? markedRefusal(r.error) : r.payload));
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
      return { payload, status: 'sealed', ...parseSealedHeader(payload) };
    } catch (error) {
      return { payload, status: 'failed', error: error as Error };
    }
  }

  /** Last, for a payload of ours that may be opened: the scope check, the data key, the AEAD. */
  private async openRead(read: ReadPayload, expected: Scope | undefined): Promise<DecodeResult> {
    const { payload, header, box } = read;
    const outcome = { scope: header.scope, keyId: header.keyId };
    try {
      if (expected !== undefined) checkScope(header.scope, expected, this.scopeRules);
      const key = await this.keys.leaseForDecrypt(header.keyId, wrappedKeyOf(header), header.scope);
      let plaintext: Uint8Array;
      try {
        plaintext = openSealed(header.algorithm, key, box, additionalDataFor(header, payload));
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
      // A branch-derived data key seals in format v2, any other in v1: its wrapped form says which.
      const template = sealTemplateFor(lease.keyId, lease.wrapped, scope, this.algorithm, compression);
      return buildSealedPayload(template, sealWithRandomNonce(this.algorithm, lease.key, plaintext, template.aad, this.random));
    } finally {
      lease.key.fill(0);
    }
  }
}

/**
 * A refusal that is the payload's own (its scope, its encoding, its bytes, the key it names) becomes
 * a marker; one that may pass (KMS down, a key's message limit) still throws, so Temporal retries
 * the task and nothing is lost once KMS is back.
 */
function markedRefusal(error: Error | undefined): Payload {
  if (!(error instanceof EnvelopeError) || error.retryable) throw error;
  return refusedMarker(error.code, error.message);
}

function booleanOption(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidConfigError(`codec "${name}" expected true or false, got ${JSON.stringify(value)}`);
  return value;
}
