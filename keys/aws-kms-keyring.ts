import { DecryptCommand, DescribeKeyCommand, GenerateDataKeyCommand, KMSClient } from '@aws-sdk/client-kms';
import { InvalidConfigError, KeyRetiredError, KmsAccessDeniedError, KmsUnavailableError, TamperedCiphertextError, UnknownKeyError } from '../primitives/errors.js';
import { kmsEncryptionContext } from '../primitives/branch-key.js';
import type { Scope } from '../primitives/scope.js';
import type { GeneratedDataKey, KekInfo, KekState, KeyProvider } from './key-provider.js';
import { mapKmsError } from './kms-errors.js';
import { isKmsKeyId, readKmsKeyConfig, watchKmsKeyConfig } from './kms-key-config.js';

export interface AwsKmsKey {
  /** ARN, key id or alias, written verbatim into each payload's `encryption-key-id`. */
  keyId: string;
  /** Default: the first key is primary, the rest decrypt-only. */
  state?: KekState;
  /** Region for this key; read from an ARN, else the keyring's region. */
  region?: string;
}

export interface AwsKmsKeyringOptions {
  /** Primary first; the others only decrypt (keys wrapped before a rotation). */
  keys: readonly AwsKmsKey[];
  region?: string;
  /** An AWS-compatible endpoint (tests use one on loopback). */
  endpoint?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Per KMS request. Default 3000 ms. */
  requestTimeoutMs?: number;
  clientFactory?: (region: string) => KMSClient;
}

/**
 * A KMS client that makes one attempt per request: retries belong to ResilientProvider (3
 * attempts, only for failures a retry can cure), so an operation costs at most 3 KMS requests.
 * The SDK's own retries on top would multiply that (3 × 3 = 9), unknown failures included.
 */
