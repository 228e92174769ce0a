/**
 * The data converters the workflow benchmark compares, one row each. Every process of a run (the
 * client, the worker) builds its own from the row, as users deploy them: its own codec, its own
 * key provider and data-key cache, its own KMS connection.
 *
 * To add a variant, add a row: the orchestrator (bench/workflows.bench.ts) runs every row in every
 * round, sets the KMS proxy's delay from `kmsDelayMs`, and reports it against 'none'.
 */
import { createRequire } from 'node:module';
import type { PayloadCodec } from '@temporalio/common';
import { EnvelopeCodec, openKeyProviders, type EnvelopeCodecOptions, type KeyObserver, type KeyProvider } from '../../codecs/index.js';
import { StaticKeyCodec } from '../lib/static-key-codec.js';

export type Role = 'client' | 'worker';
export const ROLES: readonly Role[] = ['client', 'worker'];

/** Set up once by the orchestrator; every process of every run may use it. */
export interface SharedResources {
  /** A local keyring file made by `temporal-envelope keys init`. */
  keyringPath: string;
  /** The static-key baseline's AES key, hex (both processes need the same one). */
  staticKeyHex: string;
  /** moto's KMS, reached through the delaying proxy, one endpoint per role so the proxy counts each process. */
  kms: { region: string; keyArn: string; endpoints: Record<Role, string> };
}

/** Key-provider calls as the codec's observer hooks see them (`KeyObserver.onKmsCall`), in one process. */
export interface KeyCalls {
  generate: number;
  decrypt: number;
  errors: number;
  /** Time spent waiting for those calls, summed. */
  seconds: number;
}

export interface ProcessCodec {
  dataConverter: { payloadCodecs?: PayloadCodec[]; failureConverterPath?: string };
  /** Live counters; zero for codecs without a key provider. */
  readonly calls: KeyCalls;
  close(): void;
}

export interface Variant {
  id: string;
  label: string;
  /** Set when this variant's processes call KMS: the delay the proxy adds to each request during its runs. */
  kmsDelayMs?: number;
  /** Goal for workflows/s as a ratio to the no-codec run of the same round (drawn in the chart). */
  target?: number;
  /** Which codec: ours ('envelope') runs with our failure converter, as README tells users to, and counts its key-provider calls. */
  codec: 'none' | 'static-key' | 'envelope';
  open(role: Role, shared: SharedResources): Promise<ProcessCodec>;
}

// moto accepts any credentials: placeholders, never real ones.
const MOTO_CREDENTIALS = { accessKeyId: 'testing', secretAccessKey: 'testing' };

/** How users register it: `require.resolve('temporal-envelope/failure-converter')`. */
export const FAILURE_CONVERTER_PATH = createRequire(import.meta.url).resolve('temporal-envelope/failure-converter');

const noCalls = (): KeyCalls => ({ generate: 0, decrypt: 0, errors: 0, seconds: 0 });

/** Our codec as README's "Register the codec" section builds it, with the observer hooks counting key calls. */
function envelope(provider: KeyProvider, extra: Partial<EnvelopeCodecOptions> = {}): ProcessCodec {
  const calls = noCalls();
  const observer: KeyObserver = {
    onKmsCall(op, _provider, outcome, seconds) {
      if (outcome === 'error') calls.errors++;
      else if (op === 'generate') calls.generate++;
      else calls.decrypt++;
      calls.seconds += seconds;
    },
  };
  const codec = new EnvelopeCodec({ keyProviders: provider, requireEncryption: true, ...extra, observer });
  return { dataConverter: { payloadCodecs: [codec], failureConverterPath: FAILURE_CONVERTER_PATH }, calls, close: () => void provider.close?.() };
}

// Key providers as README's "Register the codec" builds them: openKeyProviders, its defaults (the
// keyring file watched for rotations, AWS KMS behind ResilientProvider).
const localKeyring = (s: SharedResources): Promise<KeyProvider> => openKeyProviders({ local: { path: s.keyringPath } });
const awsKms = (role: Role, s: SharedResources): Promise<KeyProvider> =>
  openKeyProviders({ provider: 'aws-kms', awsKms: { keys: [{ keyId: s.kms.keyArn }], region: s.kms.region, endpoint: s.kms.endpoints[role], credentials: MOTO_CREDENTIALS } });

export const VARIANTS: readonly Variant[] = [
  { id: 'none', label: 'no codec (baseline)', codec: 'none', open: async () => ({ dataConverter: {}, calls: noCalls(), close: () => {} }) },
  {
    id: 'static-key',
    label: 'static-key AES-GCM',
    codec: 'static-key',
    open: async (_role, s) => ({ dataConverter: { payloadCodecs: [new StaticKeyCodec(Buffer.from(s.staticKeyHex, 'hex'))] }, calls: noCalls(), close: () => {} }),
  },
  {
    id: 'local',
    label: 'ours, local keyring',
    target: 0.9,
    codec: 'envelope',
    open: async (_role, s) => envelope(await localKeyring(s)),
  },
  { id: 'kms-10ms', label: 'ours, AWS KMS +10 ms', kmsDelayMs: 10, target: 0.8, codec: 'envelope', open: async (role, s) => envelope(await awsKms(role, s)) },
  // Issue 18's branch keys go here, one KMS call per namespace and key lifetime instead of per workflow:
  // { id: 'kms-branch-10ms', label: 'ours, AWS KMS branch keys +10 ms', kmsDelayMs: 10, target: 0.8, codec: 'envelope',
  //   open: async (role, s) => envelope(await awsKms(role, s), { keyHierarchy: 'branch' }) },
];

export function variantById(id: string): Variant {
  const v = VARIANTS.find((x) => x.id === id);
  if (!v) throw new Error(`unknown variant ${JSON.stringify(id)}; known: ${VARIANTS.map((x) => x.id).join(', ')}`);
  return v;
}