export function createKmsClient(options: { region: string; endpoint?: string | undefined; credentials?: AwsKmsKeyringOptions['credentials'] | undefined }): KMSClient {
  return new KMSClient({
    region: options.region,
    maxAttempts: 1,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}

/**
 * KEKs in AWS KMS. Data keys come from GenerateDataKey and are unwrapped by Decrypt, both with the
 * payload's scope as the EncryptionContext, so a wrapped key only opens for the scope it was made
 * for (and CloudTrail records which namespace and workflow each call served). Branch keys (format
 * v2) get `{"temporal-namespace": ns, "temporal-key-use": "branch-key"}` instead: CloudTrail then
 * names the namespace, not the workflow.
 *
 * The configured key id string, not the ARN KMS returns, goes into payloads: `handles()` and
 * `keys usage`/`keys retire` then match what the operator configured, aliases included.
 */
export class AwsKmsKeyring implements KeyProvider {
  readonly name = 'aws-kms';
  readonly wrapsBranchKeys = true;
  private keys: readonly { keyId: string; state: KekState; region: string }[] = [];
  private readonly regions = new Map<string, string>();
  private readonly clients = new Map<string, KMSClient>();
  private readonly timeoutMs: number;
  private watcher: { close(): void } | undefined;
  /** The key config file the keys come from, when they do. */
  private configFile: string | undefined;

  constructor(private readonly options: AwsKmsKeyringOptions) {
    this.timeoutMs = options.requestTimeoutMs ?? 3000;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1) throw new InvalidConfigError(`awsKms "requestTimeoutMs" expected a positive integer, got ${options.requestTimeoutMs}`);
    this.setKeys(options.keys);
  }

  /** Keys from a key config file (`keys init/rotate --provider aws-kms`), re-read when it changes. */
  static async fromKeyConfigFile(
    file: string,
    options: Omit<AwsKmsKeyringOptions, 'keys'> & { watchIntervalMs?: number; warn?: (m: string) => void },
  ): Promise<AwsKmsKeyring> {
    const doc = await readKmsKeyConfig(file);
    const ring = new AwsKmsKeyring({ ...options, keys: doc.keys });
    ring.configFile = file;
    const interval = options.watchIntervalMs ?? 2000;
    if (interval > 0) {
      ring.watcher = watchKmsKeyConfig(file, (keys) => ring.setKeys(keys), {
        intervalMs: interval,
        onError: (err) => (options.warn ?? console.warn)(`temporal-envelope: KMS key config reload failed, keeping the loaded keys: ${err.message}`),
      });
    }
    return ring;
  }

  /** Swap the configured keys at once (rotation without restart). */
  setKeys(keys: readonly AwsKmsKey[]): void {
    if (!Array.isArray(keys) || keys.length === 0) throw new InvalidConfigError('awsKms "keys" expected at least one KMS key');
    const next = keys.map((k, i) => {
      if (typeof k.keyId !== 'string' || !isKmsKeyId(k.keyId)) {
        throw new InvalidConfigError(`awsKms "keys[${i}].keyId" expected a KMS key ARN, key id or alias/<name>, got ${JSON.stringify(k.keyId)}`);
      }
      const state: KekState = k.state ?? (i === 0 ? 'primary' : 'decrypt-only');
      if ((state === 'primary') !== (i === 0)) throw new InvalidConfigError(`awsKms "keys[${i}].state": the first key, and only the first, is primary`);
      const region = k.region ?? /^arn:aws[a-z-]*:kms:([a-z0-9-]+):/.exec(k.keyId)?.[1] ?? this.options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
      if (region === undefined) throw new InvalidConfigError(`awsKms "region" is required for key ${k.keyId} (or set AWS_REGION)`);
      return { keyId: k.keyId, state, region };
    });
    this.keys = next;
    this.regions.clear();
    for (const k of next) this.regions.set(k.keyId, k.region);
  }

  primaryKeyId(): string {
    return (this.keys[0] as { keyId: string }).keyId;
  }

  handles(keyId: string): boolean {
    return this.regions.has(keyId);
  }

  async generateDataKey(scope: Scope): Promise<GeneratedDataKey> {
    const keyId = this.primaryKeyId();
    const out = await this.call('GenerateDataKey', keyId, (client, abortSignal) =>
      client.send(new GenerateDataKeyCommand({ KeyId: keyId, KeySpec: 'AES_256', EncryptionContext: kmsEncryptionContext(scope) }), { abortSignal }),
    );
    if (!(out.Plaintext instanceof Uint8Array) || out.Plaintext.length !== 32 || !(out.CiphertextBlob instanceof Uint8Array)) {
      throw new KmsUnavailableError(`KMS GenerateDataKey for ${keyId} returned no usable data key`);
    }
    return { plaintext: out.Plaintext, wrapped: out.CiphertextBlob, keyId };
  }

  async decryptDataKey(keyId: string, wrapped: Uint8Array, scope: Scope): Promise<Uint8Array> {
    const entry = this.keys.find((k) => k.keyId === keyId);
    if (entry === undefined) throw new UnknownKeyError(`KMS key ${JSON.stringify(keyId)} is not configured`);
    if (entry.state === 'retired') throw new KeyRetiredError(`KMS key ${JSON.stringify(keyId)} is retired and no longer decrypts`);
    const out = await this.call('Decrypt', keyId, (client, abortSignal) =>
      client.send(new DecryptCommand({ KeyId: keyId, CiphertextBlob: wrapped, EncryptionContext: kmsEncryptionContext(scope) }), { abortSignal }),
    );
    if (!(out.Plaintext instanceof Uint8Array) || out.Plaintext.length !== 32) {
      throw new TamperedCiphertextError(`KMS Decrypt with ${keyId} did not return a 32-byte data key`);
    }
    return out.Plaintext;
  }

  async listKeys(): Promise<readonly KekInfo[]> {
    return Promise.all(
      this.keys.map(async (k) => {
        let created: string | undefined;
        try {
          const out = await this.call('DescribeKey', k.keyId, (client, abortSignal) => client.send(new DescribeKeyCommand({ KeyId: k.keyId }), { abortSignal }));
          created = out.KeyMetadata?.CreationDate?.toISOString();
        } catch {
          // Listing must work while KMS is unreachable; the date is a nicety.
        }
        return { id: k.keyId, provider: this.name, state: k.state, created };
      }),
    );
  }

  /** Ready when the key config (if any) still reads and validates, and KMS says the primary key is enabled. */
  async checkReady(): Promise<void> {
    if (this.configFile !== undefined) this.setKeys((await readKmsKeyConfig(this.configFile)).keys);
    const keyId = this.primaryKeyId();
    const out = await this.call('DescribeKey', keyId, (client, abortSignal) => client.send(new DescribeKeyCommand({ KeyId: keyId }), { abortSignal }));
    const state = out.KeyMetadata?.KeyState;
    if (state !== undefined && state !== 'Enabled') throw new KmsAccessDeniedError(`KMS key ${keyId} is ${state}`);
  }

  close(): void {
    this.watcher?.close();
    for (const c of this.clients.values()) c.destroy();
    this.clients.clear();
  }

  private client(keyId: string): KMSClient {
    const region = this.regions.get(keyId) ?? this.options.region ?? 'us-east-1';
    let client = this.clients.get(region);
    if (client === undefined) {
      client = this.options.clientFactory?.(region) ?? createKmsClient({ region, endpoint: this.options.endpoint, credentials: this.options.credentials });
      this.clients.set(region, client);
    }
    return client;
  }

  private async call<T>(op: string, keyId: string, send: (client: KMSClient, signal: AbortSignal) => Promise<T>): Promise<T> {
    try {
      return await send(this.client(keyId), AbortSignal.timeout(this.timeoutMs));
    } catch (err) {
      throw mapKmsError(err, op, keyId, this.timeoutMs);
    }
  }
}
